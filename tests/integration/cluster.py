"""Multi-member Capstan clusters for integration tests (stdlib + python3-etcd3).

  Cluster(size, name, proxy=False)   N real capstan processes on 127.0.0.1,
                                     free ports, temp data dirs (harness.Server)
  PeerProxy                          peer_proxy.py in its own process: every
                                     member's advertised peer URL points at it
  Workload                           client threads spread over the members,
                                     every operation recorded for the
                                     linearizability checker
  check_events / check_converged / check_member_lists
                                     end-of-scenario invariants

Conventions as in harness.py: servers die with the test process (setpriv
--pdeathsig), their logs are kept by run_tests when a test fails.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import linearizability as lin  # noqa: E402
from harness import (HOST, REF_BIN, HarnessError, Server, candidate_binary, clean_env,  # noqa: E402
                     etcdctl, free_port, spawn_args)

for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "grpc_proxy", "all_proxy",
           "ALL_PROXY"):
    os.environ.pop(_v, None)

try:
    import etcd3
    import etcd3.etcdrpc as rpc
    import grpc
    IMPORT_ERROR = None
except ImportError as e:  # pragma: no cover
    IMPORT_ERROR = f"{e} (python3-etcd3 is installed for Debian's /usr/bin/python3; running {sys.executable})"

Server.no_fork_handlers = True

VERBOSE = os.environ.get("CAPDIFF_VERBOSE", "") not in ("", "0")
HEARTBEAT_MS = int(os.environ.get("CLUSTER_HEARTBEAT_MS", "100"))
ELECTION_MS = int(os.environ.get("CLUSTER_ELECTION_MS", "1000"))
SNAPSHOT_COUNT = os.environ.get("CLUSTER_SNAPSHOT_COUNT", "500")
GRPC_OPTIONS = [("grpc.enable_http_proxy", 0),
                # reconnect quickly to a restarted member
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 500)]


def log(msg):
    if VERBOSE:
        print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def grpc_error(e):
    if hasattr(e, "code") and callable(e.code):
        try:
            return f"{e.code().name}: {e.details()}"
        except Exception:  # noqa: BLE001
            pass
    return f"{type(e).__name__}: {e}"


def client(port, timeout=5):
    return etcd3.client(host=HOST, port=port, timeout=timeout, grpc_options=GRPC_OPTIONS)


# ---------------------------------------------------------------------------
# the peer proxy process

class PeerProxy:
    """Controls a peer_proxy.py process; see its docstring for the modes."""

    def __init__(self, pairs):
        self.pairs = pairs
        self.proc = None
        self.lock = threading.Lock()

    def start(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_proxy.py")
        cmd, preexec = spawn_args([sys.executable, script, json.dumps(self.pairs)], True)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=clean_env(), preexec_fn=preexec, text=True, bufsize=1)
        line = self.proc.stdout.readline()
        if not line or not json.loads(line).get("ok"):
            raise HarnessError(f"peer proxy did not start: {line!r}")
        return self

    def command(self, **req):
        with self.lock:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        reply = json.loads(line) if line else {"error": "proxy exited"}
        if "error" in reply:
            raise HarnessError(f"peer proxy: {reply['error']}")
        return reply

    def block(self, src="*", dst="*", mode="drop"):
        return self.command(cmd="block", src=src, dst=dst, mode=mode)

    def heal(self):
        return self.command(cmd="heal")

    def stats(self):
        return self.command(cmd="stats")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait(timeout=5)


# ---------------------------------------------------------------------------
# members and clusters

class Member(Server):
    """One member of a Cluster.  Ports are chosen up front (the whole
    --initial-cluster must be known before the first start) and never change;
    start/restart never wipe the data dir."""

    def __init__(self, cluster, index, name):
        super().__init__(cluster.binary, name="cl", label=f"{cluster.name}-{name}")
        self.cluster = cluster
        self.index = index
        self.name = name
        self.client_port = free_port()
        self.peer_port = free_port()                 # --listen-peer-urls (real)
        self.adv_peer_port = self.peer_port          # what the others dial (maybe the proxy)
        self.initial_cluster = ""
        self.state = "new"
        self.id = None
        self.stopped_by_signal = False
        self._attempts = 1 << 30                      # never relaunch on other ports

    @property
    def adv_peer_url(self):
        return f"http://{HOST}:{self.adv_peer_port}"

    def command(self):
        return [self.binary,
                "--name", self.name,
                "--data-dir", self.data_dir,
                "--listen-client-urls", self.client_url,
                "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.adv_peer_url,
                "--initial-cluster", self.initial_cluster,
                "--initial-cluster-state", self.state,
                "--initial-cluster-token", self.cluster.token,
                "--heartbeat-interval", str(HEARTBEAT_MS),
                "--election-timeout", str(ELECTION_MS),
                ] + self.extra_args

    def launch(self):
        self._launch(fresh=False)
        self.stopped_by_signal = False
        return self

    def restart(self, wait=True):
        if self.alive():
            raise HarnessError(f"[{self.label}] restart() while running")
        self._launch(fresh=False)
        self.stopped_by_signal = False
        return self.wait_healthy() if wait else self

    def wait_healthy(self, timeout=None):
        """A linearizable read answers (what `etcdctl endpoint health` does)."""
        deadline = time.monotonic() + (timeout or self.health_timeout)
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            # a new channel each time: a channel that failed to connect while
            # the server started backs off for seconds
            c = client(self.client_port, timeout=2)
            try:
                c.kvstub.Range(rpc.RangeRequest(key=b"health"), 2)
                return self
            except Exception as e:  # noqa: BLE001
                last = grpc_error(e)
                time.sleep(0.1)
            finally:
                c.close()
        exited = self.proc.poll()
        why = f"exited with code {exited}" if exited is not None else "not healthy in time"
        raise HarnessError(f"[{self.label}] {why}; last error: {last}\n  log: {self.log_path}\n"
                           f"{self.log_tail()}")

    def signal(self, sig):
        # setpriv (spawn_args) execs the server: the child's pid is the server's
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, keep_data=True):
        if self.stopped_by_signal:
            self.signal(signal.SIGCONT)
        super().stop(keep_data=keep_data)


def is_reference_etcd(binary):
    """Whether `binary` is real etcd (the reference, or CAPSTAN_BIN=/usr/bin/etcd
    validating a test): it lacks Capstan-only flags."""
    return os.path.realpath(binary) == os.path.realpath(REF_BIN) or os.path.basename(binary) == "etcd"


class Cluster:
    """`size` members on 127.0.0.1 running `binary` (default: the candidate,
    CAPSTAN_BIN).  With proxy=True every member advertises a PeerProxy port as
    its peer URL (links can then be cut)."""

    def __init__(self, size, name, proxy=False, extra_args=(), binary=None):
        self.name = name
        self.binary = binary or candidate_binary()
        self.token = f"{name}-{os.getpid()}-{random.randrange(1 << 30)}"
        self.members = []
        self.removed = []
        self.use_proxy = proxy
        self.proxy = None
        self.extra_args = list(extra_args)
        if "--snapshot-count" not in self.extra_args:
            # Small enough that every scenario compacts its log and members
            # that fall behind catch up through snapshots, under the same
            # checks as everything else.
            self.extra_args += ["--snapshot-count", SNAPSHOT_COUNT]
            if not is_reference_etcd(self.binary):   # etcd 3.4 has no such flag
                self.extra_args += ["--experimental-snapshot-catchup-entries", "100"]
        for i in range(size):
            self._new_member()
        self._clients = {}

    def _new_member(self):
        i = len(self.members) + len(self.removed)
        m = Member(self, i, f"{self.name}-m{i}")
        m.extra_args = list(self.extra_args)
        if self.use_proxy:
            m.adv_peer_port = free_port()
        self.members.append(m)
        return m

    def _initial_cluster(self, members):
        return ",".join(f"{m.name}={m.adv_peer_url}" for m in members)

    # -- lifecycle
    def start(self):
        try:
            self.launch()
            self.wait_started()
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self):
        """Start every member's process without waiting (several clusters can
        then boot concurrently); wait_started() completes start()."""
        if self.use_proxy:
            self._start_proxy(self.members)
        ic = self._initial_cluster(self.members)
        for m in self.members:
            m.initial_cluster = ic
            m.launch()
        return self

    def wait_started(self):
        for m in self.members:
            m.wait_healthy()
        self.learn_ids()
        return self

    def _start_proxy(self, members):
        # one proxy process forwards to every member, present and future: a
        # member added later gets an entry reserved now
        self.reserved = [(free_port(), free_port()) for _ in range(2)]   # (proxy port, real port)
        pairs = [[m.adv_peer_port, m.peer_port] for m in members] + [list(p) for p in self.reserved]
        self.proxy = PeerProxy(pairs).start()

    def stop(self):
        everyone = self.members + self.removed
        for m in everyone:        # SIGTERM to all first: they shut down in parallel
            try:
                if m.alive():
                    if m.stopped_by_signal:
                        m.signal(signal.SIGCONT)
                        m.stopped_by_signal = False
                    m.proc.send_signal(signal.SIGTERM)
            except Exception:  # noqa: BLE001
                pass
        for m in everyone:
            try:
                m.stop(keep_data=False)
            except Exception:  # noqa: BLE001
                pass
        for c in self._clients.values():
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        self._clients.clear()
        if self.proxy:
            self.proxy.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def live(self):
        return [m for m in self.members if m.alive() and not m.stopped_by_signal]

    def client(self, m):
        c = self._clients.get(m.index)
        if c is None:
            c = self._clients[m.index] = client(m.client_port)
        return c

    def learn_ids(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            try:
                m0 = self.live()[0]
                resp = self.client(m0).clusterstub.MemberList(rpc.MemberListRequest(), 3)
                by_url = {}
                for mem in resp.members:
                    for u in mem.peerURLs:
                        by_url[u] = mem.ID
                for m in self.members:
                    m.id = by_url.get(m.adv_peer_url, m.id)
                if all(m.id for m in self.members):
                    return
            except Exception as e:  # noqa: BLE001
                if time.monotonic() > deadline:
                    raise HarnessError(f"member list failed: {grpc_error(e)}")
            if time.monotonic() > deadline:
                raise HarnessError("member ids not all known")
            time.sleep(0.2)

    def by_id(self, mid):
        for m in self.members:
            if m.id == mid:
                return m
        return None

    def status(self, m, timeout=2):
        return self.client(m).maintenancestub.Status(rpc.StatusRequest(), timeout)

    def leader(self, timeout=10, among=None):
        """The member the live members (or `among`) agree leads, waiting for one."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            views = {}
            err = ""
            for m in (among or self.live()):
                try:
                    st = self.status(m, timeout=1)
                    views[m.index] = (st.leader, st.raftTerm)
                except Exception as e:  # noqa: BLE001
                    err = f"{m.name}: {grpc_error(e)}"
                    self._clients.pop(m.index, None)   # a fresh channel next time
            leaders = {v[0] for v in views.values()}
            if len(leaders) == 1 and views:
                lid = leaders.pop()
                ld = self.by_id(lid)
                if lid and ld is not None and ld.index in views:
                    return ld
            names = {m.index: m.name for m in self.members + self.removed}
            shown = {names.get(i, i):
                     f"leader={getattr(self.by_id(v[0]), 'name', None) or hex(v[0])} term={v[1]}"
                     for i, v in views.items()}
            last = f"{err}; status: {shown}" if err else f"status: {shown}"
            time.sleep(0.1)
        raise HarnessError(f"no agreed leader within {timeout}s (live: "
                           f"{[m.name for m in (among or self.live())]}): {last}")

    def followers(self, leader):
        return [m for m in self.members if m is not leader]

    # -- faults
    def kill(self, m):
        log(f"kill -9 {m.name}")
        if m.stopped_by_signal:
            m.signal(signal.SIGCONT)
        m.kill()
        m.stopped_by_signal = False

    def restart(self, m):
        log(f"restart {m.name}")
        self._clients.pop(m.index, None)
        m.restart(wait=True)

    def sigstop(self, m):
        log(f"SIGSTOP {m.name}")
        m.signal(signal.SIGSTOP)
        m.stopped_by_signal = True

    def sigcont(self, m):
        log(f"SIGCONT {m.name}")
        m.signal(signal.SIGCONT)
        m.stopped_by_signal = False

    def isolate(self, m, mode="drop"):
        """Cut every link into and out of m."""
        log(f"isolate {m.name} ({mode})")
        self.proxy.block(src=m.id, dst="*", mode=mode)
        self.proxy.block(src="*", dst=m.index, mode=mode)

    def cut(self, src, dst, mode="drop"):
        log(f"cut {src.name} -> {dst.name} ({mode})")
        self.proxy.block(src=src.id, dst=dst.index, mode=mode)

    def partition(self, side_a, side_b, mode="drop"):
        log(f"partition {[m.name for m in side_a]} | {[m.name for m in side_b]} ({mode})")
        for a in side_a:
            for b in side_b:
                self.proxy.block(src=a.id, dst=b.index, mode=mode)
                self.proxy.block(src=b.id, dst=a.index, mode=mode)

    def heal(self):
        log("heal")
        self.proxy.heal()

    # -- membership (through etcdctl, as an operator would)
    def ctl(self, m, *args, timeout=30):
        # As with etcd, a membership change is refused ("unhealthy cluster")
        # until the member has been connected to every voter for 5 s, and
        # ("not enough started members") until a member that just started has
        # published its name through the log, e.g. right after the cluster (or
        # a new member) started: retry, as an operator would.
        transient = ("unhealthy cluster", "not enough started members")
        deadline = time.monotonic() + 20
        while True:
            rc, out, err = etcdctl(m.endpoint, *args, timeout=timeout, command_timeout="10s")
            if rc == 0:
                return out
            if not any(t in err for t in transient) or time.monotonic() > deadline:
                raise HarnessError(f"etcdctl {' '.join(args)} on {m.name} failed ({rc}): {err.strip()[-400:]}")
            time.sleep(0.5)

    def add_member(self, via):
        """`etcdctl member add`, then start the new member with
        --initial-cluster-state existing.  Returns it (healthy)."""
        m = self._new_member()
        if self.use_proxy:
            if not self.reserved:
                raise HarnessError("no proxy slot left for a new member")
            m.adv_peer_port, m.peer_port = self.reserved.pop(0)
        log(f"member add {m.name} via {via.name}")
        out = self.ctl(via, "member", "add", m.name, f"--peer-urls={m.adv_peer_url}")
        # etcdctl prints ETCD_INITIAL_CLUSTER for the new member: use it as is
        ic = None
        for line in out.splitlines():
            if line.startswith("ETCD_INITIAL_CLUSTER="):
                ic = line.split("=", 1)[1].strip().strip('"')
        if not ic:
            raise HarnessError(f"member add printed no ETCD_INITIAL_CLUSTER:\n{out}")
        m.initial_cluster = ic
        m.state = "existing"
        m.launch()
        m.wait_healthy(timeout=30)
        self.learn_ids()
        return m

    def remove_member(self, m, via):
        log(f"member remove {m.name} via {via.name}")
        self.ctl(via, "member", "remove", format(m.id, "x"))
        self.members.remove(m)
        self.removed.append(m)
        self._clients.pop(m.index, None)

    def move_leader(self, via, target):
        log(f"move-leader {target.name} via {via.name}")
        return self.ctl(via, "move-leader", format(target.id, "x"))


# ---------------------------------------------------------------------------
# the workload

NEVER_SENT = ("failed to connect to all addresses", "Connection refused", "connections to all backends failing",
              "DNS resolution failed")


def classify_error(e):
    """'fail' if the request certainly never reached a server, else 'unknown'."""
    try:
        code, details = e.code(), e.details() or ""
    except Exception:  # noqa: BLE001
        return "unknown"
    if code == grpc.StatusCode.UNAVAILABLE and any(s in details for s in NEVER_SENT):
        return "fail"
    return "unknown"


class Worker(threading.Thread):
    def __init__(self, wl, tid, member):
        super().__init__(daemon=True, name=f"worker-{tid}")
        self.wl, self.tid, self.member = wl, tid, member
        self.rnd = random.Random(wl.rnd.random())
        self.seen = {}         # key -> (value, mod) last observed by this thread
        self.seq = 0
        self.c = None
        self.stop_ev = threading.Event()

    def connect(self):
        if self.c is not None:
            try:
                self.c.close()
            except Exception:  # noqa: BLE001
                pass
        self.c = client(self.member.client_port, timeout=self.wl.rpc_timeout)

    def run(self):
        wl = self.wl
        try:
            self.connect()
            while not (wl.stop_ev.is_set() or self.stop_ev.is_set()):
                if self.member.index in wl.paused or not self.member.alive():
                    time.sleep(0.02)
                    continue
                ok = self.one()
                if not ok:
                    time.sleep(self.rnd.uniform(0.05, 0.2))
                elif wl.think:
                    time.sleep(self.rnd.uniform(0, wl.think))
        except Exception as e:  # noqa: BLE001
            wl.problems.append(f"worker {self.tid}: crashed: {e!r}")
        finally:
            if self.c is not None:
                try:
                    self.c.close()
                except Exception:  # noqa: BLE001
                    pass

    def value(self):
        self.seq += 1
        return f"{self.wl.tag}/w{self.tid}/{self.seq}".encode()

    def one(self):
        wl, rnd = self.wl, self.rnd
        key = rnd.choice(wl.keys)
        kind = rnd.choices(("get", "put", "cas", "delete"), wl.mix)[0]
        kv = self.c.kvstub
        op = lin.Op(self.tid, kind, key, note=self.member.name)
        if kind == "get":
            req = rpc.RangeRequest(key=key)
            call = kv.Range
        elif kind == "put":
            op.value = self.value()
            req = rpc.PutRequest(key=key, value=op.value)
            call = kv.Put
        elif kind == "delete":
            req = rpc.DeleteRangeRequest(key=key)
            call = kv.DeleteRange
        else:
            op.value = self.value()
            seen = self.seen.get(key)
            if seen and seen[0] is not None and rnd.random() < 0.5:
                op.cmp = ("value", seen[0])
                cmp = rpc.Compare(key=key, target=rpc.Compare.VALUE, result=rpc.Compare.EQUAL,
                                  value=seen[0])
            else:
                m = seen[1] if seen else 0
                op.cmp = ("mod", m)
                cmp = rpc.Compare(key=key, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                                  mod_revision=m)
            req = rpc.TxnRequest(compare=[cmp],
                                 success=[rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=op.value))],
                                 failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=key))])
            call = kv.Txn
        stale = None
        if kind == "get" and wl.inject_stale_reads:
            stale = wl.stale_candidate(self, key)
        op.call = time.monotonic()
        try:
            r = call(req, wl.rpc_timeout)
        except Exception as e:  # noqa: BLE001
            op.status = classify_error(e)
            op.note += " " + grpc_error(e)[:80]
            wl.record(op)
            if op.status == "fail":
                self.connect()     # a fresh channel, not one in a long reconnect backoff
            if op.status == "unknown" and kind != "get":
                self.seen.pop(key, None)
            return False
        op.ret = time.monotonic()
        rev = r.header.revision
        if kind == "get":
            if r.kvs:
                op.out = {"value": r.kvs[0].value, "mod": r.kvs[0].mod_revision, "rev": rev}
            else:
                op.out = {"value": None, "mod": 0, "rev": rev}
            if stale is not None:          # the injected client bug: answer from a stale cache
                op.out = dict(stale)
                op.note += " [stale-cache]"
            else:
                wl.cache_read(self, key, op)
            self.seen[key] = (op.out["value"], op.out["mod"])
        elif kind == "put":
            op.out = {"rev": rev}
            self.seen[key] = (op.value, rev)
        elif kind == "delete":
            op.out = {"deleted": r.deleted, "rev": rev}
            self.seen[key] = (None, 0)
        else:
            op.out = {"succeeded": r.succeeded, "rev": rev}
            if r.succeeded:
                self.seen[key] = (op.value, rev)
            else:
                kvs = r.responses[0].response_range.kvs if r.responses else []
                op.out.update(read=True, value=kvs[0].value if kvs else None,
                              mod=kvs[0].mod_revision if kvs else 0)
                self.seen[key] = (op.out["value"], op.out["mod"])
        wl.record(op)
        return True


class Workload:
    """Client threads issuing get/put/cas/delete on a few shared keys, each
    thread bound to one member; every operation recorded (Op)."""

    def __init__(self, cluster, tag, nkeys=6, threads_per_member=2, rpc_timeout=3.0, seed=None,
                 mix=(45, 30, 15, 10), think=0.0):
        self.cluster = cluster
        self.tag = tag
        self.keys = [f"{tag}/k{i}".encode() for i in range(nkeys)]
        self.prefix = f"{tag}/".encode()
        self.rpc_timeout = rpc_timeout
        self.rnd = random.Random(seed)
        self.mix = mix
        self.think = think
        self.history = []
        self.hlock = threading.Lock()
        self.problems = []
        self.paused = set()
        self.stop_ev = threading.Event()
        self.workers = []
        self.threads_per_member = threads_per_member
        self.inject_stale_reads = False
        self._reads = {}           # key -> [(ret, out)] recent successful reads (stale-cache bug)
        self._last_change = {}     # key -> return time of the last acknowledged change

    def record(self, op):
        with self.hlock:
            self.history.append(op)
            if op.changed_store():
                self._last_change[op.key] = max(self._last_change.get(op.key, 0), op.ret)

    def cache_read(self, worker, key, op):
        if self.inject_stale_reads:
            with self.hlock:
                self._reads.setdefault(key, []).append((op.ret, dict(op.out)))

    def stale_candidate(self, worker, key):
        """For the injected bug: a read result that an acknowledged change
        made stale before now, if there is one."""
        with self.hlock:
            last = self._last_change.get(key, 0)
            cands = [out for (t, out) in self._reads.get(key, []) if t < last]
        if cands and worker.rnd.random() < 0.2:
            return worker.rnd.choice(cands)
        return None

    def start(self):
        for m in self.cluster.members:
            self.add_member(m)
        return self

    def add_member(self, m, n=None):
        for _ in range(n or self.threads_per_member):
            w = Worker(self, len(self.workers), m)
            self.workers.append(w)
            w.start()

    def retire_member(self, m):
        """Stop the threads bound to m (e.g. before it is removed)."""
        for w in self.workers:
            if w.member is m:
                w.stop_ev.set()
        for w in self.workers:
            if w.member is m:
                w.join(timeout=self.rpc_timeout + 5)

    def pause(self, m):
        self.paused.add(m.index)

    def resume(self, m):
        self.paused.discard(m.index)

    def stop(self):
        self.stop_ev.set()
        for w in self.workers:
            w.join(timeout=self.rpc_timeout + 5)
            if w.is_alive():
                self.problems.append(f"worker {w.tid} did not stop")

    def final_reads(self, members):
        """A linearizable read of every key on every member, recorded too."""
        for m in members:
            c = client(m.client_port, timeout=self.rpc_timeout)
            try:
                for key in self.keys:
                    op = lin.Op(-1 - m.index, "get", key, note=f"{m.name} final")
                    op.call = time.monotonic()
                    try:
                        r = c.kvstub.Range(rpc.RangeRequest(key=key), 5)
                    except Exception as e:  # noqa: BLE001
                        self.problems.append(f"final read of {key!r} on {m.name} failed: {grpc_error(e)}")
                        continue
                    op.ret = time.monotonic()
                    op.out = ({"value": r.kvs[0].value, "mod": r.kvs[0].mod_revision,
                               "rev": r.header.revision} if r.kvs else
                              {"value": None, "mod": 0, "rev": r.header.revision})
                    self.record(op)
            finally:
                c.close()

    def stats(self):
        h = self.history
        n = len(h)
        by = {}
        for op in h:
            by[(op.kind, op.status)] = by.get((op.kind, op.status), 0) + 1
        cas_ok = sum(1 for op in h if op.kind == "cas" and op.status == "ok" and op.out.get("succeeded"))
        return (f"{n} ops: " + ", ".join(f"{k}/{s} {c}" for (k, s), c in sorted(by.items()))
                + f"; cas succeeded {cas_ok}")


# ---------------------------------------------------------------------------
# end-of-scenario checks

def watch_events(m, prefix, upto, timeout=30):
    """Every event under `prefix` from revision 1 through `upto`, from m's watch."""
    end = prefix[:-1] + bytes([prefix[-1] + 1])
    done = threading.Event()

    def reqs():
        yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=prefix, range_end=end,
                                                                     start_revision=1))
        done.wait(timeout)

    c = client(m.client_port, timeout=timeout)
    events = []
    try:
        if upto <= 1:
            return events
        it = rpc.WatchStub(c.channel).Watch(reqs(), timeout)
        try:
            for resp in it:
                for ev in resp.events:
                    events.append((ev.type, ev.kv.key, ev.kv.value, ev.kv.mod_revision))
                if events and events[-1][3] >= upto:
                    break
        finally:
            done.set()
            it.cancel()
    finally:
        c.close()
    return events


def store_revision(m):
    c = client(m.client_port, timeout=3)
    try:
        return c.kvstub.Range(rpc.RangeRequest(key=b"\0", serializable=True), 3).header.revision
    finally:
        c.close()


def check_converged(cluster, timeout=20):
    """All members reach the same revision and the same HashKV at it.
    Returns (revision, problems)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            revs = {m.name: store_revision(m) for m in cluster.members}
        except Exception as e:  # noqa: BLE001
            last = grpc_error(e)
            time.sleep(0.2)
            continue
        if len(set(revs.values())) == 1:
            rev = next(iter(revs.values()))
            hashes = {}
            for m in cluster.members:
                c = client(m.client_port)
                try:
                    r = c.maintenancestub.HashKV(rpc.HashKVRequest(revision=rev), 5)
                    hashes[m.name] = (r.hash, r.compact_revision)
                finally:
                    c.close()
            if len(set(hashes.values())) == 1:
                return rev, []
            return rev, [f"HashKV at revision {rev} differs between members: {hashes}"]
        last = f"revisions {revs}"
        time.sleep(0.2)
    return None, [f"members did not converge within {timeout}s: {last}"]


def check_member_lists(cluster, timeout=15):
    """Every member lists exactly the cluster's members, with names and URLs."""
    want = {m.id: (m.name, (m.adv_peer_url,), (m.client_url,), False) for m in cluster.members}
    deadline = time.monotonic() + timeout
    last = []
    while time.monotonic() < deadline:
        last = []
        for m in cluster.members:
            try:
                resp = cluster.client(m).clusterstub.MemberList(rpc.MemberListRequest(), 3)
            except Exception as e:  # noqa: BLE001
                last.append(f"{m.name}: member list failed: {grpc_error(e)}")
                continue
            # (python3-etcd3's protos predate isLearner)
            got = {x.ID: (x.name, tuple(x.peerURLs), tuple(x.clientURLs), getattr(x, "isLearner", False))
                   for x in resp.members}
            if got != want:
                last.append(f"{m.name} lists {got}, expected {want}")
        if not last:
            return []
        time.sleep(0.3)
    return last


def check_events(history, events, t0=0.0, limit=15):
    """The store's event history (from a watch since revision 1) against the
    recorded operations: every acknowledged write is there exactly once at
    its revision, every event comes from a write that may have happened (ok
    or unknown, never one that failed), nothing happened twice."""
    problems = []
    by_value = {}
    for op in history:
        if op.kind in ("put", "cas") and op.value is not None:
            by_value[op.value] = op
    deletes_ok = {(op.key, op.out["rev"]): op for op in history
                  if op.kind == "delete" and op.status == "ok" and op.out.get("deleted") == 1}
    deletes_unknown = {}
    for op in history:
        if op.kind == "delete" and op.status == "unknown":
            deletes_unknown.setdefault(op.key, []).append(op)
    seen_values, seen_revs = set(), set()
    last_rev = 0
    for typ, key, value, rev in events:
        if rev <= last_rev:
            problems.append(f"event revisions not increasing: {rev} after {last_rev}")
        last_rev = rev
        seen_revs.add((key, rev))
        if typ == 0:    # PUT
            op = by_value.get(value)
            if op is None:
                problems.append(f"event put {key!r}={value!r} at {rev}: no client wrote that value")
                continue
            if value in seen_values:
                problems.append(f"value {value!r} written twice (again at {rev}): {op.describe(t0)}")
            seen_values.add(value)
            if op.key != key:
                problems.append(f"event put {key!r}={value!r} at {rev} but the op wrote {op.key!r}")
            if op.status == "fail":
                problems.append(f"a write that failed took effect at {rev}: {op.describe(t0)}")
            elif op.status == "ok":
                if op.kind == "cas" and not op.out.get("succeeded"):
                    problems.append(f"a compare-and-set reported as failed took effect at {rev}: "
                                    f"{op.describe(t0)}")
                elif op.out.get("rev") != rev:
                    problems.append(f"acknowledged at revision {op.out.get('rev')} but applied at {rev}: "
                                    f"{op.describe(t0)}")
        else:           # DELETE
            if (key, rev) in deletes_ok:
                continue
            cands = deletes_unknown.get(key)
            if cands:
                cands.pop(0)
                continue
            problems.append(f"event delete {key!r} at {rev}: no acknowledged or unknown delete explains it")
    for op in history:
        if not op.changed_store():
            continue
        if op.kind == "delete":
            if (op.key, op.out["rev"]) not in seen_revs:
                problems.append(f"acknowledged delete lost (no event at {op.out['rev']}): {op.describe(t0)}")
        elif op.value not in seen_values:
            problems.append(f"acknowledged write lost: {op.describe(t0)}")
    if len(problems) > limit:
        problems = problems[:limit] + [f"... {len(problems) - limit} more"]
    return problems


# ---------------------------------------------------------------------------
# showing that the checks can fail on real data

def inject_stale_read(history):
    """A copy of `history` with one real read turned stale: a read that saw
    write w, where w and an earlier acknowledged write w0 of the same key both
    completed before the read began, now reports w0's value.  Returns
    (mutated history, description) or (None, why not)."""
    writes = {}
    for op in history:
        if op.status == "ok" and op.kind in ("put", "cas") and op.changed_store():
            writes[op.value] = op
    ordered = sorted((op for op in history if op.status == "ok" and op.changed_store()
                      and op.kind in ("put", "cas")), key=lambda o: o.ret)
    per_key = {}
    for op in ordered:
        per_key.setdefault(op.key, []).append(op)
    for g in history:
        if g.kind != "get" or g.status != "ok" or g.out.get("value") not in writes:
            continue
        w = writes[g.out["value"]]
        if w.ret >= g.call:
            continue
        older = [o for o in per_key.get(g.key, []) if o.ret < w.call and o.value != w.value]
        if not older:
            continue
        w0 = older[-1]
        out = dict(g.out, value=w0.value, mod=w0.out["rev"])
        mutated = []
        for op in history:
            if op is g:
                op = lin.Op(op.client, op.kind, op.key, call=op.call, ret=op.ret, status=op.status,
                            out=out, note=op.note + " [INJECTED stale]")
            mutated.append(op)
        return mutated, f"read {g.describe()} now returns {w0.value!r} (overwritten by {w.value!r})"
    return None, "no read suitable for a stale-read injection"


def inject_lost_write(events):
    """A copy of the event history without one acknowledged put (as if the
    store had lost it)."""
    for i, ev in enumerate(events):
        if ev[0] == 0:
            return events[:i] + events[i + 1:], f"dropped event {ev[1]!r}={ev[2]!r} at {ev[3]}"
    return None, "no put event"


def save_history(history, cluster, what):
    path = os.path.join(cluster.members[0].root if cluster.members else "/tmp", f"history-{what}.json")
    lin.dump_history(history, path)
    return path
