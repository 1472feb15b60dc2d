"""A Capstan server with its Kubernetes API, and kubectl 1.20 / 1.32 to drive it.

kubectl 1.20 is Debian's kubernetes-client, which cannot be installed beside the
preinstalled kubectl dispatcher (both own /usr/bin/kubectl): it is fetched with
`apt-get download` and unpacked under build/kubectl-1.20 on first use.
"""

import base64
import glob
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request

from harness import REPO_ROOT, HarnessError, Server, TestFailure, candidate_binary, free_port

KUBECTL_132 = os.environ.get("KUBECTL_132", "/usr/lib/google-cloud-sdk/bin/kubectl.1.32")


def kubectl_120():
    """Path of kubectl 1.20 (downloaded and unpacked once)."""
    if os.environ.get("KUBECTL_120"):
        return os.environ["KUBECTL_120"]
    root = os.path.join(REPO_ROOT, "build", "kubectl-1.20")
    binary = os.path.join(root, "usr", "bin", "kubectl")
    if os.path.exists(binary):
        return binary
    tmp = tempfile.mkdtemp(prefix="capstan-kubectl-")
    try:
        r = subprocess.run(["apt-get", "download", "kubernetes-client"], cwd=tmp,
                           capture_output=True, text=True, timeout=300)
        debs = glob.glob(os.path.join(tmp, "kubernetes-client_*.deb"))
        if not debs:
            raise HarnessError(f"apt-get download kubernetes-client failed: {r.stderr[-500:]}")
        os.makedirs(root, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", debs[0], root], check=True, timeout=120)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return binary


def kubectls():
    """(label, path) of every kubectl the tests drive."""
    out = [("1.20", kubectl_120())]
    if os.path.exists(KUBECTL_132):
        out.append(("1.32", KUBECTL_132))
    only = os.environ.get("KUBECTL_VERSIONS")  # e.g. "1.20" to run one
    if only:
        out = [o for o in out if o[0] in only.split(",")]
    return out


class KubeServer(Server):
    """Capstan with --kube-apiserver-url on a free 127.0.0.1 port."""

    def __init__(self, **kw):
        self.kube_port = free_port()
        super().__init__(candidate_binary(), name="kube", label="kube",
                         extra_args=["--kube-apiserver-url", f"https://127.0.0.1:{self.kube_port}"],
                         **kw)
        self.home = tempfile.mkdtemp(prefix="capstan-kube-home-")

    @property
    def kubeconfig(self):
        return os.path.join(self.data_dir, "kube", "admin.kubeconfig")

    @property
    def url(self):
        return f"https://127.0.0.1:{self.kube_port}"

    def wait_healthy(self):
        """etcd health, then the Kubernetes port answering /healthz: the kube
        API comes up after the store (bootstrap, key generation)."""
        r = super().wait_healthy()
        deadline = time.monotonic() + self.health_timeout
        while True:
            try:
                if self.request("GET", "/healthz", token="")[0] == 200:
                    return r
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise HarnessError("the Kubernetes API did not come up:\n" + self.log_tail(20))
            time.sleep(0.1)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def admin_token(self):
        with open(os.path.join(self.data_dir, "kube", "admin.token")) as f:
            return f.read().strip()

    def ca_file(self):
        return os.path.join(self.data_dir, "kube", "ca.crt")

    # -- kubectl
    def kubectl(self, binary, *args, stdin=None, timeout=60, cache=None):
        """Runs kubectl against this server; returns (rc, stdout, stderr)."""
        env = dict(os.environ)
        env["HOME"] = os.path.join(self.home, cache or os.path.basename(binary))
        env.pop("KUBECONFIG", None)
        cmd = [binary, "--kubeconfig", self.kubeconfig] + list(args)
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout,
                           env=env)
        return p.returncode, p.stdout, p.stderr

    # -- raw HTTPS (curl-like)
    def request(self, method, path, body=None, token=None, content_type="application/json",
                headers=None):
        """Returns (status, parsed JSON or text)."""
        ctx = ssl.create_default_context(cafile=self.ca_file())
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token is None:
            token = self.admin_token()
        if token:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                status, raw = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read().decode()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw


def check(cond, what, *details):
    if not cond:
        raise TestFailure(what + "".join("\n    " + str(d).rstrip()[-3000:] for d in details))


def b64decode(s):
    return base64.b64decode(s).decode()
