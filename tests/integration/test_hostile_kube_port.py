"""Hostile clients against the kube HTTPS port of one member (issue 12, items
3 and 6): many idle TCP and TLS connections, half-finished TLS handshakes,
slowloris headers, slow bodies, oversized unauthenticated and authenticated
bodies, 100k-deep JSON on several endpoints, and garbage. Throughout, the
member must keep answering kube requests AND etcd requests (one process),
with its thread count and RSS bounded.

Seeded: the seed is printed; CAPSTAN_HOSTILE_SEED=<seed> replays the same
mix of sizes, orders and garbage.
"""

import json
import os
import random
import socket
import ssl
import threading
import time

from harness import etcdctl, run_tests
from kube_env import KubeServer, check

SEED = int(os.environ.get("CAPSTAN_HOSTILE_SEED", random.randrange(1 << 32)))
DEEP = 100000


def proc_status(pid):
    """(threads, rss in MiB) from /proc/<pid>/status."""
    threads = rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
    return threads, rss


class Attack:
    """Raw TCP/TLS clients of one server; every socket is closed by close()."""

    def __init__(self, server, rng):
        self.s = server
        self.rng = rng
        self.socks = []
        self.ctx = ssl.create_default_context(cafile=server.ca_file())
        self.ctx.check_hostname = False

    def tcp(self, timeout=10):
        sock = socket.create_connection(("127.0.0.1", self.s.kube_port), timeout=timeout)
        self.socks.append(sock)
        return sock

    def tls(self, timeout=10):
        raw = socket.create_connection(("127.0.0.1", self.s.kube_port), timeout=timeout)
        sock = self.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.socks.append(sock)
        return sock

    def close(self):
        for sock in self.socks:
            try:
                sock.close()
            except OSError:
                pass
        self.socks = []


def read_response(sock, limit=1 << 20):
    """(status, body text) of one HTTP/1.1 response, or (None, error)."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None, "closed before a response"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        while len(rest) < min(length, limit):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, rest.decode("utf-8", "replace")
    except (OSError, ValueError, IndexError) as e:
        return None, repr(e)


def raw_request(attack, method, path, body, headers):
    """Sends one request on a fresh TLS connection; returns (status, body)."""
    sock = attack.tls(timeout=30)
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    for k, v in headers.items():
        head += f"{k}: {v}\r\n"
    try:
        sock.sendall(head.encode() + b"\r\n" + body)
    except OSError as e:
        return None, repr(e)
    return read_response(sock)


def sa_token(s):
    """A ServiceAccount's token: an identity with no grants beyond the defaults."""
    code, _ = s.request("POST", "/api/v1/namespaces",
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "h"}})
    check(code == 201, "create namespace", code)
    code, _ = s.request("POST", "/api/v1/namespaces/h/serviceaccounts",
                        {"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": {"name": "probe"}})
    check(code == 201, "create serviceaccount", code)
    for _ in range(50):
        code, sa = s.request("GET", "/api/v1/namespaces/h/serviceaccounts/probe")
        if code == 200 and sa.get("secrets"):
            break
        time.sleep(0.1)
    code, sec = s.request("GET", "/api/v1/namespaces/h/secrets/" + sa["secrets"][0]["name"])
    check(code == 200, "token secret", code, sec)
    import base64
    return base64.b64decode(sec["data"]["token"]).decode()


def deep_json(rng, depth):
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return opener * depth + "1" + closer * depth


def still_serving(s, what):
    code, body = s.request("GET", "/api/v1/namespaces")
    check(code == 200 and body.get("kind") == "NamespaceList", f"kube GET after {what}", code,
          str(body)[:300])
    key = f"hostile-{what}-{time.monotonic_ns()}"
    rc, out, err = etcdctl(s.endpoint, "put", key, "v")
    check(rc == 0, f"etcd put after {what}", out, err)
    rc, out, err = etcdctl(s.endpoint, "get", key, "--print-value-only")
    check(rc == 0 and out.strip() == "v", f"etcd get after {what}", out, err)


def test_deeply_nested_json_is_refused_on_every_endpoint():
    rng = random.Random(SEED)
    with KubeServer() as s:
        token = sa_token(s)
        code, _ = s.request("POST", "/api/v1/namespaces/default/configmaps",
                            {"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "target"}, "data": {"a": "b"}})
        check(code == 201, "create target configmap", code)
        deep = deep_json(rng, DEEP)
        opener = deep[0]
        ssar = ('{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview",'
                '"spec":{"resourceAttributes":{"verb":"get","resource":"pods"},"x":' + deep + "}}")
        cm = ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":' +
              deep + "}")
        depth_error = f"invalid character '{opener}' exceeded max depth"
        cases = [
            ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", ssar,
             "application/json", token,
             "the object provided is unrecognized (must be of type SelfSubjectAccessReview): "
             "couldn't get version/kind; json parse error: " + depth_error +
             ' ({"apiVersion":"authorization.k ...)'),
            ("POST", "/api/v1/namespaces/default/configmaps", cm, "application/json", None,
             "the object provided is unrecognized (must be of type ConfigMap): couldn't get "
             "version/kind; json parse error: " + depth_error +
             ' ({"apiVersion":"v1","kind":"Con ...)'),
            ("PUT", "/api/v1/namespaces/default/configmaps/target", cm, "application/json",
             None, None),
            ("PATCH", "/api/v1/namespaces/default/configmaps/target", '{"data":' + deep + "}",
             "application/merge-patch+json", None, "Invalid JSON Patch"),
            ("PATCH", "/api/v1/namespaces/default/configmaps/target", '{"data":' + deep + "}",
             "application/strategic-merge-patch+json", None, depth_error),
            ("PATCH", "/api/v1/namespaces/default/configmaps/target",
             '[{"op":"add","path":"/data/x","value":' + deep + "}]",
             "application/json-patch+json", None,
             "invalid character '" + opener + "' exceeded max depth"),
            ("DELETE", "/api/v1/namespaces/default/configmaps/target",
             '{"kind":"DeleteOptions","x":' + deep + "}", "application/json", None, None),
        ]
        rng.shuffle(cases)
        for method, path, body, ctype, tok, message in cases:
            code, res = s.request(method, path, body, token=tok, content_type=ctype)
            check(code == 400, f"{method} {path} ({ctype}) with {DEEP}-deep JSON is 400", code,
                  str(res)[:400])
            check(res.get("reason") == "BadRequest", "reason BadRequest", res)
            if message is not None:
                check(res.get("message") == message, f"{method} {ctype} message", res.get("message"))
            still_serving(s, f"deep-{method.lower()}")
        # The deepest document the apiserver takes is still served.
        ok_deep = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ok"},"x":' + \
            "[" * 9999 + "]" * 9999 + "}"
        attack = Attack(s, rng)
        try:
            auth = {"Authorization": "Bearer " + s.admin_token(),
                    "Content-Type": "application/json"}
            code, res = raw_request(attack, "POST", "/api/v1/namespaces/default/configmaps",
                                    ok_deep.encode(), auth)
            check(code == 201, "a ConfigMap nested 10000 deep is created", code, res[:300])
            code, res = raw_request(attack, "GET", "/api/v1/namespaces/default/configmaps/ok",
                                    b"", auth)
            check(code == 200 and res.count("[") >= 9999, "and read back", code, res[:300])
            code, res = raw_request(attack, "PATCH", "/api/v1/namespaces/default/configmaps/ok",
                                    b'{"x":' + b"[" * 9999 + b"]" * 9999 + b"}",
                                    dict(auth, **{"Content-Type": "application/merge-patch+json"}))
            check(code == 200, "and patched as deep", code, res[:300])
        finally:
            attack.close()
        still_serving(s, "deep")


def test_hostile_clients_leave_both_ports_serving_with_bounded_threads_and_memory():
    rng = random.Random(SEED + 1)
    started = time.monotonic()
    with KubeServer() as s:
        pid = s.proc.pid
        admin = s.admin_token()
        still_serving(s, "warm-up")
        base_threads, base_rss = proc_status(pid)
        peak = [base_threads, base_rss]
        attack = Attack(s, rng)
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                t, r = proc_status(pid)
                peak[0], peak[1] = max(peak[0], t), max(peak[1], r)
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            # Idle TCP connections that never start TLS, idle TLS connections,
            # and half-finished handshakes.
            n_tcp, n_tls, n_half = rng.randint(250, 350), rng.randint(80, 120), rng.randint(40, 60)
            idle_tcp = [attack.tcp() for _ in range(n_tcp)]
            idle_tls = [attack.tls() for _ in range(n_tls)]
            half = []
            for _ in range(n_half):
                sock = attack.tcp()
                sock.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]) +
                             rng.randbytes(rng.randint(0, 40)))
                half.append(sock)
            # Slowloris headers and slow bodies, fed a byte now and then.
            slow_headers = []
            for _ in range(rng.randint(30, 50)):
                sock = attack.tls()
                sock.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n")
                slow_headers.append(sock)
            slow_bodies = []
            for _ in range(rng.randint(15, 25)):
                sock = attack.tls()
                sock.sendall(b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
                             b"Authorization: Bearer " + admin.encode() +
                             b"\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{")
                slow_bodies.append(sock)

            def trickle():
                while not stop.is_set():
                    for sock in slow_headers + slow_bodies:
                        try:
                            sock.send(b"X" if sock in slow_headers else b" ")
                        except OSError:
                            pass
                    stop.wait(1.0)

            trickler = threading.Thread(target=trickle, daemon=True)
            trickler.start()
            still_serving(s, "idle-and-slow")
            t, _ = proc_status(pid)
            check(t < base_threads + 40,
                  f"{n_tcp + n_tls + n_half} idle and slow connections cost no threads",
                  f"threads {t}, before {base_threads}")

            # Oversized bodies: unauthenticated ones are refused unread with 401,
            # authenticated ones with the apiserver's 413; 56 MiB announced each.
            results = []

            def big_upload(token, size):
                sock = attack.tls(timeout=30)
                head = ("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {size}\r\n")
                if token is not None:
                    head += f"Authorization: Bearer {token}\r\n"
                try:
                    sock.sendall(head.encode() + b"\r\n")
                    chunk = b"[" * 65536
                    for _ in range(rng.randint(1, 64)):  # up to 4 MiB of it, then read
                        sock.sendall(chunk)
                except OSError:
                    pass  # the server may close before we finish: that is the point
                results.append((token == admin, read_response(sock)))

            uploads = [threading.Thread(target=big_upload, args=(tok, 56 << 20))
                       for tok in ["bogus-token"] * 20 + [admin] * 10]
            rng.shuffle(uploads)
            for u in uploads:
                u.start()
            for u in uploads:
                u.join(60)
            for authed, (status, body) in results:
                # A client still sending when the server closes may see a reset
                # instead; it must never be a success.
                check(status in (401, 413, None), "oversized upload refused", status, body[:300])
                if status == 401:
                    check(not authed, "401 only without credentials", body[:300])
                if status == 413:
                    check(json.loads(body)["message"] ==
                          "Request entity too large: limit is 3145728", "413 message", body)
            check(any(st == 413 for a, (st, _) in results if a), "some 413 seen",
                  [r[1][0] for r in results])
            check(any(st == 401 for a, (st, _) in results if not a), "some 401 seen",
                  [r[1][0] for r in results])
            # Just over the limit, with credentials: 413 with the exact Status.
            status, body = raw_request(attack, "POST", "/api/v1/namespaces/default/configmaps",
                                       b" " * (3145728 + 1),
                                       {"Authorization": "Bearer " + admin,
                                        "Content-Type": "application/json"})
            check(status == 413, "3 MiB + 1 is 413", status, body[:300])
            check(json.loads(body) == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                       "status": "Failure",
                                       "message": "Request entity too large: limit is 3145728",
                                       "reason": "RequestEntityTooLarge", "code": 413},
                  "413 Status body", body)
            still_serving(s, "oversized")

            # Garbage: random bytes before TLS, and inside TLS.
            for _ in range(rng.randint(20, 40)):
                sock = attack.tcp()
                try:
                    sock.sendall(rng.randbytes(rng.randint(1, 4096)))
                except OSError:
                    pass
            for _ in range(rng.randint(10, 20)):
                sock = attack.tls()
                try:
                    sock.sendall(rng.randbytes(rng.randint(1, 4096)) + b"\r\n\r\n")
                except OSError:
                    pass
            # Deep JSON while all of the above is held open.
            deep = deep_json(rng, DEEP)
            code, res = s.request("POST", "/api/v1/namespaces/default/configmaps",
                                  '{"kind":"ConfigMap","apiVersion":"v1","x":' + deep + "}")
            check(code == 400, "deep JSON under load is 400", code, str(res)[:300])
            still_serving(s, "garbage")

            # Half-finished handshakes and never-started TLS end at the
            # handshake deadline (10 s after they connected).
            deadline = time.monotonic() + 20
            for sock in idle_tcp[:20] + half[:20]:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    while sock.recv(4096):
                        pass
                except socket.timeout:
                    check(False, "a connection without a TLS handshake was not cut off")
                except OSError:
                    pass
            still_serving(s, "timeouts")
        finally:
            stop.set()
            attack.close()
        threads, rss = peak
        print(f"  threads {base_threads} -> peak {threads}; RSS {base_rss} MiB -> peak {rss} MiB",
              flush=True)
        check(threads < base_threads + 64, "thread count stayed bounded",
              f"peak {threads}, before {base_threads}")
        check(rss < base_rss + 400, "RSS stayed bounded", f"peak {rss} MiB, before {base_rss} MiB")
        still_serving(s, "the end")
    check(time.monotonic() - started < 90, "bounded in time", time.monotonic() - started)


if __name__ == "__main__":
    print(f"seed {SEED} (replay with CAPSTAN_HOSTILE_SEED={SEED})", flush=True)
    run_tests(globals())
