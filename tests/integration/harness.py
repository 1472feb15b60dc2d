"""Differential test harness for Capstan integration tests (stdlib only).

A differential test starts a *reference* server (Debian's etcd 3.4, override with
ETCD_REF_BIN) and a *candidate* server (CAPSTAN_BIN, default build/bin/capstan),
both with etcd's own command-line flags on free 127.0.0.1 ports and fresh data
dirs, drives both with identical requests and compares the results after
normalizing what legitimately differs between two servers (ids, ports,
timestamps, version string, raft indexes, db sizes, hashes ...).

Running CAPSTAN_BIN=/usr/bin/etcd (etcd vs etcd) must pass: that validates the
harness and the normalization.

Test-file convention (see run_tests):
  * a test file defines functions named test_*; run_tests(globals()) runs them
    all in definition order (or those whose name contains one of argv[1:]),
  * every failing test prints its failure (a diff per mismatching step),
  * the last line printed is exactly "N passed, M failed"; exit code 0 iff M == 0.
"""

import base64
import ctypes
import difflib
import inspect
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ETCDCTL = os.environ.get("ETCDCTL_BIN", "/usr/bin/etcdctl")
REF_BIN = os.environ.get("ETCD_REF_BIN", "/usr/bin/etcd")
HOST = "127.0.0.1"
HEALTH_TIMEOUT_S = 20.0
# CAPDIFF_VERBOSE=1 prints every step's normalized reference result.
VERBOSE = os.environ.get("CAPDIFF_VERBOSE", "") not in ("", "0")

# Environment variables that would change how etcdctl / etcd / gRPC behave.
_SCRUB_ENV_PREFIXES = ("ETCD_", "ETCDCTL_")
_SCRUB_ENV_NAMES = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                    "grpc_proxy", "GRPC_PROXY", "all_proxy", "ALL_PROXY"}


class HarnessError(Exception):
    """Infrastructure problem (server did not start, binary missing...)."""


class TestFailure(AssertionError):
    """A test found a difference; str() is the full report."""


def candidate_binary():
    return os.environ.get("CAPSTAN_BIN") or os.path.join(REPO_ROOT, "build", "bin", "capstan")


def check_binary(path, what):
    """Return None if `path` is an executable file, else a clear message."""
    if not os.path.exists(path):
        return f"{what}={path}: no such file"
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        return f"{what}={path}: not an executable file"
    return None


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_SCRUB_ENV_PREFIXES) and k not in _SCRUB_ENV_NAMES}
    env.update(extra)
    return env


# ---------------------------------------------------------------------------
# ports

_ports_lock = threading.Lock()
_ports_handed_out = set()


def free_port():
    """A currently free TCP port on 127.0.0.1, never handed out twice per process."""
    with _ports_lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((HOST, 0))
                port = s.getsockname()[1]
            if port not in _ports_handed_out:
                _ports_handed_out.add(port)
                return port
    raise HarnessError("could not find a free loopback port")


# ---------------------------------------------------------------------------
# etcdctl

def _to_text(b):
    return b.decode("utf-8", errors="backslashreplace") if isinstance(b, bytes) else (b or "")


def etcdctl(endpoint, *args, stdin=None, timeout=30, dial_timeout="2s", command_timeout="5s"):
    """Run `etcdctl --endpoints=<endpoint> <args>` with ETCDCTL_API=3.

    args may be str or bytes (bytes allow non-UTF-8 keys); stdin str/bytes/None.
    Returns (exit code, stdout, stderr) with stdout/stderr decoded as UTF-8
    (invalid bytes as \\xNN escapes).  A client-side hang is reported as exit
    code 124 with a message on stderr.
    """
    cmd = [ETCDCTL, f"--endpoints={endpoint}", f"--dial-timeout={dial_timeout}",
           f"--command-timeout={command_timeout}"] + list(args)
    if isinstance(stdin, str):
        stdin = stdin.encode()
    try:
        p = subprocess.run(cmd, input=stdin if stdin is not None else b"",
                           capture_output=True, timeout=timeout,
                           env=clean_env(ETCDCTL_API="3"))
    except subprocess.TimeoutExpired as e:
        return 124, _to_text(e.stdout), _to_text(e.stderr) + f"\n[harness] etcdctl timed out after {timeout}s"
    return p.returncode, _to_text(p.stdout), _to_text(p.stderr)


# ---------------------------------------------------------------------------
# servers

try:  # resolved once here: the child after fork only calls it
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - non-Linux
    _prctl = None


def _die_with_parent():
    """In the server child: PR_SET_PDEATHSIG=SIGKILL, so that a server never
    outlives a test process killed hard (e.g. by a ctest timeout)."""
    if _prctl is not None:
        _prctl(1, int(signal.SIGKILL), 0, 0, 0)


# gRPC's C core (python3-etcd3) registers pthread_atfork handlers that can
# deadlock a fork() in a process that has used gRPC (seen: the parent hangs
# forever in grpc's prefork handler after clients were closed).  A Popen with
# preexec_fn must fork(); without one, Python uses vfork(), which runs no
# atfork handlers.  setpriv (util-linux) sets the parent-death signal and
# execs the server, replacing _die_with_parent.  Opt in per server with
# Server.no_fork_handlers = True (or on the class, for a whole test file).
SETPRIV = shutil.which("setpriv")


def spawn_args(cmd, no_fork_handlers):
    """(command, preexec_fn) for a server child that dies with this process;
    no Python code in the child when no_fork_handlers (and setpriv exists)."""
    if no_fork_handlers and SETPRIV:
        return [SETPRIV, "--pdeathsig", "KILL", "--"] + list(cmd), None
    return list(cmd), _die_with_parent


_server_seq = itertools.count(1)
_log_dirs = []          # every server's temp dir (holds its log); see run_tests
_log_dirs_lock = threading.Lock()


class Server:
    """Start one etcd-compatible server (real etcd or Capstan) as a context manager.

    Uses exactly etcd's flags on free 127.0.0.1 client/peer ports and a fresh
    temp data dir; `extra_args` are appended.  Waits (bounded) until
    `etcdctl endpoint health` succeeds.  stdout+stderr of the server go to
    self.log_path.  On exit: SIGTERM, then SIGKILL after a grace period; the data
    dir is removed, the log is kept until run_tests decides (removed if all tests
    passed, path printed otherwise).
    """

    no_fork_handlers = True    # see spawn_args: a fork with gRPC clients alive can deadlock

    def __init__(self, binary, name="capdiff", extra_args=(), label=None,
                 health_timeout=HEALTH_TIMEOUT_S):
        self.binary = binary
        # unique per server (so a server answering on our port is recognizable);
        # normalized to <MEMBER_NAME> in outputs
        self.name = f"{name}-{os.getpid()}-{next(_server_seq)}"
        self.extra_args = list(extra_args)
        self.label = label or os.path.basename(binary)
        self.health_timeout = health_timeout
        self.proc = None
        self.client_port = self.peer_port = None
        self.member_id = None
        self.cluster_id = None
        self.root = tempfile.mkdtemp(prefix=f"capstan-it-{self.label}-")
        with _log_dirs_lock:
            _log_dirs.append(self.root)
        self.data_dir = os.path.join(self.root, "data")
        self.log_path = os.path.join(self.root, "server.log")

    # -- addresses
    @property
    def endpoint(self):
        return f"{HOST}:{self.client_port}"

    @property
    def client_url(self):
        return f"http://{HOST}:{self.client_port}"

    @property
    def peer_url(self):
        return f"http://{HOST}:{self.peer_port}"

    def command(self):
        return [self.binary,
                "--name", self.name,
                "--data-dir", self.data_dir,
                "--listen-client-urls", self.client_url,
                "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", f"{self.name}={self.peer_url}",
                "--initial-cluster-state", "new",
                "--initial-cluster-token", f"capdiff-{os.getpid()}-{self.client_port}",
                ] + self.extra_args

    def log_tail(self, n=25):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "backslashreplace").splitlines()
            return "\n".join("    | " + l[:300] for l in lines[-n:])
        except OSError as e:
            return f"    | (no log: {e})"

    def _launch(self, fresh=True):
        if fresh:  # new ports and an empty data dir (restart() passes False)
            self.client_port, self.peer_port = free_port(), free_port()
            shutil.rmtree(self.data_dir, ignore_errors=True)
        log = open(self.log_path, "ab")
        try:
            log.write(("[harness] " + " ".join(self.command()) + "\n").encode())
            log.flush()
            cmd, preexec = spawn_args(self.command(), self.no_fork_handlers)
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=clean_env(),
                                         start_new_session=True, preexec_fn=preexec)
        except OSError as e:
            raise HarnessError(f"[{self.label}] cannot execute {self.binary}: {e}") from e
        finally:
            log.close()

    def start(self):
        """Launch the server and wait until it is healthy (or raise HarnessError)."""
        self.launch()
        return self.wait_healthy()

    def launch(self):
        """Start the process without waiting (call from the main thread: the
        child is killed by PR_SET_PDEATHSIG when the launching thread dies)."""
        err = check_binary(self.binary, "server binary")
        if err:
            raise HarnessError(f"[{self.label}] {err}")
        self._attempts = getattr(self, "_attempts", 0) + 1
        self._launch()
        return self

    def wait_healthy(self):
        deadline = time.monotonic() + self.health_timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            rc, out, errout = etcdctl(self.endpoint, "endpoint", "health",
                                      dial_timeout="1s", command_timeout="2s", timeout=10)
            if rc == 0:
                if not self._is_us():
                    # another process' server answers on "our" port (lost a
                    # port race): relaunch on new ports
                    self.stop()
                    if self._attempts < 3:
                        return self.launch().wait_healthy()
                    raise HarnessError(f"[{self.label}] another server answers on {self.endpoint}")
                self._learn_ids()
                return self
            last = (out + errout).strip()
            time.sleep(0.2)
        exited = self.proc.poll()
        if exited is not None and self._attempts < 3 and "address already in use" in self.log_tail(200):
            # lost a port race with another process: retry on new ports
            return self.launch().wait_healthy()
        self.stop()
        why = (f"exited with code {exited}" if exited is not None
               else f"not healthy after {self.health_timeout:.0f}s")
        raise HarnessError(
            f"[{self.label}] server {why}: {' '.join(self.command())}\n"
            f"  last health check: {last[-500:] or '(none)'}\n  log: {self.log_path}\n{self.log_tail()}")

    def _is_us(self):
        """False if the healthy endpoint is not our process (it died, or the
        member list names someone else).  A failing member list is not held
        against the server here: the tests compare member list themselves."""
        if self.proc.poll() is not None:
            return False
        rc, out, _ = etcdctl(self.endpoint, "member", "list", "-w", "json")
        return rc != 0 or self.name in out

    def _learn_ids(self):
        """member_id / cluster_id as the server itself reports them (for
        normalization): from `endpoint status`, else from `member list`."""
        rc, out, _ = etcdctl(self.endpoint, "endpoint", "status", "-w", "json")
        try:
            hdr = json.loads(out)[0]["Status"]["header"] if rc == 0 else {}
        except (ValueError, KeyError, IndexError, TypeError):
            hdr = {}
        self.member_id = int(hdr.get("member_id", 0)) or None
        self.cluster_id = int(hdr.get("cluster_id", 0)) or None
        if self.member_id and self.cluster_id:
            return
        rc, out, _ = etcdctl(self.endpoint, "member", "list", "-w", "json")
        try:
            doc = json.loads(out) if rc == 0 else {}
            self.cluster_id = self.cluster_id or int(doc["header"].get("cluster_id", 0)) or None
            self.member_id = self.member_id or int(doc["header"].get("member_id", 0)) or None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, keep_data=False):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- restarts on the same data dir (crash-recovery / persistence tests)
    def kill(self):
        """kill -9 the server; its data dir is kept (see restart)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self, wait=True):
        """Start the server again on the same ports and the same data dir,
        after kill() or stop(keep_data=True).  With wait=False it only
        launches (e.g. to kill it again during start-up); wait_healthy() then
        never relaunches on other ports (that would wipe the data dir)."""
        if self.alive():
            raise HarnessError(f"[{self.label}] restart() while the server is running")
        self._attempts = 1 << 30  # no port-race relaunch in wait_healthy
        self._launch(fresh=False)
        return self.wait_healthy() if wait else self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def describe(self):
        return f"{self.label} ({self.binary}, {self.endpoint}, log {self.log_path})"


# ---------------------------------------------------------------------------
# normalization

# Generic rules applied to every text output, in order.  Every rule states why
# the two servers may legitimately differ there.  Numeric rules only replace
# non-zero values: a zero (e.g. raft_term of an inner txn header) stays
# visible.  Server-specific values (member/cluster id, ports, member name,
# lease ids) are replaced first by Normalizer.literals, so these rules only
# see placeholders for them.
GENERIC_RULES = [
    # etcdctl prints member and cluster ids in its member messages with %16x:
    # an id below 2^60 gets a leading space ("added to cluster  1c2...").
    # Ids are random, so only the id placeholder's own padding is dropped.
    (re.compile(r"\b(Member|cluster) {2,}(<)"), r"\1 \2", "%16x padding of a short id"),
    # etcdctl's zap logger prints wall-clock timestamps and a random client uuid.
    (re.compile(r'"ts":"[^"]*"'), '"ts":"<TS>"', "client log timestamp"),
    (re.compile(r"endpoint://client-[0-9a-f-]+/"), "endpoint://client-<UUID>/", "client random uuid"),
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"), "<TS>", "timestamps"),
    # Latency measured by `endpoint health`.
    (re.compile(r"took = [0-9][0-9.a-zµ]*"), "took = <DURATION>", "latency"),
    (re.compile(r'"took":"[^"]*"'), '"took":"<DURATION>"', "latency"),
    (re.compile(r'"Took" : \S+'), '"Took" : <DURATION>', "latency"),
    # Raft term: implementation/election-timing dependent (etcd: 2 after boot).
    (re.compile(r'"raft_term":[1-9]\d*'), '"raft_term":<RAFT_TERM>', "raft term"),
    (re.compile(r'"raftTerm":[1-9]\d*'), '"raftTerm":<RAFT_TERM>', "raft term"),
    (re.compile(r'"RaftTerm" : [1-9]\d*'), '"RaftTerm" : <RAFT_TERM>', "raft term"),
    # Raft log indexes: etcd appends internal entries (ConfChange, member
    # attributes, cluster version) that another implementation need not.
    (re.compile(r'"(raftIndex|raftAppliedIndex)":[1-9]\d*'), r'"\1":<RAFT_INDEX>', "raft index"),
    (re.compile(r'"(RaftIndex|RaftAppliedIndex)" : [1-9]\d*'), r'"\1" : <RAFT_INDEX>', "raft index"),
    # Backend file size: storage engine dependent.
    (re.compile(r'"(dbSize|dbSizeInUse)":[1-9]\d*'), r'"\1":<DB_SIZE>', "db size"),
    (re.compile(r'"(DBSize|DBSizeInUse)" : [1-9]\d*'), r'"\1" : <DB_SIZE>', "db size"),
    # Server version: etcd 3.4 says 3.4.23, Capstan says 3.5.x.
    (re.compile(r'"version":"3\.\d+\.\d+[^"]*"'), '"version":"<SERVER_VERSION>"', "server version"),
    (re.compile(r'"Version" : "3\.\d+\.\d+[^"]*"'), '"Version" : "<SERVER_VERSION>"', "server version"),
    # `endpoint status` simple: endpoint, id, version, db size, is leader,
    # is learner, raft term, raft index, raft applied index, errors.
    (re.compile(r"^(127\.0\.0\.1:<CLIENT_PORT>, <MEMBER_ID>), 3\.\d+\.\d+[^,]*, [0-9.]+ [kMGT]?B, "
                r"(true|false), (true|false), \d+, \d+, \d+, ", re.M),
     r"\1, <SERVER_VERSION>, <DB_SIZE>, \2, \3, <RAFT_TERM>, <RAFT_INDEX>, <RAFT_INDEX>, ",
     "status line"),
    # HashKV: the hash covers the backend's encoding of keys/values, which is
    # implementation specific (tests separately check hash stability).
    (re.compile(r'"hash":[1-9]\d*'), '"hash":<HASH>', "kv hash"),
    (re.compile(r'"Hash" : [1-9]\d*'), '"Hash" : <HASH>', "kv hash"),
    (re.compile(r"^(127\.0\.0\.1:<CLIENT_PORT>), [1-9]\d*$", re.M), r"\1, <HASH>", "kv hash (simple)"),
]


# `-w table` output: the same etcdctl pads columns to the widest cell, so
# normalized values of other lengths would move every border.  Tables are
# re-rendered as "cell | cell" rows (content unchanged, borders dropped), then
# implementation-specific columns are normalized by header name (reasons as in
# GENERIC_RULES; zero values stay visible).
_TABLE_BORDER = re.compile(r"^\+[-+]+\+$")
TABLE_COLUMNS = {
    "VERSION": "<SERVER_VERSION>",
    "DB SIZE": "<DB_SIZE>",
    "RAFT TERM": "<RAFT_TERM>",
    "RAFT INDEX": "<RAFT_INDEX>",
    "RAFT APPLIED INDEX": "<RAFT_INDEX>",
    "TOOK": "<DURATION>",
    "HASH": "<HASH>",
}


def normalize_tables(text):
    lines = text.split("\n")
    if not any(_TABLE_BORDER.match(l) for l in lines):
        return text
    out, header = [], None
    for line in lines:
        if _TABLE_BORDER.match(line):
            continue
        if line.startswith("|") and line.endswith("|"):
            cells = [c.strip() for c in line[1:-1].split("|")]
            if header is None:
                header = cells
            else:
                cells = [TABLE_COLUMNS[h] if h in TABLE_COLUMNS and c not in ("", "0") else c
                         for h, c in zip(header, cells)] + cells[len(header):]
            out.append(" | ".join(cells))
        else:
            header = None
            out.append(line)
    return "\n".join(out)


def _id_forms(value):
    """Textual forms in which etcdctl prints a uint64 id."""
    forms = [format(value, "016x"), format(value, "x"), str(value)]
    # json of int64 lease ids may be negative when the top bit is set
    if value >= 1 << 63:
        forms.append(str(value - (1 << 64)))
    seen, out = set(), []
    for f in forms:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


class Normalizer:
    """Text normalizer bound to one server (knows its ids, ports and name)."""

    def __init__(self, server=None):
        self.literals = []   # (compiled regex, placeholder)
        self.ids = {}        # int -> placeholder (for structured data)
        self._leases = 0
        if server is not None:
            self.bind(server)

    def bind(self, server):
        self.add_text(f"{HOST}:{server.client_port}", f"{HOST}:<CLIENT_PORT>")
        self.add_text(f"{HOST}:{server.peer_port}", f"{HOST}:<PEER_PORT>")
        if server.member_id:
            self.add_id(server.member_id, "<MEMBER_ID>")
        if server.cluster_id:
            self.add_id(server.cluster_id, "<CLUSTER_ID>")
        self.add_text(server.name, "<MEMBER_NAME>")

    def add_text(self, text, placeholder):
        self.literals.append((re.compile(re.escape(text) + r"(?![0-9A-Za-z_-])"), placeholder))

    def add_id(self, value, placeholder):
        value = int(value)
        self.ids[value] = placeholder
        for form in _id_forms(value):
            self.literals.append((re.compile(r"(?<![0-9A-Za-z])" + re.escape(form) + r"(?![0-9A-Za-z])"),
                                  placeholder))

    def add_lease(self, lease_id):
        """Register a lease id granted by this server; returns its placeholder."""
        lease_id = int(lease_id)
        if lease_id in self.ids:
            return self.ids[lease_id]
        self._leases += 1
        ph = f"<LEASE_{self._leases}>"
        self.add_id(lease_id, ph)
        return ph

    def text(self, s):
        for rx, ph in self.literals:
            s = rx.sub(ph, s)
        for rx, repl, _why in GENERIC_RULES:
            s = rx.sub(repl, s)
        return normalize_tables(s)

    __call__ = text

    def ident(self, value):
        """Normalize one integer id found in structured data."""
        return self.ids.get(value, value)


# ---------------------------------------------------------------------------
# differential pair

def _render(value):
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=1, sort_keys=True, default=repr, ensure_ascii=False)


def _clip(line, width=240, at=0):
    """Clip a long line to `width` chars, keeping the window around offset `at`."""
    if len(line) <= width:
        return line
    start = max(0, min(at - width // 4, len(line) - width))
    head = f"[{start} chars]..." if start else ""
    tail = f"...[{len(line) - start - width} more chars]" if start + width < len(line) else ""
    return head + line[start:start + width] + tail


def _clip_lines(text, width=240):
    return [_clip(line, width) for line in text.splitlines()]


def _first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def unified_diff(a, b, a_name, b_name, max_lines=80, width=240):
    """Unified diff of two rendered values; long lines are clipped around the
    first character where a removed line differs from its added counterpart."""
    lines = list(difflib.unified_diff(_render(a).splitlines(), _render(b).splitlines(),
                                      a_name, b_name, lineterm="", n=2))
    out = lines[:2]
    i = 2
    while i < len(lines):
        if lines[i][:1] in "-+":
            minus, plus = [], []
            while i < len(lines) and lines[i][:1] == "-":
                minus.append(lines[i])
                i += 1
            while i < len(lines) and lines[i][:1] == "+":
                plus.append(lines[i])
                i += 1
            for k, l in enumerate(minus):
                at = _first_difference(l, plus[k]) if k < len(plus) else 0
                out.append(_clip(l, width, at))
            for k, l in enumerate(plus):
                at = _first_difference(l, minus[k]) if k < len(minus) else 0
                out.append(_clip(l, width, at))
        else:
            out.append(_clip(lines[i], width))
            i += 1
    if len(out) > max_lines:  # keep head and tail (the tail shows the candidate side of a big hunk)
        head, tail = max_lines * 2 // 3, max_lines // 3
        out = out[:head] + [f"... ({len(out) - head - tail} diff lines omitted) ..."] + out[-tail:]
    return "\n".join(out)


_BARE_PLACEHOLDER = re.compile(r"(?<=[:\[,])<([A-Z][A-Z0-9_]*)>(?=[,\]}])")


def parse_normalized_json(text):
    """json.loads for normalized output: bare placeholders (<MEMBER_ID> where a
    number was) are quoted first.  Raises ValueError if not JSON."""
    return json.loads(_BARE_PLACEHOLDER.sub(r'"<\1>"', text.strip()))


def pretty_json(text, decode_limit=200):
    """Re-render JSON output (after normalization) one field per line for readable
    diffs.  Bare placeholders (<MEMBER_ID> where a number was) are quoted first.
    Base64 "key"/"value" fields up to decode_limit bytes get an extra derived
    "key~"/"value~" field with the decoded bytes.  Returns None if `text` is not
    JSON.  This is a pure re-formatting: equal inputs give equal outputs and
    different JSON documents stay different."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        doc = parse_normalized_json(stripped)
    except ValueError:
        return None

    def annotate(node):
        if isinstance(node, list):
            return [annotate(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for k, v in node.items():
            out[k] = annotate(v)
            if k in ("key", "value", "range_end") and isinstance(v, str) and len(v) <= decode_limit * 4 // 3 + 4:
                try:
                    out[k + "~"] = repr(base64.b64decode(v, validate=True))
                except ValueError:
                    pass
        return out
    return json.dumps(annotate(doc), indent=1, ensure_ascii=False)


class DiffPair:
    """A reference etcd and a candidate server, started concurrently.

    Record mismatches with compare(); check() (called by __exit__ when the body
    did not raise) turns them into a TestFailure with one diff per step.
    """

    def __init__(self, extra_args=(), ref_bin=None, cand_bin=None, name="capdiff"):
        self.ref = Server(ref_bin or REF_BIN, name=f"{name}-ref", extra_args=extra_args, label="reference")
        self.cand = Server(cand_bin or candidate_binary(), name=f"{name}-cand", extra_args=extra_args,
                           label="candidate")
        self.mismatches = []
        self.steps = 0
        self.t0 = time.monotonic()

    def __enter__(self):
        # Launch both from this thread, then wait: they boot concurrently.
        errors = []
        try:
            for srv in (self.ref, self.cand):
                try:
                    srv.launch()
                except HarnessError as e:
                    errors.append(e)
            for srv in (self.ref, self.cand):
                if srv.proc is not None:
                    try:
                        srv.wait_healthy()
                    except HarnessError as e:
                        errors.append(e)
        except BaseException:
            self.ref.stop()
            self.cand.stop()
            raise
        if errors:
            self.ref.stop()
            self.cand.stop()
            raise HarnessError("\n".join(str(e) for e in errors))
        self.nref = Normalizer(self.ref)
        self.ncand = Normalizer(self.cand)
        return self

    def __exit__(self, exc_type, exc, tb):
        self.ref.stop()
        self.cand.stop()
        if exc_type is None:
            self.check()
        return False

    def servers(self):
        """(server, normalizer) for reference then candidate."""
        return ((self.ref, self.nref), (self.cand, self.ncand))

    def compare(self, step, ref_value, cand_value, what=""):
        """Compare two already-normalized values; record a diff when they differ."""
        self.steps += 1
        if VERBOSE:
            shown = "\n".join("    " + l for l in _clip_lines(_render(ref_value), 160)[:40])
            print(f"  step {step!r}:\n{shown}", flush=True)
        if ref_value == cand_value:
            return True
        self.mismatches.append(
            f"--- step {step!r} differs{': ' + what if what else ''}\n"
            + unified_diff(ref_value, cand_value, "reference (etcd)", "candidate (CAPSTAN_BIN)"))
        if not self.cand.alive():
            raise TestFailure(self.report() + f"\ncandidate server died (exit code {self.cand.proc.poll()}); "
                              f"log: {self.cand.log_path}\n{self.cand.log_tail()}")
        return False

    def note_candidate_timeout(self, timed_out, limit=3):
        """Abort the test after `limit` consecutive candidate steps that timed
        out: a hanging server would otherwise cost a full timeout per step."""
        self._timeouts = getattr(self, "_timeouts", 0) + 1 if timed_out else 0
        if self._timeouts >= limit:
            raise TestFailure(self.report() + f"\ncandidate unresponsive: {limit} consecutive steps timed out; "
                              f"rest of this test skipped. log: {self.cand.log_path}\n{self.cand.log_tail()}")

    def report(self):
        return (f"{len(self.mismatches)} of {self.steps} steps differ "
                f"[{self.ref.describe()}; {self.cand.describe()}]\n"
                + "\n".join(self.mismatches))

    def check(self):
        if self.mismatches:
            raise TestFailure(self.report())


def b64(s):
    """Base64 the way etcdctl -w json prints keys/values."""
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


# ---------------------------------------------------------------------------
# runner

def run_tests(namespace, argv=None):
    """Run every test_* function of a test module; never returns.

    Prints one line per test, a failure report per failed test, and finally
    exactly "N passed, M failed".  Exit code 0 iff M == 0.  argv[1:] (optional)
    selects tests whose name contains one of the given substrings.
    """
    argv = sys.argv if argv is None else argv
    tests = sorted(((f.__code__.co_firstlineno, name, f) for name, f in namespace.items()
                    if name.startswith("test_") and inspect.isfunction(f)))
    if argv[1:]:
        tests = [t for t in tests if any(sel in t[1] for sel in argv[1:])]
    title = os.path.basename(namespace.get("__file__", "tests"))
    cand = candidate_binary()
    print(f"{title}: reference={REF_BIN} candidate={cand} etcdctl={ETCDCTL}", flush=True)

    problems = [p for p in (check_binary(REF_BIN, "ETCD_REF_BIN (reference etcd)"),
                            check_binary(ETCDCTL, "ETCDCTL_BIN"),
                            check_binary(cand, "CAPSTAN_BIN")) if p]
    if problems:
        for p in problems:
            print(f"ERROR: {p}", flush=True)
        print("  (set CAPSTAN_BIN to the Capstan server binary; CAPSTAN_BIN=/usr/bin/etcd validates the harness)")
        for _, name, _ in tests:
            print(f"FAIL {name}: not run, binary missing")
        print(f"0 passed, {len(tests)} failed", flush=True)
        sys.exit(1)

    # SIGTERM (e.g. from a test driver) unwinds through the context managers,
    # which stop the servers and remove their data dirs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    passed = failed = 0
    t_all = time.monotonic()
    for _, name, fn in tests:
        t0 = time.monotonic()
        with _log_dirs_lock:
            first_dir = len(_log_dirs)
        ok = False
        try:
            fn()
            ok = True
        except TestFailure as e:
            msg = f"FAIL {name} ({time.monotonic() - t0:.1f}s)\n{e}"
        except HarnessError as e:
            msg = f"FAIL {name} ({time.monotonic() - t0:.1f}s): harness error\n{e}"
        except Exception:  # noqa: BLE001 - report anything else as a failure
            msg = f"FAIL {name} ({time.monotonic() - t0:.1f}s): exception\n{traceback.format_exc()}"
        with _log_dirs_lock:
            dirs = _log_dirs[first_dir:]
        if ok:
            passed += 1
            print(f"ok   {name} ({time.monotonic() - t0:.1f}s)", flush=True)
            for d in dirs:  # logs of passing tests are not interesting
                shutil.rmtree(d, ignore_errors=True)
        else:
            failed += 1
            logs = "".join(f"\n  server log kept: {d}/server.log" for d in dirs)
            print(msg.rstrip() + logs + "\n", flush=True)
    print(f"total {time.monotonic() - t_all:.1f}s", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 else 1)
