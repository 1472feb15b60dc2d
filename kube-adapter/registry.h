// Registry: generic Kubernetes object storage over the store (kube-apiserver's
// generic registry): create, get, list, update, patch, delete and watch for
// every resource of the catalog, with the synchronous parts of admission and
// of Kubernetes' controllers (namespace lifecycle, ServiceAccount tokens,
// quota status, ClusterRole aggregation, CRD establishment) run in the same
// request, so clients never race a controller.
//
// Quota is charged in the same store transaction as the object write (a Txn
// comparing every charged quota's mod_revision), retried on conflict: usage
// is exact and concurrent creates can never over-commit.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kube-adapter/api_error.h"
#include "kube-adapter/field_selector.h"
#include "kube-adapter/https_server.h"
#include "kube-adapter/json.h"
#include "kube-adapter/label_selector.h"
#include "kube-adapter/rbac_policy.h"
#include "kube-adapter/resource_catalog.h"
#include "kube-adapter/service_account_token.h"
#include "kube-adapter/store_client.h"
#include "kube-adapter/user_info.h"

namespace capstan::kube {

struct ListOptions {
  LabelSelector labels;
  FieldSelector fields;
  bool has_fields = false;
  int64_t limit = 0;
  std::string continue_token;
  std::string resource_version;
  bool watch = false;
  int64_t timeout_seconds = 0;
  bool bookmarks = false;

  // Whether an object passes the label and field selectors.
  bool Matches(const Json& obj) const;
};

struct ListResult {
  std::vector<Json> items;
  int64_t revision = 0;
  std::string continue_token;
  int64_t remaining = -1;
};

class Registry {
 public:
  Registry(StoreClient* store, ResourceCatalog* catalog, std::string ca_pem);

  // Creates what a fresh kube-apiserver has: the four system namespaces with
  // their default ServiceAccounts, the bootstrap RBAC policy, the system
  // priority classes and the `kubernetes` Service (targetPort `api_port`).
  // Idempotent; also loads the served CRDs into the catalog.
  std::optional<ApiError> Bootstrap(int api_port);

  std::optional<ApiError> Get(const ResourceInfo& r, const std::string& ns, const std::string& name,
                              Json* out);
  std::optional<ApiError> List(const ResourceInfo& r, const std::string& ns, const ListOptions& o,
                               ListResult* out);
  // The write verbs. Each prepares the object it means to store (create:
  // metadata; update: merged with the stored object; patch: the patch
  // applied to it, retried on a race) and hands it to the one private Write
  // path, which runs admission, RBAC escalation prevention, validation and
  // quota on that final object. `dry_run` (?dryRun=All) runs all of it and
  // stores nothing.
  std::optional<ApiError> Create(const ResourceInfo& r, const std::string& ns, const UserInfo& user,
                                 Json obj, Json* out, bool dry_run = false);
  // PUT. A missing object is 404 (Kubernetes creates it only for a few kinds).
  std::optional<ApiError> Update(const ResourceInfo& r, const std::string& ns,
                                 const std::string& name, const UserInfo& user, Json obj, Json* out,
                                 const std::string& subresource = "", bool dry_run = false);
  std::optional<ApiError> Patch(const ResourceInfo& r, const std::string& ns,
                                const std::string& name, const UserInfo& user,
                                const std::string& content_type, const std::string& body, Json* out,
                                const std::string& subresource = "", bool dry_run = false);
  std::optional<ApiError> Delete(const ResourceInfo& r, const std::string& ns,
                                 const std::string& name, const UserInfo& user, const Json& options,
                                 Json* out, bool dry_run = false);
  std::optional<ApiError> DeleteCollection(const ResourceInfo& r, const std::string& ns,
                                           const UserInfo& user, const ListOptions& o, Json* out,
                                           bool dry_run = false);
  // The autoscaling/v1 Scale of a Deployment, ReplicaSet or StatefulSet.
  static Json ToScale(const ResourceInfo& r, const Json& obj);
  // Streams watch events until the client leaves, the timeout passes or the
  // server stops. `table_version` non-empty wraps objects as Table rows.
  void Watch(const ResourceInfo& r, const std::string& ns, const ListOptions& o,
             const std::string& table_version, HttpResponder& w);

  // serviceaccounts/<name>/token (TokenRequest, `kubectl create token`): a
  // bound token (see service_account_token.h) for spec.audiences (default the
  // API server's), valid spec.expirationSeconds (default 1 h; 422 outside
  // [10 min, 2^32 s]) and while the account, and the Pod or Secret of
  // spec.boundObjectRef if any, exist with the same uid.
  std::optional<ApiError> IssueServiceAccountToken(const std::string& ns, const std::string& sa,
                                                   Json* token_request);
  // The key bound tokens are signed with; without one, TokenRequest is 500.
  void SetTokenSigner(std::unique_ptr<ServiceAccountTokenSigner> signer) {
    signer_ = std::move(signer);
  }
  // The clock of token issue and expiry (unix seconds); tests replace it.
  void SetClock(std::function<int64_t()> now) { now_ = std::move(now); }

  // The RBAC objects, read in one consistent Txn.
  std::optional<ApiError> LoadPolicy(RbacPolicy* p);
  // Authentication of a ServiceAccount token, bound (JWT: signature, expiry,
  // audience, then the account and bound object looked up) or legacy (the
  // token of a live token Secret of a live account): the user it stands for.
  bool AuthenticateServiceAccountToken(const std::string& token, UserInfo* user);

  void Stop() { stopping_ = true; }

 private:
  // What a Write does.
  enum class WriteVerb { kCreate, kUpdate, kDelete };
  struct WriteRequest {
    WriteVerb verb;
    std::string subresource;      // "", "status" or "scale" (update only)
    bool dry_run = false;         // everything but the store write and its side effects
    bool generated_name = false;  // create: pick another name on a collision
  };
  // The one path every client write takes (create, update, every kind of
  // patch, the status and scale subresources, delete, each item of a
  // deletecollection), so no verb can skip a check. On the final object:
  //   create/update: Admit (defaulting, RBAC escalation prevention,
  //   NamespaceLifecycle, mutating admission, validation with immutable
  //   fields, LimitRanger), then the controllers' synchronous parts (quota
  //   status, CRD conditions, service addresses, SA token Secret);
  //   all: the store write, charging ResourceQuota in the same Txn (403 over
  //   quota), then the after-write controllers (default ServiceAccount,
  //   ClusterRole aggregation, CRD discovery, token Secret cleanup).
  // `cur` is the stored object (null for create, required otherwise); `obj`
  // the object to store (mutated; null for delete).
  std::optional<ApiError> Write(const ResourceInfo& r, const std::string& ns, const UserInfo& user,
                                const WriteRequest& w, const StoredObject* cur, Json* obj);
  std::optional<ApiError> ListRaw(const ResourceInfo& r, const std::string& ns,
                                  std::vector<StoredObject>* out, int64_t* rev = nullptr);
  std::optional<ApiError> ListObjects(const std::string& group, const std::string& resource,
                                      const std::string& ns, std::vector<Json>* out);
  // Admission and validation of a create (old null) or update; mutates obj.
  // Only Write calls it.
  std::optional<ApiError> Admit(const ResourceInfo& r, const std::string& ns, const UserInfo& user,
                                const WriteRequest& w, Json* obj, const Json* old);
  // RBAC escalation prevention for a Role, ClusterRole, RoleBinding or
  // ClusterRoleBinding about to be stored (Kubernetes' policybased storage).
  std::optional<ApiError> CheckRbacEscalation(const ResourceInfo& r, const std::string& ns,
                                              const UserInfo& user, const WriteRequest& w,
                                              const Json& obj, const Json* old);
  // Writes obj (or deletes when obj is null) comparing the key's mod_revision
  // with `expected` (0: must not exist), charging quotas in the same Txn.
  // The storage step of Write; called directly only for the registry's own
  // controller writes (bootstrap, aggregation, token Secrets, namespace
  // finalization), never for a client's object.
  std::optional<ApiError> Commit(const ResourceInfo& r, const std::string& ns,
                                 const std::string& name, int64_t expected, const Json* old,
                                 Json* obj,
                                 std::vector<std::pair<std::string, std::string>> extra_puts,
                                 int64_t* revision);
  std::optional<ApiError> AfterCreate(const ResourceInfo& r, const std::string& ns, Json* obj,
                                      const UserInfo& user);
  std::optional<ApiError> AfterDelete(const ResourceInfo& r, const std::string& ns,
                                      const Json& obj);
  std::optional<ApiError> CreateServiceAccountToken(const std::string& ns, Json* sa);
  std::optional<ApiError> ReaggregateClusterRoles();
  std::optional<ApiError> RefreshCustomResources();
  std::optional<ApiError> DeleteNamespaceContents(const std::string& ns);
  static void AllocateServiceAddresses(Json* svc);

  StoreClient* const store_;
  ResourceCatalog* const catalog_;
  const std::string ca_pem_;
  std::atomic<bool> stopping_{false};
  std::shared_ptr<std::mutex> NamespaceLock(const std::string& ns);

  std::mutex ns_locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> ns_locks_;
  std::unique_ptr<ServiceAccountTokenSigner> signer_;
  std::function<int64_t()> now_ = [] { return static_cast<int64_t>(std::time(nullptr)); };
  bool AuthenticateBoundToken(const std::string& token, UserInfo* user);

  std::mutex token_mu_;
  std::map<std::string, std::pair<std::string, std::string>> token_index_;  // token -> (ns, secret)
  int64_t token_index_revision_ = 0;  // store revision of the last rebuild of token_index_
};

// The Table `kubectl get` shows for objects of `r` (a CRD's printer columns
// for custom resources), in meta.k8s.io/<table_version>.
Json ResourceTable(const ResourceInfo& r, const std::vector<Json>& objects,
                   const std::string& resource_version, const std::string& continue_token,
                   int64_t remaining, const std::string& table_version);

// Fresh UUIDv4.
std::string NewUid();
// RFC 3339 UTC, seconds.
std::string NowRfc3339();
std::string Base64Encode(const std::string& s);
std::string Base64Decode(const std::string& s);

}  // namespace capstan::kube
