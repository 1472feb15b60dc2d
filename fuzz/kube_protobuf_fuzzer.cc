// Kubernetes protobuf request bodies (kube-adapter/kube_protobuf.h): the
// input as a body, with the "k8s\0" magic the decoder expects put in front
// when the first input byte is odd, so the fuzzer need not find it.
//
// Properties: no crash, exception, leak or undefined behaviour; a body that
// decodes gives a JSON object that serializes (valid UTF-8 throughout).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_input.h"
#include "kube-adapter/json.h"
#include "kube-adapter/kube_protobuf.h"

using capstan::kube::Json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  capstan::fuzz::FuzzInput in(data, size);
  std::string body;
  if (in.Byte() % 2) body.assign("k8s\0", 4);
  body.append(in.Rest());
  Json out;
  if (capstan::kube::DecodeKubeProtobuf(body, &out)) return 0;
  if (!out.is_object()) capstan::fuzz::Fail("a decoded body is not a JSON object");
  // Strict: the store and the responses dump objects without a replacement
  // handler, so every decoded string must be valid UTF-8 (this throws if not).
  (void)out.dump();
  return 0;
}
