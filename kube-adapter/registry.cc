#include "kube-adapter/registry.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <chrono>
#include <ctime>
#include <thread>

#include "kube-adapter/bootstrap_policy.h"
#include "kube-adapter/crd_schema.h"
#include "kube-adapter/json_parse.h"
#include "kube-adapter/kube_credentials.h"
#include "kube-adapter/limit_ranger.h"
#include "kube-adapter/object_defaults.h"
#include "kube-adapter/object_patch.h"
#include "kube-adapter/object_validation.h"
#include "kube-adapter/priority_admission.h"
#include "kube-adapter/rbac_aggregation.h"
#include "kube-adapter/rbac_escalation.h"
#include "kube-adapter/rbac_validation.h"
#include "kube-adapter/resource_quota.h"
#include "kube-adapter/table_printer.h"

namespace capstan::kube {
namespace {

constexpr int kMaxCasRetries = 20;
const char* kSaTokenType = "kubernetes.io/service-account-token";

std::string Str(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}

Json& Meta(Json& obj) {
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  return obj["metadata"];
}

std::string MetaStr(const Json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains("metadata")) return "";
  return Str(obj["metadata"], key);
}

// kube's names.SimpleNameGenerator alphabet.
std::string RandomSuffix(size_t n) {
  static const char* alphabet = "bcdfghjklmnpqrstvwxz2456789";
  unsigned char raw[16];
  RAND_bytes(raw, sizeof raw);
  std::string s;
  for (size_t i = 0; i < n; ++i) s += alphabet[raw[i] % 27];
  return s;
}

std::string GroupOf(const ResourceInfo& r) { return r.group; }

Json EmptyList(const ResourceInfo& r) {
  Json l = Json::object();
  l["kind"] = r.ListKind();
  l["apiVersion"] = r.GroupVersion();
  l["metadata"] = Json::object();
  l["items"] = Json::array();
  return l;
}

// "{"v":"meta.k8s.io/v1","rv":N,"start":"<key>"}" base64, as kube does.
std::string EncodeContinue(int64_t rev, const std::string& start) {
  Json j = Json::object();
  j["v"] = "meta.k8s.io/v1";
  j["rv"] = rev;
  j["start"] = start;
  return Base64Encode(j.dump());
}

bool DecodeContinue(const std::string& token, int64_t* rev, std::string* start) {
  Json j;
  if (!ParseJsonBounded(Base64Decode(token), &j) || !j.is_object() || !j.contains("rv") || !j["rv"].is_number_integer() ||
      !j.contains("start") || !j["start"].is_string()) {
    return false;
  }
  *rev = j["rv"].get<int64_t>();
  *start = j["start"].get<std::string>();
  return true;
}

bool IsQuotaTracked(const ResourceInfo& r) { return r.namespaced && !r.resource.empty(); }

}  // namespace

std::string Base64Encode(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(n);
  return out;
}

std::string Base64Decode(const std::string& s) {
  std::string in;
  for (char c : s) {
    if (c != '\n' && c != '\r' && c != ' ') in += c;
  }
  if (in.empty() || in.size() % 4 != 0) return "";
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return "";
  size_t pad = 0;
  if (in.size() >= 1 && in[in.size() - 1] == '=') ++pad;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
  out.resize(n - pad);
  return out;
}

Json ResourceTable(const ResourceInfo& r, const std::vector<Json>& objects,
                   const std::string& resource_version, const std::string& continue_token,
                   int64_t remaining, const std::string& table_version) {
  const auto now = std::chrono::system_clock::now();
  Json t = r.custom ? ToTableWithColumns(r.printer_columns, objects, resource_version,
                                         continue_token, remaining, now)
                    : ToTable(r.group, r.kind, objects, resource_version, continue_token, remaining,
                              now);
  SetTableVersion(table_version.empty() ? "v1" : table_version, &t);
  return t;
}

std::string NewUid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hex[b[i] >> 4];
    s += hex[b[i] & 15];
  }
  return s;
}

std::string NowRfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Registry::Registry(StoreClient* store, ResourceCatalog* catalog, std::string ca_pem)
    : store_(store), catalog_(catalog), ca_pem_(std::move(ca_pem)) {}

// ------------------------------------------------------------------ reads

bool ListOptions::Matches(const Json& obj) const {
  if (!obj.is_object()) return false;
  if (!labels.Empty()) {
    static const Json kNoLabels = Json::object();
    const Json* l = &kNoLabels;
    auto meta = obj.find("metadata");
    if (meta != obj.end() && meta->is_object()) {
      auto it = meta->find("labels");
      if (it != meta->end()) l = &*it;
    }
    if (!labels.Matches(*l)) return false;
  }
  return !has_fields || fields.Matches(obj);
}

std::optional<ApiError> Registry::Get(const ResourceInfo& r, const std::string& ns,
                                      const std::string& name, Json* out) {
  StoredObject o;
  bool found = false;
  if (auto e = store_->Get(r.Key(ns, name), &o, &found)) return e;
  if (!found) return ApiError::NotFound(r.group, r.resource, name);
  *out = std::move(o.object);
  return std::nullopt;
}

std::optional<ApiError> Registry::ListRaw(const ResourceInfo& r, const std::string& ns,
                                          std::vector<StoredObject>* out, int64_t* rev) {
  std::string prefix = r.namespaced && !ns.empty() ? r.Key(ns, "") : r.Prefix();
  bool more = false;
  return store_->List(prefix, StoreClient::PrefixEnd(prefix), 0, 0, out, rev, &more);
}

std::optional<ApiError> Registry::ListObjects(const std::string& group, const std::string& resource,
                                              const std::string& ns, std::vector<Json>* out) {
  auto r = catalog_->FindResource(group, resource);
  if (!r || r->storage_prefix.empty()) return std::nullopt;
  std::vector<StoredObject> raw;
  if (auto e = ListRaw(*r, ns, &raw)) return e;
  for (auto& o : raw) out->push_back(std::move(o.object));
  return std::nullopt;
}

std::optional<ApiError> Registry::List(const ResourceInfo& r, const std::string& ns,
                                       const ListOptions& o, ListResult* out) {
  std::string prefix = r.namespaced && !ns.empty() ? r.Key(ns, "") : r.Prefix();
  std::string end = StoreClient::PrefixEnd(prefix);
  std::string start = prefix;
  int64_t rev = 0;
  if (!o.continue_token.empty()) {
    std::string key;
    if (!DecodeContinue(o.continue_token, &rev, &key) ||
        key.compare(0, prefix.size(), prefix) != 0) {
      return ApiError::BadRequest("continue key is not valid: invalid continue token");
    }
    start = key;
  } else if (!o.resource_version.empty() && o.resource_version != "0" && o.limit > 0) {
    // An exact resourceVersion with limit reads at that revision.
    try {
      rev = std::stoll(o.resource_version);
    } catch (...) {
      return ApiError::BadRequest("invalid resource version: " + o.resource_version);
    }
  }
  const bool filtering = !o.labels.Empty() || o.has_fields;
  while (true) {
    std::vector<StoredObject> page;
    bool more = false;
    int64_t read_rev = 0, count = 0;
    const int64_t want = o.limit > 0 ? o.limit - static_cast<int64_t>(out->items.size()) : 0;
    const int64_t fetch = o.limit > 0 ? (filtering ? std::max<int64_t>(want, 100) : want) : 0;
    auto e = store_->List(start, end, rev, fetch, &page, &read_rev, &more, &count);
    if (e) {
      if (e->code == 410 && o.continue_token.empty()) {
        return ApiError::Gone("too old resource version: " + std::to_string(rev));
      }
      return e;
    }
    if (rev == 0) rev = read_rev;
    size_t used = 0;
    for (auto& so : page) {
      ++used;
      const Json& obj = so.object;
      if (o.Matches(obj)) out->items.push_back(std::move(so.object));
      if (o.limit > 0 && static_cast<int64_t>(out->items.size()) >= o.limit) {
        bool remaining = used < page.size() || more;
        if (remaining) {
          out->continue_token = EncodeContinue(rev, so.key + std::string(1, '\0'));
          if (!filtering) out->remaining = count - static_cast<int64_t>(used);
        }
        out->revision = rev;
        return std::nullopt;
      }
    }
    if (!more || page.empty()) break;
    start = page.back().key + std::string(1, '\0');
  }
  out->revision = rev;
  return std::nullopt;
}

// ---------------------------------------------------------------- writes

std::optional<ApiError> Registry::Commit(const ResourceInfo& r, const std::string& ns,
                                         const std::string& name, int64_t expected, const Json* old,
                                         Json* obj,
                                         std::vector<std::pair<std::string, std::string>> extra,
                                         int64_t* revision) {
  const std::string key = r.Key(ns, name);
  // Writes that charge a quota are serialized per namespace inside this
  // process, so concurrent creates queue instead of losing CAS rounds; the
  // Txn's compares still guard against writers in other processes.
  std::unique_lock<std::mutex> quota_lock;
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    etcdserverpb::TxnRequest txn;
    auto* c = txn.add_compare();
    c->set_key(key);
    if (expected == 0) {
      c->set_target(etcdserverpb::Compare::CREATE);
      c->set_result(etcdserverpb::Compare::EQUAL);
      c->set_create_revision(0);
    } else {
      c->set_target(etcdserverpb::Compare::MOD);
      c->set_result(etcdserverpb::Compare::EQUAL);
      c->set_mod_revision(expected);
    }
    // Quota: charge every matching quota of the namespace in this Txn.
    if (IsQuotaTracked(r) && !ns.empty() && r.resource != "resourcequotas") {
      auto quota_info = catalog_->Find("", "v1", "resourcequotas");
      std::vector<StoredObject> raw;
      if (auto e = ListRaw(*quota_info, ns, &raw)) return e;
      if (!raw.empty() && !quota_lock.owns_lock()) {
        quota_lock = std::unique_lock<std::mutex>(*NamespaceLock(ns));
        --attempt;
        continue;  // re-read the quotas under the lock
      }
      if (!raw.empty()) {
        std::vector<Json> quotas;
        for (auto& q : raw) quotas.push_back(q.object);
        auto changed = std::make_unique<bool[]>(quotas.size());
        auto deny = ChargeQuotas(&quotas, r.group, r.resource, old, obj, changed.get());
        if (deny) {
          std::string n = name.empty() ? MetaStr(*obj, "generateName") : name;
          return ApiError::Forbidden(r.group, r.resource, n, *deny);
        }
        for (size_t i = 0; i < quotas.size(); ++i) {
          if (!changed[i]) continue;
          auto* qc = txn.add_compare();
          qc->set_key(raw[i].key);
          qc->set_target(etcdserverpb::Compare::MOD);
          qc->set_result(etcdserverpb::Compare::EQUAL);
          qc->set_mod_revision(raw[i].mod_revision);
          Json q = quotas[i];
          Meta(q).erase("resourceVersion");
          auto* put = txn.add_success()->mutable_request_put();
          put->set_key(raw[i].key);
          put->set_value(q.dump());
        }
      }
    }
    if (obj) {
      Json stored = *obj;
      Meta(stored).erase("resourceVersion");
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key(key);
      put->set_value(stored.dump());
    } else {
      auto* del = txn.add_success()->mutable_request_delete_range();
      del->set_key(key);
    }
    for (const auto& [k, v] : extra) {
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key(k);
      put->set_value(v);
    }
    // On failure, read the key to tell a real conflict from a quota race.
    auto* get = txn.add_failure()->mutable_request_range();
    get->set_key(key);
    etcdserverpb::TxnResponse resp;
    if (auto e = store_->Txn(txn, &resp)) return e;
    if (resp.succeeded()) {
      if (revision) *revision = resp.header().revision();
      if (obj) Meta(*obj)["resourceVersion"] = std::to_string(resp.header().revision());
      return std::nullopt;
    }
    const auto& rr = resp.responses(0).response_range();
    if (expected == 0 && rr.kvs_size() > 0) {
      return ApiError::AlreadyExists(r.group, r.resource, name);
    }
    if (expected != 0) {
      if (rr.kvs_size() == 0) return ApiError::NotFound(r.group, r.resource, name);
      if (rr.kvs(0).mod_revision() != expected) {
        return ApiError::ConflictModified(r.group, r.resource, name);
      }
    }
    // A quota moved underneath us: recompute and retry.
  }
  return ApiError::Conflict(r.group, r.resource, name,
                            "too many concurrent changes to the resource quota; please try again");
}

std::shared_ptr<std::mutex> Registry::NamespaceLock(const std::string& ns) {
  std::lock_guard l(ns_locks_mu_);
  auto& m = ns_locks_[ns];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

std::optional<ApiError> Registry::CheckRbacEscalation(const ResourceInfo& r, const std::string& ns,
                                                      const UserInfo& user, const WriteRequest& w,
                                                      const Json& obj, const Json* old) {
  if (r.group != "rbac.authorization.k8s.io" || user.InGroup("system:masters")) return std::nullopt;
  const bool role = r.resource == "roles" || r.resource == "clusterroles";
  const bool binding = r.resource == "rolebindings" || r.resource == "clusterrolebindings";
  if (!role && !binding) return std::nullopt;
  // Read now, so a grant made by the previous request counts.
  RbacPolicy policy;
  if (auto e = LoadPolicy(&policy)) return e;
  const std::string scope = r.namespaced ? ns : "";
  std::optional<std::string> deny =
      role ? CheckRoleEscalation(policy, user, scope, r.resource, obj, old)
           : CheckBindingEscalation(policy, user, scope, obj, old);
  if (!deny) return std::nullopt;
  // Kubernetes checks before the name is generated.
  const std::string name = w.generated_name ? "" : MetaStr(obj, "name");
  return ApiError::Forbidden(r.group, r.resource, name, *deny);
}

std::optional<ApiError> Registry::Admit(const ResourceInfo& r, const std::string& ns,
                                        const UserInfo& user, const WriteRequest& w, Json* obj,
                                        const Json* old) {
  const bool is_create = old == nullptr;
  const std::string name = MetaStr(*obj, "name");
  // Defaulting.
  ApplyDefaults(r.group, r.kind, obj);
  if (r.resource == "limitranges") DefaultLimitRange(obj);

  // RBAC escalation prevention: on the object as it would be stored (after a
  // patch is applied), before validation and admission, as Kubernetes'
  // policybased storage wraps the generic one.
  if (auto e = CheckRbacEscalation(r, ns, user, w, *obj, old)) return e;

  // NamespaceLifecycle comes first among the admission plugins.
  if (r.namespaced && is_create) {
    StoredObject so;
    bool found = false;
    if (auto e = store_->Get("/registry/namespaces/" + ns, &so, &found)) return e;
    if (!found) return ApiError::NotFound("", "namespaces", ns);
    if (so.object.contains("metadata") && so.object["metadata"].contains("deletionTimestamp")) {
      return ApiError::Forbidden(
          r.group, r.resource, name,
          "unable to create new content in namespace " + ns + " because it is being terminated");
    }
  }

  // Mutating admission for pods: ServiceAccount, Priority, LimitRanger.
  if (r.group.empty() && r.resource == "pods" && is_create) {
    Json& spec = (*obj)["spec"];
    if (!spec.is_object()) spec = Json::object();
    std::string sa = Str(spec, "serviceAccountName");
    if (sa.empty()) sa = Str(spec, "serviceAccount");
    if (sa.empty()) sa = "default";
    spec["serviceAccountName"] = sa;
    spec["serviceAccount"] = sa;
    StoredObject so;
    bool found = false;
    if (auto e = store_->Get("/registry/serviceaccounts/" + ns + "/" + sa, &so, &found)) return e;
    if (!found) {
      return ApiError::Forbidden(r.group, r.resource,
                                 name.empty() ? MetaStr(*obj, "generateName") : name,
                                 "error looking up service account " + ns + "/" + sa +
                                     ": serviceaccount \"" + sa + "\" not found");
    }
    std::vector<Json> pcs;
    if (auto e = ListObjects("scheduling.k8s.io", "priorityclasses", "", &pcs)) return e;
    if (auto deny = AdmitPodPriority(pcs, obj)) {
      return ApiError::Forbidden(r.group, r.resource, name, *deny);
    }
  }

  if (r.group.empty() && r.resource == "pods" && old && obj->contains("spec") &&
      (*obj)["spec"].is_object()) {
    Json& spec = (*obj)["spec"];
    // v1 conversion keeps the deprecated serviceAccount and
    // serviceAccountName the same field.
    if (Str(spec, "serviceAccountName").empty() && !Str(spec, "serviceAccount").empty()) {
      spec["serviceAccountName"] = spec["serviceAccount"];
    }
    if (!Str(spec, "serviceAccountName").empty())
      spec["serviceAccount"] = spec["serviceAccountName"];
    // Priority admission keeps on update what it set at create.
    const Json& old_spec = old->value("spec", Json::object());
    for (const char* k : {"priority", "preemptionPolicy"}) {
      if (!spec.contains(k) && old_spec.is_object() && old_spec.contains(k)) spec[k] = old_spec[k];
    }
  }

  // Validation (422).
  std::vector<FieldCause> causes;
  {
    auto meta = ValidateObjectMeta(*obj, r.namespaced, r.name_rule);
    causes.insert(causes.end(), meta.begin(), meta.end());
  }
  if (old) {
    auto upd = ValidateUpdateMeta(*old, *obj);
    causes.insert(causes.end(), upd.begin(), upd.end());
  }
  if (r.custom && !r.schema.is_null()) {
    auto v = ValidateAndPruneCustomResource(r.schema, obj);
    causes.insert(causes.end(), v.begin(), v.end());
  }
  if (r.group.empty() && r.resource == "pods" && obj->contains("spec")) {
    auto v = ValidatePodSpecResources((*obj)["spec"], "spec");
    causes.insert(causes.end(), v.begin(), v.end());
  }
  if (r.group.empty() && r.resource == "pods" && old) {
    auto v = ValidatePodSpecUpdate(*old, *obj);
    causes.insert(causes.end(), v.begin(), v.end());
  }
  if (r.group.empty() && r.resource == "persistentvolumeclaims" && old) {
    auto v = ValidatePvcSpecUpdate(*old, *obj);
    causes.insert(causes.end(), v.begin(), v.end());
  }
  if (r.group.empty() && r.resource == "limitranges") {
    auto v = ValidateLimitRange(*obj);
    causes.insert(causes.end(), v.begin(), v.end());
  }
  if (r.group.empty() && r.resource == "resourcequotas") {
    auto v = ValidateResourceQuota(*obj);
    causes.insert(causes.end(), v.begin(), v.end());
  }
  if (r.group == "scheduling.k8s.io" && r.resource == "priorityclasses") {
    auto v = ValidatePriorityClass(*obj);
    causes.insert(causes.end(), v.begin(), v.end());
  }
  if (r.group == "rbac.authorization.k8s.io") {
    std::vector<FieldCause> v;
    if (r.resource == "roles") v = ValidateRole(*obj);
    if (r.resource == "clusterroles") v = ValidateClusterRole(*obj);
    if (r.resource == "rolebindings") v = ValidateRoleBinding(*obj, old);
    if (r.resource == "clusterrolebindings") v = ValidateClusterRoleBinding(*obj, old);
    causes.insert(causes.end(), v.begin(), v.end());
  }
  if (!causes.empty()) return ApiError::Invalid(r.group, r.kind, name, std::move(causes));

  // Validating admission: LimitRanger (never for a subresource; pod
  // containers cannot change after create, so pods only on create).
  if (r.group.empty() && w.subresource.empty() &&
      ((r.resource == "pods" && is_create) || r.resource == "persistentvolumeclaims")) {
    std::vector<Json> lrs;
    if (auto e = ListObjects("", "limitranges", ns, &lrs)) return e;
    if (!lrs.empty()) {
      std::optional<std::string> deny =
          r.resource == "pods" ? AdmitPodLimitRanges(lrs, obj) : AdmitPvcLimitRanges(lrs, *obj);
      if (deny) {
        return ApiError::Forbidden(r.group, r.resource,
                                   name.empty() ? MetaStr(*obj, "generateName") : name, *deny);
      }
    }
  }
  if (r.group.empty() && r.resource == "pods") {
    if (!obj->contains("status") || !(*obj)["status"].is_object())
      (*obj)["status"] = Json::object();
    if (is_create) (*obj)["status"]["phase"] = "Pending";
    (*obj)["status"]["qosClass"] = PodQosClass(*obj);
  }
  return std::nullopt;
}

std::optional<ApiError> Registry::Create(const ResourceInfo& r, const std::string& ns,
                                         const UserInfo& user, Json obj, Json* out, bool dry_run) {
  if (!obj.is_object()) return ApiError::BadRequest("the body of the request is not a JSON object");
  // Top-level keys first: `meta` below refers into obj, and adding a key to
  // an ordered_json object may move its members.
  obj["apiVersion"] = r.GroupVersion();
  obj["kind"] = r.kind;
  Meta(obj);
  Json& meta = obj["metadata"];
  if (r.namespaced) {
    std::string body_ns = Str(meta, "namespace");
    if (!body_ns.empty() && body_ns != ns) {
      return ApiError::BadRequest(
          "the namespace of the provided object does not match the namespace sent on the request");
    }
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  const bool generate = Str(meta, "name").empty() && !Str(meta, "generateName").empty();
  if (generate) meta["name"] = Str(meta, "generateName").substr(0, 58) + RandomSuffix(5);
  meta.erase("resourceVersion");
  meta.erase("selfLink");
  meta.erase("deletionTimestamp");
  meta["uid"] = NewUid();
  meta["creationTimestamp"] = NowRfc3339();
  if (r.group == "apps" || r.custom || r.group == "apiextensions.k8s.io" || r.group == "batch" ||
      r.group == "policy" || r.group == "networking.k8s.io" || r.group == "autoscaling") {
    meta["generation"] = 1;
  }
  if (r.resource == "namespaces" && r.group.empty()) {
    obj["spec"] = Json{{"finalizers", Json::array({"kubernetes"})}};
    obj["status"] = Json{{"phase", "Active"}};
  }
  WriteRequest w{WriteVerb::kCreate, "", dry_run, generate};
  if (auto e = Write(r, ns, user, w, nullptr, &obj)) return e;
  *out = std::move(obj);
  return std::nullopt;
}

std::optional<ApiError> Registry::Write(const ResourceInfo& r, const std::string& ns,
                                        const UserInfo& user, const WriteRequest& w,
                                        const StoredObject* cur, Json* obj) {
  const Json* old = cur ? &cur->object : nullptr;
  if (w.verb == WriteVerb::kDelete) {
    if (w.dry_run) return std::nullopt;
    const std::string name = MetaStr(cur->object, "name");
    if (auto e = Commit(r, ns, name, cur->mod_revision, old, nullptr, {}, nullptr)) return e;
    return AfterDelete(r, ns, cur->object);
  }
  if (auto e = Admit(r, ns, user, w, obj, old)) return e;
  // The synchronous parts of Kubernetes' controllers.
  if (r.group.empty() && r.resource == "resourcequotas") {
    RecomputeQuotaStatus(obj, [&](const std::string& g, const std::string& res) {
      std::vector<Json> items;
      ListObjects(g, res, ns, &items);
      return items;
    });
  }
  const bool create = w.verb == WriteVerb::kCreate;
  if (create && r.group == "apiextensions.k8s.io" && r.resource == "customresourcedefinitions") {
    const Json& spec = (*obj)["spec"];
    Json names = spec.value("names", Json::object());
    if (!names.contains("listKind") && names.contains("kind")) {
      names["listKind"] = names["kind"].get<std::string>() + "List";
    }
    if (!names.contains("singular") && names.contains("plural")) {
      names["singular"] = names["plural"];
    }
    (*obj)["spec"]["names"] = names;
    std::string expected = Str(names, "plural") + "." + Str(spec, "group");
    if (MetaStr(*obj, "name") != expected) {
      return ApiError::Invalid(r.group, r.kind, MetaStr(*obj, "name"),
                               {FieldInvalid("metadata.name", MetaStr(*obj, "name"),
                                             "must be spec.names.plural+\".\"+spec.group")});
    }
    std::string now = NowRfc3339();
    Json stored_versions = Json::array();
    if (spec.contains("versions") && spec["versions"].is_array()) {
      for (const auto& v : spec["versions"]) {
        if (v.value("storage", false)) stored_versions.push_back(v.value("name", ""));
      }
    }
    auto cond = [&](const char* type, const char* reason, const char* msg) {
      return Json{{"type", type},
                  {"status", "True"},
                  {"lastTransitionTime", now},
                  {"reason", reason},
                  {"message", msg}};
    };
    (*obj)["status"] =
        Json{{"conditions", Json::array({cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                                         cond("Established", "InitialNamesAccepted",
                                              "the initial names have been accepted")})},
             {"acceptedNames", names},
             {"storedVersions", stored_versions}};
  }
  if (create && r.resource == "services" && r.group.empty()) AllocateServiceAddresses(obj);
  if (w.dry_run) return std::nullopt;

  if (!create) {
    const std::string name = MetaStr(cur->object, "name");
    if (auto e = Commit(r, ns, name, cur->mod_revision, old, obj, {}, nullptr)) return e;
    if (r.group == "rbac.authorization.k8s.io" && r.resource == "clusterroles") {
      if (auto e = ReaggregateClusterRoles()) return e;
    }
    if (r.group == "apiextensions.k8s.io") RefreshCustomResources();
    return std::nullopt;
  }
  if (r.resource == "serviceaccounts" && r.group.empty()) {
    if (auto e = CreateServiceAccountToken(ns, obj)) return e;
  }
  for (int attempt = 0;; ++attempt) {
    const std::string name = MetaStr(*obj, "name");
    auto e = Commit(r, ns, name, 0, nullptr, obj, {}, nullptr);
    if (e && e->reason == "AlreadyExists" && w.generated_name && attempt < 5) {
      Meta(*obj)["name"] = Str(Meta(*obj), "generateName").substr(0, 58) + RandomSuffix(5);
      continue;
    }
    if (e) return e;
    break;
  }
  return AfterCreate(r, ns, obj, user);
}

std::optional<ApiError> Registry::CreateServiceAccountToken(const std::string& ns, Json* sa) {
  const std::string sa_name = MetaStr(*sa, "name");
  const std::string token = RandomHex(32);
  Json secret = Json::object();
  secret["apiVersion"] = "v1";
  secret["kind"] = "Secret";
  std::string secret_name = sa_name + "-token-" + RandomSuffix(5);
  secret["metadata"] =
      Json{{"name", secret_name},
           {"namespace", ns},
           {"uid", NewUid()},
           {"creationTimestamp", NowRfc3339()},
           {"annotations", Json{{"kubernetes.io/service-account.name", sa_name},
                                {"kubernetes.io/service-account.uid", MetaStr(*sa, "uid")}}}};
  secret["data"] = Json{{"ca.crt", Base64Encode(ca_pem_)},
                        {"namespace", Base64Encode(ns)},
                        {"token", Base64Encode(token)}};
  secret["type"] = kSaTokenType;
  auto secrets_info = catalog_->Find("", "v1", "secrets");
  int64_t rev = 0;
  if (auto e = Commit(*secrets_info, ns, secret_name, 0, nullptr, &secret, {}, &rev)) return e;
  Json list = Json::array();
  if ((*sa).contains("secrets") && (*sa)["secrets"].is_array()) list = (*sa)["secrets"];
  list.push_back(Json{{"name", secret_name}});
  (*sa)["secrets"] = list;
  std::lock_guard l(token_mu_);
  token_index_[token] = {ns, secret_name};
  return std::nullopt;
}

std::optional<ApiError> Registry::IssueServiceAccountToken(const std::string& ns,
                                                           const std::string& sa_name, Json* tr) {
  StoredObject sa;
  bool found = false;
  if (auto e = store_->Get("/registry/serviceaccounts/" + ns + "/" + sa_name, &sa, &found))
    return e;
  if (!found) return ApiError::NotFound("", "serviceaccounts", sa_name);
  if (!tr->contains("spec") || (*tr)["spec"].is_null()) (*tr)["spec"] = Json::object();
  Json& spec = (*tr)["spec"];
  auto undecodable = [](const std::string& why) {
    return ApiError::BadRequest(
        "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: " + why);
  };
  if (!spec.is_object()) return undecodable("spec: expected an object");
  // Decode (400), default, validate (422), as the apiserver does.
  int64_t seconds = kDefaultTokenExpirationSeconds;
  if (spec.contains("expirationSeconds") && !spec["expirationSeconds"].is_null()) {
    const Json& v = spec["expirationSeconds"];
    if (!v.is_number_integer()) {
      return undecodable("spec.expirationSeconds: expected an integer, got " + v.dump());
    }
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return undecodable("spec.expirationSeconds: value out of range");
    }
    seconds = v.get<int64_t>();
  }
  std::vector<std::string> audiences;
  if (spec.contains("audiences") && !spec["audiences"].is_null()) {
    if (!spec["audiences"].is_array()) return undecodable("spec.audiences: expected an array");
    for (const auto& a : spec["audiences"]) {
      if (!a.is_string()) return undecodable("spec.audiences: expected strings");
      audiences.push_back(a.get<std::string>());
    }
  }
  auto causes = ValidateTokenExpiration(seconds);
  if (!causes.empty()) {
    return ApiError::Invalid("authentication.k8s.io", "TokenRequest", "", std::move(causes));
  }
  BoundTokenClaims claims;
  if (spec.contains("boundObjectRef") && !spec["boundObjectRef"].is_null()) {
    const Json& ref = spec["boundObjectRef"];
    if (!ref.is_object()) return undecodable("spec.boundObjectRef: expected an object");
    const std::string api_version = Str(ref, "apiVersion"), kind = Str(ref, "kind");
    const std::string ref_name = Str(ref, "name"), ref_uid = Str(ref, "uid");
    const size_t slash = api_version.find('/');
    const std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
    const std::string version =
        slash == std::string::npos ? api_version : api_version.substr(slash + 1);
    std::string resource;
    if (group.empty() && kind == "Pod") resource = "pods";
    if (group.empty() && kind == "Secret") resource = "secrets";
    if (resource.empty()) {
      return ApiError::BadRequest("cannot bind token to object of type " + group + "/" + version +
                                  ", Kind=" + kind);
    }
    StoredObject bound;
    if (auto e = store_->Get("/registry/" + resource + "/" + ns + "/" + ref_name, &bound, &found)) {
      return e;
    }
    if (!found) return ApiError::NotFound("", resource, ref_name);
    if (kind == "Pod") {
      const Json pod_spec = bound.object.value("spec", Json::object());
      if (Str(pod_spec, "serviceAccountName") != sa_name) {
        return ApiError::BadRequest("cannot bind token for serviceaccount \"" + sa_name +
                                    "\" to pod running with different serviceaccount name.");
      }
    }
    const std::string uid = MetaStr(bound.object, "uid");
    if (!ref_uid.empty() && ref_uid != uid) {
      return ApiError::Conflict("", kind, ref_name,
                                "the UID in the bound object reference (" + ref_uid +
                                    ") does not match the UID in record. The object might have "
                                    "been deleted and then recreated");
    }
    claims.bound_kind = kind;
    claims.bound_name = ref_name;
    claims.bound_uid = uid;
  }
  if (!signer_) return ApiError::InternalError("failed to generate token: no signing key");
  if (audiences.empty()) audiences = {kServiceAccountIssuer};
  const int64_t now = now_();
  claims.issuer = kServiceAccountIssuer;
  claims.subject = "system:serviceaccount:" + ns + ":" + sa_name;
  claims.audiences = audiences;
  claims.issued_at = now;
  claims.not_before = now;
  claims.expiry = now + seconds;
  claims.ns = ns;
  claims.sa_name = sa_name;
  claims.sa_uid = MetaStr(sa.object, "uid");
  const std::string token = signer_->Sign(claims);
  if (token.empty()) return ApiError::InternalError("failed to generate token: signing failed");

  const std::time_t t = static_cast<std::time_t>(now + seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  (*tr)["apiVersion"] = "authentication.k8s.io/v1";
  (*tr)["kind"] = "TokenRequest";
  (*tr)["metadata"] =
      Json{{"name", sa_name}, {"namespace", ns}, {"creationTimestamp", NowRfc3339()}};
  Json aud = Json::array();
  for (const auto& a : audiences) aud.push_back(a);
  spec["audiences"] = aud;
  spec["expirationSeconds"] = seconds;
  if (!spec.contains("boundObjectRef")) spec["boundObjectRef"] = nullptr;
  (*tr)["status"] = Json{{"token", token}, {"expirationTimestamp", buf}};
  return std::nullopt;
}

std::optional<ApiError> Registry::AfterCreate(const ResourceInfo& r, const std::string& ns,
                                              Json* obj, const UserInfo& user) {
  if (r.group.empty() && r.resource == "namespaces") {
    // Every namespace gets its default ServiceAccount (kube's SA controller).
    auto sa_info = catalog_->Find("", "v1", "serviceaccounts");
    Json sa = Json{{"apiVersion", "v1"},
                   {"kind", "ServiceAccount"},
                   {"metadata", Json{{"name", "default"}, {"namespace", MetaStr(*obj, "name")}}}};
    Json out;
    auto e = Create(*sa_info, MetaStr(*obj, "name"), user, sa, &out);
    if (e && e->reason != "AlreadyExists") return e;
  }
  if (r.group == "rbac.authorization.k8s.io" && r.resource == "clusterroles") {
    return ReaggregateClusterRoles();
  }
  if (r.group == "apiextensions.k8s.io") return RefreshCustomResources();
  return std::nullopt;
}

std::optional<ApiError> Registry::ReaggregateClusterRoles() {
  auto info = catalog_->Find("rbac.authorization.k8s.io", "v1", "clusterroles");
  for (int round = 0; round < 5; ++round) {
    std::vector<StoredObject> raw;
    if (auto e = ListRaw(*info, "", &raw)) return e;
    std::vector<Json> roles;
    for (auto& o : raw) roles.push_back(o.object);
    std::vector<Json> changed = AggregateClusterRoles(roles);
    if (changed.empty()) return std::nullopt;
    bool conflict = false;
    for (auto& c : changed) {
      const std::string name = MetaStr(c, "name");
      int64_t expected = 0;
      for (auto& o : raw) {
        if (MetaStr(o.object, "name") == name) expected = o.mod_revision;
      }
      auto e = Commit(*info, "", name, expected, nullptr, &c, {}, nullptr);
      if (e && e->code == 409)
        conflict = true;
      else if (e)
        return e;
    }
    if (!conflict) return std::nullopt;
  }
  return std::nullopt;
}

std::optional<ApiError> Registry::RefreshCustomResources() {
  auto info = catalog_->Find("apiextensions.k8s.io", "v1", "customresourcedefinitions");
  std::vector<StoredObject> raw;
  if (auto e = ListRaw(*info, "", &raw)) return e;
  std::vector<ResourceInfo> custom;
  for (auto& o : raw) {
    if (o.object.contains("metadata") && o.object["metadata"].contains("deletionTimestamp"))
      continue;
    auto rs = ResourceCatalog::FromCrd(o.object);
    custom.insert(custom.end(), rs.begin(), rs.end());
  }
  catalog_->SetCustomResources(std::move(custom));
  return std::nullopt;
}

std::optional<ApiError> Registry::Update(const ResourceInfo& r, const std::string& ns,
                                         const std::string& name, const UserInfo& user, Json obj,
                                         Json* out, const std::string& subresource, bool dry_run) {
  if (!obj.is_object()) return ApiError::BadRequest("the body of the request is not a JSON object");
  const WriteRequest w{WriteVerb::kUpdate, subresource, dry_run, false};
  StoredObject cur;
  bool found = false;
  if (auto e = store_->Get(r.Key(ns, name), &cur, &found)) return e;
  if (subresource == "scale") {
    if (!found) return ApiError::NotFound(r.group, r.resource, name);
    Json next = cur.object;
    if (obj.contains("spec") && obj["spec"].is_object() && obj["spec"].contains("replicas")) {
      next["spec"]["replicas"] = obj["spec"]["replicas"];
    }
    std::string rv = MetaStr(obj, "resourceVersion");
    if (!rv.empty() && rv != std::to_string(cur.mod_revision)) {
      return ApiError::ConflictModified(r.group, r.resource, name);
    }
    if (next.contains("metadata") && next["metadata"].contains("generation") &&
        next["spec"] != cur.object["spec"]) {
      next["metadata"]["generation"] = next["metadata"]["generation"].get<int64_t>() + 1;
    }
    if (auto e = Write(r, ns, user, w, &cur, &next)) return e;
    *out = ToScale(r, next);
    return std::nullopt;
  }
  if (!found) return ApiError::NotFound(r.group, r.resource, name);
  // Top-level keys first: `meta` below refers into obj, and adding a key to
  // an ordered_json object may move its members.
  obj["apiVersion"] = r.GroupVersion();
  obj["kind"] = r.kind;
  Meta(obj);
  Json& meta = obj["metadata"];
  if (!Str(meta, "name").empty() && Str(meta, "name") != name) {
    return ApiError::BadRequest("the name of the object (" + Str(meta, "name") +
                                ") does not match the name on the URL (" + name + ")");
  }
  if (r.namespaced) {
    std::string body_ns = Str(meta, "namespace");
    if (!body_ns.empty() && body_ns != ns) {
      return ApiError::BadRequest(
          "the namespace of the provided object does not match the namespace sent on the request");
    }
    meta["namespace"] = ns;
  }
  meta["name"] = name;
  std::string rv = Str(meta, "resourceVersion");
  if (!rv.empty() && rv != std::to_string(cur.mod_revision)) {
    return ApiError::ConflictModified(r.group, r.resource, name);
  }
  obj["apiVersion"] = r.GroupVersion();
  obj["kind"] = r.kind;
  const Json& old_meta = cur.object["metadata"];
  // Fields the client may omit but never changes.
  for (const char* k : {"uid", "creationTimestamp"}) {
    if (!meta.contains(k) && old_meta.contains(k)) meta[k] = old_meta[k];
  }
  if (old_meta.contains("generation")) {
    int64_t gen = old_meta["generation"].is_number() ? old_meta["generation"].get<int64_t>() : 1;
    if (subresource.empty() && obj.value("spec", Json()) != cur.object.value("spec", Json())) ++gen;
    meta["generation"] = gen;
  }
  if (subresource == "status") {
    Json next = cur.object;
    if (obj.contains("status")) next["status"] = obj["status"];
    obj = std::move(next);
  } else if (cur.object.contains("status") && r.resource != "resourcequotas" && !r.custom) {
    // Like kube, a main-resource update keeps the stored status.
    obj["status"] = cur.object["status"];
  }
  if (r.group.empty() && r.resource == "namespaces") {
    obj["spec"] = cur.object.value("spec", Json::object());
    obj["status"] = cur.object.value("status", Json::object());
  }
  if (auto e = Write(r, ns, user, w, &cur, &obj)) return e;
  *out = std::move(obj);
  return std::nullopt;
}

std::optional<ApiError> Registry::Patch(const ResourceInfo& r, const std::string& ns,
                                        const std::string& name, const UserInfo& user,
                                        const std::string& content_type, const std::string& body,
                                        Json* out, const std::string& subresource, bool dry_run) {
  std::string ct = content_type.substr(0, content_type.find(';'));
  Json patch;
  JsonParseError pe;
  if (!ParseJsonBounded(body, &patch, &pe)) {
    // As the apiserver's decoders word it: json-patch's MergePatch says
    // "Invalid JSON Patch", the others pass encoding/json's error on.
    if (pe.too_deep) {
      return ApiError::BadRequest(ct == "application/merge-patch+json" ? "Invalid JSON Patch"
                                                                       : pe.message);
    }
    return ApiError::BadRequest("error decoding patch: invalid character in JSON body");
  }
  if (ct == "application/strategic-merge-patch+json" && r.custom) {
    return ApiError::UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
  }
  if (ct != "application/strategic-merge-patch+json" && ct != "application/merge-patch+json" &&
      ct != "application/json-patch+json") {
    return ApiError::UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json, application/apply-patch+yaml");
  }
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    Json cur;
    if (auto e = Get(r, ns, name, &cur)) return e;
    const std::string cur_rv = MetaStr(cur, "resourceVersion");
    Json target = subresource == "scale" ? ToScale(r, cur) : cur;
    std::optional<ApiError> pe;
    if (ct == "application/merge-patch+json") {
      pe = ApplyMergePatch(&target, patch);
    } else if (ct == "application/json-patch+json") {
      pe = ApplyJsonPatch(&target, patch);
    } else {
      pe = ApplyStrategicMergePatch(&target, patch, subresource == "scale" ? "Scale" : r.kind);
    }
    if (pe) return pe;
    // A patch that names a resourceVersion is a precondition; otherwise the
    // write compares against what we read, and a race just retries.
    std::string want_rv = MetaStr(target, "resourceVersion");
    if (want_rv.empty() || want_rv == cur_rv) Meta(target)["resourceVersion"] = cur_rv;
    // The patched object takes the update path: the same admission,
    // escalation checks, validation and quota as a PUT of it.
    auto e = Update(r, ns, name, user, target, out, subresource, dry_run);
    if (e && e->reason == "Conflict" && (want_rv.empty() || want_rv == cur_rv)) continue;
    return e;
  }
  return ApiError::ConflictModified(r.group, r.resource, name);
}

void Registry::AllocateServiceAddresses(Json* svc) {
  // kube-apiserver's allocators, minus the bookkeeping: a random address of
  // 10.96.0.0/12 and node ports of 30000-32767 (no kube-proxy uses them here).
  Json& spec = (*svc)["spec"];
  if (!spec.is_object()) return;
  const std::string type = Str(spec, "type");
  if (type == "ExternalName") return;
  if (Str(spec, "clusterIP").empty()) {
    unsigned char b[3];
    RAND_bytes(b, sizeof b);
    std::string ip = "10." + std::to_string(96 + (b[0] & 15)) + "." + std::to_string(b[1]) + "." +
                     std::to_string(1 + b[2] % 254);
    spec["clusterIP"] = ip;
    spec["clusterIPs"] = Json::array({ip});
  }
  if ((type == "NodePort" || type == "LoadBalancer") && spec.contains("ports") &&
      spec["ports"].is_array()) {
    for (auto& p : spec["ports"]) {
      if (!p.is_object() || p.contains("nodePort")) continue;
      unsigned char b[2];
      RAND_bytes(b, sizeof b);
      p["nodePort"] = 30000 + ((b[0] << 8) | b[1]) % 2768;
    }
  }
}

Json Registry::ToScale(const ResourceInfo& r, const Json& obj) {
  Json s = Json::object();
  s["kind"] = "Scale";
  s["apiVersion"] = "autoscaling/v1";
  Json meta = Json::object();
  meta["name"] = MetaStr(obj, "name");
  meta["namespace"] = MetaStr(obj, "namespace");
  meta["uid"] = MetaStr(obj, "uid");
  meta["resourceVersion"] = MetaStr(obj, "resourceVersion");
  meta["creationTimestamp"] = MetaStr(obj, "creationTimestamp");
  s["metadata"] = meta;
  int64_t replicas = 1;
  if (obj.contains("spec") && obj["spec"].contains("replicas") &&
      obj["spec"]["replicas"].is_number()) {
    replicas = obj["spec"]["replicas"].get<int64_t>();
  }
  s["spec"] = Json{{"replicas", replicas}};
  int64_t status_replicas = 0;
  if (obj.contains("status") && obj["status"].contains("replicas") &&
      obj["status"]["replicas"].is_number()) {
    status_replicas = obj["status"]["replicas"].get<int64_t>();
  }
  Json st = Json{{"replicas", status_replicas}};
  if (obj.contains("spec") && obj["spec"].contains("selector")) {
    LabelSelector sel;
    const Json& js = obj["spec"]["selector"];
    std::string text;
    if (js.contains("matchLabels") && js["matchLabels"].is_object()) {
      for (const auto& [k, v] : js["matchLabels"].items()) {
        if (!text.empty()) text += ",";
        text += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
      }
    }
    st["selector"] = text;
  }
  s["status"] = st;
  return s;
}

std::optional<ApiError> Registry::DeleteNamespaceContents(const std::string& ns) {
  for (const auto& r : catalog_->All()) {
    if (!r.namespaced || r.storage_prefix.empty()) continue;
    etcdserverpb::TxnRequest txn;
    auto* del = txn.add_success()->mutable_request_delete_range();
    std::string prefix = r.Key(ns, "");
    del->set_key(prefix);
    del->set_range_end(StoreClient::PrefixEnd(prefix));
    etcdserverpb::TxnResponse resp;
    if (auto e = store_->Txn(txn, &resp)) return e;
  }
  return std::nullopt;
}

std::optional<ApiError> Registry::Delete(const ResourceInfo& r, const std::string& ns,
                                         const std::string& name, const UserInfo& user,
                                         const Json& options, Json* out, bool dry_run) {
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    StoredObject cur;
    bool found = false;
    if (auto e = store_->Get(r.Key(ns, name), &cur, &found)) return e;
    if (!found) return ApiError::NotFound(r.group, r.resource, name);
    if (options.is_object() && options.contains("preconditions") &&
        options["preconditions"].is_object()) {
      const Json& p = options["preconditions"];
      std::string uid = Str(p, "uid"), rv = Str(p, "resourceVersion");
      if (!uid.empty() && uid != MetaStr(cur.object, "uid")) {
        return ApiError::Conflict(r.group, r.resource, name,
                                  "Precondition failed: UID in precondition: " + uid +
                                      ", UID in object meta: " + MetaStr(cur.object, "uid"));
      }
      if (!rv.empty() && rv != std::to_string(cur.mod_revision)) {
        return ApiError::Conflict(
            r.group, r.resource, name,
            "Precondition failed: ResourceVersion in precondition: " + rv +
                ", ResourceVersion in object meta: " + std::to_string(cur.mod_revision));
      }
    }
    if (r.group.empty() && r.resource == "namespaces" && !dry_run) {
      // Terminating first (new content is refused), then everything in it.
      Json term = cur.object;
      Meta(term)["deletionTimestamp"] = NowRfc3339();
      term["status"] = Json{{"phase", "Terminating"}};
      Meta(term).erase("resourceVersion");
      auto e = Commit(r, ns, name, cur.mod_revision, nullptr, &term, {}, nullptr);
      if (e && e->reason == "Conflict") continue;
      if (e) return e;
      if (auto de = DeleteNamespaceContents(name)) return de;
      StoredObject again;
      if (auto ge = store_->Get(r.Key(ns, name), &again, &found)) return ge;
      if (found) {
        if (auto ce = Commit(r, ns, name, again.mod_revision, nullptr, nullptr, {}, nullptr)) {
          return ce;
        }
      }
      *out = term;
      return std::nullopt;
    }
    auto e =
        Write(r, ns, user, WriteRequest{WriteVerb::kDelete, "", dry_run, false}, &cur, nullptr);
    if (e && e->reason == "Conflict") continue;
    if (e) return e;
    *out = std::move(cur.object);
    return std::nullopt;
  }
  return ApiError::ConflictModified(r.group, r.resource, name);
}

std::optional<ApiError> Registry::AfterDelete(const ResourceInfo& r, const std::string& ns,
                                              const Json& obj) {
  if (r.group.empty() && r.resource == "serviceaccounts") {
    // Its token Secrets go with it (kube's tokens controller); that revokes them.
    auto secrets = catalog_->Find("", "v1", "secrets");
    std::vector<StoredObject> raw;
    if (auto e = ListRaw(*secrets, ns, &raw)) return e;
    for (auto& s : raw) {
      const Json& ann = s.object["metadata"].value("annotations", Json::object());
      if (Str(s.object, "type") == kSaTokenType &&
          Str(ann, "kubernetes.io/service-account.name") == MetaStr(obj, "name")) {
        Commit(*secrets, ns, MetaStr(s.object, "name"), s.mod_revision, &s.object, nullptr, {},
               nullptr);
      }
    }
  }
  if (r.group == "rbac.authorization.k8s.io" && r.resource == "clusterroles") {
    return ReaggregateClusterRoles();
  }
  if (r.group == "apiextensions.k8s.io") {
    // Its custom resources go first, then the discovery entry.
    for (const auto& cr : ResourceCatalog::FromCrd(obj)) {
      etcdserverpb::TxnRequest txn;
      auto* del = txn.add_success()->mutable_request_delete_range();
      del->set_key(cr.Prefix());
      del->set_range_end(StoreClient::PrefixEnd(cr.Prefix()));
      etcdserverpb::TxnResponse resp;
      store_->Txn(txn, &resp);
      break;  // every version shares one storage prefix
    }
    return RefreshCustomResources();
  }
  return std::nullopt;
}

std::optional<ApiError> Registry::DeleteCollection(const ResourceInfo& r, const std::string& ns,
                                                   const UserInfo& user, const ListOptions& o,
                                                   Json* out, bool dry_run) {
  ListResult l;
  if (auto e = List(r, ns, o, &l)) return e;
  Json items = Json::array();
  for (auto& obj : l.items) {
    Json deleted;
    auto e = Delete(r, ns, MetaStr(obj, "name"), user, Json::object(), &deleted, dry_run);
    if (e && e->code != 404) return e;
    if (!e) items.push_back(std::move(deleted));
  }
  *out = EmptyList(r);
  (*out)["items"] = std::move(items);
  return std::nullopt;
}

// ------------------------------------------------------------------ watch

void Registry::Watch(const ResourceInfo& r, const std::string& ns, const ListOptions& o,
                     const std::string& table_version, HttpResponder& w) {
  auto render = [&](const char* type, const Json& obj) {
    Json ev = Json::object();
    ev["type"] = type;
    if (!table_version.empty() && std::string(type) != "ERROR" && std::string(type) != "BOOKMARK") {
      Json t = ResourceTable(r, {obj}, MetaStr(obj, "resourceVersion"), "", -1, table_version);
      ev["object"] = std::move(t);
    } else {
      ev["object"] = obj;
    }
    return ev.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  };

  std::string prefix = r.namespaced && !ns.empty() ? r.Key(ns, "") : r.Prefix();
  int64_t start = 0;
  std::vector<Json> initial;
  if (o.resource_version.empty() || o.resource_version == "0") {
    ListResult l;
    ListOptions lo = o;
    lo.limit = 0;
    lo.continue_token.clear();
    if (auto e = List(r, ns, lo, &l)) {
      w.Send(e->code, "application/json", e->ToStatus().dump());
      return;
    }
    initial = std::move(l.items);
    start = l.revision + 1;
  } else {
    try {
      start = std::stoll(o.resource_version) + 1;
    } catch (...) {
      ApiError e = ApiError::BadRequest("invalid resource version: " + o.resource_version);
      w.Send(e.code, "application/json", e.ToStatus().dump());
      return;
    }
  }
  if (!w.StartStream(200, "application/json")) return;
  for (const auto& obj : initial) {
    if (!w.WriteChunk(render("ADDED", obj))) return;
  }

  grpc::ClientContext ctx;
  auto stream = store_->watch_stub()->Watch(&ctx);
  etcdserverpb::WatchRequest req;
  auto* c = req.mutable_create_request();
  c->set_key(prefix);
  c->set_range_end(StoreClient::PrefixEnd(prefix));
  c->set_start_revision(start);
  c->set_prev_kv(true);
  c->set_progress_notify(true);
  if (!stream->Write(req)) return;

  // A watchdog ends the watch when the client leaves or the timeout passes.
  std::atomic<bool> done{false};
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(o.timeout_seconds > 0 ? o.timeout_seconds : 30 * 60);
  std::thread watchdog([&] {
    while (!done) {
      if (stopping_ || w.PeerClosed() || std::chrono::steady_clock::now() > deadline) {
        ctx.TryCancel();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  etcdserverpb::WatchResponse resp;
  while (stream->Read(&resp)) {
    if (resp.compact_revision() != 0) {
      Json st = ApiError::Gone("too old resource version: " + std::to_string(start - 1) + " (" +
                               std::to_string(resp.compact_revision()) + ")")
                    .ToStatus();
      Json ev = Json{{"type", "ERROR"}, {"object", st}};
      w.WriteChunk(ev.dump() + "\n");
      break;
    }
    bool ok = true;
    for (const auto& e : resp.events()) {
      StoredObject cur, prev;
      bool has_prev = e.has_prev_kv() && !e.prev_kv().value().empty();
      if (has_prev) {
        DecodeStored(e.prev_kv().key(), e.prev_kv().value(), e.prev_kv().mod_revision(), &prev);
      }
      if (e.type() == mvccpb::Event::PUT) {
        if (DecodeStored(e.kv().key(), e.kv().value(), e.kv().mod_revision(), &cur)) continue;
        bool now_match = o.Matches(cur.object);
        bool was_match = has_prev && o.Matches(prev.object);
        if (now_match && was_match) {
          ok = w.WriteChunk(render("MODIFIED", cur.object));
        } else if (now_match) {
          ok = w.WriteChunk(render("ADDED", cur.object));
        } else if (was_match) {
          cur.object["metadata"]["resourceVersion"] = std::to_string(e.kv().mod_revision());
          ok = w.WriteChunk(render("DELETED", cur.object));
        }
      } else if (has_prev && o.Matches(prev.object)) {
        prev.object["metadata"]["resourceVersion"] = std::to_string(e.kv().mod_revision());
        ok = w.WriteChunk(render("DELETED", prev.object));
      }
      if (!ok) break;
    }
    if (!ok) break;
    if (o.bookmarks && resp.events_size() == 0 && resp.header().revision() > 0 && !resp.created()) {
      Json b =
          Json{{"kind", r.kind},
               {"apiVersion", r.GroupVersion()},
               {"metadata", Json{{"resourceVersion", std::to_string(resp.header().revision())}}}};
      if (!w.WriteChunk(Json{{"type", "BOOKMARK"}, {"object", b}}.dump() + "\n")) break;
    }
  }
  done = true;
  ctx.TryCancel();
  watchdog.join();
  stream->Finish();
}

// ------------------------------------------------------------ bootstrap, auth

std::optional<ApiError> Registry::LoadPolicy(RbacPolicy* p) {
  etcdserverpb::TxnRequest txn;
  const char* prefixes[] = {"/registry/clusterroles/", "/registry/clusterrolebindings/",
                            "/registry/roles/", "/registry/rolebindings/"};
  for (const char* prefix : prefixes) {
    auto* rr = txn.add_success()->mutable_request_range();
    rr->set_key(prefix);
    rr->set_range_end(StoreClient::PrefixEnd(prefix));
  }
  etcdserverpb::TxnResponse resp;
  if (auto e = store_->Txn(txn, &resp)) return e;
  std::vector<Json>* outs[] = {&p->cluster_roles, &p->cluster_role_bindings, &p->roles,
                               &p->role_bindings};
  for (int i = 0; i < 4 && i < resp.responses_size(); ++i) {
    for (const auto& kv : resp.responses(i).response_range().kvs()) {
      StoredObject o;
      if (!DecodeStored(kv.key(), kv.value(), kv.mod_revision(), &o)) {
        outs[i]->push_back(std::move(o.object));
      }
    }
  }
  return std::nullopt;
}

bool Registry::AuthenticateBoundToken(const std::string& token, UserInfo* user) {
  if (!signer_) return false;
  BoundTokenClaims c;
  if (signer_->Verify(token, now_(), {kServiceAccountIssuer}, &c)) return false;
  // The account, and the object the token is bound to, must still be the
  // ones it was issued for.
  StoredObject sa;
  bool found = false;
  if (store_->Get("/registry/serviceaccounts/" + c.ns + "/" + c.sa_name, &sa, &found) || !found) {
    return false;
  }
  if (MetaStr(sa.object, "uid") != c.sa_uid) return false;
  if (!c.bound_kind.empty()) {
    const std::string resource = c.bound_kind == "Pod" ? "pods" : "secrets";
    StoredObject bound;
    if (store_->Get("/registry/" + resource + "/" + c.ns + "/" + c.bound_name, &bound, &found) ||
        !found) {
      return false;
    }
    if (MetaStr(bound.object, "uid") != c.bound_uid) return false;
    if (bound.object.contains("metadata") && bound.object["metadata"].is_object() &&
        bound.object["metadata"].contains("deletionTimestamp")) {
      return false;
    }
  }
  user->name = c.subject;
  user->uid = c.sa_uid;
  user->groups = {"system:serviceaccounts", "system:serviceaccounts:" + c.ns,
                  "system:authenticated"};
  return true;
}

bool Registry::AuthenticateServiceAccountToken(const std::string& token, UserInfo* user) {
  if (LooksLikeJwt(token)) return AuthenticateBoundToken(token, user);
  std::pair<std::string, std::string> where;
  bool known = false;
  {
    std::lock_guard l(token_mu_);
    auto it = token_index_.find(token);
    if (it != token_index_.end()) {
      where = it->second;
      known = true;
    }
  }
  if (!known) {
    // Rebuild the index from the store (tokens made by another member or
    // before a restart), but at most once per store revision: an unknown
    // token, which anyone can send, must not cost a read of every Secret.
    int64_t now_revision = 0;
    if (store_->Revision(&now_revision)) return false;
    {
      std::lock_guard l(token_mu_);
      if (now_revision <= token_index_revision_) return false;
    }
    std::vector<StoredObject> raw;
    bool more = false;
    int64_t read_revision = 0;
    if (store_->List("/registry/secrets/", StoreClient::PrefixEnd("/registry/secrets/"), 0, 0, &raw,
                     &read_revision, &more)) {
      return false;
    }
    std::lock_guard l(token_mu_);
    token_index_revision_ = std::max(token_index_revision_, read_revision);
    for (auto& s : raw) {
      if (Str(s.object, "type") != kSaTokenType || !s.object.contains("data")) continue;
      std::string t = Base64Decode(Str(s.object["data"], "token"));
      if (t.empty()) continue;
      token_index_[t] = {MetaStr(s.object, "namespace"), MetaStr(s.object, "name")};
    }
    auto it = token_index_.find(token);
    if (it == token_index_.end()) return false;
    where = it->second;
  }
  // The Secret and its ServiceAccount must still exist (service-account-lookup).
  StoredObject secret, sa;
  bool found = false;
  if (store_->Get("/registry/secrets/" + where.first + "/" + where.second, &secret, &found) ||
      !found) {
    std::lock_guard l(token_mu_);
    token_index_.erase(token);
    return false;
  }
  if (!secret.object.contains("data") ||
      Base64Decode(Str(secret.object["data"], "token")) != token) {
    return false;
  }
  const Json ann = secret.object["metadata"].value("annotations", Json::object());
  const std::string sa_name = Str(ann, "kubernetes.io/service-account.name");
  if (store_->Get("/registry/serviceaccounts/" + where.first + "/" + sa_name, &sa, &found) ||
      !found) {
    return false;
  }
  const std::string uid = Str(ann, "kubernetes.io/service-account.uid");
  if (!uid.empty() && uid != MetaStr(sa.object, "uid")) return false;
  user->name = "system:serviceaccount:" + where.first + ":" + sa_name;
  user->uid = MetaStr(sa.object, "uid");
  user->groups = {"system:serviceaccounts", "system:serviceaccounts:" + where.first,
                  "system:authenticated"};
  return true;
}

std::optional<ApiError> Registry::Bootstrap(int api_port) {
  UserInfo system{"system:apiserver", "", {"system:masters"}};
  auto ns_info = catalog_->Find("", "v1", "namespaces");
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    Json out;
    Json obj = Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", Json{{"name", ns}}}};
    auto e = Create(*ns_info, "", system, obj, &out);
    if (e && e->reason != "AlreadyExists") return e;
  }
  auto put_if_absent = [&](const std::string& group, const std::string& resource,
                           const std::vector<Json>& objs,
                           const std::string& ns = "") -> std::optional<ApiError> {
    auto info = catalog_->Find(group, "v1", resource);
    for (Json obj : objs) {
      const std::string name = MetaStr(obj, "name");
      Meta(obj)["uid"] = NewUid();
      Meta(obj)["creationTimestamp"] = NowRfc3339();
      auto e = Commit(*info, ns, name, 0, nullptr, &obj, {}, nullptr);
      if (e && e->reason != "AlreadyExists") return e;
    }
    return std::nullopt;
  };
  if (auto e =
          put_if_absent("rbac.authorization.k8s.io", "clusterroles", BootstrapClusterRoles())) {
    return e;
  }
  if (auto e = put_if_absent("rbac.authorization.k8s.io", "clusterrolebindings",
                             BootstrapClusterRoleBindings())) {
    return e;
  }
  if (auto e = ReaggregateClusterRoles()) return e;
  // The two system PriorityClasses kube-apiserver creates at start.
  auto pc = [](const char* name, int64_t value, const char* description) {
    return Json{
        {"apiVersion", "scheduling.k8s.io/v1"}, {"kind", "PriorityClass"},
        {"metadata", Json{{"name", name}}},     {"value", value},
        {"description", description},           {"preemptionPolicy", "PreemptLowerPriority"}};
  };
  if (auto e = put_if_absent(
          "scheduling.k8s.io", "priorityclasses",
          {pc("system-node-critical", 2000001000,
              "Used for system critical pods that must not be moved from their current node."),
           pc("system-cluster-critical", 2000000000,
              "Used for system critical pods that must run in the cluster, but can be moved to "
              "another node if necessary.")})) {
    return e;
  }
  // The `kubernetes` Service and its Endpoints in `default`, pointing at us.
  const Json labels = Json{{"component", "apiserver"}, {"provider", "kubernetes"}};
  Json svc = Json{
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", Json{{"name", "kubernetes"}, {"namespace", "default"}, {"labels", labels}}},
      {"spec",
       Json{
           {"ports",
            Json::array({Json{
                {"name", "https"}, {"protocol", "TCP"}, {"port", 443}, {"targetPort", api_port}}})},
           {"clusterIP", "10.96.0.1"},
           {"clusterIPs", Json::array({"10.96.0.1"})},
           {"type", "ClusterIP"},
           {"sessionAffinity", "None"}}},
      {"status", Json{{"loadBalancer", Json::object()}}}};
  if (auto e = put_if_absent("", "services", {svc}, "default")) return e;
  Json ep = Json{
      {"apiVersion", "v1"},
      {"kind", "Endpoints"},
      {"metadata", Json{{"name", "kubernetes"}, {"namespace", "default"}, {"labels", labels}}},
      {"subsets",
       Json::array({Json{
           {"addresses", Json::array({Json{{"ip", "127.0.0.1"}}})},
           {"ports",
            Json::array({Json{{"name", "https"}, {"port", api_port}, {"protocol", "TCP"}}})}}})}};
  if (auto e = put_if_absent("", "endpoints", {ep}, "default")) return e;
  return RefreshCustomResources();
}

}  // namespace capstan::kube
