"""One authorization and admission chain for every write verb (issue 12 item 4).

A table of RBAC-relevant verbs (create, update, patch as merge, JSON and
strategic-merge patch, delete, deletecollection) x resources (Role,
ClusterRole, RoleBinding, ClusterRoleBinding) x escalation paths (grant a rule
the writer lacks, widen to `*`, bind a role the writer lacks, add oneself to a
binding of admin / cluster-admin), each answered through real HTTPS exactly as
kube-apiserver answers: 403 with its message, or success when the writer holds
`escalate` / `bind`. Then admission on normal resources through patch:
validation, immutable pod fields, ResourceQuota, and dryRun never storing.

Also (items 5 and 7): TokenRequest issues bound, expiring, signed tokens with
the apiserver's range checks, refused once expired or once the bound object
is gone, and the private key files are 0600.
"""

import base64
import json
import os
import stat
import time

from harness import run_tests
from kube_env import KUBECTL_132, KubeServer, b64decode, check

RBAC = "rbac.authorization.k8s.io"
NS = "esc"
MERGE = "application/merge-patch+json"
JSONP = "application/json-patch+json"
SMP = "application/strategic-merge-patch+json"

# What mallory (and every other writer here) legitimately holds.
WRITER_RULES = [
    {"apiGroups": [RBAC], "resources": ["roles", "rolebindings", "clusterroles",
                                        "clusterrolebindings"],
     "verbs": ["get", "list", "create", "update", "patch", "delete", "deletecollection"]},
    {"apiGroups": [""], "resources": ["configmaps"],
     "verbs": ["get", "list", "create", "update", "patch", "delete"]},
]
COVERED = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
SECRET_RULE = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
STAR_RULE = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
MISSING = {"secret": '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}',
           "star": '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}'}


def as_user(user):
    return {"Impersonate-User": user}


def grant_header(user, groups='["system:authenticated"]'):
    return (f'user "{user}" (groups={groups}) is attempting to grant RBAC permissions not '
            'currently held:')


def path_of(resource, name=""):
    ns = f"/namespaces/{NS}" if resource in ("roles", "rolebindings") else ""
    return f"/apis/{RBAC}/v1{ns}/{resource}" + (f"/{name}" if name else "")


def kind_of(resource):
    return {"roles": "Role", "clusterroles": "ClusterRole", "rolebindings": "RoleBinding",
            "clusterrolebindings": "ClusterRoleBinding"}[resource]


def obj(resource, name, **fields):
    o = {"apiVersion": f"{RBAC}/v1", "kind": kind_of(resource), "metadata": {"name": name}}
    if resource in ("roles", "rolebindings"):
        o["metadata"]["namespace"] = NS
    o.update(fields)
    return o


def user_subject(name):
    return {"kind": "User", "name": name, "apiGroup": RBAC}


def setup(s):
    def admin(method, path, body=None, ct="application/json"):
        code, out = s.request(method, path, body, content_type=ct)
        check(code in (200, 201), f"setup {method} {path}", code, out)
        return out
    admin("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
    admin("POST", path_of("clusterroles"), obj("clusterroles", "rbac-writer", rules=WRITER_RULES))
    admin("POST", path_of("clusterroles"), obj(
        "clusterroles", "rbac-escalator", rules=WRITER_RULES + [
            {"apiGroups": [RBAC], "resources": ["roles", "clusterroles"],
             "verbs": ["escalate", "bind"]}]))
    admin("POST", path_of("clusterroles"), obj(
        "clusterroles", "rbac-reader",
        rules=[{"apiGroups": [RBAC], "resources": ["*"], "verbs": ["get", "list"]}]))
    admin("POST", path_of("clusterroles"), obj("clusterroles", "secret-reader", rules=[SECRET_RULE]))
    for user, role in (("mallory", "rbac-writer"), ("trent", "rbac-escalator"),
                       ("reader", "rbac-reader")):
        admin("POST", path_of("clusterrolebindings"), obj(
            "clusterrolebindings", f"{user}-{role}", subjects=[user_subject(user)],
            roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": role}))


def write(s, user, verb, resource, name, body):
    """One write of `body` (a full object, or the patch) by `user`."""
    h = as_user(user)
    if verb == "create":
        return s.request("POST", path_of(resource), body, headers=h)
    if verb == "update":
        return s.request("PUT", path_of(resource, name), body, headers=h)
    ct = {"patch-merge": MERGE, "patch-json": JSONP, "patch-strategic": SMP}[verb]
    return s.request("PATCH", path_of(resource, name), body, content_type=ct, headers=h)


VERBS = ["create", "update", "patch-merge", "patch-json", "patch-strategic"]


def role_cases():
    """(resource, verb, escalation, user, expect_ok)."""
    for resource in ("roles", "clusterroles"):
        for verb in VERBS:
            for esc in ("secret", "star"):
                for user in ("mallory", "trent"):
                    yield resource, verb, esc, user


def test_role_escalation_table():
    with KubeServer() as s:
        setup(s)
        failures = []
        for resource, verb, esc, user in role_cases():
            name = f"{resource[:-1]}-{verb}-{esc}-{user}"
            rule = SECRET_RULE if esc == "secret" else STAR_RULE
            if verb != "create":
                code, out = s.request("POST", path_of(resource),
                                      obj(resource, name, rules=COVERED))
                check(code == 201, "base role", name, code, out)
            if verb in ("create", "update"):
                body = obj(resource, name, rules=COVERED + [rule])
            elif verb == "patch-json":
                body = [{"op": "add", "path": "/rules/-", "value": rule}]
            else:
                body = {"rules": COVERED + [rule]}
            code, out = write(s, user, verb, resource, name, body)
            want_ok = user == "trent"  # holds `escalate`
            if want_ok:
                if code not in (200, 201):
                    failures.append(f"{name}: want success, got {code} {out}")
                continue
            want = (f'{resource}.{RBAC} "{name}" is forbidden: ' + grant_header(user) + "\n" +
                    MISSING[esc])
            if code != 403 or out.get("message") != want or out.get("reason") != "Forbidden":
                failures.append(f"{name}: want 403 {want!r}, got {code} {out}")
                continue
            # Nothing was stored.
            code, cur = s.request("GET", path_of(resource, name))
            stored = cur.get("rules") if code == 200 else None
            if verb == "create" and code != 404:
                failures.append(f"{name}: refused create stored the role: {cur}")
            if verb != "create" and stored != COVERED:
                failures.append(f"{name}: refused write changed the role: {stored}")
        check(not failures, f"{len(failures)} role escalation case(s) wrong", *failures)


def binding_cases():
    for resource in ("rolebindings", "clusterrolebindings"):
        for verb in VERBS:
            for esc in ("lacking", "admin"):
                for user in ("mallory", "trent"):
                    yield resource, verb, esc, user


def test_binding_escalation_table():
    with KubeServer() as s:
        setup(s)
        failures = []
        for resource, verb, esc, user in binding_cases():
            name = f"{resource[:-1]}-{verb}-{esc}-{user}"
            role = "secret-reader" if esc == "lacking" else (
                "admin" if resource == "rolebindings" else "cluster-admin")
            ref = {"apiGroup": RBAC, "kind": "ClusterRole", "name": role}
            nobody = user_subject("nobody")
            if verb != "create":
                # An existing binding of the role to someone else; the writer
                # adds itself to it.
                code, out = s.request("POST", path_of(resource),
                                      obj(resource, name, subjects=[nobody], roleRef=ref))
                check(code == 201, "base binding", name, code, out)
            me = user_subject(user)
            if verb in ("create", "update"):
                body = obj(resource, name, subjects=[nobody, me], roleRef=ref)
            elif verb == "patch-json":
                body = [{"op": "add", "path": "/subjects/-", "value": me}]
            else:
                body = {"subjects": [nobody, me]}
            code, out = write(s, user, verb, resource, name, body)
            if user == "trent":  # holds `bind`
                if code not in (200, 201):
                    failures.append(f"{name}: want success, got {code} {out}")
                continue
            want = f'{resource}.{RBAC} "{name}" is forbidden: ' + grant_header(user)
            msg = out.get("message", "") if isinstance(out, dict) else ""
            exact = esc != "lacking" or msg == want + "\n" + MISSING["secret"]
            if code != 403 or not msg.startswith(want + "\n") or not exact:
                failures.append(f"{name}: want 403 {want!r}, got {code} {out}")
                continue
            code, cur = s.request("GET", path_of(resource, name))
            if verb == "create" and code != 404:
                failures.append(f"{name}: refused create stored the binding: {cur}")
            if verb != "create" and cur.get("subjects") != [nobody]:
                failures.append(f"{name}: refused write changed the subjects: {cur}")
        check(not failures, f"{len(failures)} binding escalation case(s) wrong", *failures)


def test_writes_within_own_rules_and_gc_fields_pass():
    with KubeServer() as s:
        setup(s)
        for resource in ("roles", "clusterroles"):
            name = f"own-{resource}"
            code, out = write(s, "mallory", "create", resource, name,
                              obj(resource, name, rules=COVERED))
            check(code == 201, f"create {resource} within own rules", code, out)
            for verb, body in (("patch-merge", {"metadata": {"labels": {"a": "b"}}}),
                               ("patch-json", [{"op": "replace", "path": "/rules/0/verbs",
                                                "value": ["get", "list"]}]),
                               ("patch-strategic", {"metadata": {"annotations": {"x": "y"}}})):
                code, out = write(s, "mallory", verb, resource, name, body)
                check(code == 200, f"{verb} {resource} within own rules", code, out)
        # A role mallory does not cover: only GC fields (finalizers,
        # ownerReferences) may change without escalation; anything else is 403.
        code, out = s.request("POST", path_of("roles"), obj("roles", "big", rules=[STAR_RULE]))
        check(code == 201, "admin creates a * role", code, out)
        code, out = write(s, "mallory", "patch-merge", "roles", "big",
                          {"metadata": {"finalizers": ["example.com/keep"]}})
        check(code == 200, "GC-only patch of a role mallory does not cover", code, out)
        code, out = write(s, "mallory", "patch-merge", "roles", "big",
                          {"metadata": {"labels": {"a": "b"}}})
        check(code == 403 and out["message"].startswith(
            f'roles.{RBAC} "big" is forbidden: ' + grant_header("mallory")), "label patch", out)


def test_delete_and_deletecollection_need_only_authorization():
    with KubeServer() as s:
        setup(s)
        ref = {"apiGroup": RBAC, "kind": "ClusterRole", "name": "admin"}
        for name in ("adm-1", "adm-2"):
            code, out = s.request("POST", path_of("rolebindings"),
                                  obj("rolebindings", name, subjects=[user_subject("nobody")],
                                      roleRef=ref))
            check(code == 201, "binding", code, out)
        code, out = s.request("DELETE", path_of("rolebindings", "adm-1"), headers=as_user("reader"))
        check(code == 403 and out["message"] ==
              f'rolebindings.{RBAC} "adm-1" is forbidden: User "reader" cannot delete resource '
              f'"rolebindings" in API group "{RBAC}" in the namespace "{NS}"', "reader delete",
              code, out)
        code, out = s.request("DELETE", path_of("rolebindings"), headers=as_user("reader"))
        check(code == 403 and out["message"] ==
              f'rolebindings.{RBAC} is forbidden: User "reader" cannot deletecollection resource '
              f'"rolebindings" in API group "{RBAC}" in the namespace "{NS}"', "reader dc",
              code, out)
        # Removing a grant is never an escalation.
        code, out = s.request("DELETE", path_of("rolebindings", "adm-1"), headers=as_user("mallory"))
        check(code == 200, "mallory deletes a binding of admin", code, out)
        code, out = s.request("DELETE", path_of("rolebindings"), headers=as_user("mallory"))
        check(code == 200 and [i["metadata"]["name"] for i in out["items"]] == ["adm-2"],
              "mallory deletecollection", code, out)
        code, out = s.request("GET", path_of("rolebindings"))
        check(code == 200 and out["items"] == [], "all gone", out)


def test_serviceaccount_cannot_patch_itself_into_admin():
    """The reported attack: a ServiceAccount allowed to patch RoleBindings adds
    itself to a binding of ClusterRole admin."""
    with KubeServer() as s:
        setup(s)
        code, sa = s.request("POST", f"/api/v1/namespaces/{NS}/serviceaccounts",
                             {"metadata": {"name": "patcher"}})
        check(code == 201, "sa", code, sa)
        code, sec = s.request("GET", f"/api/v1/namespaces/{NS}/secrets/{sa['secrets'][0]['name']}")
        token = b64decode(sec["data"]["token"])
        s.request("POST", path_of("roles"), obj("roles", "binding-patcher", rules=[
            {"apiGroups": [RBAC], "resources": ["rolebindings"], "verbs": ["get", "patch"]}]))
        s.request("POST", path_of("rolebindings"), obj(
            "rolebindings", "patcher", roleRef={"apiGroup": RBAC, "kind": "Role",
                                                "name": "binding-patcher"},
            subjects=[{"kind": "ServiceAccount", "name": "patcher", "namespace": NS}]))
        s.request("POST", path_of("rolebindings"), obj(
            "rolebindings", "admins", roleRef={"apiGroup": RBAC, "kind": "ClusterRole",
                                               "name": "admin"},
            subjects=[user_subject("nobody")]))
        me = {"kind": "ServiceAccount", "name": "patcher", "namespace": NS}
        groups = f'["system:serviceaccounts" "system:serviceaccounts:{NS}" "system:authenticated"]'
        want = (f'rolebindings.{RBAC} "admins" is forbidden: ' +
                grant_header(f"system:serviceaccount:{NS}:patcher", groups))
        for ct, body in ((MERGE, {"subjects": [user_subject("nobody"), me]}),
                         (SMP, {"subjects": [me]}),
                         (JSONP, [{"op": "add", "path": "/subjects/-", "value": me}])):
            code, out = s.request("PATCH", path_of("rolebindings", "admins"), body,
                                  content_type=ct, token=token)
            check(code == 403 and out["message"].startswith(want + "\n"), f"{ct} refused",
                  code, out)
        code, out = s.request("GET", f"/api/v1/namespaces/{NS}/secrets", token=token)
        check(code == 403, "still no access to secrets", code, out)
        code, out = s.request("GET", path_of("rolebindings", "admins"))
        check(out["subjects"] == [user_subject("nobody")], "binding unchanged", out)


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "c", "image": "nginx:1.19",
                                "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}}}]}}


def test_patch_runs_admission_on_normal_resources():
    with KubeServer() as s:
        ns = "/api/v1/namespaces/adm"
        code, out = s.request("POST", "/api/v1/namespaces", {"metadata": {"name": "adm"}})
        check(code == 201, "ns", code, out)
        # Validation: a bad label is 422 by patch as by update.
        s.request("POST", ns + "/configmaps", {"metadata": {"name": "cm"}, "data": {"k": "v"}})
        for ct, body in ((MERGE, {"metadata": {"labels": {"bad key!": "v"}}}),
                         (JSONP, [{"op": "add", "path": "/metadata/labels",
                                   "value": {"bad key!": "v"}}])):
            code, out = s.request("PATCH", ns + "/configmaps/cm", body, content_type=ct)
            check(code == 422 and out["reason"] == "Invalid" and
                  out["message"].startswith('ConfigMap "cm" is invalid: metadata.labels: '
                                            'Invalid value: "bad key!"'), f"{ct} 422", code, out)
        # dryRun=All runs the chain and stores nothing, for every write verb.
        code, out = s.request("PATCH", ns + "/configmaps/cm?dryRun=All", {"data": {"k": "dry"}},
                              content_type=MERGE)
        check(code == 200 and out["data"]["k"] == "dry", "dry-run patch answers", code, out)
        code, out = s.request("PUT", ns + "/configmaps/cm?dryRun=All",
                              {"metadata": {"name": "cm"}, "data": {"k": "dry"}})
        check(code == 200 and out["data"]["k"] == "dry", "dry-run update answers", code, out)
        code, out = s.request("DELETE", ns + "/configmaps/cm?dryRun=All")
        check(code == 200, "dry-run delete answers", code, out)
        code, out = s.request("GET", ns + "/configmaps/cm")
        check(code == 200 and out["data"]["k"] == "v", "dry runs stored nothing", code, out)
        code, out = s.request("PATCH", ns + "/configmaps/cm?dryRun=All",
                              {"metadata": {"labels": {"bad key!": "v"}}}, content_type=MERGE)
        check(code == 422, "dry-run patch is still validated", code, out)

        # ResourceQuota on patch: a Service turned NodePort over the quota.
        code, out = s.request("POST", ns + "/resourcequotas", {
            "metadata": {"name": "q"}, "spec": {"hard": {"services.nodeports": "0"}}})
        check(code == 201, "quota", code, out)
        code, out = s.request("POST", ns + "/services", {
            "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
        check(code == 201, "service", code, out)
        want = ('services "web" is forbidden: exceeded quota: q, requested: services.nodeports=1, '
                'used: services.nodeports=0, limited: services.nodeports=0')
        for ct, body in ((MERGE, {"spec": {"type": "NodePort"}}),
                         (SMP, {"spec": {"type": "NodePort"}}),
                         (JSONP, [{"op": "add", "path": "/spec/type", "value": "NodePort"}])):
            code, out = s.request("PATCH", ns + "/services/web", body, content_type=ct)
            check(code == 403 and out["message"] == want, f"{ct} over quota", code, out)
        code, svc = s.request("GET", ns + "/services/web")
        svc["spec"]["type"] = "NodePort"
        code, out = s.request("PUT", ns + "/services/web", svc)
        check(code == 403 and out["message"] == want, "update over quota", code, out)

        # Pod containers are immutable: a patch cannot raise a pod's resources
        # past a LimitRange max or a quota it was admitted under.
        code, out = s.request("POST", ns + "/limitranges", {
            "metadata": {"name": "lr"},
            "spec": {"limits": [{"type": "Container", "max": {"cpu": "500m"}}]}})
        check(code == 201, "limitrange", code, out)
        code, out = s.request("POST", ns + "/pods", POD)
        check(code == 201, "pod", code, out)
        big = {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "2"}}}]}}
        want = ('Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other '
                'than `spec.containers[*].image`, `spec.initContainers[*].image`, '
                '`spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing '
                'tolerations)')
        replaced = dict(POD["spec"]["containers"][0], resources={"limits": {"cpu": "2"}})
        for ct, body in ((SMP, big), (MERGE, {"spec": {"containers": [replaced]}}),
                         (JSONP, [{"op": "replace",
                                   "path": "/spec/containers/0/resources/limits/cpu",
                                   "value": "2"}])):
            code, out = s.request("PATCH", ns + "/pods/p", body, content_type=ct)
            check(code == 422 and out["message"].startswith(want), f"{ct} pod resources", code,
                  out)
        # The same pod as a create is refused by the LimitRange.
        code, out = s.request("POST", ns + "/pods",
                              dict(POD, metadata={"name": "p2"},
                                   spec={"containers": [{"name": "c", "image": "nginx",
                                                         "resources": {"limits": {"cpu": "2"}}}]}))
        check(code == 403 and "maximum cpu usage per Container is 500m, but limit is 2" in
              out["message"], "create over LimitRange max", code, out)
        # An unbound claim's spec is immutable: no patch past the LimitRange.
        code, out = s.request("POST", ns + "/limitranges", {
            "metadata": {"name": "pvc-lr"},
            "spec": {"limits": [{"type": "PersistentVolumeClaim", "max": {"storage": "2Gi"}}]}})
        check(code == 201, "pvc limitrange", code, out)
        code, out = s.request("POST", ns + "/persistentvolumeclaims", {
            "metadata": {"name": "claim"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}})
        check(code == 201, "pvc", code, out)
        code, out = s.request("PATCH", ns + "/persistentvolumeclaims/claim",
                              {"spec": {"resources": {"requests": {"storage": "5Gi"}}}},
                              content_type=MERGE)
        check(code == 422 and out["message"] ==
              'PersistentVolumeClaim "claim" is invalid: spec: Forbidden: is immutable after '
              'creation except resources.requests for bound claims', "pvc patch", code, out)
        code, out = s.request("POST", ns + "/persistentvolumeclaims", {
            "metadata": {"name": "big"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "5Gi"}}}})
        check(code == 403 and out["message"] == 'persistentvolumeclaims "big" is forbidden: '
              'maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi',
              "pvc create over LimitRange max", code, out)
        # What a pod update may change still works.
        code, out = s.request("PATCH", ns + "/pods/p",
                              {"spec": {"containers": [{"name": "c", "image": "nginx:1.20"}]}},
                              content_type=SMP)
        check(code == 200 and out["spec"]["containers"][0]["image"] == "nginx:1.20",
              "image patch", code, out)



def jwt_claims(token):
    parts = token.split(".")
    check(len(parts) == 3, "a JWT", token)
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(parts[0]))),
            json.loads(base64.urlsafe_b64decode(pad(parts[1]))))


def test_token_request_bound_expiring_tokens():
    with KubeServer() as s:
        ns = "/api/v1/namespaces/tok"
        s.request("POST", "/api/v1/namespaces", {"metadata": {"name": "tok"}})
        code, sa = s.request("POST", ns + "/serviceaccounts", {"metadata": {"name": "robot"}})
        check(code == 201, "sa", code, sa)
        url = ns + "/serviceaccounts/robot/token"

        def token_request(spec):
            return s.request("POST", url, {"apiVersion": "authentication.k8s.io/v1",
                                           "kind": "TokenRequest", "spec": spec})

        def whoami(token):
            return s.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                             {"apiVersion": "authentication.k8s.io/v1",
                              "kind": "SelfSubjectReview"}, token=token)

        # Range: the apiserver's messages and codes.
        prefix = 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: '
        for seconds, detail in (
                (599, "may not specify a duration less than 10 minutes"),
                (-600, "may not specify a duration less than 10 minutes"),
                (0, "may not specify a duration less than 10 minutes"),
                (2 ** 32 + 1, "may not specify a duration larger than 2^32 seconds")):
            code, out = token_request({"expirationSeconds": seconds})
            check(code == 422 and out["reason"] == "Invalid" and
                  out["message"] == f"{prefix}Invalid value: {seconds}: {detail}",
                  f"expirationSeconds {seconds}", code, out)
        code, out = token_request({"expirationSeconds": "600"})
        check(code == 400 and out["reason"] == "BadRequest", "string expirationSeconds", code, out)

        # A 10 minute token: signed JWT with exp = iat + 600 and the claims.
        code, tr = token_request({"expirationSeconds": 600})
        check(code == 201, "token request", code, tr)
        header, claims = jwt_claims(tr["status"]["token"])
        check(header["alg"] == "RS256" and header.get("kid"), "header", header)
        check(claims["exp"] - claims["iat"] == 600 and claims["nbf"] == claims["iat"],
              "exp/iat/nbf", claims)
        check(abs(claims["iat"] - time.time()) < 60, "iat is now", claims)
        check(claims["aud"] in ("https://kubernetes.default.svc.cluster.local",
                                ["https://kubernetes.default.svc.cluster.local"]), "aud", claims)
        check(claims["sub"] == "system:serviceaccount:tok:robot" and
              claims["kubernetes.io"]["namespace"] == "tok" and
              claims["kubernetes.io"]["serviceaccount"] == {"name": "robot",
                                                            "uid": sa["metadata"]["uid"]},
              "kubernetes.io claim", claims)
        want_exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"]))
        check(tr["status"]["expirationTimestamp"] == want_exp and
              tr["spec"]["expirationSeconds"] == 600, "status.expirationTimestamp", tr)
        code, who = whoami(tr["status"]["token"])
        check(code == 201 and who["status"]["userInfo"]["username"] ==
              "system:serviceaccount:tok:robot", "bound token authenticates", code, who)
        # The default is one hour.
        code, tr1h = token_request({})
        _, c1h = jwt_claims(tr1h["status"]["token"])
        check(c1h["exp"] - c1h["iat"] == 3600, "default 1h", c1h)
        # A token for another audience is not accepted by the API server.
        code, vault = token_request({"audiences": ["vault"]})
        check(code == 201 and vault["spec"]["audiences"] == ["vault"], "vault token", code, vault)
        code, out = whoami(vault["status"]["token"])
        check(code == 401, "other audience is 401", code, out)
        # A tampered token (payload of another account) is 401.
        parts = tr["status"]["token"].split(".")
        forged = dict(claims, sub="system:serviceaccount:tok:admin")
        parts[1] = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        code, out = whoami(".".join(parts))
        check(code == 401, "forged token is 401", code, out)

        # Bound to a Secret: valid while the Secret lives.
        code, sec = s.request("POST", ns + "/secrets", {"metadata": {"name": "anchor"}})
        check(code == 201, "secret", code, sec)
        code, bound = token_request({"boundObjectRef": {"apiVersion": "v1", "kind": "Secret",
                                                        "name": "anchor"}})
        check(code == 201, "secret-bound token", code, bound)
        _, bc = jwt_claims(bound["status"]["token"])
        check(bc["kubernetes.io"]["secret"] == {"name": "anchor", "uid": sec["metadata"]["uid"]},
              "secret claim", bc)
        check(whoami(bound["status"]["token"])[0] == 201, "valid while the secret lives")
        s.request("DELETE", ns + "/secrets/anchor")
        code, out = whoami(bound["status"]["token"])
        check(code == 401 and out["reason"] == "Unauthorized", "secret deleted: 401", code, out)
        s.request("POST", ns + "/secrets", {"metadata": {"name": "anchor"}})
        check(whoami(bound["status"]["token"])[0] == 401, "a recreated secret is another object")

        # Bound to a Pod: the pod's service account must be the token's.
        code, pod = s.request("POST", ns + "/pods", {
            "metadata": {"name": "runner"},
            "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "x"}]}})
        check(code == 201, "pod", code, pod)
        ref = {"apiVersion": "v1", "kind": "Pod", "name": "runner"}
        code, pb = token_request({"boundObjectRef": ref})
        check(code == 201, "pod-bound token", code, pb)
        _, pc = jwt_claims(pb["status"]["token"])
        check(pc["kubernetes.io"]["pod"] == {"name": "runner", "uid": pod["metadata"]["uid"]},
              "pod claim", pc)
        check(whoami(pb["status"]["token"])[0] == 201, "valid while the pod lives")
        code, out = token_request({"boundObjectRef": dict(ref, uid="not-the-uid")})
        check(code == 409 and out["reason"] == "Conflict", "uid mismatch", code, out)
        code, out = s.request("POST", ns + "/serviceaccounts/default/token",
                              {"spec": {"boundObjectRef": ref}})
        check(code == 400 and out["message"] == 'cannot bind token for serviceaccount "default" '
              'to pod running with different serviceaccount name.', "other sa's pod", code, out)
        code, out = token_request({"boundObjectRef": {"apiVersion": "apps/v1",
                                                      "kind": "Deployment", "name": "x"}})
        check(code == 400 and out["message"] ==
              "cannot bind token to object of type apps/v1, Kind=Deployment", "bad kind", code, out)
        code, out = token_request({"boundObjectRef": dict(ref, name="missing")})
        check(code == 404 and out["message"] == 'pods "missing" not found', "missing pod", code, out)
        s.request("DELETE", ns + "/pods/runner")
        check(whoami(pb["status"]["token"])[0] == 401, "pod deleted: 401")

        # Legacy Secret-based tokens keep working.
        code, legacy_secret = s.request("GET", ns + "/secrets/" + sa["secrets"][0]["name"])
        legacy = b64decode(legacy_secret["data"]["token"])
        check(whoami(legacy)[0] == 201, "legacy token")
        # Deleting the account revokes both kinds.
        s.request("DELETE", ns + "/serviceaccounts/robot")
        check(whoami(tr["status"]["token"])[0] == 401, "account deleted: bound token 401")
        check(whoami(legacy)[0] == 401, "account deleted: legacy token 401")
        s.request("POST", ns + "/serviceaccounts", {"metadata": {"name": "robot"}})
        check(whoami(tr["status"]["token"])[0] == 401, "a recreated account has another uid")


def test_kubectl_create_token_duration():
    if not os.path.exists(KUBECTL_132):
        print("  (kubectl 1.32 not installed; `create token` needs kubectl >= 1.24)")
        return
    with KubeServer() as s:
        s.request("POST", "/api/v1/namespaces/default/serviceaccounts",
                  {"metadata": {"name": "ci"}})
        rc, out, err = s.kubectl(KUBECTL_132, "create", "token", "ci", "--duration=10m")
        check(rc == 0, "kubectl create token --duration=10m", out, err)
        _, claims = jwt_claims(out.strip())
        check(claims["exp"] - claims["iat"] == 600, "10 minute token", claims)
        rc, out, err = s.kubectl(KUBECTL_132, "create", "token", "ci", "--duration=1m")
        check(rc != 0 and 'TokenRequest.authentication.k8s.io "" is invalid: '
              'spec.expirationSeconds: Invalid value: 60: may not specify a duration less than '
              '10 minutes' in err, "kubectl create token --duration=1m", out, err)


def test_private_key_files_are_0600():
    with KubeServer() as s:
        kube = os.path.join(s.data_dir, "kube")
        check(stat.S_IMODE(os.stat(kube).st_mode) == 0o700, "kube dir 0700",
              oct(os.stat(kube).st_mode))
        for name in ("ca.key", "apiserver.key", "sa.key", "admin.token", "admin.kubeconfig"):
            mode = stat.S_IMODE(os.stat(os.path.join(kube, name)).st_mode)
            check(mode == 0o600, f"{name} is 0600", oct(mode))


run_tests(globals())
