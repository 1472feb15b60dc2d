"""Client TLS as etcd does it: --cert-file/--key-file on https client URLs,
--trusted-ca-file with --client-cert-auth, checked with etcdctl; and the
Kubernetes layer reaching the store over that TLS listener."""

import os
import shutil
import subprocess
import tempfile
import time

from harness import ETCDCTL, HOST, TestFailure, candidate_binary, clean_env, free_port, run_tests


def check(cond, what, *details):
    if not cond:
        raise TestFailure(what + "".join("\n    " + str(d)[-2000:] for d in details))


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d):
    """CA, a server/client pair for 127.0.0.1, and a client pair."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca", cwd=d)
    for name, cn in (("server", "capstan"), ("client", "root")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
                cwd=d)


class TlsServer:
    def __init__(self, root, extra):
        self.root = root
        self.port = free_port()
        self.data = os.path.join(root, "data")
        self.log = os.path.join(root, "server.log")
        self.cmd = [candidate_binary(), "--name", "tls", "--data-dir", self.data,
                    "--listen-client-urls", f"https://{HOST}:{self.port}",
                    "--advertise-client-urls", f"https://{HOST}:{self.port}",
                    "--listen-peer-urls", f"http://{HOST}:{free_port()}"] + extra
        self.proc = None

    def __enter__(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT,
                                         env=clean_env(), start_new_session=True)
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def ctl(self, *args, tls=()):
        p = subprocess.run([ETCDCTL, f"--endpoints=https://{HOST}:{self.port}",
                            "--dial-timeout=2s", "--command-timeout=5s", *tls, *args],
                           capture_output=True, text=True, timeout=30,
                           env=clean_env(ETCDCTL_API="3"))
        return p.returncode, p.stdout + p.stderr

    def wait(self, tls):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rc, out = self.ctl("endpoint", "health", tls=tls)
            if rc == 0:
                return
            check(self.proc.poll() is None, "server exited", open(self.log).read())
            time.sleep(0.2)
        raise TestFailure("server not healthy over TLS: " + out + open(self.log).read()[-2000:])


def with_pki(fn):
    d = tempfile.mkdtemp(prefix="capstan-it-tls-")
    try:
        make_pki(d)
        fn(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_https_client_url():
    def run(d):
        p = lambda n: os.path.join(d, n)  # noqa: E731
        with TlsServer(d, ["--cert-file", p("server.crt"), "--key-file", p("server.key")]) as s:
            tls = [f"--cacert={p('ca.crt')}"]
            s.wait(tls)
            rc, out = s.ctl("put", "k", "v", tls=tls)
            check(rc == 0 and "OK" in out, "put over TLS", out)
            rc, out = s.ctl("get", "k", "--print-value-only", tls=tls)
            check(rc == 0 and out.strip() == "v", "get over TLS", out)
            rc, out = s.ctl("get", "k")  # no CA: the server is not trusted
            check(rc != 0, "a client that does not trust the CA fails", out)
    with_pki(run)


def test_client_cert_auth():
    def run(d):
        p = lambda n: os.path.join(d, n)  # noqa: E731
        with TlsServer(d, ["--cert-file", p("server.crt"), "--key-file", p("server.key"),
                           "--trusted-ca-file", p("ca.crt"), "--client-cert-auth"]) as s:
            full = [f"--cacert={p('ca.crt')}", f"--cert={p('client.crt')}",
                    f"--key={p('client.key')}"]
            s.wait(full)
            rc, out = s.ctl("put", "a", "1", tls=full)
            check(rc == 0, "put with a client certificate", out)
            rc, out = s.ctl("get", "a", tls=[f"--cacert={p('ca.crt')}"])
            check(rc != 0, "no client certificate is refused", out)
    with_pki(run)


def test_https_without_cert_is_refused():
    def run(d):
        with TlsServer(d, []) as s:
            s.proc.wait(20)
            log = open(s.log).read()
            check(s.proc.returncode != 0, "started without a certificate", log)
            check("TLS key/cert (--cert-file, --key-file) must be provided for client url "
                  f"https://{HOST}:{s.port} with HTTPS scheme" in log, "etcd's message", log)
    with_pki(run)


def test_kube_adapter_over_tls_store():
    def run(d):
        import ssl
        import urllib.request
        p = lambda n: os.path.join(d, n)  # noqa: E731
        kport = free_port()
        with TlsServer(d, ["--cert-file", p("server.crt"), "--key-file", p("server.key"),
                           "--trusted-ca-file", p("ca.crt"), "--client-cert-auth",
                           "--kube-apiserver-url", f"https://127.0.0.1:{kport}"]) as s:
            s.wait([f"--cacert={p('ca.crt')}", f"--cert={p('client.crt')}",
                    f"--key={p('client.key')}"])
            kube = os.path.join(s.data, "kube")
            deadline = time.monotonic() + 20
            while not os.path.exists(os.path.join(kube, "admin.kubeconfig")):
                check(time.monotonic() < deadline, "no kubeconfig", open(s.log).read())
                time.sleep(0.2)
            token = open(os.path.join(kube, "admin.token")).read().strip()
            ctx = ssl.create_default_context(cafile=os.path.join(kube, "ca.crt"))
            req = urllib.request.Request(f"https://127.0.0.1:{kport}/api/v1/namespaces")
            req.add_header("Authorization", "Bearer " + token)
            with urllib.request.urlopen(req, context=ctx, timeout=20) as resp:
                body = resp.read().decode()
            check('"default"' in body, "namespaces listed through the TLS store", body)
    with_pki(run)


def test_cluster_with_tls_peers():
    """Three members whose peer URLs are https with mutual certificate checks."""
    def run(d):
        p = lambda n: os.path.join(d, n)  # noqa: E731
        names = ["t1", "t2", "t3"]
        peer = {n: free_port() for n in names}
        client = {n: free_port() for n in names}
        cluster = ",".join(f"{n}=https://{HOST}:{peer[n]}" for n in names)
        procs = []
        try:
            for n in names:
                root = os.path.join(d, n)
                os.makedirs(root)
                log = open(os.path.join(root, "server.log"), "ab")
                procs.append((n, root, subprocess.Popen(
                    [candidate_binary(), "--name", n, "--data-dir", os.path.join(root, "data"),
                     "--listen-client-urls", f"http://{HOST}:{client[n]}",
                     "--advertise-client-urls", f"http://{HOST}:{client[n]}",
                     "--listen-peer-urls", f"https://{HOST}:{peer[n]}",
                     "--initial-advertise-peer-urls", f"https://{HOST}:{peer[n]}",
                     "--initial-cluster", cluster, "--initial-cluster-token", "tls-peers",
                     "--peer-cert-file", p("server.crt"), "--peer-key-file", p("server.key"),
                     "--peer-trusted-ca-file", p("ca.crt"), "--peer-client-cert-auth"],
                    stdout=log, stderr=subprocess.STDOUT, env=clean_env(),
                    start_new_session=True)))

            def ctl(n, *args):
                r = subprocess.run([ETCDCTL, f"--endpoints={HOST}:{client[n]}",
                                    "--dial-timeout=2s", "--command-timeout=5s", *args],
                                   capture_output=True, text=True, timeout=30,
                                   env=clean_env(ETCDCTL_API="3"))
                return r.returncode, r.stdout + r.stderr
            deadline = time.monotonic() + 30
            while True:
                rc, out = ctl("t1", "put", "over", "tls")
                if rc == 0:
                    break
                logs = "".join(open(os.path.join(r, "server.log")).read()[-1500:]
                               for _, r, _ in procs)
                check(time.monotonic() < deadline, "cluster never accepted a write", out, logs)
                time.sleep(0.3)
            rc, out = ctl("t3", "get", "over", "--print-value-only")
            check(rc == 0 and out.strip() == "tls", "linearizable read on another member", out)
            # The peer port speaks TLS and wants a client certificate.
            r = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{peer['t1']}",
                                "-CAfile", p("ca.crt")], input="", capture_output=True,
                               text=True, timeout=30)
            check("CN = capstan" in r.stdout + r.stderr, "peer port serves the peer certificate",
                  r.stdout[-1500:], r.stderr[-1500:])
            rc, out = ctl("t2", "member", "list")
            check(rc == 0 and out.count("https://") >= 3, "members with https peer URLs", out)
        finally:
            for _, _, proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for _, _, proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    with_pki(run)


run_tests(globals())
