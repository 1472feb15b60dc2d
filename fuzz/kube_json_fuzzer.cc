// Kubernetes JSON request bodies: the input parsed exactly as the kube port
// parses a body today (KubeApiServer's body_json and Registry::Patch:
// Json::parse(body, nullptr, false), kube-adapter/json.h's ordered_json),
// then copied and serialized as the REST layer does with every object.
// When the depth-limited parse (issue #12, item 3) lands, switch the call
// below to it.
//
// Properties: no crash, exception, leak or undefined behaviour; what parses
// serializes and parses back to an equal document.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_input.h"
#include "kube-adapter/json.h"

using capstan::kube::Json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) return 0;
  Json copy = j;
  const std::string text = copy.dump();
  Json back = Json::parse(text, nullptr, false);
  if (back.is_discarded() || back != j) capstan::fuzz::Fail("a parsed body does not round-trip");
  return 0;
}
