"""The Kubernetes course's exercises, run with real kubectl (1.20 and 1.32)
against `capstan --kube-apiserver-url`, plus curl-style requests with a
ServiceAccount token and a concurrent quota test."""

import json
import threading
import time

from harness import run_tests
from kube_env import KubeServer, b64decode, check, kubectls

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:%s
        ports:
        - containerPort: 80
"""


def each_kubectl(fn):
    """Runs fn(server, label, kubectl) for every kubectl on one server."""
    with KubeServer() as s:
        for label, k in kubectls():
            fn(s, label.replace(".", ""), lambda *a, _k=k, **kw: s.kubectl(_k, *a, **kw))


def ok(res, what):
    rc, out, err = res
    check(rc == 0, f"{what}: exit {rc}", "stdout: " + out, "stderr: " + err)
    return out


def fails(res, what, expect_in_stderr):
    rc, out, err = res
    check(rc != 0, f"{what}: expected a failure, got exit 0", out)
    check(expect_in_stderr in err, f"{what}: stderr lacks {expect_in_stderr!r}", err)
    return err


def test_discovery_and_version():
    def run(s, v, k):
        out = ok(k("version", "-o", "json"), "kubectl version")
        check('"gitVersion": "v1.20.2' in out, "server version", out)
        out = ok(k("api-resources"), "api-resources")
        for res in ("pods", "deployments", "roles", "customresourcedefinitions",
                    "priorityclasses", "limitranges", "resourcequotas"):
            check(res in out, f"api-resources lacks {res}", out)
        out = ok(k("api-versions"), "api-versions")
        check("rbac.authorization.k8s.io/v1" in out and "apps/v1" in out, "api-versions", out)
        out = ok(k("get", "ns"), "get ns")
        for ns in ("default", "kube-system", "kube-public"):
            check(ns in out, f"namespace {ns} missing", out)
        out = ok(k("get", "svc", "kubernetes", "-n", "default"), "kubernetes service")
        check("10.96.0.1" in out and "443/TCP" in out, "the kubernetes Service", out)
        out = ok(k("get", "priorityclasses"), "system priority classes")
        check("system-cluster-critical" in out and "2000001000" in out, "priority classes", out)
    each_kubectl(run)


def test_namespaces_and_contexts():
    def run(s, v, k):
        ns = f"team-{v}"
        ok(k("create", "namespace", ns), "create ns")
        out = ok(k("get", "ns", ns, "-o", "json"), "get ns -o json")
        obj = json.loads(out)
        check(obj["status"]["phase"] == "Active", "namespace phase", out)
        out = ok(k("get", "sa", "-n", ns), "default sa")
        check("default" in out, "namespace got no default ServiceAccount", out)
        fails(k("create", "namespace", ns), "duplicate ns",
              f'namespaces "{ns}" already exists')
        ok(k("run", "p1", "--image=nginx", "-n", ns), "run pod in ns")
        ok(k("delete", "namespace", ns), "delete ns")
        fails(k("get", "pod", "p1", "-n", ns), "pod gone with its namespace", "NotFound")
        fails(k("run", "p2", "--image=nginx", "-n", "nope-" + v), "pod in missing ns",
              'namespaces "nope-' + v + '" not found')
    each_kubectl(run)


def test_pods_labels_and_selectors():
    def run(s, v, k):
        ns = f"lab-{v}"
        ok(k("create", "ns", ns), "ns")
        ok(k("run", "front", "--image=nginx", "-n", ns, "--labels=tier=frontend,env=dev"), "run")
        ok(k("run", "back", "--image=redis", "-n", ns, "--labels=tier=backend,env=dev"), "run")
        out = ok(k("get", "pods", "-n", ns), "get pods")
        check("front" in out and "Pending" in out and "0/1" in out, "pod table", out)
        out = ok(k("get", "pods", "-n", ns, "-l", "tier=frontend"), "label selector")
        check("front" in out and "back" not in out, "-l tier=frontend", out)
        out = ok(k("get", "pods", "-n", ns, "-l", "tier in (backend)", "-o", "name"), "set selector")
        check(out.strip() == "pod/back", "set-based selector", out)
        out = ok(k("get", "pods", "-n", ns, "-l", "env=dev,tier!=frontend", "-o", "name"), "sel")
        check(out.strip() == "pod/back", "!= selector", out)
        out = ok(k("get", "pods", "-n", ns, "--show-labels"), "show labels")
        check("tier=frontend" in out, "--show-labels", out)
        out = ok(k("get", "pods", "-n", ns, "--field-selector", "metadata.name=back", "-o", "name"),
                 "field selector")
        check(out.strip() == "pod/back", "field selector", out)
        ok(k("label", "pod", "front", "-n", ns, "usage=web"), "label")
        fails(k("label", "pod", "front", "-n", ns, "usage=intranet"), "label w/o overwrite",
              "--overwrite is false")
        ok(k("label", "pod", "front", "-n", ns, "usage=intranet", "--overwrite"), "overwrite")
        ok(k("annotate", "pod", "front", "-n", ns, "owner=ops"), "annotate")
        out = ok(k("get", "pod", "front", "-n", ns, "-o", "jsonpath={.metadata.labels.usage}"),
                 "jsonpath")
        check(out == "intranet", "label value", out)
        ok(k("label", "pod", "front", "-n", ns, "usage-"), "remove label")
        out = ok(k("get", "pod", "front", "-n", ns, "-o", "json"), "get json")
        pod = json.loads(out)
        check("usage" not in pod["metadata"]["labels"], "label removed", out)
        check(pod["metadata"]["annotations"]["owner"] == "ops", "annotation", out)
        check(pod["spec"]["serviceAccountName"] == "default", "SA defaulted", out)
        check(pod["status"]["phase"] == "Pending", "pending", out)
        ok(k("delete", "pod", "front", "-n", ns), "delete pod")
        out = ok(k("get", "pods", "-n", ns, "-o", "name"), "list after delete")
        check(out.strip() == "pod/back", "deleted pod gone", out)
        out = ok(k("get", "pods", "-n", ns, "--chunk-size=1", "-o", "name"), "chunked")
        check(out.strip() == "pod/back", "chunked list", out)
        out = ok(k("get", "pods", "-A", "-o", "name"), "all namespaces")
        check("pod/back" in out, "-A", out)
    each_kubectl(run)


def test_configmaps_secrets_apply_scale():
    def run(s, v, k):
        ns = f"cfg-{v}"
        ok(k("create", "ns", ns), "ns")
        ok(k("create", "configmap", "app", "-n", ns, "--from-literal=color=blue",
             "--from-literal=size=L"), "cm")
        out = ok(k("get", "cm", "app", "-n", ns, "-o", "jsonpath={.data.color}"), "cm get")
        check(out == "blue", "configmap data", out)
        ok(k("create", "secret", "generic", "db", "-n", ns, "--from-literal=password=s3cr3t"),
           "secret")
        out = ok(k("get", "secret", "db", "-n", ns, "-o", "jsonpath={.data.password}"), "secret")
        check(b64decode(out) == "s3cr3t", "secret data", out)
        ok(k("apply", "-n", ns, "-f", "-", stdin=DEPLOYMENT % "1.18"), "apply 1")
        out = ok(k("apply", "-n", ns, "-f", "-", stdin=DEPLOYMENT % "1.18"), "apply again")
        check("unchanged" in out, "second apply unchanged", out)
        ok(k("apply", "-n", ns, "-f", "-", stdin=DEPLOYMENT % "1.19"), "apply change")
        out = ok(k("get", "deploy", "web", "-n", ns, "-o", "json"), "get deploy")
        d = json.loads(out)
        c = d["spec"]["template"]["spec"]["containers"][0]
        check(c["image"] == "nginx:1.19", "image updated by SMP", out)
        check(c.get("ports") == [{"containerPort": 80, "protocol": "TCP"}], "ports kept", out)
        check(d["metadata"]["generation"] == 2, "generation bumped", out)
        ok(k("scale", "deployment", "web", "-n", ns, "--replicas=3"), "scale")
        out = ok(k("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}"), "replicas")
        check(out == "3", "scaled", out)
        ok(k("patch", "deploy", "web", "-n", ns, "--type=merge", "-p",
             '{"spec":{"replicas":2}}'), "merge patch")
        ok(k("patch", "deploy", "web", "-n", ns, "--type=json", "-p",
             '[{"op":"replace","path":"/spec/replicas","value":4}]'), "json patch")
        out = ok(k("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}"), "replicas")
        check(out == "4", "json patch applied", out)
        # Optimistic concurrency: replace with a stale resourceVersion.
        cm = json.loads(ok(k("get", "cm", "app", "-n", ns, "-o", "json"), "get cm"))
        ok(k("patch", "cm", "app", "-n", ns, "-p", '{"data":{"color":"red"}}'), "patch cm")
        cm["data"]["color"] = "green"
        fails(k("replace", "-f", "-", stdin=json.dumps(cm)), "stale replace",
              "the object has been modified; please apply your changes to the latest version")
        ok(k("delete", "deploy", "web", "-n", ns), "delete deploy")
    each_kubectl(run)


LIMITS = """
apiVersion: v1
kind: LimitRange
metadata: {name: mem-limit-range}
spec:
  limits:
  - default: {memory: 512Mi, cpu: 500m}
    defaultRequest: {memory: 256Mi, cpu: 250m}
    max: {memory: 1Gi, cpu: "1"}
    type: Container
"""

BIG_POD = """
apiVersion: v1
kind: Pod
metadata: {name: big}
spec:
  containers:
  - name: c
    image: nginx
    resources:
      limits: {memory: 2Gi}
"""


def test_limitrange():
    def run(s, v, k):
        ns = f"dev-{v}"
        ok(k("create", "ns", ns), "ns")
        ok(k("create", "-n", ns, "-f", "-", stdin=LIMITS), "limitrange")
        ok(k("run", "plain", "--image=nginx", "-n", ns), "pod without resources")
        pod = json.loads(ok(k("get", "pod", "plain", "-n", ns, "-o", "json"), "get"))
        res = pod["spec"]["containers"][0]["resources"]
        check(res["limits"] == {"cpu": "500m", "memory": "512Mi"}, "default limits", res)
        check(res["requests"] == {"cpu": "250m", "memory": "256Mi"}, "default requests", res)
        check(pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"].startswith(
            "LimitRanger plugin set: cpu, memory request for container plain"), "annotation", pod)
        fails(k("create", "-n", ns, "-f", "-", stdin=BIG_POD), "over max",
              'pods "big" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi')
    each_kubectl(run)


QUOTA = """
apiVersion: v1
kind: ResourceQuota
metadata: {name: mem-cpu-demo}
spec:
  hard: {pods: "3", requests.cpu: "1", requests.memory: 1Gi, limits.cpu: "2", limits.memory: 2Gi}
"""

QPOD = """
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  containers:
  - name: c
    image: busybox
    resources:
      requests: {cpu: 100m, memory: 100Mi}
      limits: {cpu: 200m, memory: 200Mi}
"""


def test_resourcequota():
    def run(s, v, k):
        ns = f"quota-{v}"
        ok(k("create", "ns", ns), "ns")
        ok(k("create", "-n", ns, "-f", "-", stdin=QUOTA), "quota")
        q = json.loads(ok(k("get", "quota", "mem-cpu-demo", "-n", ns, "-o", "json"), "get quota"))
        check(q["status"]["used"].get("pods") == "0", "initial status.used", q)
        fails(k("run", "nores", "--image=nginx", "-n", ns), "must specify",
              "failed quota: mem-cpu-demo: must specify")
        for i in range(1, 4):
            ok(k("create", "-n", ns, "-f", "-", stdin=QPOD % f"busy{i}"), f"pod {i}")
        fails(k("create", "-n", ns, "-f", "-", stdin=QPOD % "busy4"), "4th pod",
              'pods "busy4" is forbidden: exceeded quota: mem-cpu-demo, requested: pods=1, '
              'used: pods=3, limited: pods=3')
        q = json.loads(ok(k("get", "quota", "mem-cpu-demo", "-n", ns, "-o", "json"), "get quota"))
        check(q["status"]["used"]["pods"] == "3", "used pods", q)
        check(q["status"]["used"]["requests.cpu"] == "300m", "used cpu", q)
        ok(k("delete", "pod", "busy1", "-n", ns), "delete pod")
        q = json.loads(ok(k("get", "quota", "mem-cpu-demo", "-n", ns, "-o", "json"), "get quota"))
        check(q["status"]["used"]["pods"] == "2", "delete gives quota back", q)
        ok(k("create", "-n", ns, "-f", "-", stdin=QPOD % "busy4"), "pod fits again")
    each_kubectl(run)


PRIORITY = """
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: %s}
value: %d
"""

PC_QUOTA = """
apiVersion: v1
kind: ResourceQuota
metadata: {name: pods-%s}
spec:
  hard: {pods: "%d"}
  scopeSelector:
    matchExpressions:
    - {operator: In, scopeName: PriorityClass, values: [%s]}
"""

PC_POD = """
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  priorityClassName: %s
  containers: [{name: c, image: nginx}]
"""


def test_priorityclass_quota():
    with KubeServer() as s:
        label, kbin = kubectls()[0]
        k = lambda *a, **kw: s.kubectl(kbin, *a, **kw)  # noqa: E731
        ok(k("create", "-f", "-", stdin=PRIORITY % ("premium", 1000)), "pc premium")
        ok(k("create", "-f", "-", stdin=PRIORITY % ("normal", 100)), "pc normal")
        ok(k("create", "ns", "pc"), "ns")
        ok(k("create", "-n", "pc", "-f", "-", stdin=PC_QUOTA % ("premium", 1, "premium")), "q1")
        ok(k("create", "-n", "pc", "-f", "-", stdin=PC_QUOTA % ("normal", 2, "normal")), "q2")
        ok(k("create", "-n", "pc", "-f", "-", stdin=PC_POD % ("p1", "premium")), "premium pod")
        fails(k("create", "-n", "pc", "-f", "-", stdin=PC_POD % ("p2", "premium")),
              "2nd premium", "exceeded quota: pods-premium")
        ok(k("create", "-n", "pc", "-f", "-", stdin=PC_POD % ("n1", "normal")), "normal pod")
        pod = json.loads(ok(k("get", "pod", "n1", "-n", "pc", "-o", "json"), "get"))
        check(pod["spec"].get("priority") == 100, "priority from class", pod)
        fails(k("create", "-n", "pc", "-f", "-", stdin=PC_POD % ("g1", "gold")), "unknown class",
              "no PriorityClass with name gold was found")


POD_READER = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {namespace: %(ns)s, name: pod-reader}
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "watch", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-pods, namespace: %(ns)s}
subjects:
- {kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}
roleRef: {kind: Role, name: pod-reader, apiGroup: rbac.authorization.k8s.io}
"""

SECRET_READER = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "watch", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-secrets, namespace: %(ns)s}
subjects:
- {kind: User, name: dave, apiGroup: rbac.authorization.k8s.io}
roleRef: {kind: ClusterRole, name: secret-reader, apiGroup: rbac.authorization.k8s.io}
"""


def test_rbac_roles_and_can_i():
    def run(s, v, k):
        ns = f"rbac-{v}"
        ok(k("create", "ns", ns), "ns")
        ok(k("create", "ns", ns + "-other"), "ns")
        ok(k("apply", "-f", "-", stdin=POD_READER % {"ns": ns}), "pod-reader")
        ok(k("apply", "-f", "-", stdin=SECRET_READER % {"ns": ns}), "secret-reader")
        g = ["--as-group", "system:authenticated"]
        out = ok(k("auth", "can-i", "list", "pods", "-n", ns, "--as", "jane", *g), "can-i yes")
        check(out.strip() == "yes", "jane can list pods", out)
        rc, out, _ = k("auth", "can-i", "delete", "pods", "-n", ns, "--as", "jane", *g)
        check(rc == 1 and out.strip() == "no", "jane cannot delete pods", out)
        ok(k("get", "pods", "-n", ns, "--as", "jane", *g), "jane lists pods")
        fails(k("get", "secrets", "-n", ns, "--as", "jane", *g), "jane secrets",
              f'secrets is forbidden: User "jane" cannot list resource "secrets" in API group "" '
              f'in the namespace "{ns}"')
        fails(k("get", "pods", "-n", ns + "-other", "--as", "jane", *g), "other ns", "forbidden")
        ok(k("get", "secrets", "-n", ns, "--as", "dave", *g), "dave reads secrets in ns")
        fails(k("get", "secrets", "-n", ns + "-other", "--as", "dave", *g), "only in ns",
              "forbidden")
        fails(k("get", "nodes", "--as", "jane", *g), "cluster scope",
              'nodes is forbidden: User "jane" cannot list resource "nodes" in API group "" '
              'at the cluster scope')
    each_kubectl(run)


MONITORING = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {rbac.example.com/aggregate-to-monitoring: "true"}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: monitoring-endpoints
  labels: {rbac.example.com/aggregate-to-monitoring: "true"}
rules:
- apiGroups: [""]
  resources: ["services", "endpoints", "pods"]
  verbs: ["get", "list", "watch"]
"""


def test_rbac_aggregation():
    with KubeServer() as s:
        _, kbin = kubectls()[0]
        k = lambda *a, **kw: s.kubectl(kbin, *a, **kw)  # noqa: E731
        ok(k("apply", "-f", "-", stdin=MONITORING), "monitoring roles")
        role = json.loads(ok(k("get", "clusterrole", "monitoring", "-o", "json"), "get"))
        check(len(role["rules"]) == 1 and "endpoints" in role["rules"][0]["resources"],
              "aggregated rules", role)
        view = json.loads(ok(k("get", "clusterrole", "view", "-o", "json"), "view"))
        check(not any("secrets" in r.get("resources", []) for r in view["rules"]),
              "view has no secrets", view)


def test_serviceaccount_token_with_curl():
    with KubeServer() as s:
        _, kbin = kubectls()[0]
        k = lambda *a, **kw: s.kubectl(kbin, *a, **kw)  # noqa: E731
        ok(k("create", "ns", "sa-demo"), "ns")
        ok(k("create", "sa", "viewer", "-n", "sa-demo"), "sa")
        sa = json.loads(ok(k("get", "sa", "viewer", "-n", "sa-demo", "-o", "json"), "get sa"))
        secret_name = sa["secrets"][0]["name"]
        check(secret_name.startswith("viewer-token-"), "token secret name", sa)
        sec = json.loads(ok(k("get", "secret", secret_name, "-n", "sa-demo", "-o", "json"), "sec"))
        check(sec["type"] == "kubernetes.io/service-account-token", "secret type", sec)
        token = b64decode(sec["data"]["token"])
        code, body = s.request("GET", "/api/v1/namespaces/sa-demo/pods", token=token)
        check(code == 403, "403 before the grant", code, body)
        check(body["message"] == 'pods is forbidden: User "system:serviceaccount:sa-demo:viewer" '
              'cannot list resource "pods" in API group "" in the namespace "sa-demo"',
              "forbidden message", body)
        ok(k("create", "role", "lister", "-n", "sa-demo", "--verb=list", "--resource=pods"),
           "role")
        ok(k("create", "rolebinding", "lister", "-n", "sa-demo", "--role=lister",
             "--serviceaccount=sa-demo:viewer"), "binding")
        code, body = s.request("GET", "/api/v1/namespaces/sa-demo/pods", token=token)
        check(code == 200 and body["kind"] == "PodList", "200 after the grant", code, body)
        # TokenRequest (`kubectl create token`) hands out a token of the account.
        code, tr = s.request("POST", "/api/v1/namespaces/sa-demo/serviceaccounts/viewer/token",
                             {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                              "spec": {}})
        check(code == 201 and tr["status"]["token"], "token request", code, tr)
        code, who = s.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                              {"apiVersion": "authentication.k8s.io/v1",
                               "kind": "SelfSubjectReview"}, token=tr["status"]["token"])
        check(code == 201 and who["status"]["userInfo"]["username"] ==
              "system:serviceaccount:sa-demo:viewer", "whoami", code, who)
        code, body = s.request("GET", "/api/v1/namespaces/sa-demo/pods", token="bogus")
        check(code == 401 and body["reason"] == "Unauthorized", "bad token is 401", code, body)
        code, body = s.request("GET", "/api/v1/namespaces/sa-demo/pods", token="")
        check(code == 403 and "system:anonymous" in body["message"], "anonymous", code, body)
        ok(k("delete", "sa", "viewer", "-n", "sa-demo"), "delete sa")
        code, body = s.request("GET", "/api/v1/namespaces/sa-demo/pods", token=token)
        check(code == 401, "token revoked with its ServiceAccount", code, body)


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              image: {type: string}
              replicas: {type: integer}
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
"""

CR = """
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: my-new-cron-object}
spec: {cronSpec: "* * * * */5", image: my-awesome-cron-image}
"""


def test_crd_and_custom_resources():
    def run(s, v, k):
        ns = f"crd-{v}"
        ok(k("create", "ns", ns), "ns")
        ok(k("apply", "-f", "-", stdin=CRD), "crd")
        ok(k("wait", "--for", "condition=established", "--timeout=20s",
             "crd/crontabs.stable.example.com"), "established")
        ok(k("apply", "-n", ns, "-f", "-", stdin=CR), "cr")
        out = ok(k("get", "ct", "-n", ns), "get by short name")
        check("my-new-cron-object" in out, "custom resource listed", out)
        obj = json.loads(ok(k("get", "crontab", "my-new-cron-object", "-n", ns, "-o", "json"),
                            "get cr"))
        check(obj["spec"]["image"] == "my-awesome-cron-image", "cr content", obj)
        ok(k("apply", "-n", ns, "-f", "-", stdin=CR.replace("my-awesome", "my-better")), "apply")
        obj = json.loads(ok(k("get", "crontab", "my-new-cron-object", "-n", ns, "-o", "json"),
                            "get cr"))
        check(obj["spec"]["image"] == "my-better-cron-image", "merge-patched cr", obj)
        fails(k("apply", "-n", ns, "-f", "-",
                stdin=CR.replace("my-new-cron-object", "bad").replace(
                    "image: my-awesome-cron-image", "image: x, replicas: many")),
              "schema type check",
              'The CronTab "bad" is invalid: spec.replicas: Invalid value: "string": '
              'spec.replicas in body must be of type integer: "string"')
        ok(k("apply", "-n", ns, "-f", "-",
             stdin=CR.replace("my-new-cron-object", "pruned").replace(
                 "image: my-awesome-cron-image", "image: x, colour: red")), "unknown field")
        obj = json.loads(ok(k("get", "crontab", "pruned", "-n", ns, "-o", "json"), "get"))
        check("colour" not in obj["spec"], "undeclared field pruned", obj)
        ok(k("delete", "crontab", "my-new-cron-object", "-n", ns), "delete cr")
        ok(k("delete", "crd", "crontabs.stable.example.com"), "delete crd")
        rc, _, err = k("get", "crontabs", "-n", ns)
        check(rc != 0 and ("NotFound" in err or "doesn't have a resource type" in err),
              "custom resources gone with their CRD", err)
    each_kubectl(run)


def test_watch_events():
    with KubeServer() as s:
        code, ns = s.request("POST", "/api/v1/namespaces",
                             {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "w"}})
        check(code == 201, "ns", ns)
        code, lst = s.request("GET", "/api/v1/namespaces/w/configmaps")
        rv = lst["metadata"]["resourceVersion"]
        events = []

        def watch():
            import ssl
            import urllib.request
            ctx = ssl.create_default_context(cafile=s.ca_file())
            req = urllib.request.Request(
                s.url + f"/api/v1/namespaces/w/configmaps?watch=true&resourceVersion={rv}"
                "&timeoutSeconds=5")
            req.add_header("Authorization", "Bearer " + s.admin_token())
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                for line in resp:
                    events.append(json.loads(line))
        t = threading.Thread(target=watch)
        t.start()
        time.sleep(0.5)
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
              "data": {"a": "1"}}
        s.request("POST", "/api/v1/namespaces/w/configmaps", cm)
        s.request("PATCH", "/api/v1/namespaces/w/configmaps/c", {"data": {"a": "2"}},
                  content_type="application/merge-patch+json")
        s.request("DELETE", "/api/v1/namespaces/w/configmaps/c")
        t.join(20)
        types = [e["type"] for e in events]
        check(types == ["ADDED", "MODIFIED", "DELETED"], "watch event types", events)
        check(events[1]["object"]["data"]["a"] == "2", "modified content", events)


def test_compacted_resource_versions_are_gone():
    """A watch from, or a continue token at, a compacted revision gets 410."""
    import ssl
    import subprocess
    import urllib.request
    from harness import ETCDCTL, clean_env
    with KubeServer() as s:
        for i in range(3):
            code, _ = s.request("POST", "/api/v1/namespaces/default/configmaps",
                                {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": f"c{i}"}})
            check(code == 201, "configmap", code)
        code, page = s.request("GET", "/api/v1/namespaces/default/configmaps?limit=1")
        old_rv = page["metadata"]["resourceVersion"]
        token = page["metadata"]["continue"]
        for i in range(3):
            s.request("PATCH", f"/api/v1/namespaces/default/configmaps/c{i}", {"data": {"x": "1"}},
                      content_type="application/merge-patch+json")
        code, lst = s.request("GET", "/api/v1/namespaces/default/configmaps")
        rev = lst["metadata"]["resourceVersion"]
        r = subprocess.run([ETCDCTL, f"--endpoints={s.endpoint}", "compact", rev, "--physical"],
                           capture_output=True, text=True, timeout=30,
                           env=clean_env(ETCDCTL_API="3"))
        check(r.returncode == 0, "compact", r.stdout, r.stderr)
        code, body = s.request("GET", "/api/v1/namespaces/default/configmaps?limit=1&continue=" +
                               token)
        check(code == 410 and body["reason"] == "Expired", "continue after compaction", code, body)
        ctx = ssl.create_default_context(cafile=s.ca_file())
        req = urllib.request.Request(s.url + "/api/v1/namespaces/default/configmaps?watch=true"
                                     f"&resourceVersion={old_rv}&timeoutSeconds=5")
        req.add_header("Authorization", "Bearer " + s.admin_token())
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            first = json.loads(resp.readline())
        check(first["type"] == "ERROR" and first["object"]["code"] == 410 and
              first["object"]["reason"] == "Expired", "watch from a compacted revision", first)


def test_concurrent_creates_never_exceed_quota():
    with KubeServer() as s:
        s.request("POST", "/api/v1/namespaces",
                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "race"}})
        code, q = s.request("POST", "/api/v1/namespaces/race/resourcequotas",
                            {"apiVersion": "v1", "kind": "ResourceQuota",
                             "metadata": {"name": "five"}, "spec": {"hard": {"pods": "5"}}})
        check(code == 201, "quota", q)
        results = []
        lock = threading.Lock()

        def create(i):
            code, body = s.request("POST", "/api/v1/namespaces/race/pods",
                                   {"apiVersion": "v1", "kind": "Pod",
                                    "metadata": {"name": f"p{i}"},
                                    "spec": {"containers": [{"name": "c", "image": "x"}]}})
            with lock:
                results.append((code, body.get("message", "") if isinstance(body, dict) else body))
        threads = [threading.Thread(target=create, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        created = sum(1 for c, _ in results if c == 201)
        check(created == 5, f"exactly 5 pods admitted, got {created}", results)
        check(all(c in (201, 403) for c, _ in results), "only 201 or 403", results)
        code, lst = s.request("GET", "/api/v1/namespaces/race/pods")
        check(len(lst["items"]) == 5, "5 pods stored", lst)
        code, q = s.request("GET", "/api/v1/namespaces/race/resourcequotas/five")
        check(q["status"]["used"]["pods"] == "5", "quota used == 5", q)


def test_bench_kube_rest_workload():
    """capstan-bench's kube-rest workload runs against the REST layer without errors."""
    import os
    import subprocess
    from harness import REPO_ROOT
    bench = os.path.join(REPO_ROOT, "build", "bin", "capstan-bench")
    with KubeServer() as s:
        r = subprocess.run([bench, "kube-rest", "--kube-dir", os.path.join(s.data_dir, "kube"),
                            "--kube-url", s.url, "--clients", "2", "--duration", "1s"],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "kube-rest run", r.stdout, r.stderr)
        rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()
                if line.startswith(("create", "patch", "delete"))}
        check(set(rows) == {"create", "patch", "delete"}, "report rows", r.stdout)
        for verb, cols in rows.items():
            check(int(cols[2]) > 0 and cols[-1] == "0", f"{verb}: ops and no errors", r.stdout)


def test_malformed_bodies_never_crash_the_server():
    """Seeded random object shapes (wrong types, missing apiVersion/kind)
    against many resources: each gets a Status answer and the server lives."""
    import random
    rnd = random.Random(20261127)
    keys = ["metadata", "spec", "status", "name", "labels", "containers", "resources", "limits",
            "requests", "hard", "scopes", "scopeSelector", "rules", "subjects", "roleRef",
            "versions", "names", "group", "selector", "matchLabels", "template", "replicas",
            "data", "type", "ports", "aggregationRule", "priorityClassName", "value", "cpu",
            "memory", "items", "schema", "openAPIV3Schema", "properties"]

    def val(depth=0):
        c = rnd.randrange(8 if depth < 3 else 5)
        return [lambda: None, lambda: rnd.randrange(-5, 5), lambda: "x" * rnd.randrange(3),
                lambda: True, lambda: 1.5, lambda: [val(depth + 1) for _ in range(rnd.randrange(3))],
                lambda: {k: val(depth + 1) for k in rnd.sample(keys, rnd.randrange(4))},
                lambda: {"name": "n%d" % rnd.randrange(5)}][c]()
    paths = ["/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/resourcequotas",
             "/api/v1/namespaces/default/limitranges",
             "/apis/rbac.authorization.k8s.io/v1/clusterroles",
             "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
             "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
             "/apis/apps/v1/namespaces/default/deployments", "/api/v1/namespaces/default/services",
             "/apis/scheduling.k8s.io/v1/priorityclasses", "/api/v1/namespaces",
             "/api/v1/namespaces/default/serviceaccounts",
             "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
    with KubeServer() as s:
        for i in range(250):
            body = {k: val() for k in rnd.sample(keys, rnd.randrange(1, 5))}
            if rnd.random() < 0.5:
                body["metadata"] = {"name": "f%d" % i, "labels": val(), "annotations": val()}
            path = rnd.choice(paths)
            method = rnd.choice(["POST", "POST", "PUT", "PATCH"])
            if method != "POST":
                path += "/f%d" % rnd.randrange(i + 1)
            ct = "application/json"
            if method == "PATCH":
                ct = rnd.choice(["application/merge-patch+json",
                                 "application/strategic-merge-patch+json"])
            code, resp = s.request(method, path, body, content_type=ct)
            check(code in (200, 201) or (isinstance(resp, dict) and resp.get("kind") == "Status"),
                  f"request {i}: {method} {path} got {code} without a Status", body, resp)
            check(s.proc.poll() is None, f"server died on request {i}: {method} {path}", body)
        code, body = s.request("GET", "/healthz")
        check(code == 200, "healthy after the malformed requests", code, body)


def test_errors_are_kubernetes_status():
    with KubeServer() as s:
        code, body = s.request("GET", "/api/v1/namespaces/default/pods/nope")
        check(code == 404 and body == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                       "status": "Failure", "message": 'pods "nope" not found',
                                       "reason": "NotFound",
                                       "details": {"name": "nope", "kind": "pods"}, "code": 404},
              "404 Status", body)
        code, body = s.request("GET", "/apis/apps/v1/namespaces/default/deployments/x")
        check(body["message"] == 'deployments.apps "x" not found', "group in message", body)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"},
               "spec": {"containers": [{"name": "c", "image": "x", "resources": {
                   "requests": {"cpu": "200m"}, "limits": {"cpu": "100m"}}}]}}
        code, body = s.request("POST", "/api/v1/namespaces/default/pods", pod)
        check(code == 422 and body["reason"] == "Invalid", "422", body)
        check(body["details"]["causes"][0]["field"] == "spec.containers[0].resources.requests",
              "cause field", body)
        code, body = s.request("POST", "/api/v1/namespaces/other/pods",
                               dict(pod, metadata={"name": "x", "namespace": "default"}))
        check(code == 400 and "does not match the namespace" in body["message"], "ns mismatch",
              body)
        code, body = s.request("GET", "/openapi/v2")
        check(code == 200, "openapi stub", code)
        code, body = s.request("GET", "/healthz", token="")
        check(code == 200 and body == "ok", "healthz", code, body)


run_tests(globals())
