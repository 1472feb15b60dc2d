// Kubernetes protobuf request bodies (Content-Type:
// application/vnd.kubernetes.protobuf), as kubectl 1.32 sends them for its
// typed `kubectl create <kind>` subcommands, `kubectl create token` and
// `kubectl auth can-i/whoami`.
//
// Wire format (k8s.io/apimachinery/pkg/runtime/serializer/protobuf): the
// 4-byte magic "k8s\0" followed by a runtime.Unknown message
//   {1: typeMeta {1 apiVersion, 2 kind}, 2: raw, 3: contentEncoding,
//    4: contentType}
// where raw is the kind's k8s.io/api generated.proto message. The decoder
// turns such a body into the JSON object kubectl would have sent, using a
// schema table of the supported kinds (field numbers from the
// generated.proto files of Kubernetes 1.32).
#pragma once

#include <optional>
#include <string>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"

namespace capstan::kube {

// True when `content_type` is application/vnd.kubernetes.protobuf (any
// parameters, case-insensitive; not the ";stream=watch" framing).
bool IsKubeProtobuf(const std::string& content_type);

// Decodes a Kubernetes protobuf body into its JSON object ("kind" and
// "apiVersion" first, from the envelope's TypeMeta). On error `out` is left
// untouched and the error is returned: BadRequest for a malformed body,
// UnsupportedMediaType for a kind (or a field of a known kind) the decoder
// does not cover. Never throws.
std::optional<ApiError> DecodeKubeProtobuf(const std::string& body, Json* out);

}  // namespace capstan::kube
