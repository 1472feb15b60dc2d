// The three PATCH flavours (kube-adapter/object_patch.h): a fuzzed document
// patched by a fuzzed patch. The first byte picks the flavour (and, for a
// strategic merge patch, the kind); the rest is "<document>\n<patch>".
//
// Properties: no crash, exception, leak or undefined behaviour; on error
// the target is unchanged, as the header promises; a merge patch is
// idempotent (applying it twice equals applying it once, RFC 7386).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_input.h"
#include "kube-adapter/json.h"
#include "kube-adapter/object_patch.h"

using capstan::fuzz::Fail;
using capstan::kube::Json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kKinds[] = {"Pod", "Deployment", "Service", "CronJob", "ConfigMap"};
  capstan::fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  auto [doc_text, patch_text] = capstan::fuzz::SplitAt(in.Rest(), "\n");
  Json doc = Json::parse(doc_text, nullptr, false);
  Json patch = Json::parse(patch_text, nullptr, false);
  if (doc.is_discarded() || patch.is_discarded()) return 0;

  Json target = doc;
  std::optional<capstan::kube::ApiError> err;
  switch (mode % 3) {
    case 0:
      err = capstan::kube::ApplyMergePatch(&target, patch);
      if (!err) {
        Json twice = target;
        if (capstan::kube::ApplyMergePatch(&twice, patch) || twice != target) {
          Fail("a merge patch is not idempotent");
        }
      }
      break;
    case 1:
      err = capstan::kube::ApplyJsonPatch(&target, patch);
      break;
    default:
      err = capstan::kube::ApplyStrategicMergePatch(&target, patch,
                                                    kKinds[(mode / 3) % std::size(kKinds)]);
      break;
  }
  if (err && target != doc) Fail("a failed patch changed its target");
  (void)target.dump(-1, ' ', false, Json::error_handler_t::replace);
  return 0;
}
