// PriorityClass admission and validation, from Kubernetes' priority admission
// tests and the messages in SPEC §9.
#include "kube-adapter/priority_admission.h"

#include <gtest/gtest.h>

namespace capstan::kube {
namespace {

Json Class(const std::string& name, Json value, bool global_default = false,
           const char* policy = nullptr) {
  Json pc = {{"apiVersion", "scheduling.k8s.io/v1"}, {"kind", "PriorityClass"}};
  pc["metadata"]["name"] = name;
  pc["value"] = value;
  if (global_default) pc["globalDefault"] = true;
  if (policy) pc["preemptionPolicy"] = policy;
  return pc;
}

Json Pod(const std::string& class_name) {
  Json p = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}}}};
  p["spec"]["containers"] = {{{"name", "c"}, {"image", "nginx"}}};
  if (!class_name.empty()) p["spec"]["priorityClassName"] = class_name;
  return p;
}

TEST(PriorityAdmissionTest, AdmitPod) {
  const std::vector<Json> classes = {Class("high", 1000), Class("low", 10, true),
                                     Class("lower", 5, true), Class("polite", 50, false, "Never")};
  const struct {
    const char* name;
    std::vector<Json> classes;
    Json pod;
    const char* denial;  // "" = admitted
    int64_t priority;
    const char* class_name;  // expected spec.priorityClassName ("" = absent)
    const char* policy;
  } cases[] = {
      {"named class", classes, Pod("high"), "", 1000, "high", "PreemptLowerPriority"},
      {"missing class", classes, Pod("gold"), "no PriorityClass with name gold was found", 0, "",
       ""},
      {"lowest global default", classes, Pod(""), "", 5, "lower", "PreemptLowerPriority"},
      {"no default: zero", {Class("high", 1000)}, Pod(""), "", 0, "", "PreemptLowerPriority"},
      {"built-in cluster critical",
       {},
       Pod("system-cluster-critical"),
       "",
       2000000000,
       "system-cluster-critical",
       "PreemptLowerPriority"},
      {"built-in node critical",
       {},
       Pod("system-node-critical"),
       "",
       2000001000,
       "system-node-critical",
       "PreemptLowerPriority"},
      {"preemption policy from class", classes, Pod("polite"), "", 50, "polite", "Never"},
  };
  for (const auto& c : cases) {
    Json pod = c.pod;
    auto denied = AdmitPodPriority(c.classes, &pod);
    if (std::string(c.denial).empty()) {
      ASSERT_FALSE(denied.has_value()) << c.name << ": " << *denied;
      EXPECT_EQ(pod["spec"]["priority"], c.priority) << c.name;
      EXPECT_EQ(pod["spec"].value("priorityClassName", ""), c.class_name) << c.name;
      EXPECT_EQ(pod["spec"]["preemptionPolicy"], c.policy) << c.name;
    } else {
      EXPECT_EQ(denied.value_or("<admitted>"), c.denial) << c.name;
    }
  }

  Json pod = Pod("high");
  pod["spec"]["priority"] = 7;
  EXPECT_EQ(AdmitPodPriority(classes, &pod),
            "the integer value of priority (7) must not be provided in pod spec; priority "
            "admission controller computed 1000 from the given PriorityClass name");
  pod["spec"]["priority"] = 1000;
  EXPECT_EQ(AdmitPodPriority(classes, &pod), std::nullopt);
  Json never = Pod("high");
  never["spec"]["preemptionPolicy"] = "Never";
  EXPECT_EQ(AdmitPodPriority(classes, &never),
            "the string value of PreemptionPolicy (Never) must not be provided in pod spec; "
            "priority admission controller computed PreemptLowerPriority from the given "
            "PriorityClass name");
}

TEST(PriorityAdmissionTest, OneGlobalDefault) {
  std::vector<Json> existing = {Class("low", 10, true), Class("high", 1000)};
  EXPECT_EQ(AdmitPriorityClass(existing, Class("other", 1, true), false),
            "PriorityClass low is marked as default. Only one default can exist");
  EXPECT_EQ(AdmitPriorityClass(existing, Class("high", 1000, true), true),
            "PriorityClass low is marked as default. Only one default can exist");
  EXPECT_EQ(AdmitPriorityClass(existing, Class("low", 10, true), true), std::nullopt);
  EXPECT_EQ(AdmitPriorityClass(existing, Class("plain", 1), false), std::nullopt);
  EXPECT_EQ(AdmitPriorityClass({}, Class("first", 1, true), false), std::nullopt);
}

TEST(PriorityAdmissionTest, Validate) {
  const struct {
    const char* name;
    Json pc;
    std::vector<std::pair<std::string, std::string>> causes;
  } cases[] = {
      {"user class", Class("high", 1000000000), {}},
      {"negative user value is fine", Class("low", -5), {}},
      {"too high",
       Class("high", 1000000001),
       {{"value", "Forbidden: maximum allowed value of a user defined priority is 1000000000"}}},
      {"built-in with the right value", Class("system-node-critical", 2000001000), {}},
      {"unknown system name",
       Class("system-mine", 10),
       {{"metadata.name",
         "Forbidden: priority class names with 'system-' prefix are reserved for system use "
         "only. error: system-mine is not a known system priority class"}}},
      {"built-in with another value",
       Class("system-cluster-critical", 5),
       {{"metadata.name",
         "Forbidden: priority class names with 'system-' prefix are reserved for system use "
         "only. error: value of system-cluster-critical PriorityClass must be 2000000000"}}},
      {"built-in as global default",
       Class("system-cluster-critical", 2000000000, true),
       {{"metadata.name",
         "Forbidden: priority class names with 'system-' prefix are reserved for system use "
         "only. error: globalDefault of system-cluster-critical PriorityClass must be false"}}},
      {"bad preemption policy",
       Class("p", 1, false, "Sometimes"),
       {{"preemptionPolicy",
         "Unsupported value: \"Sometimes\": supported values: \"Never\", "
         "\"PreemptLowerPriority\""}}},
      {"value not an integer",
       Class("p", "high"),
       {{"value", "Invalid value: \"high\": must be a 32-bit integer"}}},
  };
  for (const auto& c : cases) {
    auto got = ValidatePriorityClass(c.pc);
    ASSERT_EQ(got.size(), c.causes.size()) << c.name;
    for (size_t i = 0; i < got.size(); i++) {
      EXPECT_EQ(got[i].field, c.causes[i].first) << c.name;
      EXPECT_EQ(got[i].message, c.causes[i].second) << c.name;
    }
  }
  auto upd = ValidatePriorityClassUpdate(Class("p", 1), Class("p", 2, false, "Never"));
  ASSERT_EQ(upd.size(), 2u);
  EXPECT_EQ(upd[0].message, "Invalid value: \"Never\": field is immutable");
  EXPECT_EQ(upd[1].message, "Forbidden: may not be changed in an update.");
  EXPECT_TRUE(ValidatePriorityClassUpdate(Class("p", 1), Class("p", 1)).empty());
}

}  // namespace
}  // namespace capstan::kube
