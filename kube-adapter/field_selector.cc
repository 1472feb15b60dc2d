#include "kube-adapter/field_selector.h"

#include <algorithm>

namespace capstan::kube {
namespace {

// The selectable fields of each resource with its own field label
// conversion in kube-apiserver 1.20 (pkg/apis/core/v1/conversion.go,
// pkg/apis/batch/v1/conversion.go). Everything else gets the generic
// metadata.name/metadata.namespace conversion.
const std::vector<std::string>* KnownFields(const std::string& resource) {
  static const std::vector<std::string> kPods = {
      "metadata.name",      "metadata.namespace", "spec.nodeName",
      "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
      "status.phase",       "status.podIP",       "status.nominatedNodeName"};
  static const std::vector<std::string> kEvents = {"metadata.name",
                                                   "metadata.namespace",
                                                   "involvedObject.kind",
                                                   "involvedObject.namespace",
                                                   "involvedObject.name",
                                                   "involvedObject.uid",
                                                   "involvedObject.apiVersion",
                                                   "involvedObject.resourceVersion",
                                                   "involvedObject.fieldPath",
                                                   "reason",
                                                   "reportingComponent",
                                                   "source",
                                                   "type"};
  static const std::vector<std::string> kSecrets = {"metadata.name", "metadata.namespace", "type"};
  // kube's Namespace conversion accepts only metadata.name and status.phase;
  // metadata.namespace is accepted here too (it is always "") so that every
  // resource supports both metadata fields.
  static const std::vector<std::string> kNamespaces = {"metadata.name", "metadata.namespace",
                                                       "status.phase"};
  static const std::vector<std::string> kNodes = {"metadata.name", "metadata.namespace",
                                                  "spec.unschedulable"};
  static const std::vector<std::string> kReplicationControllers = {
      "metadata.name", "metadata.namespace", "status.replicas"};
  static const std::vector<std::string> kJobs = {"metadata.name", "metadata.namespace",
                                                 "status.successful"};
  if (resource == "pods") return &kPods;
  if (resource == "events") return &kEvents;
  if (resource == "secrets") return &kSecrets;
  if (resource == "namespaces") return &kNamespaces;
  if (resource == "nodes") return &kNodes;
  if (resource == "replicationcontrollers") return &kReplicationControllers;
  if (resource == "jobs") return &kJobs;
  return nullptr;
}

// Go's %q, near enough; never throws, even on invalid UTF-8 from a URL.
std::string Quote(const std::string& s) {
  return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Splits on commas not escaped by a backslash (fields.splitTerms).
std::vector<std::string> SplitTerms(const std::string& s) {
  std::vector<std::string> terms;
  std::string cur;
  bool escaped = false;
  for (char c : s) {
    if (escaped) {
      cur += c;
      escaped = false;
    } else if (c == '\\') {
      cur += c;
      escaped = true;
    } else if (c == ',') {
      terms.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  terms.push_back(cur);
  return terms;
}

// The first operator in the term wins, trying "!=", "==", "=" at each
// position (fields.splitTerm).
bool SplitTerm(const std::string& term, std::string* lhs, std::string* op, std::string* rhs) {
  for (size_t i = 0; i < term.size(); ++i) {
    for (const char* o : {"!=", "==", "="}) {
      if (term.compare(i, std::char_traits<char>::length(o), o) == 0) {
        *lhs = term.substr(0, i);
        *op = o;
        *rhs = term.substr(i + std::char_traits<char>::length(o));
        return true;
      }
    }
  }
  return false;
}

std::optional<std::string> Unescape(const std::string& v, std::string* err) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '\\') {
      if (i + 1 >= v.size()) {
        *err = "invalid field selector: unterminated escape sequence";
        return std::nullopt;
      }
      char n = v[++i];
      if (n != '\\' && n != ',' && n != '=') {
        *err = "invalid field selector: invalid escape sequence: \\" + std::string(1, n);
        return std::nullopt;
      }
      out += n;
    } else if (c == ',' || c == '=') {
      *err = "invalid field selector: unescaped " + std::string(1, c);
      return std::nullopt;
    } else {
      out += c;
    }
  }
  return out;
}

std::string ScalarText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  // Numbers and booleans print as Go's %v would.
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Reads a dotted path; a missing field reads as "".
std::string Lookup(const Json& obj, const std::string& path) {
  const Json* cur = &obj;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return "";
    auto it = cur->find(part);
    if (it == cur->end()) return "";
    cur = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return ScalarText(*cur);
}

std::string FieldValue(const Json& obj, const std::string& field) {
  if (field == "source") return Lookup(obj, "source.component");  // Event.Source.Component
  if (field == "status.successful" || field == "status.replicas") {
    std::string v = Lookup(obj, field);
    return v.empty() ? "0" : v;  // int32 fields read 0 when unset
  }
  if (field == "spec.unschedulable") {
    std::string v = Lookup(obj, field);
    return v.empty() ? "false" : v;
  }
  return Lookup(obj, field);
}

}  // namespace

std::optional<ApiError> FieldSelector::Parse(const std::string& s, const std::string& resource,
                                             FieldSelector* out) {
  FieldSelector sel;
  std::vector<std::string> parts = SplitTerms(s);
  std::sort(parts.begin(), parts.end());
  for (const auto& part : parts) {
    if (part.empty()) continue;
    std::string lhs, op, rhs;
    if (!SplitTerm(part, &lhs, &op, &rhs)) {
      return ApiError::BadRequest("invalid selector: '" + s + "'; can't understand '" + part + "'");
    }
    std::string err;
    auto value = Unescape(rhs, &err);
    if (!value) return ApiError::BadRequest(err);
    sel.requirements_.push_back({lhs, op != "!=", *value});
  }
  // Field label conversion, as the apiserver's list/watch handler runs it.
  const std::vector<std::string>* known = KnownFields(resource);
  for (const auto& r : sel.requirements_) {
    if (known != nullptr) {
      if (std::find(known->begin(), known->end(), r.field) == known->end()) {
        return ApiError::BadRequest("field label not supported: " + r.field);
      }
    } else if (r.field != "metadata.name" && r.field != "metadata.namespace") {
      return ApiError::BadRequest(Quote(r.field) + " is not a known field selector: only " +
                                  Quote("metadata.name") + ", " + Quote("metadata.namespace"));
    }
  }
  *out = std::move(sel);
  return std::nullopt;
}

bool FieldSelector::Matches(const Json& obj) const {
  for (const auto& r : requirements_) {
    bool eq = FieldValue(obj, r.field) == r.value;
    if (eq != r.equals) return false;
  }
  return true;
}

std::optional<std::string> FieldSelector::ExactName() const {
  for (const auto& r : requirements_) {
    if (r.field == "metadata.name" && r.equals) return r.value;
  }
  return std::nullopt;
}

}  // namespace capstan::kube
