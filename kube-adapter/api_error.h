// ApiError: a Kubernetes API error, served as a metav1.Status object with
// Kubernetes' exact reason, code and message (apimachinery's errors.go).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/json.h"

namespace capstan::kube {

// One field error of a 422 Invalid (metav1.StatusCause).
struct FieldCause {
  std::string reason;   // FieldValueInvalid, FieldValueRequired, FieldValueNotSupported, ...
  std::string message;  // e.g. "Invalid value: \"200m\": must be less than or equal to cpu limit"
  std::string field;    // e.g. "spec.containers[0].resources.requests"
};

struct ApiError {
  int code = 500;
  std::string reason;  // NotFound, AlreadyExists, Conflict, Invalid, Forbidden, BadRequest, ...
  std::string message;
  // details: omitted when `has_details` is false.
  bool has_details = false;
  std::string details_name;
  std::string details_group;
  std::string details_kind;
  std::vector<FieldCause> causes;

  // The metav1.Status JSON body.
  Json ToStatus() const;

  // "<resource>" for core, "<resource>.<group>" otherwise (Kubernetes'
  // GroupResource.String()).
  static std::string GroupResource(const std::string& group, const std::string& resource);

  static ApiError NotFound(const std::string& group, const std::string& resource,
                           const std::string& name);
  static ApiError AlreadyExists(const std::string& group, const std::string& resource,
                                const std::string& name);
  static ApiError Conflict(const std::string& group, const std::string& resource,
                           const std::string& name, const std::string& why);
  // The stale-resourceVersion conflict of update and patch.
  static ApiError ConflictModified(const std::string& group, const std::string& resource,
                                   const std::string& name);
  // 422: "<Kind>[.<group>] "name" is invalid: <causes>".
  static ApiError Invalid(const std::string& group, const std::string& kind,
                          const std::string& name, std::vector<FieldCause> causes);
  // 403: "<gr> "name" is forbidden: <why>" (name omitted when empty).
  static ApiError Forbidden(const std::string& group, const std::string& resource,
                            const std::string& name, const std::string& why);
  static ApiError BadRequest(const std::string& message);
  static ApiError MethodNotSupported(const std::string& group, const std::string& resource,
                                     const std::string& verb);
  static ApiError Unauthorized();
  static ApiError Gone(const std::string& message);  // 410 Expired
  static ApiError UnsupportedMediaType(const std::string& message);
  static ApiError InternalError(const std::string& message);
};

// Kubernetes' utilerrors.NewAggregate(...).Error(): one error as is, several
// de-duplicated and written "[e1, e2]".
std::string AggregateErrors(const std::vector<std::string>& errors);

// Field cause helpers (Kubernetes' field.ErrorList wording).
FieldCause FieldInvalid(const std::string& field, const Json& value, const std::string& detail);
FieldCause FieldRequired(const std::string& field, const std::string& detail);
FieldCause FieldForbidden(const std::string& field, const std::string& detail);
FieldCause FieldNotSupported(const std::string& field, const Json& value,
                             const std::vector<std::string>& valid);

}  // namespace capstan::kube
