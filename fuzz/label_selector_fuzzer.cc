// Kubernetes label selectors (kube-adapter/label_selector.h): the input up
// to the first '\n' as a ?labelSelector= string, the rest as a JSON document
// used both as a metav1.LabelSelector and as an object's labels.
//
// Properties: no crash, exception, leak or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_input.h"
#include "kube-adapter/json.h"
#include "kube-adapter/label_selector.h"

using capstan::kube::Json;
using capstan::kube::LabelSelector;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto [text, doc] = capstan::fuzz::SplitAt(input, "\n");
  Json j = Json::parse(doc, nullptr, false);
  if (j.is_discarded()) j = Json::object({{"app", std::string(doc)}});

  LabelSelector from_text;
  if (!LabelSelector::Parse(std::string(text), &from_text)) {
    (void)from_text.Matches(j);
    (void)from_text.Empty();
  }
  LabelSelector from_json;
  if (!LabelSelector::FromJson(j, &from_json)) {
    (void)from_json.Matches(j);
    (void)from_json.Matches(Json::object({{"app", "web"}, {"tier", "1"}}));
  }
  return 0;
}
