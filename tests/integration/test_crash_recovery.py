#!/usr/bin/python3
"""Crash-recovery test: kill -9 CAPSTAN_BIN while writes are in flight.

Several client threads (python3-etcd3, raw gRPC stubs) run puts, deletes and
multi-key txns concurrently, each on its own keys, and record every
acknowledged operation with its response revision.  The server is killed with
SIGKILL at a random moment, restarted on the same data dir, and then:

  * every acknowledged write is present with the exact value, create/mod
    revision and version it was acknowledged with (per key, the last
    acknowledged op wins; each thread has at most one op whose outcome is
    unknown: the one in flight at the kill),
  * that in-flight op is either fully applied or not at all (a txn is all or
    nothing; all its puts share one mod revision),
  * nothing else appeared: the current revision is exactly the revision
    before the round + acknowledged writes + applied in-flight ops, the
    acknowledged revisions are distinct, and new writes continue at
    current + 1,
  * history survives: sampled acknowledged puts are readable at their
    revision,
  * HashKV (and the revision it reports) is stable across a clean restart.

Rounds (one server, one data dir, state carried over): plain kills at random
moments, kills during start-up (WAL replay) before a normal restart, and a
round with a compaction in flight (compact then kill immediately), checking
reads before, at and after the compaction revision.

Needs no reference etcd (runs against CAPSTAN_BIN only; CAPSTAN_BIN=/usr/bin/etcd
is a useful sanity check of the test itself).

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_crash_recovery.py
      CRASH_SEED=<n> replays a schedule (printed on failure), CRASH_ROUNDS=<n>
      (default 5) for a longer soak, CAPDIFF_VERBOSE=1 prints the round log.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import HarnessError, Server, TestFailure, candidate_binary, run_tests  # noqa: E402

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

SEED = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
ROUNDS = int(os.environ.get("CRASH_ROUNDS", "5"))     # kill rounds in test_kill_during_writes
THREADS = 4
KEYS_PER_THREAD = 8
RPC_TIMEOUT = 10


def client(srv):
    return etcd3.client(host="127.0.0.1", port=srv.client_port, timeout=RPC_TIMEOUT,
                        grpc_options=[("grpc.enable_http_proxy", 0)])


class KV:
    """What a key looks like (or must look like)."""
    __slots__ = ("value", "create", "mod", "version")

    def __init__(self, value, create, mod, version):
        self.value, self.create, self.mod, self.version = value, create, mod, version

    def __eq__(self, o):
        return isinstance(o, KV) and (self.value, self.create, self.mod, self.version) == \
            (o.value, o.create, o.mod, o.version)

    def __repr__(self):
        v = self.value if len(self.value) < 40 else self.value[:40] + b"..."
        return f"KV({v!r}, create={self.create}, mod={self.mod}, ver={self.version})"


def read_prefix(c, prefix, revision=0):
    """{key: KV} of every key with `prefix`, and the header revision."""
    end = prefix[:-1] + bytes([prefix[-1] + 1])
    r = c.kvstub.Range(rpc.RangeRequest(key=prefix, range_end=end, revision=revision), RPC_TIMEOUT)
    return {kv.key: KV(kv.value, kv.create_revision, kv.mod_revision, kv.version) for kv in r.kvs}, \
        r.header.revision


def current_revision(c):
    return c.kvstub.Range(rpc.RangeRequest(key=b"\0"), RPC_TIMEOUT).header.revision


def hashkv(c, revision=0):
    r = c.maintenancestub.HashKV(rpc.HashKVRequest(revision=revision), RPC_TIMEOUT)
    return {"hash": r.hash, "compact_revision": r.compact_revision, "revision": r.header.revision}


def grpc_error(e):
    if isinstance(e, grpc.RpcError) and hasattr(e, "code"):
        return f"{e.code().name}: {e.details()}"
    return f"{type(e).__name__}: {e}"


# ---------------------------------------------------------------------------
# a writer thread

class Writer(threading.Thread):
    """Runs random ops on its own keys; knows their exact state while every op
    is acknowledged.  Stops at the first error (the op in flight is then
    `pending`: applied or not, unknown) or when `stop` is set."""

    def __init__(self, srv, tid, model, rnd, round_no, killed, stop, problems):
        super().__init__(daemon=True)
        self.srv, self.tid, self.rnd, self.round_no = srv, tid, rnd, round_no
        self.keys = [f"r/{tid}/{i}".encode() for i in range(KEYS_PER_THREAD)]
        self.model = {k: model[k] for k in self.keys if k in model}   # this thread's view
        self.killed, self.stop, self.problems = killed, stop, problems
        self.acked = []        # (kind, {key: value or None}, revision)
        self.pending = None    # (kind, {key: value or None}) in flight at the error
        self.last_rev = 0
        self.seq = 0

    def value(self):
        self.seq += 1
        # unique per op; sometimes large (more WAL bytes in flight)
        pad = b"x" * self.rnd.choice((0, 0, 100, 3000))
        return f"round{self.round_no}/t{self.tid}/op{self.seq}/".encode() + pad

    def next_op(self):
        existing = [k for k in self.keys if k in self.model]
        roll = self.rnd.random()
        if roll < 0.55 or not existing:
            k = self.rnd.choice(self.keys)
            v = self.value()
            return "put", {k: v}, rpc.PutRequest(key=k, value=v)
        if roll < 0.7:
            k = self.rnd.choice(existing)
            return "delete", {k: None}, rpc.DeleteRangeRequest(key=k)
        # txn: compare on a key's known state, 2-4 puts, maybe one delete
        guard = self.rnd.choice(self.keys)
        if guard in self.model:
            cmp = rpc.Compare(key=guard, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                              mod_revision=self.model[guard].mod)
        else:
            cmp = rpc.Compare(key=guard, target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL,
                              create_revision=0)
        puts = self.rnd.sample(self.keys, self.rnd.randint(2, 4))
        effects = {k: self.value() for k in puts}
        ops = [rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=v)) for k, v in effects.items()]
        dels = [k for k in existing if k not in effects]
        if dels and self.rnd.random() < 0.5:
            d = self.rnd.choice(dels)
            effects[d] = None
            ops.append(rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=d)))
        # the failure branch writes a marker: a failed compare is a bug here
        fail = [rpc.RequestOp(request_put=rpc.PutRequest(key=f"r/{self.tid}/compare-failed".encode(),
                                                           value=b"x"))]
        return "txn", effects, rpc.TxnRequest(compare=[cmp], success=ops, failure=fail)

    def apply(self, effects, rev):
        for k, v in effects.items():
            if v is None:
                self.model.pop(k, None)
            else:
                old = self.model.get(k)
                self.model[k] = KV(v, old.create if old else rev, rev, old.version + 1 if old else 1)

    def run(self):
        try:
            c = client(self.srv)
        except Exception as e:  # noqa: BLE001
            self.problems.append(f"thread {self.tid}: cannot connect: {e!r}")
            return
        try:
            while not self.stop.is_set():
                kind, effects, req = self.next_op()
                self.pending = (kind, effects)
                try:
                    if kind == "put":
                        r = c.kvstub.Put(req, RPC_TIMEOUT)
                    elif kind == "delete":
                        r = c.kvstub.DeleteRange(req, RPC_TIMEOUT)
                    else:
                        r = c.kvstub.Txn(req, RPC_TIMEOUT)
                except Exception as e:  # noqa: BLE001
                    if not self.killed.is_set():
                        self.problems.append(f"thread {self.tid}: {kind} failed while the server was up: "
                                             f"{grpc_error(e)}")
                    return   # self.pending stays: outcome unknown
                self.pending = None
                rev = r.header.revision
                if kind == "delete" and r.deleted != 1:
                    self.problems.append(f"thread {self.tid}: delete of existing key deleted {r.deleted}")
                if kind == "txn" and not r.succeeded:
                    self.problems.append(f"thread {self.tid}: txn compare failed (state known exactly)")
                if rev <= self.last_rev:
                    self.problems.append(f"thread {self.tid}: revision went back: {rev} after {self.last_rev}")
                self.last_rev = rev
                self.acked.append((kind, effects, rev))
                self.apply(effects, rev)
        finally:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass


# ---------------------------------------------------------------------------
# the scenario

class Scenario:
    def __init__(self, srv, rnd):
        self.srv, self.rnd = srv, rnd
        self.model = {}        # key -> KV for every r/ key, verified
        self.problems = []
        self.log = []
        self.round_no = 0

    def fail(self, msg):
        self.problems.append(f"round {self.round_no}: {msg}")

    def note(self, msg):
        self.log.append(f"round {self.round_no}: {msg}")

    def check(self):
        if os.environ.get("CAPDIFF_VERBOSE", "") not in ("", "0"):
            print("  " + "\n  ".join(self.log), flush=True)
        if self.problems:
            raise TestFailure(f"seed {SEED} (CRASH_SEED={SEED} reproduces the schedule)\n"
                              + "\n".join(self.problems[:40])
                              + (f"\n... {len(self.problems) - 40} more" if len(self.problems) > 40 else "")
                              + "\nlog:\n  " + "\n  ".join(self.log)
                              + f"\nserver log: {self.srv.log_path}\n{self.srv.log_tail()}")

    # -- one round of concurrent writes ended by a kill (or a clean stop)
    def write_round(self, duration, kill=True, during=None):
        """Run the writers for `duration` s, then kill -9 (or stop them
        cleanly).  `during(c)` runs in this thread right before the kill.
        Returns (rev0, writers)."""
        self.round_no += 1
        c = client(self.srv)
        rev0 = current_revision(c)
        killed, stop = threading.Event(), threading.Event()
        writers = [Writer(self.srv, t, self.model, random.Random(self.rnd.random()), self.round_no, killed, stop,
                          self.problems) for t in range(THREADS)]
        for w in writers:
            w.start()
        time.sleep(duration)
        extra = during(c) if during else None
        if kill:
            killed.set()
            self.srv.kill()
        else:
            stop.set()
        for w in writers:
            w.join(timeout=RPC_TIMEOUT + 5)
            if w.is_alive():
                self.fail(f"writer {w.tid} still running {RPC_TIMEOUT + 5}s after the kill")
        c.close()
        n_acked = sum(len(w.acked) for w in writers)
        n_pending = sum(w.pending is not None for w in writers)
        self.note(f"rev0={rev0}, {n_acked} acked ops, {n_pending} in flight at the "
                  f"{'kill' if kill else 'stop'}, last acked rev {max([w.last_rev for w in writers] + [rev0])}")
        return rev0, writers, extra

    def verify(self, rev0, writers, history=True):
        """After a restart: check the r/ keys against what the writers know."""
        c = client(self.srv)
        try:
            actual, cur = read_prefix(c, b"r/")
            acked_revs = [rev for w in writers for (_, _, rev) in w.acked]
            if len(set(acked_revs)) != len(acked_revs):
                self.fail("two acknowledged writes got the same revision")
            if acked_revs and max(acked_revs) > cur:
                self.fail(f"acknowledged revision {max(acked_revs)} but the recovered store is at {cur}")
            applied_pending = 0
            for w in writers:
                touched = set(w.pending[1]) if w.pending else set()
                for k in w.keys:
                    if k in touched:
                        continue
                    if actual.get(k) != w.model.get(k):
                        self.fail(f"{k.decode()}: acknowledged state {w.model.get(k)!r}, recovered "
                                  f"{actual.get(k)!r}")
                marker = f"r/{w.tid}/compare-failed".encode()
                if marker in actual:
                    self.fail(f"{marker.decode()} exists: a txn took its failure branch")
                if not w.pending:
                    continue
                kind, effects = w.pending
                before = {k: w.model.get(k) for k in effects}
                after = {k: actual.get(k) for k in effects}
                if after == before:
                    continue  # not applied
                # applied: all effects, one revision after the thread's last ack
                revs = {kv.mod for kv in after.values() if kv is not None}
                p = revs.pop() if len(revs) == 1 else None
                ok = p is not None and w.last_rev < p <= cur and not revs
                if p is None and all(v is None for v in effects.values()):
                    ok = True   # a pure delete: no revision to see
                for k, v in effects.items():
                    old, got = before[k], after[k]
                    if v is None:
                        ok = ok and got is None
                    else:
                        want = KV(v, old.create if old else p, p, old.version + 1 if old else 1)
                        ok = ok and got == want
                if not ok:
                    self.fail(f"op in flight at the kill ({kind}) is partially or wrongly applied:\n"
                              f"      effects {dict((k.decode(), v[:30] if v else v) for k, v in effects.items())}\n"
                              f"      before {before}\n      after  {after}")
                applied_pending += 1
            expect = rev0 + len(acked_revs) + applied_pending
            if cur != expect:
                self.fail(f"recovered revision {cur}, expected {expect} = {rev0} (start) + {len(acked_revs)} "
                          f"(acked writes) + {applied_pending} (applied in-flight ops): "
                          + ("unacknowledged writes appeared" if cur > expect else "writes lost"))
            # history: sampled acknowledged puts are readable at their revision
            if history:
                samples = [(k, v, rev) for w in writers for (kind, eff, rev) in w.acked
                           for k, v in eff.items() if v is not None]
                for k, v, rev in self.rnd.sample(samples, min(40, len(samples))):
                    r = c.kvstub.Range(rpc.RangeRequest(key=k, revision=rev), RPC_TIMEOUT)
                    if len(r.kvs) != 1 or r.kvs[0].value != v or r.kvs[0].mod_revision != rev:
                        self.fail(f"get {k.decode()} --rev={rev}: expected the acknowledged value "
                                  f"{v[:30]!r}, got {[(kv.value[:30], kv.mod_revision) for kv in r.kvs]}")
            # revisions continue after the recovered one
            r = c.kvstub.Put(rpc.PutRequest(key=b"probe", value=f"after round {self.round_no}".encode()),
                             RPC_TIMEOUT)
            if r.header.revision != cur + 1:
                self.fail(f"first put after recovery got revision {r.header.revision}, expected {cur + 1}")
            self.model = actual
            self.note(f"recovered at revision {cur} ({applied_pending} in-flight ops applied)")
            return cur
        finally:
            c.close()

    def clean_restart_hash_check(self, past_rev=None):
        """HashKV (latest and at a past revision) is the same before and after
        a clean restart."""
        c = client(self.srv)
        h1 = hashkv(c)
        p1 = hashkv(c, past_rev) if past_rev else None
        c.close()
        self.srv.stop(keep_data=True)
        self.srv.restart()
        c = client(self.srv)
        h2 = hashkv(c)
        p2 = hashkv(c, past_rev) if past_rev else None
        c.close()
        if h1 != h2 or not h1["hash"]:
            self.fail(f"HashKV changed across a clean restart: {h1} -> {h2}")
        if p1 != p2:
            self.fail(f"HashKV --rev={past_rev} changed across a clean restart: {p1} -> {p2}")


def _require():
    if IMPORT_ERROR:
        raise TestFailure(f"cannot import etcd3: {IMPORT_ERROR}")


def test_kill_during_writes():
    """5 kills at random moments during concurrent writes, one of them
    followed by kills during start-up (WAL replay)."""
    _require()
    rnd = random.Random(SEED)
    srv = Server(candidate_binary(), name="crash", label="candidate")
    srv.start()
    sc = Scenario(srv, rnd)
    try:
        for i in range(ROUNDS):
            rev0, writers, _ = sc.write_round(rnd.uniform(0.4, 1.6))
            if i % 5 == 2:
                # kill during start-up, several times, at increasing delays
                for delay in (0.0, rnd.uniform(0.01, 0.05), rnd.uniform(0.05, 0.3)):
                    srv.restart(wait=False)
                    time.sleep(delay)
                    srv.kill()
                    sc.note(f"killed again {delay * 1000:.0f} ms after launch (exit {srv.proc.returncode})")
            srv.restart()
            cur = sc.verify(rev0, writers)
            if i % 2 == 0:
                sc.clean_restart_hash_check(past_rev=max(2, cur - 5))
        # one clean round (stop, no kill) must lose nothing either
        rev0, writers, _ = sc.write_round(0.5, kill=False)
        srv.stop(keep_data=True)
        srv.restart()
        sc.verify(rev0, writers)
        if any(w.pending for w in writers):
            sc.fail("a writer had an op in flight after a clean stop")
        sc.clean_restart_hash_check()
    except HarnessError as e:
        sc.fail(f"harness: {e}")
    finally:
        srv.stop()
    sc.check()


def _bulk(c, rounds, nkeys=100):
    """`rounds` txns of `nkeys` puts to c/000..: returns [(revision, values)]."""
    out = []
    for i in range(rounds):
        vals = {f"c/{j:03d}".encode(): f"bulk{i}/{j}".encode() * 8 for j in range(nkeys)}
        r = c.kvstub.Txn(rpc.TxnRequest(success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=v))
                                                 for k, v in vals.items()]), RPC_TIMEOUT)
        out.append((r.header.revision, vals))
    return out


def _check_compacted_reads(sc, c, bulk, crev, compacted_for_sure):
    """Reads of c/ at, around and after the compaction revision crev."""
    by_rev = dict(bulk)
    for rev in sorted({crev, crev + 1, bulk[-1][0]}):
        if rev not in by_rev:
            continue
        kvs, _ = read_prefix(c, b"c/", revision=rev)
        got = {k: kv.value for k, kv in kvs.items()}
        if got != by_rev[rev] or any(kv.mod != rev for kv in kvs.values()):
            sc.fail(f"get --prefix c/ --rev={rev} after recovery: {len(got)} keys, "
                    f"{sum(got.get(k) == v for k, v in by_rev[rev].items())} with the expected value")
    latest, _ = read_prefix(c, b"c/")
    if {k: kv.value for k, kv in latest.items()} != bulk[-1][1]:
        sc.fail("latest c/ keys differ from the last bulk txn")
    try:
        c.kvstub.Range(rpc.RangeRequest(key=b"c/000", revision=crev - 1), RPC_TIMEOUT)
        if compacted_for_sure:
            sc.fail(f"get --rev={crev - 1} below the acknowledged compaction revision {crev} succeeded")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.OUT_OF_RANGE or "required revision has been compacted" not in e.details():
            sc.fail(f"get --rev={crev - 1} below the compaction: unexpected error {grpc_error(e)}")
    h = hashkv(c)
    if compacted_for_sure and h["compact_revision"] != crev:
        sc.fail(f"HashKV compact_revision {h['compact_revision']}, expected {crev}")


def test_kill_with_compaction_in_flight():
    """Bulk history (many superseded revisions), writers running, compact and
    kill right after; kill again right after the restart (resumed
    compaction); reads at/after the compaction revision must be intact."""
    _require()
    rnd = random.Random(SEED + 1)
    srv = Server(candidate_binary(), name="crash-compact", label="candidate")
    srv.start()
    sc = Scenario(srv, rnd)
    try:
        c = client(srv)
        bulk = _bulk(c, 150)         # 15000 rows, 12000 superseded below crev
        c.close()
        crev = bulk[120][0]
        state = {}

        def compact_then_kill(c):
            # compaction (not physical: the answer comes before the work is
            # done) acknowledged, then the kill right away
            try:
                c.kvstub.Compact(rpc.CompactionRequest(revision=crev), RPC_TIMEOUT)
                state["acked"] = True
            except grpc.RpcError as e:
                sc.fail(f"compact {crev} failed: {grpc_error(e)}")
            time.sleep(rnd.uniform(0, 0.02))
        rev0, writers, _ = sc.write_round(rnd.uniform(0.3, 0.8), during=compact_then_kill)
        sc.note(f"compact {crev}: {'acknowledged' if state.get('acked') else 'not acknowledged'}, then killed")
        srv.restart()
        sc.verify(rev0, writers)
        c = client(srv)
        _check_compacted_reads(sc, c, bulk, crev, state.get("acked", False))
        c.close()
        # kill again right after start-up: the resumed compaction may be running
        srv.kill()
        srv.restart()
        c = client(srv)
        _check_compacted_reads(sc, c, bulk, crev, state.get("acked", False))
        # second compaction, physical this time, more bulk history, kill
        # while a compaction request is in flight (answer unknown)
        bulk2 = _bulk(c, 60)
        c.close()
        crev2 = bulk2[40][0]
        inflight = {}

        def compact_in_flight(c):
            def run():
                try:
                    c.kvstub.Compact(rpc.CompactionRequest(revision=crev2, physical=True), RPC_TIMEOUT)
                    inflight["acked"] = True
                except grpc.RpcError as e:
                    inflight["error"] = grpc_error(e)
            t = threading.Thread(target=run, daemon=True)
            t.start()
            time.sleep(rnd.uniform(0, 0.03))
            return t
        rev0, writers, t = sc.write_round(rnd.uniform(0.3, 0.8), during=compact_in_flight)
        t.join(timeout=RPC_TIMEOUT + 5)
        sc.note(f"compact {crev2} --physical: {'acknowledged' if inflight.get('acked') else inflight}")
        srv.restart()
        sc.verify(rev0, writers)
        c = client(srv)
        _check_compacted_reads(sc, c, bulk2, crev2, inflight.get("acked", False))
        # re-issuing the compaction: done (error "compacted") or done now
        try:
            c.kvstub.Compact(rpc.CompactionRequest(revision=crev2, physical=True), RPC_TIMEOUT)
            if inflight.get("acked"):
                sc.fail(f"compact {crev2} accepted again after an acknowledged compaction at {crev2}")
        except grpc.RpcError as e:
            if "required revision has been compacted" not in (e.details() or ""):
                sc.fail(f"compact {crev2} again: unexpected error {grpc_error(e)}")
        _check_compacted_reads(sc, c, bulk2, crev2, True)
        c.close()
        sc.clean_restart_hash_check(past_rev=crev2 + 1)
        c = client(srv)
        _check_compacted_reads(sc, c, bulk2, crev2, True)
        c.close()
    except HarnessError as e:
        sc.fail(f"harness: {e}")
    finally:
        srv.stop()
    sc.check()


if __name__ == "__main__":
    print(f"seed {SEED}", flush=True)
    run_tests(globals())
