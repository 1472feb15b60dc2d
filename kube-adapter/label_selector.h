// Kubernetes label selectors (apimachinery labels.Selector): the string form
// of ?labelSelector= and the metav1.LabelSelector JSON form that workloads,
// quotas and ClusterRole aggregation carry. Requirements are AND-ed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"

namespace capstan::kube {

class LabelSelector {
 public:
  enum class Op {
    kIn,
    kNotIn,
    kEquals,
    kNotEquals,
    kExists,
    kDoesNotExist,
    kGreaterThan,
    kLessThan
  };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };

  // An empty selector: matches everything.
  LabelSelector() = default;

  // Parses the string syntax: `k=v`, `k==v`, `k!=v` (also matches a missing
  // key), `k in (a,b)`, `k notin (a,b)` (matches a missing key), `k`, `!k`,
  // `k gt 1`, `k lt 1`, comma-separated, whitespace allowed. Errors are 400
  // BadRequest with the apimachinery parser's wording.
  static std::optional<ApiError> Parse(const std::string& s, LabelSelector* out);

  // Converts a metav1.LabelSelector ({matchLabels, matchExpressions}). Like
  // metav1.LabelSelectorAsSelector, JSON null selects nothing and {} selects
  // everything. Unknown operators and bad keys/values are 400 BadRequest.
  static std::optional<ApiError> FromJson(const Json& metav1_label_selector, LabelSelector* out);

  // `labels_object` is metadata.labels (a JSON object of strings; null or
  // absent means no labels).
  bool Matches(const Json& labels_object) const;

  // True when the selector has no requirements and so matches everything.
  bool Empty() const { return !nothing_ && requirements_.empty(); }

  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  bool nothing_ = false;  // the selector from a null metav1.LabelSelector
  std::vector<Requirement> requirements_;
};

}  // namespace capstan::kube
