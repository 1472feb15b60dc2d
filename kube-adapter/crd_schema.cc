#include "kube-adapter/crd_schema.h"

namespace capstan::kube {
namespace {

std::string TypeName(const Json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number_float()) return "number";
  if (v.is_object()) return "object";
  if (v.is_array()) return "array";
  return "null";
}

bool TypeMatches(const std::string& want, const Json& v) {
  if (want.empty()) return true;
  if (want == "number") return v.is_number();
  if (want == "integer") {
    if (v.is_number_integer() || v.is_number_unsigned()) return true;
    // JSON has one number type: 3.0 is an integer to Kubernetes too.
    return v.is_number_float() &&
           v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>()));
  }
  return TypeName(v) == want;
}

bool PreservesUnknown(const Json& schema) {
  return schema.is_object() && schema.value("x-kubernetes-preserve-unknown-fields", false);
}

void Walk(const Json& schema, Json* v, const std::string& path, std::vector<FieldCause>* causes) {
  if (!schema.is_object()) return;
  if (v->is_null() && schema.value("nullable", false)) return;
  const std::string type = schema.value("type", "");
  const bool int_or_string = schema.value("x-kubernetes-int-or-string", false);
  if (int_or_string) {
    if (!v->is_string() && !TypeMatches("integer", *v)) {
      causes->push_back(
          FieldInvalid(path, TypeName(*v),
                       path + " in body must be of type integer,string: \"" + TypeName(*v) + "\""));
    }
    return;
  }
  if (!type.empty() && !TypeMatches(type, *v)) {
    causes->push_back(
        FieldInvalid(path, TypeName(*v),
                     path + " in body must be of type " + type + ": \"" + TypeName(*v) + "\""));
    return;
  }
  if (schema.contains("enum") && schema["enum"].is_array()) {
    bool ok = false;
    std::vector<std::string> allowed;
    for (const auto& e : schema["enum"]) {
      if (e == *v) ok = true;
      allowed.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    }
    if (!ok) causes->push_back(FieldNotSupported(path, *v, allowed));
  }
  if (v->is_object()) {
    const bool has_props = schema.contains("properties") && schema["properties"].is_object();
    if (has_props) {
      const Json& props = schema["properties"];
      std::vector<std::string> drop;
      for (auto& [k, child] : v->items()) {
        if (props.contains(k)) {
          Walk(props[k], &child, path.empty() ? k : path + "." + k, causes);
        } else if (!PreservesUnknown(schema)) {
          drop.push_back(k);
        }
      }
      for (const auto& k : drop) v->erase(k);
    } else if (schema.contains("additionalProperties") &&
               schema["additionalProperties"].is_object()) {
      for (auto& [k, child] : v->items()) {
        Walk(schema["additionalProperties"], &child, path + "." + k, causes);
      }
    } else if (type == "object" && !PreservesUnknown(schema) &&
               !schema.contains("additionalProperties")) {
      *v = Json::object();  // a structural object without properties keeps nothing
    }
    if (schema.contains("required") && schema["required"].is_array()) {
      for (const auto& r : schema["required"]) {
        if (r.is_string() && !v->contains(r.get<std::string>())) {
          const std::string f =
              path.empty() ? r.get<std::string>() : path + "." + r.get<std::string>();
          causes->push_back(FieldRequired(f, ""));
        }
      }
    }
  } else if (v->is_array() && schema.contains("items") && schema["items"].is_object()) {
    for (size_t i = 0; i < v->size(); ++i) {
      Walk(schema["items"], &(*v)[i], path + "[" + std::to_string(i) + "]", causes);
    }
  }
  if (v->is_number() && schema.contains("minimum") && schema["minimum"].is_number() &&
      v->get<double>() < schema["minimum"].get<double>()) {
    causes->push_back(FieldInvalid(
        path, *v,
        path + " in body should be greater than or equal to " + schema["minimum"].dump()));
  }
  if (v->is_number() && schema.contains("maximum") && schema["maximum"].is_number() &&
      v->get<double>() > schema["maximum"].get<double>()) {
    causes->push_back(FieldInvalid(
        path, *v, path + " in body should be less than or equal to " + schema["maximum"].dump()));
  }
}

}  // namespace

std::vector<FieldCause> ValidateAndPruneCustomResource(const Json& schema, Json* obj) {
  std::vector<FieldCause> causes;
  if (!schema.is_object() || !obj->is_object()) return causes;
  try {
    if (schema.contains("properties") && schema["properties"].is_object()) {
      const Json& props = schema["properties"];
      std::vector<std::string> drop;
      for (auto& [k, child] : obj->items()) {
        if (k == "apiVersion" || k == "kind" || k == "metadata") continue;
        if (props.contains(k)) {
          Walk(props[k], &child, k, &causes);
        } else if (!PreservesUnknown(schema)) {
          drop.push_back(k);
        }
      }
      for (const auto& k : drop) obj->erase(k);
    }
    if (schema.contains("required") && schema["required"].is_array()) {
      for (const auto& r : schema["required"]) {
        if (r.is_string() && !obj->contains(r.get<std::string>())) {
          causes.push_back(FieldRequired(r.get<std::string>(), ""));
        }
      }
    }
  } catch (...) {
  }
  return causes;
}

}  // namespace capstan::kube
