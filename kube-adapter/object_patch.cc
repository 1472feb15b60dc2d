#include "kube-adapter/object_patch.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace capstan::kube {
namespace {

// ---------------------------------------------------------------------------
// Merge patch (RFC 7386)

// A patch object with more keys than this merges through an index of the
// target's keys: the ordered object finds a key by a linear scan, so key by
// key a wide patch into a wide object costs n*m string compares (minutes for
// the 3 MiB a request may carry).
constexpr size_t kIndexedMergeFrom = 32;

void MergeInto(Json* target, const Json& patch) {
  if (!patch.is_object()) {
    *target = patch;
    return;
  }
  if (!target->is_object()) *target = Json::object();
  if (patch.size() <= kIndexedMergeFrom) {
    for (const auto& [k, v] : patch.items()) {
      if (v.is_null()) {
        target->erase(k);
      } else {
        MergeInto(&(*target)[k], v);
      }
    }
    return;
  }
  using Entries = Json::object_t::Container;
  auto& entries = target->get_ref<Json::object_t&>();
  std::unordered_map<std::string, size_t> index;
  index.reserve(entries.size() + patch.size());
  for (size_t i = 0; i < entries.size(); ++i) index.emplace(entries.begin()[i].first, i);
  std::vector<bool> erased(entries.size(), false);
  bool any_erased = false;
  for (const auto& [k, v] : patch.items()) {
    auto it = index.find(k);
    if (v.is_null()) {
      if (it != index.end()) erased[it->second] = any_erased = true;
      continue;
    }
    if (it == index.end()) {
      index.emplace(k, entries.size());
      entries.Entries::emplace_back(k, Json());
      MergeInto(&entries.Entries::back().second, v);
    } else {
      MergeInto(&entries.begin()[it->second].second, v);
    }
  }
  if (!any_erased) return;
  Json::object_t kept;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i < erased.size() && erased[i]) continue;
    auto& [key, value] = entries.begin()[i];
    kept.Entries::emplace_back(key, std::move(value));
  }
  entries.swap(kept);
}

std::string GoTypeName(const Json& j) {
  if (j.is_array()) return "array";
  if (j.is_string()) return "string";
  if (j.is_number()) return "number";
  if (j.is_boolean()) return "bool";
  return "null";
}

// ---------------------------------------------------------------------------
// JSON patch (RFC 6902). Messages follow evanphx/json-patch, which
// kube-apiserver 1.20 uses and whose errors it returns as 422.

// The apiserver wraps a json-patch failure in NewGenericServerResponse(422):
// a generic message, the library's error as an UnexpectedServerResponse
// cause (kubectl prints "The request is invalid: ...").
ApiError PatchInvalid(const std::string& message) {
  ApiError e;
  e.code = 422;
  e.reason = "Invalid";
  e.message = "the server rejected our request due to an error in our request";
  e.has_details = true;
  e.causes.push_back({"UnexpectedServerResponse", message, ""});
  return e;
}

// Splits a JSON pointer ("/a/b~1c") into unescaped tokens. False when the
// pointer is malformed (non-empty and not starting with '/').
bool SplitPointer(const std::string& ptr, std::vector<std::string>* tokens) {
  tokens->clear();
  if (ptr.empty()) return true;
  if (ptr[0] != '/') return false;
  std::string cur;
  for (size_t i = 1; i <= ptr.size(); ++i) {
    if (i == ptr.size() || ptr[i] == '/') {
      tokens->push_back(cur);
      cur.clear();
    } else if (ptr[i] == '~' && i + 1 < ptr.size() && (ptr[i + 1] == '0' || ptr[i + 1] == '1')) {
      cur += ptr[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      cur += ptr[i];
    }
  }
  return true;
}

// Parses an array index token; "-" yields size (append position).
bool ArrayIndex(const std::string& tok, size_t size, bool allow_end, size_t* out) {
  if (tok == "-") {
    if (!allow_end) return false;
    *out = size;
    return true;
  }
  if (tok.empty() || tok.size() > 9) return false;
  if (tok.size() > 1 && tok[0] == '0') return false;
  size_t v = 0;
  for (char c : tok) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  if (v > size || (!allow_end && v == size)) return false;
  *out = v;
  return true;
}

// Walks to the container holding the last token. Null when a step is missing.
Json* Parent(Json* doc, const std::vector<std::string>& tokens) {
  Json* cur = doc;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (cur->is_object()) {
      auto it = cur->find(t);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      size_t idx;
      if (!ArrayIndex(t, cur->size(), false, &idx)) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

const Json* Get(Json* doc, const std::vector<std::string>& tokens) {
  if (tokens.empty()) return doc;
  Json* p = Parent(doc, tokens);
  if (p == nullptr) return nullptr;
  const std::string& last = tokens.back();
  if (p->is_object()) {
    auto it = p->find(last);
    return it == p->end() ? nullptr : &*it;
  }
  if (p->is_array()) {
    size_t idx;
    if (!ArrayIndex(last, p->size(), false, &idx)) return nullptr;
    return &(*p)[idx];
  }
  return nullptr;
}

std::string MissingPath(const std::string& op, const std::string& path) {
  return op + " operation does not apply: doc is missing path: \"" + path + "\": missing value";
}

std::optional<ApiError> Add(Json* doc, const std::vector<std::string>& tokens,
                            const std::string& path, Json value) {
  if (tokens.empty()) {
    *doc = std::move(value);
    return std::nullopt;
  }
  Json* p = Parent(doc, tokens);
  if (p == nullptr || !(p->is_object() || p->is_array())) {
    return PatchInvalid(MissingPath("add", path));
  }
  if (p->is_object()) {
    (*p)[tokens.back()] = std::move(value);
    return std::nullopt;
  }
  size_t idx;
  if (!ArrayIndex(tokens.back(), p->size(), true, &idx)) {
    return PatchInvalid("Unable to access invalid index: " + tokens.back() +
                        ": invalid index referenced");
  }
  p->insert(p->begin() + static_cast<std::ptrdiff_t>(idx), std::move(value));
  return std::nullopt;
}

std::optional<ApiError> Remove(Json* doc, const std::vector<std::string>& tokens,
                               const std::string& path, const std::string& op) {
  if (tokens.empty()) return PatchInvalid(MissingPath(op, path));
  Json* p = Parent(doc, tokens);
  if (p == nullptr || !(p->is_object() || p->is_array())) {
    return PatchInvalid(MissingPath(op, path));
  }
  if (p->is_object()) {
    if (p->erase(tokens.back()) == 0) {
      if (op == "remove") {
        return PatchInvalid("Unable to remove nonexistent key: " + tokens.back() +
                            ": missing value");
      }
      return PatchInvalid(op + " operation does not apply: doc is missing key: " + path +
                          ": missing value");
    }
    return std::nullopt;
  }
  size_t idx;
  if (!ArrayIndex(tokens.back(), p->size(), false, &idx)) {
    return PatchInvalid("Unable to access invalid index: " + tokens.back() +
                        ": invalid index referenced");
  }
  p->erase(p->begin() + static_cast<std::ptrdiff_t>(idx));
  return std::nullopt;
}

std::optional<ApiError> ApplyOneOp(Json* doc, const Json& op) {
  if (!op.is_object())
    return ApiError::BadRequest("json: cannot unmarshal into jsonpatch.Operation");
  auto op_it = op.find("op");
  std::string kind = (op_it != op.end() && op_it->is_string()) ? op_it->get<std::string>() : "";
  auto path_it = op.find("path");
  if (path_it == op.end() || !path_it->is_string()) {
    return PatchInvalid(kind + " operation does not apply: path is missing: missing value");
  }
  const std::string path = path_it->get<std::string>();
  std::vector<std::string> tokens;
  if (!SplitPointer(path, &tokens)) {
    return PatchInvalid(kind + " operation does not apply: invalid JSON pointer: \"" + path + "\"");
  }
  auto value_it = op.find("value");
  bool needs_value = kind == "add" || kind == "replace" || kind == "test";
  if (needs_value && value_it == op.end()) {
    return PatchInvalid(kind + " operation does not apply: value is missing: missing value");
  }
  if (kind == "add") return Add(doc, tokens, path, *value_it);
  if (kind == "remove") return Remove(doc, tokens, path, "remove");
  if (kind == "replace") {
    if (tokens.empty()) {
      *doc = *value_it;
      return std::nullopt;
    }
    if (Get(doc, tokens) == nullptr) {
      Json* p = Parent(doc, tokens);
      if (p == nullptr) return PatchInvalid(MissingPath("replace", path));
      return PatchInvalid("replace operation does not apply: doc is missing key: " + path +
                          ": missing value");
    }
    Json* p = Parent(doc, tokens);
    if (p->is_object()) {
      (*p)[tokens.back()] = *value_it;
    } else {
      size_t idx;
      ArrayIndex(tokens.back(), p->size(), false, &idx);
      (*p)[idx] = *value_it;
    }
    return std::nullopt;
  }
  if (kind == "test") {
    const Json* cur = Get(doc, tokens);
    if (cur == nullptr ? !value_it->is_null() : *cur != *value_it) {
      return PatchInvalid("testing value " + path + " failed: test failed");
    }
    return std::nullopt;
  }
  if (kind == "move" || kind == "copy") {
    auto from_it = op.find("from");
    std::vector<std::string> from_tokens;
    if (from_it == op.end() || !from_it->is_string() ||
        !SplitPointer(from_it->get<std::string>(), &from_tokens)) {
      return PatchInvalid(kind + " operation does not apply: from is missing: missing value");
    }
    const std::string from = from_it->get<std::string>();
    const Json* src = Get(doc, from_tokens);
    if (src == nullptr) {
      return PatchInvalid(kind + " operation does not apply: doc is missing from path: " + from +
                          ": missing value");
    }
    Json value = *src;
    if (kind == "move") {
      if (path.rfind(from + "/", 0) == 0) {
        return PatchInvalid("move operation does not apply: cannot move \"" + from +
                            "\" into its own child \"" + path + "\"");
      }
      if (auto err = Remove(doc, from_tokens, from, "move")) return err;
    }
    return Add(doc, tokens, path, std::move(value));
  }
  return PatchInvalid("Unexpected kind: " + kind);
}

// ---------------------------------------------------------------------------
// Strategic merge patch

constexpr char kPatch[] = "$patch";
constexpr char kRetainKeys[] = "$retainKeys";
constexpr char kSetElementOrder[] = "$setElementOrder/";
constexpr char kDeleteFromPrimitiveList[] = "$deleteFromPrimitiveList/";

// Never throws, even on invalid UTF-8.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool IsDirectiveKey(const std::string& k) {
  return k == kPatch || k == kRetainKeys || StartsWith(k, kSetElementOrder) ||
         StartsWith(k, kDeleteFromPrimitiveList);
}

// How a list field merges: atomically (replaced), as a set of primitives, or
// element-wise by a merge key (the patchStrategy/patchMergeKey struct tags of
// k8s.io/api).
struct ListStrategy {
  bool merge = false;
  std::string key;  // empty for a merged primitive list
};

using Path = std::vector<std::string>;  // field names from the root; list items add nothing

// Whether the first `n` names of `p` end with `tail`.
bool EndsWith(const Path& p, size_t n, std::initializer_list<const char*> tail) {
  if (n < tail.size()) return false;
  size_t i = n - tail.size();
  for (const char* t : tail) {
    if (p[i++] != t) return false;
  }
  return true;
}

// A PodSpec is `spec` of a Pod and `template.spec` anywhere (Deployment,
// ReplicaSet, StatefulSet, DaemonSet, Job, CronJob's jobTemplate, PodTemplate).
// `n`: how many names of `p` make the path (a prefix, without copying it).
bool IsPodSpec(const Path& p, size_t n, const std::string& kind) {
  if (kind == "Pod" && n == 1 && p[0] == "spec") return true;
  return EndsWith(p, n, {"template", "spec"});
}

bool IsContainerList(const std::string& f) {
  return f == "containers" || f == "initContainers" || f == "ephemeralContainers";
}

ListStrategy StrategyFor(const Path& parent, const std::string& field, const std::string& kind) {
  auto keyed = [](const char* key) { return ListStrategy{true, key}; };
  if (IsPodSpec(parent, parent.size(), kind)) {
    if (IsContainerList(field) || field == "volumes" || field == "imagePullSecrets") {
      return keyed("name");
    }
    if (field == "hostAliases") return keyed("ip");
    if (field == "topologySpreadConstraints") return keyed("topologyKey");
  }
  if (!parent.empty() && IsContainerList(parent.back()) &&
      IsPodSpec(parent, parent.size() - 1, kind)) {
    if (field == "ports") return keyed("containerPort");
    if (field == "env") return keyed("name");
    if (field == "volumeMounts") return keyed("mountPath");
    if (field == "volumeDevices") return keyed("devicePath");
  }
  if (kind == "Service" && parent.size() == 1 && parent[0] == "spec" && field == "ports") {
    return keyed("port");
  }
  if (kind == "ServiceAccount" && parent.empty() && field == "secrets") return keyed("name");
  if (!parent.empty() && parent.back() == "metadata") {
    if (field == "ownerReferences") return keyed("uid");
    if (field == "finalizers") return ListStrategy{true, ""};
  }
  if (!parent.empty() && parent.back() == "status" && field == "conditions") {
    return keyed("type");
  }
  return ListStrategy{};
}

ApiError SmpBadRequest(const std::string& message) { return ApiError::BadRequest(message); }

// strategicpatch errors the apiserver does not map to a status (unknown
// $patch values, a missing merge key) surface as a bare 500 with reason
// Unknown ("") and the library's message.
ApiError SmpInternal(const std::string& message) {
  ApiError e;
  e.code = 500;
  e.reason = "";
  e.message = message;
  return e;
}

class StrategicMerger {
 public:
  explicit StrategicMerger(const std::string& kind) : kind_(kind) {}

  // Merges patch map `patch` into `original` (a map) at `path`. `path` is
  // one vector shared by the whole walk (pushed and popped around each
  // level), never copied per level: copying it made a patch nested n deep
  // cost n^2/2 string copies.
  std::optional<ApiError> MergeMap(Json* original, const Json& patch, Path& path) {
    if (auto it = patch.find(kPatch); it != patch.end()) {
      if (*it == "replace") {
        Json replaced = Json::object();
        for (const auto& [k, v] : patch.items()) {
          if (k == kPatch) continue;
          replaced[k] = v;
        }
        // The replacement may still carry directives; strip them by merging
        // into an empty map.
        Json out = Json::object();
        if (auto err = MergeMap(&out, replaced, path)) return err;
        *original = std::move(out);
        return std::nullopt;
      }
      if (*it == "delete") {
        *original = Json::object();
        return std::nullopt;
      }
      return SmpInternal("unknown patch type: " + ValueText(*it) + " in map: " + Dump(patch));
    }
    if (!original->is_object()) *original = Json::object();

    if (auto it = patch.find(kRetainKeys); it != patch.end()) {
      if (!it->is_array()) {
        return SmpBadRequest("invalid patch: $retainKeys must be a list of strings");
      }
      std::vector<std::string> drop;
      for (const auto& [k, v] : original->items()) {
        if (std::find(it->begin(), it->end(), Json(k)) == it->end()) drop.push_back(k);
      }
      for (const auto& k : drop) original->erase(k);
    }

    for (const auto& [k, v] : patch.items()) {
      if (!StartsWith(k, kDeleteFromPrimitiveList)) continue;
      std::string field = k.substr(sizeof(kDeleteFromPrimitiveList) - 1);
      if (!v.is_array()) {
        return SmpBadRequest("invalid patch: " + k + " must be a list of primitives");
      }
      auto target = original->find(field);
      if (target == original->end() || !target->is_array()) continue;
      Json kept = Json::array();
      for (const auto& e : *target) {
        if (std::find(v.begin(), v.end(), e) == v.end()) kept.push_back(e);
      }
      *target = std::move(kept);
    }

    for (const auto& [k, v] : patch.items()) {
      if (!k.empty() && k[0] == '$') {
        if (!IsDirectiveKey(k)) return SmpBadRequest("unknown patch directive: " + k);
        continue;
      }
      if (v.is_null()) {
        original->erase(k);
        continue;
      }
      auto it = original->find(k);
      bool same_type = it != original->end() &&
                       ((it->is_object() && v.is_object()) || (it->is_array() && v.is_array()));
      if (v.is_object()) {
        Json base = same_type ? std::move(*it) : Json::object();
        path.push_back(k);
        auto err = MergeMap(&base, v, path);
        path.pop_back();
        if (err) return err;
        (*original)[k] = std::move(base);
      } else if (v.is_array()) {
        Json base = same_type ? std::move(*it) : Json::array();
        if (auto err = MergeList(&base, v, path, k)) return err;
        (*original)[k] = std::move(base);
      } else {
        (*original)[k] = v;
      }
    }

    for (const auto& [k, v] : patch.items()) {
      if (!StartsWith(k, kSetElementOrder)) continue;
      std::string field = k.substr(sizeof(kSetElementOrder) - 1);
      if (!v.is_array()) {
        return SmpBadRequest("invalid patch: " + k + " must be a list");
      }
      auto target = original->find(field);
      if (target == original->end() || !target->is_array()) continue;
      ListStrategy s = StrategyFor(path, field, kind_);
      if (!s.merge) continue;  // atomic lists already have the patch's order
      ApplyOrder(&*target, v, s);
    }
    return std::nullopt;
  }

 private:
  static std::string ValueText(const Json& v) {
    return v.is_string() ? v.get<std::string>() : Dump(v);
  }

  // Removes directives from a value that replaces, rather than merges into,
  // existing data (elements of atomic lists).
  static Json Clean(const Json& v) {
    if (v.is_object()) {
      Json out = Json::object();
      for (const auto& [k, e] : v.items()) {
        if (IsDirectiveKey(k)) continue;
        out[k] = Clean(e);
      }
      return out;
    }
    if (v.is_array()) {
      Json out = Json::array();
      for (const auto& e : v) out.push_back(Clean(e));
      return out;
    }
    return v;
  }

  static bool IsDirectiveElement(const Json& e) { return e.is_object() && e.contains(kPatch); }

  // Merges patch list `patch` into `original` (a list) for field `field` of
  // the map at `parent`.
  std::optional<ApiError> MergeList(Json* original, const Json& patch, Path& parent,
                                    const std::string& field) {
    ListStrategy s = StrategyFor(parent, field, kind_);
    if (!s.merge) {
      *original = Clean(patch);
      return std::nullopt;
    }
    // The items' path is parent + field for the rest of this call.
    struct PushField {
      Path& path;
      PushField(Path& p, const std::string& f) : path(p) { path.push_back(f); }
      ~PushField() { path.pop_back(); }
    } push_field(parent, field);
    Path& item_path = parent;
    for (const auto& e : patch) {
      if (!IsDirectiveElement(e)) continue;
      const Json& d = e[kPatch];
      if (d == "replace") {
        Json out = Json::array();
        for (const auto& x : patch) {
          if (IsDirectiveElement(x)) continue;
          if (x.is_object()) {
            Json m = Json::object();
            if (auto err = MergeMap(&m, x, item_path)) return err;
            out.push_back(std::move(m));
          } else {
            out.push_back(x);
          }
        }
        *original = std::move(out);
        return std::nullopt;
      }
      if (d != "delete" || s.key.empty()) {
        return SmpInternal("unknown patch type: " + ValueText(d) + " in list: " + Dump(patch));
      }
    }

    if (s.key.empty()) {  // merged primitive list: union, original order first
      for (const auto& e : patch) {
        if (e.is_object() || e.is_array()) {
          return SmpBadRequest("invalid patch: " + field + " must be a list of primitives");
        }
        if (std::find(original->begin(), original->end(), e) == original->end()) {
          original->push_back(e);
        }
      }
      return std::nullopt;
    }

    for (const auto& e : patch) {
      if (!e.is_object()) {
        return SmpBadRequest("invalid patch: " + field + " elements must be maps");
      }
      auto key_it = e.find(s.key);
      if (key_it == e.end()) {
        return SmpInternal("map: " + Dump(e) + " does not contain declared merge key: " + s.key);
      }
      if (IsDirectiveElement(e)) {  // {"$patch":"delete", key: v}
        Json kept = Json::array();
        for (auto& o : *original) {
          if (!(o.is_object() && o.contains(s.key) && o[s.key] == *key_it))
            kept.push_back(std::move(o));
        }
        *original = std::move(kept);
        continue;
      }
      bool merged = false;
      for (auto& o : *original) {
        if (o.is_object() && o.contains(s.key) && o[s.key] == *key_it) {
          if (auto err = MergeMap(&o, e, item_path)) return err;
          merged = true;
          break;
        }
      }
      if (!merged) {
        Json m = Json::object();
        if (auto err = MergeMap(&m, e, item_path)) return err;
        original->push_back(std::move(m));
      }
    }
    return std::nullopt;
  }

  // $setElementOrder: the elements named in `order` are permuted into that
  // order within the slots they occupy; elements it does not name (present
  // only on the server) keep their positions.
  static void ApplyOrder(Json* list, const Json& order, const ListStrategy& s) {
    auto identity = [&](const Json& e) -> const Json* {
      if (s.key.empty()) return &e;
      if (!e.is_object()) return nullptr;
      auto it = e.find(s.key);
      return it == e.end() ? nullptr : &*it;
    };
    auto rank = [&](const Json& e) -> std::ptrdiff_t {
      const Json* id = identity(e);
      if (id == nullptr) return -1;
      for (size_t i = 0; i < order.size(); ++i) {
        const Json* oid = identity(order[i]);
        if (oid != nullptr && *oid == *id) return static_cast<std::ptrdiff_t>(i);
      }
      return -1;
    };
    std::vector<size_t> slots;
    std::vector<std::pair<std::ptrdiff_t, Json>> items;
    for (size_t i = 0; i < list->size(); ++i) {
      std::ptrdiff_t r = rank((*list)[i]);
      if (r < 0) continue;
      slots.push_back(i);
      items.emplace_back(r, (*list)[i]);
    }
    std::stable_sort(items.begin(), items.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < slots.size(); ++i) (*list)[slots[i]] = std::move(items[i].second);
  }

  const std::string& kind_;
};

}  // namespace

std::optional<ApiError> ApplyMergePatch(Json* target, const Json& patch) {
  if (!patch.is_object()) {
    return ApiError::BadRequest("json: cannot unmarshal " + GoTypeName(patch) +
                                " into Go value of type map[string]interface {}");
  }
  MergeInto(target, patch);
  return std::nullopt;
}

std::optional<ApiError> ApplyJsonPatch(Json* target, const Json& patch) {
  if (!patch.is_array()) {
    return ApiError::BadRequest("json: cannot unmarshal " +
                                std::string(patch.is_object() ? "object" : GoTypeName(patch)) +
                                " into Go value of type jsonpatch.Patch");
  }
  Json doc = *target;  // operations apply all-or-nothing
  for (const auto& op : patch) {
    if (auto err = ApplyOneOp(&doc, op)) return err;
  }
  *target = std::move(doc);
  return std::nullopt;
}

std::optional<ApiError> ApplyStrategicMergePatch(Json* target, const Json& patch,
                                                 const std::string& kind) {
  if (!patch.is_object()) {
    return ApiError::BadRequest("json: cannot unmarshal " + GoTypeName(patch) +
                                " into Go value of type map[string]interface {}");
  }
  Json doc = target->is_object() ? *target : Json::object();
  StrategicMerger merger(kind);
  Path path;
  if (auto err = merger.MergeMap(&doc, patch, path)) return err;
  *target = std::move(doc);
  return std::nullopt;
}

}  // namespace capstan::kube
