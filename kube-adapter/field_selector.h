// Kubernetes field selectors (?fieldSelector=, apimachinery fields.Selector):
// `field=value`, `field==value`, `field!=value`, comma-AND. Which fields a
// resource supports follows kube-apiserver 1.20's per-kind field label
// conversions; the REST layer matches list and watch results with it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/json.h"

namespace capstan::kube {

class FieldSelector {
 public:
  struct Requirement {
    std::string field;  // e.g. "metadata.name"
    bool equals;        // false for !=
    std::string value;  // unescaped
  };

  // An empty selector: matches everything.
  FieldSelector() = default;

  // Parses `s` for `resource` (the plural, e.g. "pods"). Values may escape
  // '\\', ',' and '='. A malformed term or a field the resource does not
  // support is a 400 BadRequest with the apiserver's message: for kinds with
  // their own conversion (pods, events, secrets, namespaces, nodes,
  // replicationcontrollers, jobs, ...) "field label not supported: <f>",
  // otherwise "\"<f>\" is not a known field selector: only
  // \"metadata.name\", \"metadata.namespace\"".
  static std::optional<ApiError> Parse(const std::string& s, const std::string& resource,
                                       FieldSelector* out);

  // Evaluates the requirements against the object's fields; a missing field
  // reads as "" (as in Kubernetes, where the selectable field set always has
  // every key).
  bool Matches(const Json& obj) const;

  bool Empty() const { return requirements_.empty(); }

  // The X of a `metadata.name=X` (or ==) requirement, used to authorize a
  // list/watch of a single object by name (kubectl get X -w, delete's wait).
  std::optional<std::string> ExactName() const;

  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace capstan::kube
