// Kubernetes JSON request bodies: the input parsed exactly as the kube port
// parses a body (ParseJsonBounded, kube-adapter/json_parse.h: Go's nesting
// limit of 10000, refused while parsing), then copied and serialized as the
// REST layer does with every object, on a thread with the kube handlers'
// stack (kHandlerStackBytes), as the server runs it.
//
// Properties: no crash, exception, leak or undefined behaviour; what parses
// serializes and parses back to an equal document.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_input.h"
#include "kube-adapter/json.h"
#include "kube-adapter/json_parse.h"
#include "kube-adapter/stack_thread.h"

using capstan::kube::Json;

namespace {

void ParseCopyAndRoundTrip(const std::string& body) {
  Json j;
  if (!capstan::kube::ParseJsonBounded(body, &j)) return;
  Json copy = j;
  const std::string text = copy.dump();
  Json back = Json::parse(text, nullptr, false);
  if (back.is_discarded() || back != j) capstan::fuzz::Fail("a parsed body does not round-trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  capstan::kube::StackThread t(capstan::kube::kHandlerStackBytes,
                               [&body] { ParseCopyAndRoundTrip(body); });
  if (!t.joinable()) capstan::fuzz::Fail("cannot start a handler thread");
  t.join();
  return 0;
}
