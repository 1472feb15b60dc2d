#include "kube-adapter/api_error.h"

#include <set>

namespace capstan::kube {
namespace {

std::string Quote(const std::string& s) { return Json(s).dump(); }

ApiError Make(int code, std::string reason, std::string message) {
  ApiError e;
  e.code = code;
  e.reason = std::move(reason);
  e.message = std::move(message);
  return e;
}

ApiError WithDetails(ApiError e, const std::string& group, const std::string& kind,
                     const std::string& name) {
  e.has_details = true;
  e.details_group = group;
  e.details_kind = kind;
  e.details_name = name;
  return e;
}

std::string ValueText(const Json& v) {
  if (v.is_string()) return Quote(v.get<std::string>());
  return v.dump();
}

}  // namespace

Json ApiError::ToStatus() const {
  Json s = Json::object();
  s["kind"] = "Status";
  s["apiVersion"] = "v1";
  s["metadata"] = Json::object();
  s["status"] = "Failure";
  s["message"] = message;
  s["reason"] = reason;
  if (has_details) {
    Json d = Json::object();
    if (!details_name.empty()) d["name"] = details_name;
    if (!details_group.empty()) d["group"] = details_group;
    if (!details_kind.empty()) d["kind"] = details_kind;
    if (!causes.empty()) {
      Json cs = Json::array();
      for (const auto& c : causes) {
        Json j = Json::object();
        j["reason"] = c.reason;
        j["message"] = c.message;
        j["field"] = c.field;
        cs.push_back(std::move(j));
      }
      d["causes"] = std::move(cs);
    }
    s["details"] = std::move(d);
  }
  s["code"] = code;
  return s;
}

std::string ApiError::GroupResource(const std::string& group, const std::string& resource) {
  return group.empty() ? resource : resource + "." + group;
}

ApiError ApiError::NotFound(const std::string& group, const std::string& resource,
                            const std::string& name) {
  return WithDetails(
      Make(404, "NotFound", GroupResource(group, resource) + " " + Quote(name) + " not found"),
      group, resource, name);
}

ApiError ApiError::AlreadyExists(const std::string& group, const std::string& resource,
                                 const std::string& name) {
  return WithDetails(Make(409, "AlreadyExists",
                          GroupResource(group, resource) + " " + Quote(name) + " already exists"),
                     group, resource, name);
}

ApiError ApiError::Conflict(const std::string& group, const std::string& resource,
                            const std::string& name, const std::string& why) {
  return WithDetails(Make(409, "Conflict",
                          "Operation cannot be fulfilled on " + GroupResource(group, resource) +
                              " " + Quote(name) + ": " + why),
                     group, resource, name);
}

ApiError ApiError::ConflictModified(const std::string& group, const std::string& resource,
                                    const std::string& name) {
  return Conflict(group, resource, name,
                  "the object has been modified; please apply your changes to the latest "
                  "version and try again");
}

ApiError ApiError::Invalid(const std::string& group, const std::string& kind,
                           const std::string& name, std::vector<FieldCause> causes) {
  std::string qualified = group.empty() ? kind : kind + "." + group;
  std::string body;
  if (causes.size() == 1) {
    body = causes[0].field + ": " + causes[0].message;
  } else {
    body = "[";
    for (size_t i = 0; i < causes.size(); ++i) {
      if (i > 0) body += ", ";
      body += causes[i].field + ": " + causes[i].message;
    }
    body += "]";
  }
  ApiError e =
      WithDetails(Make(422, "Invalid", qualified + " " + Quote(name) + " is invalid: " + body),
                  group, kind, name);
  e.causes = std::move(causes);
  return e;
}

ApiError ApiError::Forbidden(const std::string& group, const std::string& resource,
                             const std::string& name, const std::string& why) {
  std::string msg;
  if (resource.empty()) {
    msg = "forbidden: " + why;
  } else if (name.empty()) {
    msg = GroupResource(group, resource) + " is forbidden: " + why;
  } else {
    msg = GroupResource(group, resource) + " " + Quote(name) + " is forbidden: " + why;
  }
  return WithDetails(Make(403, "Forbidden", msg), group, resource, name);
}

ApiError ApiError::BadRequest(const std::string& message) {
  return Make(400, "BadRequest", message);
}

ApiError ApiError::MethodNotSupported(const std::string& group, const std::string& resource,
                                      const std::string& verb) {
  return WithDetails(Make(405, "MethodNotAllowed",
                          verb + " is not supported on resources of kind " +
                              Quote(GroupResource(group, resource))),
                     group, resource, "");
}

ApiError ApiError::Unauthorized() { return Make(401, "Unauthorized", "Unauthorized"); }

ApiError ApiError::Gone(const std::string& message) { return Make(410, "Expired", message); }

ApiError ApiError::UnsupportedMediaType(const std::string& message) {
  return Make(415, "UnsupportedMediaType", message);
}

ApiError ApiError::InternalError(const std::string& message) {
  return Make(500, "InternalError", "Internal error occurred: " + message);
}

std::string AggregateErrors(const std::vector<std::string>& errors) {
  if (errors.empty()) return "";
  if (errors.size() == 1) return errors[0];
  std::set<std::string> seen;
  std::string out;
  for (const auto& e : errors) {
    if (!seen.insert(e).second) continue;
    if (seen.size() > 1) out += ", ";
    out += e;
  }
  return seen.size() == 1 ? out : "[" + out + "]";
}

FieldCause FieldInvalid(const std::string& field, const Json& value, const std::string& detail) {
  std::string msg = "Invalid value: " + ValueText(value);
  if (!detail.empty()) msg += ": " + detail;
  return {"FieldValueInvalid", msg, field};
}

FieldCause FieldRequired(const std::string& field, const std::string& detail) {
  std::string msg = "Required value";
  if (!detail.empty()) msg += ": " + detail;
  return {"FieldValueRequired", msg, field};
}

FieldCause FieldForbidden(const std::string& field, const std::string& detail) {
  std::string msg = "Forbidden";
  if (!detail.empty()) msg += ": " + detail;
  return {"FieldValueForbidden", msg, field};
}

FieldCause FieldNotSupported(const std::string& field, const Json& value,
                             const std::vector<std::string>& valid) {
  std::string msg = "Unsupported value: " + ValueText(value);
  if (!valid.empty()) {
    msg += ": supported values: ";
    for (size_t i = 0; i < valid.size(); ++i) {
      if (i > 0) msg += ", ";
      msg += Quote(valid[i]);
    }
  }
  return {"FieldValueNotSupported", msg, field};
}

}  // namespace capstan::kube
