#!/usr/bin/python3
"""Differential test: Go's official etcd client (clientv3) against real etcd vs CAPSTAN_BIN.

tests/integration/go/clientv3_compat/main.go uses go.etcd.io/etcd/clientv3
(etcd 3.4, Debian package golang-etcd-server-dev) the way Go programs and the
Kubernetes apiserver do, and prints one JSON line per step (all response
fields, errors as gRPC code + message + the rpctypes errors they equal).  The
program is built once in GOPATH mode from Debian packages only (no module
proxy) and cached under <build dir>/go-clientv3/ (binary named after the hash
of its source; Go's build cache kept there too, so a rebuild takes seconds).

Every test function runs one scenario of the program against a fresh reference
etcd and a fresh candidate server (harness.DiffPair) and compares the two
transcripts step by step after normalizing what legitimately differs (harness
Normalizer for member/cluster/lease ids, ports, member names; raft term/index,
db size, version string, hashes, remaining lease TTL -- see normalize()).

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_go_clientv3.py [name-filter...]
      CAPSTAN_BIN=/usr/bin/etcd ... validates the normalization (etcd vs etcd).
Needs the Debian packages golang-go and golang-etcd-server-dev (Makefile
TEST_PACKAGES); without them every test FAILS with a message saying so.
Env: CAPSTAN_GO_CACHE=<dir> overrides where the program and Go's cache live;
     GO_BIN=<path> overrides the go command.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (REPO_ROOT, DiffPair, TestFailure, candidate_binary, clean_env,  # noqa: E402
                     run_tests)

HERE = os.path.dirname(os.path.abspath(__file__))
GO_SRC = os.path.join(HERE, "go", "clientv3_compat")
GOCODE = "/usr/share/gocode"
CLIENTV3_SRC = os.path.join(GOCODE, "src", "go.etcd.io", "etcd", "clientv3")
PROGRAM_TIMEOUT_S = 150     # one scenario run (steps have their own 5 s deadline)
BUILD_TIMEOUT_S = 600


# ---------------------------------------------------------------------------
# building the Go program (once per process, cached across runs)

def _go_binary():
    return os.environ.get("GO_BIN") or shutil.which("go") or "/usr/bin/go"


def _cache_dir():
    """<build dir>/go-clientv3: the CMake build dir of the candidate binary if
    it is one (build/bin/capstan -> build), else <repo>/build, else a per-user
    temp dir."""
    if os.environ.get("CAPSTAN_GO_CACHE"):
        return os.environ["CAPSTAN_GO_CACHE"]
    cand_build = os.path.dirname(os.path.dirname(os.path.abspath(candidate_binary())))
    for d in (cand_build, os.path.join(REPO_ROOT, "build")):
        if os.path.isfile(os.path.join(d, "CMakeCache.txt")) and os.access(d, os.W_OK):
            return os.path.join(d, "go-clientv3")
    return os.path.join(tempfile.gettempdir(), f"capstan-go-clientv3-{os.getuid()}")


def _go_env(cache):
    # cgo stays on when a C compiler exists: Debian ships the standard library
    # precompiled for the default (cgo) configuration, CGO_ENABLED=0 would
    # rebuild net, crypto/tls, net/http ... (cold build ~1.7x slower).
    cgo = "1" if shutil.which("gcc") or shutil.which("cc") else "0"
    return clean_env(GO111MODULE="off", GOPROXY="off", GOFLAGS="", GOTOOLCHAIN="local", GOENV="off",
                     GOPATH=GOCODE, GOCACHE=os.path.join(cache, "gocache"), CGO_ENABLED=cgo,
                     GOTELEMETRY="off")


_built = {}
_build_lock = threading.Lock()


def build_program():
    """Path of the built program; raises TestFailure (never skips) when Go or
    the Debian Go packages are missing or the build fails."""
    with _build_lock:
        if "error" in _built:
            raise TestFailure(_built["error"])
        if "path" in _built:
            return _built["path"]
        try:
            _built["path"] = _build()
            return _built["path"]
        except TestFailure as e:
            _built["error"] = str(e)
            raise


def _build():
    go = _go_binary()
    if not (os.path.isfile(go) and os.access(go, os.X_OK)):
        raise TestFailure(f"Go toolchain not found ({go}): install the Debian package golang-go "
                          "(listed in the Makefile's TEST_PACKAGES: `make test-deps`)")
    if not os.path.isfile(os.path.join(CLIENTV3_SRC, "client.go")):
        raise TestFailure(f"etcd's Go client sources not found under {CLIENTV3_SRC}: install the Debian "
                          "package golang-etcd-server-dev (listed in the Makefile's TEST_PACKAGES: `make test-deps`)")
    cache = _cache_dir()
    os.makedirs(cache, exist_ok=True)
    env = _go_env(cache)
    try:
        ver = subprocess.run([go, "version"], capture_output=True, text=True, env=env, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TestFailure(f"cannot run {go} version: {e}") from e
    h = hashlib.sha256(f"{ver} CGO_ENABLED={env['CGO_ENABLED']}".encode())
    for name in sorted(os.listdir(GO_SRC)):
        if name.endswith(".go"):
            with open(os.path.join(GO_SRC, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    exe = os.path.join(cache, f"clientv3_compat-{h.hexdigest()[:16]}")
    if os.path.isfile(exe) and os.access(exe, os.X_OK):
        print(f"  go program: {exe} (cached)", flush=True)
        return exe
    tmp = f"{exe}.tmp{os.getpid()}"
    t0 = time.monotonic()
    try:
        p = subprocess.run([go, "build", "-o", tmp, "."], cwd=GO_SRC, capture_output=True, text=True,
                           env=env, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise TestFailure(f"go build of {GO_SRC} timed out after {BUILD_TIMEOUT_S}s") from e
    if p.returncode != 0:
        raise TestFailure(f"go build of {GO_SRC} failed (GOPATH mode, GOPATH={GOCODE}; are golang-go and "
                          f"golang-etcd-server-dev installed?):\n{p.stdout}{p.stderr}")
    os.replace(tmp, exe)
    for old in os.listdir(cache):  # drop binaries of older sources
        if old.startswith("clientv3_compat-") and os.path.join(cache, old) != exe:
            try:
                os.remove(os.path.join(cache, old))
            except OSError:
                pass
    print(f"  go program: built {exe} in {time.monotonic() - t0:.1f}s ({ver})", flush=True)
    return exe


# ---------------------------------------------------------------------------
# normalization of one transcript

# uint64/int64 ids: replaced by the placeholder registered for this server
# (<MEMBER_ID>, <CLUSTER_ID>, <LEASE_n>); an unknown non-zero id stays a raw
# number and therefore shows up as a difference.
ID_FIELDS = {"cluster_id", "member_id", "ID", "id", "leader", "lease", "memberID", "MemberID", "targetID"}


def _nonzero(ph):
    return lambda v: ph if isinstance(v, int) and v else v


# Implementation-specific scalars (same reasons as harness.GENERIC_RULES).
SCALAR_RULES = {
    "raft_term": _nonzero("<RAFT_TERM>"),          # election timing
    "raftTerm": _nonzero("<RAFT_TERM>"),
    "raftIndex": _nonzero("<RAFT_INDEX>"),         # internal raft entries differ
    "raftAppliedIndex": _nonzero("<RAFT_INDEX>"),
    "dbSize": _nonzero("<DB_SIZE>"),               # storage engine
    "dbSizeInUse": _nonzero("<DB_SIZE>"),
    "hash": _nonzero("<HASH>"),                    # backend encoding
}
TTL_SLACK_S = 10   # remaining TTL within [granted - slack, granted] is "<TTL_REMAINING>"

# Steps whose etcd 3.4 result differs from etcd 3.5 (Capstan implements 3.5):
# run (a crash or hang still shows), but their result is not compared.
VERSION_DEPENDENT_STEPS = {
    "HashKV at the compacted revision 13":
        "etcd 3.4 returns ErrCompacted for rev == compact revision; 3.5.5+ returns the hash (etcd PR #14457)",
}


class Transcript:
    """Normalizes the records of one run with the server's harness.Normalizer."""

    def __init__(self, norm):
        self.norm = norm
        self.leases = 0

    def add_lease(self, lease_id):
        lease_id = int(lease_id)
        if lease_id in self.norm.ids or lease_id == 0:
            return
        self.leases += 1
        ph = f"<LEASE_{self.leases}>"
        if abs(lease_id) >= 1 << 24:
            self.norm.add_id(lease_id, ph)   # also in text (lock/election keys hold the id in hex)
        else:
            self.norm.ids[lease_id] = ph     # too short to replace safely inside text

    def value(self, v, key=None, parent=None):
        if isinstance(v, dict):
            out = {k: self.value(x, k, v) for k, x in v.items()}
            if "alarms" in v and "header" in v:
                # etcd 3.4 leaves AlarmResponse.header unset; 3.5 fills it
                # (maintenanceServer.Alarm calls hdr.fill): not compared, as in
                # test_etcdctl_diff.py / test_python_etcd3_diff.py.
                out["header"] = "<not compared: unset in 3.4, filled in 3.5>"
            for k in ("keys", "leases"):        # server map order (etcd iterates Go maps)
                if isinstance(out.get(k), list) and ("granted-ttl" in v or k == "leases"):
                    out[k] = sorted(out[k], key=lambda x: json.dumps(x, sort_keys=True))
            return out
        if isinstance(v, list):
            return [self.value(x, key, parent) for x in v]
        if isinstance(v, str):
            if key == "version" and parent is not None and "raftIndex" in parent and v.startswith("3."):
                return "<SERVER_VERSION>"        # 3.4.23 vs Capstan's 3.5.x
            return self.norm.text(v)
        if isinstance(v, bool) or not isinstance(v, int):
            return v
        if key in ID_FIELDS:
            return self.norm.ident(v)
        if key == "ttl" and parent is not None and isinstance(parent.get("granted-ttl"), int):
            g = parent["granted-ttl"]
            if g > 0 and max(0, g - TTL_SLACK_S) <= v <= g:
                return "<TTL_REMAINING>"         # time passes between grant and query
            return v
        rule = SCALAR_RULES.get(key)
        return rule(v) if rule else v

    def record(self, rec):
        for lease_id in rec.get("new_leases") or ():
            self.add_lease(lease_id)
        out = {"step": rec.get("step")}
        if rec.get("step") in VERSION_DEPENDENT_STEPS:
            out["not compared"] = VERSION_DEPENDENT_STEPS[rec["step"]]
            return out
        for k in ("result", "error"):
            if k in rec:
                out[k] = self.value(rec[k])
        if rec.get("new_leases"):
            out["new_leases"] = [self.norm.ident(int(x)) for x in rec["new_leases"]]
        return out


def parse_transcript(stdout):
    """JSON lines -> list of records; a non-JSON line becomes a record of its own."""
    recs = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            recs.append(json.loads(line))
        except ValueError:
            recs.append({"step": "<unparsable output>", "result": line[:500]})
    return recs


# ---------------------------------------------------------------------------
# running one scenario on both servers

def _run_program(exe, srv, scenario, results, idx):
    cmd = [exe, "-step-timeout", "5s", srv.client_url, scenario]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), timeout=PROGRAM_TIMEOUT_S)
        results[idx] = (p.returncode, p.stdout, p.stderr, time.monotonic() - t0)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode("utf-8", "replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        results[idx] = (124, out, err + f"\n[test] killed after {PROGRAM_TIMEOUT_S}s", time.monotonic() - t0)
    except OSError as e:
        results[idx] = (127, "", f"cannot run {exe}: {e}", 0.0)


def _tail(text, n=15):
    lines = text.strip().splitlines()
    return "\n".join("    | " + l[:300] for l in lines[-n:]) or "    | (empty)"


def run_scenario(scenario, extra_args=()):
    exe = build_program()
    with DiffPair(extra_args=extra_args, name=f"gocv3-{scenario.replace('_', '-')}") as pair:
        results = [None, None]
        threads = [threading.Thread(target=_run_program, args=(exe, srv, scenario, results, i))
                   for i, (srv, _) in enumerate(pair.servers())]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        (rrc, rout, rerr, rtime), (crc, cout, cerr, ctime) = results
        ref = [Transcript(pair.nref).record(r) for r in parse_transcript(rout)]
        cand = [Transcript(pair.ncand).record(r) for r in parse_transcript(cout)]
        ref_done = bool(ref) and ref[-1]["step"] == "<end>"
        if rrc != 0 or not ref_done:
            raise TestFailure(f"scenario {scenario!r}: the program did not complete against the REFERENCE etcd "
                              f"(exit {rrc}, {len(ref)} records) -- a test/harness problem, not a candidate bug\n"
                              f"  stderr:\n{_tail(rerr)}\n  last records:\n{_tail(rout)}")
        for i in range(max(len(ref), len(cand))):
            r = ref[i] if i < len(ref) else {"step": "(missing)"}
            c = cand[i] if i < len(cand) else {"step": "(missing: candidate transcript ended)"}
            name = r["step"] if r["step"] == c["step"] else f"{r['step']} / candidate: {c['step']}"
            pair.compare(f"{scenario} #{i} {name}", r, c)
        cand_done = bool(cand) and cand[-1]["step"] == "<end>"
        if crc != 0 or not cand_done:
            pair.mismatches.append(f"--- scenario {scenario!r}: program exit {crc} against the candidate, "
                                   f"transcript {'complete' if cand_done else 'INCOMPLETE'} "
                                   f"({len(cand)} of {len(ref)} records)\n  stderr:\n{_tail(cerr)}")
        print(f"  {scenario}: {len(ref)} steps (reference {rtime:.1f}s, candidate {ctime:.1f}s)", flush=True)


# ---------------------------------------------------------------------------
# tests: one scenario each, fresh servers each

def test_kv_get():
    run_scenario("kv_get")


def test_kv_put_delete():
    run_scenario("kv_put_delete")


def test_txn():
    run_scenario("txn")


def test_pagination():
    run_scenario("pagination")


def test_compaction():
    run_scenario("compaction")


def test_maintenance():
    run_scenario("maintenance")


def test_alarm_nospace():
    # every write exceeds a 1-byte quota: NOSPACE alarm raised, disarmed, re-raised
    run_scenario("alarm_nospace", extra_args=["--quota-backend-bytes=1"])


def test_lease():
    run_scenario("lease")


def test_stm():
    run_scenario("stm")


# -- need the Watch API

def test_watch():
    run_scenario("watch")


def test_watch_progress_notify():
    run_scenario("watch_progress", extra_args=["--experimental-watch-progress-notify-interval=1s"])


def test_concurrency():
    run_scenario("concurrency")


if __name__ == "__main__":
    run_tests(globals())
