// Depth-limited JSON parsing for everything the kube port reads from a client
// (request bodies, patches) or from the store.
//
// nlohmann's parser itself is iterative, but copying, comparing, printing and
// patching a document recurse once per nesting level, so a body nested 100k
// deep would overflow a thread's stack later on. Kubernetes decodes JSON
// with Go's encoding/json rules (sigs.k8s.io/json), which refuse more than
// 10000 nested objects/arrays with the SyntaxError
//   invalid character '{' exceeded max depth
// ParseJsonBounded refuses the same documents while parsing, before any
// deeper structure is built, and never throws. It also builds objects with
// many keys in linear time (nlohmann's ordered object inserts by linear
// scan, quadratic over a whole wide object). The kube handlers run on
// threads whose stacks hold kMaxJsonDepth levels of the recursive
// operations (see https_server.h).
#pragma once

#include <string>
#include <string_view>

#include "kube-adapter/json.h"

namespace capstan::kube {

// encoding/json's maxNestingDepth: depth 10000 parses, 10001 does not.
inline constexpr int kMaxJsonDepth = 10000;

struct JsonParseError {
  bool too_deep = false;  // nesting beyond the limit (else: a syntax error)
  // Go's wording for depth ("invalid character '[' exceeded max depth");
  // nlohmann's description of a syntax error.
  std::string message;
};

// Parses `text` as one JSON document into *out. On failure returns false,
// sets *error (when non-null) and leaves *out null. Containers nested deeper
// than `max_depth` are refused as soon as the parser reaches them. A key
// repeated in one object keeps its first position and its last value.
bool ParseJsonBounded(std::string_view text, Json* out, JsonParseError* error = nullptr,
                      int max_depth = kMaxJsonDepth);

// Kubernetes' summarizeData(body, 30) as it appears in decode errors: the
// first 30 bytes of a body starting with '{' as text, otherwise as hex, with
// " ..." when cut; "<empty>" for an empty body.
std::string SummarizeBody(std::string_view body, size_t max_length = 30);

}  // namespace capstan::kube
