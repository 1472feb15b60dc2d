#include "kube-adapter/kube_api_server.h"

#include <chrono>
#include <thread>

#include "kube-adapter/field_selector.h"
#include "kube-adapter/json_parse.h"
#include "kube-adapter/kube_protobuf.h"
#include "kube-adapter/label_selector.h"
#include "kube-adapter/rbac_authorizer.h"
#include "kube-adapter/table_printer.h"

namespace capstan::kube {
namespace {

constexpr const char* kJson = "application/json";

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

void SendJson(HttpResponder& w, int code, const Json& body) {
  // Replace invalid UTF-8 (from a URL, say) rather than throw.
  w.Send(code, kJson, body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

void SendError(HttpResponder& w, const ApiError& e) { SendJson(w, e.code, e.ToStatus()); }

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What a resource path names (Kubernetes' RequestInfo).
struct PathInfo {
  bool resource_request = false;
  std::string group, version, ns, resource, name, subresource;
};

bool ParseResourcePath(const std::vector<std::string>& p, PathInfo* info) {
  size_t i = 0;
  if (p.size() >= 2 && p[0] == "api") {
    info->version = p[1];
    i = 2;
  } else if (p.size() >= 3 && p[0] == "apis") {
    info->group = p[1];
    info->version = p[2];
    i = 3;
  } else {
    return false;
  }
  if (i >= p.size()) return false;
  std::vector<std::string> rest(p.begin() + i, p.end());
  if (rest.size() >= 2 && rest[0] == "namespaces" && rest.size() >= 3) {
    info->ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  } else if (rest[0] == "namespaces" && rest.size() <= 2) {
    // /api/v1/namespaces[/name]: the namespace object itself.
  }
  info->resource = rest[0];
  if (rest.size() >= 2) info->name = rest[1];
  if (rest.size() >= 3) info->subresource = rest[2];
  if (info->resource == "namespaces" && info->group.empty() && !info->name.empty()) {
    // /api/v1/namespaces/x/status etc.
  }
  info->resource_request = true;
  return true;
}

}  // namespace

bool KubeApiServer::Start(const KubeApiServerOptions& options, std::unique_ptr<KubeApiServer>* out,
                          std::string* error) {
  std::unique_ptr<KubeApiServer> s(new KubeApiServer());
  s->options_ = options;
  // https://host:port
  std::string rest = options.url;
  if (rest.rfind("https://", 0) != 0) {
    *error =
        "--kube-apiserver-url must be an https:// URL (kubectl sends credentials only over "
        "TLS): " +
        options.url;
    return false;
  }
  rest = rest.substr(8);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  auto colon = rest.rfind(':');
  std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  int port = 6443;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(rest.substr(colon + 1));
    } catch (...) {
      *error = "bad port in --kube-apiserver-url " + options.url;
      return false;
    }
  }
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (!KubeCredentials::Ensure(options.data_dir + "/kube", options.cert_file, options.key_file,
                               host, &s->credentials_, error)) {
    return false;
  }
  s->store_ = std::make_unique<StoreClient>(options.store_target, options.store_credentials);
  s->registry_ = std::make_unique<Registry>(s->store_.get(), &s->catalog_, s->credentials_.ca_pem);
  auto signer = ServiceAccountTokenSigner::FromPem(s->credentials_.sa_key_pem);
  if (!signer) {
    *error =
        "cannot load the service-account signing key from " + options.data_dir + "/kube/sa.key";
    return false;
  }
  s->registry_->SetTokenSigner(std::move(signer));
  // The store may still be electing a leader: retry bootstrap for a while.
  std::optional<ApiError> be;
  for (int i = 0; i < 100; ++i) {
    be = s->registry_->Bootstrap(port > 0 ? port : 6443);
    if (!be) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (be) {
    *error = "kube bootstrap: " + be->message;
    return false;
  }
  KubeApiServer* raw = s.get();
  if (!s->https_.Start(
          host.empty() ? "127.0.0.1" : host, static_cast<uint16_t>(port), s->credentials_.cert_file,
          s->credentials_.key_file,
          [raw](const HttpRequest& r, HttpResponder& w) { raw->Handle(r, w); }, error,
          [raw](HttpRequest& r, HttpResponder& w) { return raw->Preflight(r, w); })) {
    return false;
  }
  s->server_address_ = host + ":" + std::to_string(s->https_.port());
  std::string url = "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                    ":" + std::to_string(s->https_.port());
  if (!s->credentials_.WriteAdminKubeconfig(options.data_dir + "/kube/admin.kubeconfig", url,
                                            error)) {
    return false;
  }
  *out = std::move(s);
  return true;
}

KubeApiServer::~KubeApiServer() { Stop(); }

void KubeApiServer::Stop() {
  if (registry_) registry_->Stop();
  https_.Stop();
}

std::optional<ApiError> KubeApiServer::Authenticate(const HttpRequest& req, UserInfo* user) {
  std::string auth = req.Header("authorization");
  if (!auth.empty()) {
    std::string token;
    if (auth.size() > 7 && Lower(auth.substr(0, 7)) == "bearer ") token = auth.substr(7);
    while (!token.empty() && token.back() == ' ') token.pop_back();
    if (!token.empty() && token == credentials_.admin_token) {
      *user = UserInfo{"kubernetes-admin", "", {"system:masters", "system:authenticated"}};
    } else if (token.empty() || !registry_->AuthenticateServiceAccountToken(token, user)) {
      return ApiError::Unauthorized();
    }
  } else {
    *user = UserInfo{"system:anonymous", "", {"system:unauthenticated"}};
  }
  return std::nullopt;
}

bool KubeApiServer::Preflight(HttpRequest& req, HttpResponder& w) {
  UserInfo user;
  if (auto e = Authenticate(req, &user)) {
    SendError(w, *e);
    return false;
  }
  req.context = std::move(user);
  return true;
}

void KubeApiServer::Handle(const HttpRequest& req, HttpResponder& w) {
  // ---- authentication (done by Preflight, before the body was read)
  UserInfo user;
  if (const auto* known = std::any_cast<UserInfo>(&req.context)) {
    user = *known;
  } else if (auto e = Authenticate(req, &user)) {
    return SendError(w, *e);
  }

  RbacPolicy policy;
  bool policy_loaded = false;
  auto load_policy = [&]() -> std::optional<ApiError> {
    if (policy_loaded) return std::nullopt;
    policy = RbacPolicy{};
    if (auto e = registry_->LoadPolicy(&policy)) return e;
    policy_loaded = true;
    return std::nullopt;
  };

  // ---- impersonation
  const std::string as_user = req.Header("impersonate-user");
  if (!as_user.empty() || !req.impersonate_groups.empty()) {
    if (as_user.empty()) {
      return SendError(w, ApiError::InternalError("requested [" + req.impersonate_groups[0] +
                                                  "] without impersonating a user"));
    }
    if (auto e = load_policy()) return SendError(w, *e);
    auto check = [&](const std::string& resource, const std::string& ns,
                     const std::string& name) -> std::optional<ApiError> {
      RequestAttributes a;
      a.user = user;
      a.verb = "impersonate";
      a.resource = resource;
      a.namespace_ = ns;
      a.name = name;
      auto d = Authorize(policy, a);
      if (d.allowed) return std::nullopt;
      std::string gr = resource;
      return ApiError::Forbidden(
          "", gr, name,
          "User \"" + user.name + "\" cannot impersonate resource \"" + resource +
              "\" in API group \"\"" +
              (ns.empty() ? " at the cluster scope" : " in the namespace \"" + ns + "\""));
    };
    UserInfo next;
    next.name = as_user;
    const std::string sa_prefix = "system:serviceaccount:";
    if (as_user.rfind(sa_prefix, 0) == 0) {
      std::string rest = as_user.substr(sa_prefix.size());
      auto c = rest.find(':');
      std::string ns = rest.substr(0, c), name = c == std::string::npos ? "" : rest.substr(c + 1);
      if (auto e = check("serviceaccounts", ns, name)) return SendError(w, *e);
      if (req.impersonate_groups.empty()) {
        next.groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns};
      }
    } else {
      if (auto e = check("users", "", as_user)) return SendError(w, *e);
    }
    for (const auto& g : req.impersonate_groups) {
      if (auto e = check("groups", "", g)) return SendError(w, *e);
      next.groups.push_back(g);
    }
    if (as_user != "system:anonymous" && !next.InGroup("system:authenticated") &&
        !next.InGroup("system:unauthenticated")) {
      next.groups.push_back("system:authenticated");
    }
    user = std::move(next);
  }

  auto authorize = [&](RequestAttributes a) -> std::optional<ApiError> {
    a.user = user;
    if (user.InGroup("system:masters")) return std::nullopt;
    if (auto e = load_policy()) return e;
    auto d = Authorize(policy, a);
    if (d.allowed) return std::nullopt;
    if (!a.resource_request) {
      ApiError e = ApiError::Forbidden("", "", "", "");
      e.message = NonResourceForbiddenMessage(a, d);
      e.has_details = false;
      return e;
    }
    std::string res = a.resource;
    return ApiError::Forbidden(a.api_group, res, a.name, ForbiddenReason(a, d));
  };

  const std::vector<std::string> parts = SplitPath(req.path);
  const std::string method = req.method;

  // ---- non-resource paths
  PathInfo pi;
  const bool is_resource = ParseResourcePath(parts, &pi);
  if (!is_resource) {
    RequestAttributes a;
    a.resource_request = false;
    a.verb = Lower(method);
    a.path = req.path;
    if (auto e = authorize(a)) return SendError(w, *e);
    const std::string& p = req.path;
    if (p == "/healthz" || p == "/livez" || p == "/readyz" || p.rfind("/healthz/", 0) == 0 ||
        p.rfind("/livez/", 0) == 0 || p.rfind("/readyz/", 0) == 0) {
      return w.Send(200, "text/plain; charset=utf-8", "ok");
    }
    if (p == "/version" || p == "/version/") {
      return SendJson(w, 200,
                      Json{{"major", "1"},
                           {"minor", "20"},
                           {"gitVersion", "v1.20.2-capstan"},
                           {"gitCommit", "capstan"},
                           {"gitTreeState", "clean"},
                           {"buildDate", "2026-11-27T00:00:00Z"},
                           {"goVersion", "go1.15.5"},
                           {"compiler", "gc"},
                           {"platform", "linux/amd64"}});
    }
    if (p == "/api" || p == "/api/") return SendJson(w, 200, catalog_.ApiVersions(server_address_));
    if (p == "/apis" || p == "/apis/") return SendJson(w, 200, catalog_.ApiGroupList());
    if (parts.size() == 2 && parts[0] == "api") {
      if (auto l = catalog_.ResourceList("", parts[1])) return SendJson(w, 200, *l);
    }
    if (parts.size() == 3 && parts[0] == "apis") {
      if (auto l = catalog_.ResourceList(parts[1], parts[2])) return SendJson(w, 200, *l);
    }
    if (parts.size() == 2 && parts[0] == "apis") {
      Json groups = catalog_.ApiGroupList();
      for (const auto& g : groups["groups"]) {
        if (g["name"] == parts[1]) {
          Json out = g;
          out["kind"] = "APIGroup";
          out["apiVersion"] = "v1";
          return SendJson(w, 200, out);
        }
      }
    }
    if (p == "/openapi/v2" || p.rfind("/swagger", 0) == 0) {
      // An empty gnostic document: kubectl's validation then skips unknown kinds.
      return w.Send(200, "application/octet-stream", "");
    }
    return SendJson(w, 404,
                    Json{{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"metadata", Json::object()},
                         {"status", "Failure"},
                         {"message", "the server could not find the requested resource"},
                         {"reason", "NotFound"},
                         {"details", Json::object()},
                         {"code", 404}});
  }

  // ---- resource requests
  auto info = catalog_.Find(pi.group, pi.version, pi.resource);
  if (!info) {
    return SendJson(w, 404,
                    Json{{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"metadata", Json::object()},
                         {"status", "Failure"},
                         {"message", "the server could not find the requested resource"},
                         {"reason", "NotFound"},
                         {"details", Json::object()},
                         {"code", 404}});
  }
  // /api/v1/namespaces/{name}: the namespace object, not a namespace scope.
  std::string ns = pi.ns;
  if (!info->namespaced && !ns.empty()) {
    return SendError(w, ApiError::NotFound(pi.group, pi.resource, pi.name));
  }
  const bool collection = pi.name.empty();
  std::string verb;
  const bool watch = req.Query("watch") == "true" || req.Query("watch") == "1";
  if (method == "GET" || method == "HEAD") {
    verb = collection ? (watch ? "watch" : "list") : "get";
  } else if (method == "POST") {
    verb = "create";
  } else if (method == "PUT") {
    verb = "update";
  } else if (method == "PATCH") {
    verb = "patch";
  } else if (method == "DELETE") {
    verb = collection ? "deletecollection" : "delete";
  } else {
    return SendError(w, ApiError::MethodNotSupported(pi.group, pi.resource, method));
  }

  ListOptions lo;
  if (auto e = LabelSelector::Parse(req.Query("labelSelector"), &lo.labels)) {
    return SendError(w, *e);
  }
  if (!req.Query("fieldSelector").empty()) {
    if (auto e = FieldSelector::Parse(req.Query("fieldSelector"), pi.resource, &lo.fields)) {
      return SendError(w, *e);
    }
    lo.has_fields = true;
  }
  if (req.HasQuery("limit")) {
    try {
      lo.limit = std::stoll(req.Query("limit"));
    } catch (...) {
    }
  }
  lo.continue_token = req.Query("continue");
  lo.resource_version = req.Query("resourceVersion");
  lo.bookmarks = req.Query("allowWatchBookmarks") == "true";
  if (req.HasQuery("timeoutSeconds")) {
    try {
      lo.timeout_seconds = std::stoll(req.Query("timeoutSeconds"));
    } catch (...) {
    }
  }

  RequestAttributes a;
  a.verb = verb;
  a.namespace_ = ns;
  a.api_group = pi.group;
  a.api_version = pi.version;
  a.resource = pi.resource;
  a.subresource = pi.subresource;
  a.name = pi.name;
  if (collection && (verb == "list" || verb == "watch") && lo.has_fields) {
    if (auto n = lo.fields.ExactName()) a.name = *n;
  }
  if (auto e = authorize(a)) return SendError(w, *e);

  std::string table_version;
  const bool table = WantsTable(req.Header("accept"), &table_version);
  Json out;
  std::optional<ApiError> err;
  auto body_json = [&](Json* j) -> std::optional<ApiError> {
    // kubectl 1.2x+ sends typed `create` bodies as Kubernetes protobuf.
    if (IsKubeProtobuf(req.Header("content-type"))) return DecodeKubeProtobuf(req.body, j);
    JsonParseError pe;
    if (!ParseJsonBounded(req.body, j, &pe) || !j->is_object()) {
      std::string message = "the object provided is unrecognized (must be of type " + info->kind +
                            "): couldn't get version/kind; json parse error";
      if (pe.too_deep) message += ": " + pe.message + " (" + SummarizeBody(req.body) + ")";
      return ApiError::BadRequest(message);
    }
    return std::nullopt;
  };

  // ---- `kubectl auth whoami`
  if (info->group == "authentication.k8s.io") {
    if (verb != "create") {
      return SendError(w, ApiError::MethodNotSupported(pi.group, pi.resource, verb));
    }
    Json groups = Json::array();
    for (const auto& g : user.groups) groups.push_back(g);
    Json ui = Json{{"username", user.name}, {"groups", groups}};
    if (!user.uid.empty()) ui["uid"] = user.uid;
    return SendJson(w, 201,
                    Json{{"kind", "SelfSubjectReview"},
                         {"apiVersion", "authentication.k8s.io/v1"},
                         {"metadata", Json{{"creationTimestamp", nullptr}}},
                         {"status", Json{{"userInfo", ui}}}});
  }

  // ---- authorization reviews: answered, never stored
  if (info->group == "authorization.k8s.io") {
    if (verb != "create") {
      return SendError(w, ApiError::MethodNotSupported(pi.group, pi.resource, verb));
    }
    Json review;
    if (auto e = body_json(&review)) return SendError(w, *e);
    if (auto e = load_policy()) return SendError(w, *e);
    Json spec = review.value("spec", Json::object());
    review["apiVersion"] = info->GroupVersion();
    review["kind"] = info->kind;
    if (!review.contains("metadata")) review["metadata"] = Json::object();
    if (info->resource == "selfsubjectrulesreviews") {
      review["status"] = RulesReview(policy, user, spec.value("namespace", ""));
      return SendJson(w, 201, review);
    }
    UserInfo subject = user;
    if (info->resource == "subjectaccessreviews" || info->resource == "localsubjectaccessreviews") {
      subject = UserInfo{};
      subject.name = spec.value("user", "");
      subject.uid = spec.value("uid", "");
      if (spec.contains("groups") && spec["groups"].is_array()) {
        for (const auto& g : spec["groups"]) {
          if (g.is_string()) subject.groups.push_back(g.get<std::string>());
        }
      }
    }
    RequestAttributes ra;
    ra.user = subject;
    if (spec.contains("resourceAttributes") && spec["resourceAttributes"].is_object()) {
      const Json& r = spec["resourceAttributes"];
      ra.resource_request = true;
      ra.verb = r.value("verb", "");
      ra.namespace_ = r.value("namespace", "");
      if (info->resource == "localsubjectaccessreviews") ra.namespace_ = ns;
      ra.api_group = r.value("group", "");
      ra.api_version = r.value("version", "");
      ra.resource = r.value("resource", "");
      ra.subresource = r.value("subresource", "");
      ra.name = r.value("name", "");
    } else if (spec.contains("nonResourceAttributes") &&
               spec["nonResourceAttributes"].is_object()) {
      ra.resource_request = false;
      ra.verb = spec["nonResourceAttributes"].value("verb", "");
      ra.path = spec["nonResourceAttributes"].value("path", "");
    }
    auto d = Authorize(policy, ra);
    Json status = Json{{"allowed", d.allowed}};
    std::string reason = ReviewReason(d);
    if (!reason.empty()) status["reason"] = reason;
    review["status"] = status;
    return SendJson(w, 201, review);
  }

  const std::string& sub = pi.subresource;
  if (info->group.empty() && info->resource == "serviceaccounts" && sub == "token") {
    if (verb != "create") {
      return SendError(w, ApiError::MethodNotSupported(pi.group, "serviceaccounts/token", verb));
    }
    Json tr;
    if (auto e = body_json(&tr)) return SendError(w, *e);
    if (auto e = registry_->IssueServiceAccountToken(ns, pi.name, &tr)) return SendError(w, *e);
    return SendJson(w, 201, tr);
  }
  if (!sub.empty() && sub != "status" && sub != "scale" && sub != "log") {
    return SendError(w, ApiError::MethodNotSupported(pi.group, pi.resource + "/" + sub, verb));
  }
  if (sub == "log") {
    Json pod;
    if (auto e = registry_->Get(*info, ns, pi.name, &pod)) return SendError(w, *e);
    std::string container = req.Query("container");
    if (container.empty() && pod.contains("spec") && pod["spec"].contains("containers") &&
        pod["spec"]["containers"].is_array() && !pod["spec"]["containers"].empty()) {
      container = pod["spec"]["containers"][0].value("name", "");
    }
    return SendError(w, ApiError::BadRequest("container \"" + container + "\" in pod \"" + pi.name +
                                             "\" is waiting to start: ContainerCreating"));
  }

  if (verb == "get") {
    err = registry_->Get(*info, ns, pi.name, &out);
    if (!err && sub == "scale") {
      out = Registry::ToScale(*info, out);
    } else if (!err && table) {
      out = ResourceTable(*info, {out}, out["metadata"].value("resourceVersion", ""), "", -1,
                          table_version);
    }
    if (err) return SendError(w, *err);
    return SendJson(w, 200, out);
  }
  if (verb == "list") {
    ListResult l;
    if (auto e = registry_->List(*info, ns, lo, &l)) return SendError(w, *e);
    if (table) {
      out = ResourceTable(*info, l.items, std::to_string(l.revision), l.continue_token, l.remaining,
                          table_version);
      return SendJson(w, 200, out);
    }
    out = Json::object();
    out["kind"] = info->ListKind();
    out["apiVersion"] = info->GroupVersion();
    Json meta = Json{{"resourceVersion", std::to_string(l.revision)}};
    if (!l.continue_token.empty()) meta["continue"] = l.continue_token;
    if (l.remaining > 0) meta["remainingItemCount"] = l.remaining;
    out["metadata"] = meta;
    out["items"] = std::move(l.items);
    return SendJson(w, 200, out);
  }
  if (verb == "watch") {
    return registry_->Watch(*info, ns, lo, table ? table_version : "", w);
  }
  // Every write below goes through the registry's one write path
  // (Registry::Write): admission, RBAC escalation prevention, validation and
  // quota run there, on the final object, whatever the verb.
  const bool dry_run = req.HasQuery("dryRun");
  if (verb == "create") {
    Json obj;
    if (auto e = body_json(&obj)) return SendError(w, *e);
    if (!sub.empty())
      return SendError(w, ApiError::MethodNotSupported(pi.group, pi.resource, verb));
    if (auto e = registry_->Create(*info, ns, user, std::move(obj), &out, dry_run)) {
      return SendError(w, *e);
    }
    return SendJson(w, 201, out);
  }
  if (verb == "update" || verb == "patch") {
    if (verb == "update") {
      Json obj;
      if (auto e = body_json(&obj)) return SendError(w, *e);
      err = registry_->Update(*info, ns, pi.name, user, std::move(obj), &out, sub, dry_run);
    } else {
      err = registry_->Patch(*info, ns, pi.name, user, req.Header("content-type"), req.body, &out,
                             sub, dry_run);
    }
    if (err) return SendError(w, *err);
    return SendJson(w, 200, out);
  }
  if (verb == "delete") {
    Json options = Json::object();
    JsonParseError pe;
    if (!req.body.empty() && !ParseJsonBounded(req.body, &options, &pe)) {
      if (pe.too_deep) {
        return SendError(
            w, ApiError::BadRequest("couldn't get version/kind; json parse error: " + pe.message));
      }
      options = Json::object();
    }
    if (auto e = registry_->Delete(*info, ns, pi.name, user, options, &out, dry_run)) {
      return SendError(w, *e);
    }
    return SendJson(w, 200, out);
  }
  if (verb == "deletecollection") {
    if (auto e = registry_->DeleteCollection(*info, ns, user, lo, &out, dry_run)) {
      return SendError(w, *e);
    }
    return SendJson(w, 200, out);
  }
  SendError(w, ApiError::MethodNotSupported(pi.group, pi.resource, verb));
}

}  // namespace capstan::kube
