// The kube-adapter's object representation: Kubernetes objects are JSON
// documents, kept as nlohmann::json (ordered, so stored and served objects
// keep the field order a client sent).
#pragma once

#include <nlohmann/json.hpp>

namespace capstan::kube {

using Json = nlohmann::ordered_json;

}  // namespace capstan::kube
