// Kubernetes field selectors (kube-adapter/field_selector.h): the first byte
// picks a resource, the input up to the first '\n' after it is a
// ?fieldSelector= string, and the rest a JSON object to match.
//
// Properties: no crash, exception, leak or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_input.h"
#include "kube-adapter/field_selector.h"
#include "kube-adapter/json.h"

using capstan::kube::FieldSelector;
using capstan::kube::Json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kResources[] = {"pods",       "events",     "secrets",
                                           "namespaces", "nodes",      "services",
                                           "jobs",       "configmaps", "replicationcontrollers",
                                           "deployments"};
  capstan::fuzz::FuzzInput in(data, size);
  const std::string resource = kResources[in.Byte() % std::size(kResources)];
  auto [text, doc] = capstan::fuzz::SplitAt(in.Rest(), "\n");
  Json obj = Json::parse(doc, nullptr, false);
  if (obj.is_discarded()) obj = Json::object({{"metadata", {{"name", std::string(doc)}}}});

  FieldSelector sel;
  if (FieldSelector::Parse(std::string(text), resource, &sel)) return 0;
  (void)sel.Matches(obj);
  (void)sel.ExactName();
  return 0;
}
