#!/usr/bin/python3
"""The server binary's command line: CAPSTAN_BIN vs etcd's (/usr/bin/etcd 3.4).

  * `--version`: well-formed "Key: value" lines shaped like etcd's (every key
    etcd prints, "etcd Version: 3.x.y", "etcd API Version: 3.x" matching it,
    the capstan version first), the version the running server reports in
    `endpoint status` is that etcd Version; nothing created in the cwd,
  * `--help` / `-h`: exit 0, usage and the flags this test relies on,
  * an unknown flag: exit 2, "flag provided but not defined: -bogus" (as etcd),
  * bad flag values: same exit code and first error line as etcd,
  * a flag given both on the command line and as ETCD_* variable: exit 1 with
    etcd's "conflicting environment variable" message,
  * ETCD_* variables alone configure a server (name, data dir, client and
    peer URLs, max-txn-ops); an unknown ETCD_* variable is not fatal,
  * data (values, revisions, versions, leases, ids, hash) persists across a
    clean restart (SIGTERM, exit code 0) and a kill -9,
  * --max-txn-ops and --max-request-bytes take effect (compared with etcd:
    "too many operations in txn request", "request is too large", and gRPC's
    own limit of max-request-bytes + 512 KiB),
  * --auto-compaction-mode/--auto-compaction-retention: accepted (both
    modes), invalid values rejected like etcd, periodic compaction happens.

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_server_cli.py
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (REF_BIN, DiffPair, HarnessError, Server, TestFailure, candidate_binary,  # noqa: E402
                     clean_env, etcdctl, free_port, run_tests, spawn_args)
from test_etcdctl_diff import ctl, txn  # noqa: E402

for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "grpc_proxy", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_v, None)

try:
    import etcd3
    import etcd3.etcdrpc as rpc
    import grpc
    IMPORT_ERROR = None
except ImportError as e:
    IMPORT_ERROR = f"{e} (python3-etcd3 is installed for Debian's /usr/bin/python3; running {sys.executable})"


# this process uses gRPC: start servers without fork handlers (harness.spawn_args)
Server.no_fork_handlers = True

class Checks:
    """Collects failed expectations of one test; raise at the end."""

    def __init__(self):
        self.failures = []

    def expect(self, cond, what, detail=""):
        if not cond:
            self.failures.append(f"- {what}" + (f"\n    {detail}" if detail else ""))
        return cond

    def done(self):
        if self.failures:
            raise TestFailure("\n".join(self.failures))


def run_cli(binary, args, env=None, timeout=10):
    """Run the binary once in an empty temp cwd (its default data dir would
    land there).  Returns (rc, stdout, stderr, files created in the cwd).
    Listening flags on free ports are NOT added: a run that does not exit by
    itself (i.e. starts serving) is killed after `timeout` and gets rc None."""
    cwd = tempfile.mkdtemp(prefix="capstan-cli-")
    try:
        cmd, preexec = spawn_args([os.path.abspath(binary)] + list(args), no_fork_handlers=True)
        p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env if env is not None else clean_env(),
                             start_new_session=True, preexec_fn=preexec)
        try:
            out, err = p.communicate(timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            rc = None
        return rc, out.decode(errors="replace"), err.decode(errors="replace"), sorted(os.listdir(cwd))
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


def safe_flags():
    """Listening flags on free loopback ports (a run that unexpectedly starts
    serving touches nothing shared)."""
    c, p = free_port(), free_port()
    return ["--listen-client-urls", f"http://127.0.0.1:{c}", "--advertise-client-urls", f"http://127.0.0.1:{c}",
            "--listen-peer-urls", f"http://127.0.0.1:{p}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{p}",
            "--initial-cluster", f"default=http://127.0.0.1:{p}"]


def first_error_line(text):
    """The first non-empty line of an error output, without etcd's capnslog
    prefix ("2026-01-01 00:00:00.000000 C | pkg/flags: ") or its deprecation
    warning about capnslog."""
    for line in text.splitlines():
        line = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [A-Z] \| [\w/]+: ", "", line.strip())
        if line and not line.startswith("[WARNING] Deprecated '--logger=capnslog'"):
            return line
    return ""


def kv_lines(text):
    """'Key: value' lines as an ordered list of (key, value)."""
    out = []
    for line in text.splitlines():
        m = re.fullmatch(r"([A-Za-z][A-Za-z /]*[A-Za-z]): (.+)", line)
        out.append((m.group(1), m.group(2)) if m else (None, line))
    return out


# ---------------------------------------------------------------------------

def test_version():
    ck = Checks()
    cand = candidate_binary()
    rc, out, err, files = run_cli(cand, ["--version"])
    ck.expect(rc == 0, f"--version exits 0 (got {rc})", err[-300:])
    ck.expect(err == "", "--version writes nothing on stderr", err[-300:])
    ck.expect(files == [], f"--version creates nothing in the cwd (got {files})")
    lines = kv_lines(out)
    ck.expect(all(k is not None for k, _ in lines) and lines, "every --version line is 'Key: value'", out)
    d = dict(lines)
    ck.expect(len(d) == len(lines), "no key repeated", out)
    ev = d.get("etcd Version", "")
    ck.expect(re.fullmatch(r"3\.\d+\.\d+", ev), f"'etcd Version: 3.x.y' (got {ev!r})", out)
    if not (lines and lines[0][0] == "etcd Version"):   # (CAPSTAN_BIN=/usr/bin/etcd: etcd's own shape)
        ck.expect(lines and lines[0][0] == "capstan Version"
                  and re.fullmatch(r"\d+\.\d+\.\d+(-[\w.]+)?", lines[0][1]),
                  "first line 'capstan Version: X.Y.Z'", out)
        api = d.get("etcd API Version", "")
        ck.expect(api == ".".join(ev.split(".")[:2]), f"'etcd API Version' {api!r} is the major.minor of {ev!r}",
                  out)
    # every key etcd prints is there too (etcd: etcd Version, Git SHA, Go Version, Go OS/Arch)
    rrc, rout, _, _ = run_cli(REF_BIN, ["--version"])
    ref_keys = [k for k, _ in kv_lines(rout)]
    ck.expect(rrc == 0 and ref_keys, "reference etcd --version works", rout)
    missing = [k for k in ref_keys if k not in d]
    ck.expect(not missing, f"keys etcd prints are present (missing {missing})", out)
    ck.expect(d.get("Go OS/Arch", "").startswith("linux/"), f"Go OS/Arch linux/... (got {d.get('Go OS/Arch')!r})")
    # the running server reports that same etcd version
    with Server(cand, name="cli-version", label="candidate") as srv:
        src, sout, serr = etcdctl(srv.endpoint, "endpoint", "status", "-w", "json")
        try:
            reported = json.loads(sout)[0]["Status"]["version"]
        except (ValueError, KeyError, IndexError):
            reported = f"(no status: {sout} {serr})"
        ck.expect(reported == ev, f"endpoint status version {reported!r} == --version's etcd Version {ev!r}")
    ck.done()


def test_help():
    ck = Checks()
    cand = candidate_binary()
    for flag in ("--help", "-h"):
        rc, out, err, files = run_cli(cand, [flag])
        ck.expect(rc == 0, f"{flag} exits 0 (got {rc})", err[-300:])
        ck.expect(files == [], f"{flag} creates nothing in the cwd (got {files})")
        text = out + err
        ck.expect("Usage:" in text, f"{flag} prints 'Usage:'", text[:300])
        for f in ("--name", "--data-dir", "--listen-client-urls", "--advertise-client-urls", "--listen-peer-urls",
                  "--initial-cluster", "--quota-backend-bytes", "--max-txn-ops", "--max-request-bytes",
                  "--auto-compaction-retention", "--auto-compaction-mode"):
            ck.expect(re.search(re.escape(f) + r"\b", text), f"{flag} documents {f}")
    ck.done()


def test_unknown_flag():
    ck = Checks()
    for args in (["--bogus"], ["-bogus"], ["--bogus=1", "--name", "x"]):
        ref = run_cli(REF_BIN, args + safe_flags())
        cand = run_cli(candidate_binary(), args + safe_flags())
        ck.expect(cand[0] == 2 and cand[0] == ref[0], f"{args}: exit code {cand[0]}, etcd {ref[0]} (want 2)")
        ck.expect(first_error_line(cand[2]) == "flag provided but not defined: -bogus" == first_error_line(ref[2]),
                  f"{args}: first stderr line {first_error_line(cand[2])!r}, etcd {first_error_line(ref[2])!r}")
        ck.expect("Usage:" in cand[2], f"{args}: usage printed on stderr")
        ck.expect(cand[3] == [], f"{args}: nothing created in the cwd (got {cand[3]})")
    ck.done()


def test_bad_flag_values():
    ck = Checks()
    for args in (["--max-txn-ops", "abc"], ["--quota-backend-bytes", "1x"], ["--max-request-bytes", "-"],
                 ["--auto-compaction-mode", "bogus"], ["--auto-compaction-retention", "abc"],
                 ["--initial-cluster-state", "maybe"]):
        ref = run_cli(REF_BIN, args + safe_flags())
        cand = run_cli(candidate_binary(), args + safe_flags())
        ck.expect(cand[0] == ref[0] and cand[0] not in (0, None),
                  f"{args}: exit code {cand[0]}, etcd {ref[0]} (a non-zero exit expected)",
                  "candidate stderr: " + cand[2][-300:])
        # etcd may log its start-up banner first: the candidate's first error
        # line must be one of etcd's lines (log prefixes stripped)
        ce = first_error_line(cand[2]).replace("'capstan --help'", "'etcd --help'")
        ref_lines = [first_error_line(line) for line in ref[2].splitlines()]
        ck.expect(ce and ce in ref_lines, f"{args}: error message as etcd's",
                  f"candidate {ce!r}\n    etcd      {ref[2].strip()[-400:]!r}")
    ck.done()


def test_flag_env_conflict():
    ck = Checks()
    for var, flag in (("ETCD_NAME", ["--name", "y"]), ("ETCD_MAX_TXN_OPS", ["--max-txn-ops=5"])):
        env = clean_env(**{var: "7"})
        ref = run_cli(REF_BIN, flag + safe_flags(), env=env)
        cand = run_cli(candidate_binary(), flag + safe_flags(), env=env)
        want = (f'conflicting environment variable "{var}" is shadowed by corresponding command-line flag '
                f"(either unset environment variable or disable flag)")
        ck.expect(ref[0] == 1 and first_error_line(ref[2]) == want,
                  f"{var}: reference etcd behaves as expected (exit {ref[0]})", first_error_line(ref[2]))
        ck.expect(cand[0] == 1, f"{var} + {flag[0]}: exit code {cand[0]}, want 1 (as etcd)", cand[2][-300:])
        ck.expect(first_error_line(cand[2]) == want, f"{var} + {flag[0]}: message",
                  f"candidate {first_error_line(cand[2])!r}\n    want      {want!r}")
        ck.expect(cand[3] == [], f"{var}: nothing created in the cwd (got {cand[3]})")
    ck.done()


class EnvServer:
    """A server configured only through ETCD_* variables (no flags)."""

    def __init__(self, binary, extra_env=None):
        self.root = tempfile.mkdtemp(prefix="capstan-it-env-")
        self.client_port, self.peer_port = free_port(), free_port()
        self.name = f"envmember-{os.getpid()}"
        self.data_dir = os.path.join(self.root, "member-data")
        self.endpoint = f"127.0.0.1:{self.client_port}"
        cu, pu = f"http://{self.endpoint}", f"http://127.0.0.1:{self.peer_port}"
        self.env = clean_env(ETCD_NAME=self.name, ETCD_DATA_DIR=self.data_dir, ETCD_LISTEN_CLIENT_URLS=cu,
                             ETCD_ADVERTISE_CLIENT_URLS=cu, ETCD_LISTEN_PEER_URLS=pu,
                             ETCD_INITIAL_ADVERTISE_PEER_URLS=pu, ETCD_INITIAL_CLUSTER=f"{self.name}={pu}",
                             **(extra_env or {}))
        self.log_path = os.path.join(self.root, "server.log")
        with open(self.log_path, "wb") as log:
            cmd, preexec = spawn_args([os.path.abspath(binary)], no_fork_handlers=True)
            self.proc = subprocess.Popen(cmd, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
                                         preexec_fn=preexec)

    def wait_healthy(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if etcdctl(self.endpoint, "endpoint", "health", dial_timeout="1s", command_timeout="2s")[0] == 0:
                return True
            time.sleep(0.2)
        return False

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def test_env_vars():
    ck = Checks()
    srv = EnvServer(candidate_binary(), extra_env={"ETCD_MAX_TXN_OPS": "2", "ETCD_UNKNOWN_SETTING": "1"})
    try:
        healthy = srv.wait_healthy()
        ck.expect(healthy, "server configured by ETCD_* variables only becomes healthy", srv.log()[-1500:])
        if healthy:
            rc, out, err = etcdctl(srv.endpoint, "member", "list", "-w", "json")
            try:
                members = json.loads(out)["members"]
            except (ValueError, KeyError):
                members = []
            ck.expect(len(members) == 1 and members[0].get("name") == srv.name,
                      f"member list names the member ETCD_NAME={srv.name}", out + err)
            ck.expect(members and members[0].get("clientURLs") == [f"http://{srv.endpoint}"]
                      and members[0].get("peerURLs") == [f"http://127.0.0.1:{srv.peer_port}"],
                      "member list shows ETCD_ADVERTISE_CLIENT_URLS / ETCD_INITIAL_ADVERTISE_PEER_URLS", out)
            ck.expect(os.path.isdir(srv.data_dir) and os.listdir(srv.data_dir),
                      f"data in ETCD_DATA_DIR={srv.data_dir}")
            ck.expect(not os.path.exists(os.path.join(srv.root, "default.etcd")), "no default data dir")
            ck.expect(etcdctl(srv.endpoint, "put", "env/k", "v")[0] == 0, "put works")
            rc, out, err = etcdctl(srv.endpoint, "txn", stdin=txn([], ["put a 1", "put b 2", "put c 3"], []))
            ck.expect(rc != 0 and "too many operations in txn request" in err,
                      "ETCD_MAX_TXN_OPS=2 is honoured (3 ops refused)", f"rc {rc}: {out} {err[-300:]}")
            rc, out, err = etcdctl(srv.endpoint, "txn", stdin=txn([], ["put a 1", "put b 2"], []))
            ck.expect(rc == 0, "ETCD_MAX_TXN_OPS=2: 2 ops accepted", err[-300:])
            ck.expect("ETCD_UNKNOWN_SETTING" in srv.log(), "an unknown ETCD_ variable is reported in the log "
                      "(etcd: 'unrecognized environment variable ETCD_UNKNOWN_SETTING=1')", srv.log()[-800:])
    finally:
        srv.stop()
    ck.done()


def _snapshot(srv):
    """Everything that must survive a restart."""
    rc, out, err = etcdctl(srv.endpoint, "get", "--prefix", "", "-w", "json")
    doc = json.loads(out) if rc == 0 else {"error": err}
    rc, st, _ = etcdctl(srv.endpoint, "endpoint", "status", "-w", "json")
    status = json.loads(st)[0]["Status"] if rc == 0 else {}
    rc, hk, _ = etcdctl(srv.endpoint, "endpoint", "hashkv", "-w", "json")
    hkv = json.loads(hk)[0]["HashKV"] if rc == 0 else {}
    return {"kvs": doc.get("kvs"), "revision": doc.get("header", {}).get("revision"),
            "member_id": status.get("header", {}).get("member_id"),
            "cluster_id": status.get("header", {}).get("cluster_id"),
            "hash": hkv.get("hash"), "compact_revision": hkv.get("compact_revision"),
            "old_rev": etcdctl(srv.endpoint, "get", "p/b", "--rev=3", "--print-value-only")[1]}


def test_persistence():
    ck = Checks()
    srv = Server(candidate_binary(), name="cli-persist", label="candidate")
    srv.start()
    try:
        for args in (("put", "p/a", "1"), ("put", "p/b", "2"), ("put", "p/b", "3"), ("del", "p/a"),
                     ("put", "p/c", "x" * 5000)):
            ck.expect(etcdctl(srv.endpoint, *args)[0] == 0, f"etcdctl {args[:2]}")
        etcdctl(srv.endpoint, "txn", stdin=txn([], ["put p/d 1", "put p/e 2", "del p/c"], []))
        rc, out, _ = etcdctl(srv.endpoint, "lease", "grant", "600")
        lease = re.search(r"lease ([0-9a-f]+) granted", out)
        ck.expect(lease, "lease grant", out)
        lease = lease.group(1) if lease else "0"
        etcdctl(srv.endpoint, "put", f"--lease={lease}", "p/leased", "l")
        etcdctl(srv.endpoint, "compact", "3")
        before = _snapshot(srv)
        ck.expect(before["revision"] == 8 and before["old_rev"] == "2\n",
                  f"setup: revision 8 (got {before['revision']}), p/b at rev 3 readable", str(before)[:500])

        srv.stop(keep_data=True)
        # etcd re-raises the signal after its clean shutdown (-15); 0 is fine too
        ck.expect(srv.proc.returncode in (0, -signal.SIGTERM),
                  f"SIGTERM: clean exit, code 0 or -15 (got {srv.proc.returncode})", srv.log_tail())
        srv.restart()
        after = _snapshot(srv)
        ck.expect(after == before, "everything survives a clean restart (SIGTERM)",
                  f"before {before}\n    after  {after}")
        rc, out, _ = etcdctl(srv.endpoint, "lease", "timetolive", "--keys", lease)
        m = re.search(r"remaining\((\d+)s\), attached keys\(\[p/leased\]\)", out)
        ck.expect(m and 500 <= int(m.group(1)) <= 600, "lease and its key survive the restart", out)
        ck.expect(etcdctl(srv.endpoint, "get", "p/a", "--rev=2")[0] != 0, "compaction survives the restart")

        # kill -9 right after acknowledged writes
        for i in range(5):
            etcdctl(srv.endpoint, "put", f"p/k{i}", f"v{i}")
        rc, out, _ = etcdctl(srv.endpoint, "put", "p/last", "L", "-w", "json")
        last_rev = json.loads(out)["header"]["revision"] if rc == 0 else None
        before = _snapshot(srv)
        srv.kill()
        srv.restart()
        after = _snapshot(srv)
        ck.expect(last_rev == 14 and after == before, "acknowledged writes and everything else survive kill -9",
                  f"last put at revision {last_rev} (want 14)\n    before {before}\n    after  {after}")
        rc, out, _ = etcdctl(srv.endpoint, "put", "p/next", "n", "-w", "json")
        ck.expect(rc == 0 and json.loads(out)["header"]["revision"] == 15, "revisions continue at 15", out)
    finally:
        srv.stop()
    ck.done()


def test_wal_dir():
    """--wal-dir puts the log elsewhere (e.g. its own disk); acknowledged writes
    survive kill -9 from it, and <data-dir>/member/wal is never made."""
    ck = Checks()
    srv = Server(candidate_binary(), name="cli-waldir", label="candidate")
    wal_dir = os.path.join(srv.root, "disk2", "wal")
    srv.extra_args += ["--wal-dir", wal_dir]
    srv.start()
    try:
        for i in range(20):
            ck.expect(etcdctl(srv.endpoint, "put", f"w/k{i}", f"v{i}")[0] == 0, f"put w/k{i}")
        before = _snapshot(srv)
        srv.kill()
        srv.restart()
        after = _snapshot(srv)
        ck.expect(after == before, "acknowledged writes survive kill -9 with the log in --wal-dir",
                  f"before {before}\n    after  {after}")
        wal_files = [f for f in os.listdir(wal_dir) if f.endswith(".wal")] if os.path.isdir(wal_dir) else []
        ck.expect(wal_files, f"WAL segments in --wal-dir ({wal_dir})", str(os.listdir(srv.root)))
        ck.expect(not os.path.exists(os.path.join(srv.data_dir, "member", "wal")),
                  "no <data-dir>/member/wal", str(os.listdir(os.path.join(srv.data_dir, "member"))))
    finally:
        srv.stop()
    ck.done()


def _grpc(srv, fn):
    c = etcd3.client(host="127.0.0.1", port=srv.client_port, timeout=10, grpc_options=[("grpc.enable_http_proxy", 0)])
    try:
        return ["OK", fn(c)]
    except grpc.RpcError as e:
        return [e.code().name, e.details()]
    finally:
        c.close()


def test_request_limits():
    """--max-txn-ops 3 --max-request-bytes 20000, compared with etcd."""
    if IMPORT_ERROR:
        raise TestFailure(f"cannot import etcd3: {IMPORT_ERROR}")
    with DiffPair(extra_args=["--max-txn-ops", "3", "--max-request-bytes", "20000"], name="limits") as p:
        ctl(p, "txn 3 puts (ok)", "txn", stdin=txn([], ["put t/1 a", "put t/2 b", "put t/3 c"], []))
        ctl(p, "txn 4 puts (error)", "txn", stdin=txn([], ["put t/1 a", "put t/2 b", "put t/3 c", "put t/4 d"], []))
        ctl(p, "txn 3+3 ops in both branches (ok)", "txn",
            stdin=txn(['value("t/1") = "a"'], ["get t/1", "get t/2", "get t/3"], ["put t/x 1", "put t/y 2",
                                                                                   "del t/3"]))
        ctl(p, "txn 4 ops in the failure branch (error)", "txn",
            stdin=txn([], ["get t/1"], ["put t/x 1", "put t/y 2", "put t/z 3", "del t/3"]))
        ctl(p, "txn 4 compares (error)", "txn",
            stdin=txn(['value("t/1") = "a"'] * 4, ["get t/1"], []))
        ctl(p, "txn 4 gets (error)", "txn", stdin=txn([], ["get t/1", "get t/2", "get t/3", "get t/4"], []))
        ctl(p, "put 19000 bytes (ok)", "put", "big/ok", stdin=b"a" * 19000)
        ctl(p, "put 21000 bytes (error: request is too large)", "put", "big/no", stdin=b"b" * 21000)
        ctl(p, "txn 3 x 7000 bytes (error: request is too large)", "txn",
            stdin=txn([], [f"put big/t{i} " + "c" * 7000 for i in range(3)], []))
        ctl(p, "put 600000 bytes (error: gRPC message limit)", "put", "big/huge", stdin=b"d" * 600000)
        ctl(p, "keys after limits", "get", "--prefix", "", "--keys-only", "-w", "json")
        for name, fn in (
                ("gRPC put 21000 bytes", lambda c: c.kvstub.Put(rpc.PutRequest(key=b"g", value=b"x" * 21000), 10)),
                ("gRPC txn 4 ops", lambda c: c.kvstub.Txn(rpc.TxnRequest(success=[
                    rpc.RequestOp(request_range=rpc.RangeRequest(key=b"k"))] * 4), 10))):
            p.compare(name, *[_grpc(srv, fn) for srv, _ in p.servers()])
        # gRPC's own limit (max-request-bytes + 512 KiB): the status code and
        # the sizes, then the exact text (Go gRPC: "grpc: received message
        # larger than max (N vs. M)")
        huge = [_grpc(srv, lambda c: c.kvstub.Put(rpc.PutRequest(key=b"g", value=b"x" * 600000), 10))
                for srv, _ in p.servers()]
        p.compare("gRPC put 600000 bytes: code and sizes",
                  *[[code, re.findall(r"\(\d+ vs\. \d+\)", msg or "")] for code, msg in huge])
        p.compare("gRPC put 600000 bytes: message", *huge)


def test_auto_compaction():
    ck = Checks()
    for args in (["--auto-compaction-mode", "revision", "--auto-compaction-retention", "100"],
                 ["--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h"],
                 ["--auto-compaction-retention", "30m"], ["--auto-compaction-retention", "2"]):
        try:
            with Server(candidate_binary(), name="cli-ac", extra_args=args, label="candidate") as srv:
                ck.expect(etcdctl(srv.endpoint, "put", "k", "v")[0] == 0, f"{args}: server works")
        except HarnessError as e:
            ck.expect(False, f"{args}: accepted (server starts)", str(e)[-800:])
    # periodic with a short retention compacts (etcd 3.4: within ~3 s)
    for binary in (REF_BIN, candidate_binary()):
        with Server(binary, name="cli-ac-periodic", label=os.path.basename(binary),
                    extra_args=["--auto-compaction-mode", "periodic", "--auto-compaction-retention", "2s"]) as srv:
            t0, when, err = time.monotonic(), None, ""
            while time.monotonic() - t0 < 15:
                etcdctl(srv.endpoint, "put", "k", str(time.monotonic()))
                rc, _, err = etcdctl(srv.endpoint, "get", "k", "--rev=2")
                if rc != 0:
                    when = time.monotonic() - t0
                    break
                time.sleep(0.2)
            ck.expect(when is not None and "required revision has been compacted" in err,
                      f"{binary}: --auto-compaction-retention=2s (periodic) compacts revision 2 within 15 s",
                      f"compacted after {when}s; {err.strip()[-200:]}")
    ck.done()


if __name__ == "__main__":
    run_tests(globals())
