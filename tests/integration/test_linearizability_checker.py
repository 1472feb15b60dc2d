#!/usr/bin/python3
"""Unit tests of the linearizability checker (tests/integration/linearizability.py).

Hand-written histories (linearizable ones that must pass, non-linearizable
ones that must be flagged: stale reads, lost writes, a failed write that
appears, double compare-and-set success, revisions that disagree with real
time), the treatment of operations with unknown outcome, the bounded search
(which must answer "unknown", never "ok", when it runs out of time), and a
simulated store with deliberately injected bugs (reads served from a stale
snapshot, acknowledged writes dropped, a compare-and-set that is not atomic)
whose histories the checker must reject while the correct store's pass.

Pure Python, no server needed.  Last line: "N passed, M failed".
"""

import os
import random
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import linearizability as lin  # noqa: E402
from linearizability import ILLEGAL, OK, UNKNOWN, Op  # noqa: E402


class H:
    """A tiny DSL for hand-written histories: times are plain numbers."""

    def __init__(self):
        self.ops = []

    def _add(self, op):
        self.ops.append(op)
        return op

    def put(self, c, key, value, call, ret, rev=None, status="ok"):
        return self._add(Op(c, "put", key.encode(), value=value.encode(), call=call,
                            ret=ret if status == "ok" else None, status=status,
                            out={"rev": rev} if status == "ok" else {}))

    def get(self, c, key, call, ret, value, mod, rev, status="ok"):
        return self._add(Op(c, "get", key.encode(), call=call, ret=ret, status=status,
                            out={"value": None if value is None else value.encode(), "mod": mod,
                                 "rev": rev}))

    def delete(self, c, key, call, ret, deleted=None, rev=None, status="ok"):
        return self._add(Op(c, "delete", key.encode(), call=call,
                            ret=ret if status == "ok" else None, status=status,
                            out={"deleted": deleted, "rev": rev} if status == "ok" else {}))

    def cas(self, c, key, cmp, value, call, ret, succeeded=None, rev=None, status="ok",
            read=None):
        if cmp[0] == "value":
            cmp = ("value", cmp[1].encode())
        out = {}
        if status == "ok":
            out = {"succeeded": succeeded, "rev": rev}
            if read is not None:
                out.update(read=True, value=None if read[0] is None else read[0].encode(),
                           mod=read[1])
        return self._add(Op(c, "cas", key.encode(), value=value.encode(), cmp=cmp, call=call,
                            ret=ret if status == "ok" else None, status=status, out=out))

    def check(self, timeout=10.0):
        return lin.check(self.ops, timeout=timeout)


def expect(h, verdict, why=""):
    res = h.check()
    if res.verdict != verdict:
        raise AssertionError(f"expected {verdict}, got {res.verdict} {why}\n{res.report()}\nhistory:\n"
                             + "\n".join(op.describe() for op in h.ops))
    return res


# ---------------------------------------------------------------------------
# linearizable histories

def test_sequential_history():
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.get(1, "a", 2, 3, "1", 2, 2)
    h.put(2, "a", "2", 4, 5, rev=3)
    h.get(1, "a", 6, 7, "2", 3, 3)
    h.delete(2, "a", 8, 9, deleted=1, rev=4)
    h.get(1, "a", 10, 11, None, 0, 4)
    h.delete(1, "a", 12, 13, deleted=0, rev=4)
    h.get(2, "b", 14, 15, None, 0, 4)
    expect(h, OK)


def test_concurrent_read_sees_old_or_new():
    for seen in ("1", "2"):
        h = H()
        h.put(1, "a", "1", 0, 1, rev=2)
        h.put(2, "a", "2", 2, 10, rev=3)
        mod = 2 if seen == "1" else 3
        h.get(3, "a", 3, 4, seen, mod, mod)
        expect(h, OK, f"(read saw {seen})")


def test_reads_order_concurrent_writes():
    # two concurrent puts; readers see 2 then 1: the puts took effect 2, 1
    # (revisions say so too)
    h = H()
    h.put(1, "a", "1", 0, 10, rev=3)
    h.put(2, "a", "2", 0, 10, rev=2)
    h.get(3, "a", 1, 2, "2", 2, 2)
    h.get(3, "a", 3, 4, "1", 3, 3)
    h.get(4, "a", 11, 12, "1", 3, 3)
    expect(h, OK)


def test_cas_success_and_failure():
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.cas(1, "a", ("value", "1"), "2", 2, 3, succeeded=True, rev=3)
    h.cas(2, "a", ("mod", 2), "x", 4, 5, succeeded=False, rev=3, read=("2", 3))
    h.cas(2, "a", ("mod", 3), "3", 6, 7, succeeded=True, rev=4)
    h.cas(1, "a", ("value", "2"), "y", 8, 9, succeeded=False, rev=4)
    h.get(1, "a", 10, 11, "3", 4, 4)
    h.cas(1, "b", ("mod", 0), "b1", 12, 13, succeeded=True, rev=5)   # create if absent
    h.cas(1, "c", ("value", ""), "c1", 12, 13, succeeded=False, rev=5)  # value compare: absent fails
    expect(h, OK)


def test_concurrent_cas_one_wins():
    h = H()
    h.put(1, "a", "0", 0, 1, rev=2)
    h.cas(1, "a", ("mod", 2), "1", 2, 6, succeeded=True, rev=3)
    h.cas(2, "a", ("mod", 2), "2", 2, 6, succeeded=False, rev=3, read=("1", 3))
    expect(h, OK)


# ---------------------------------------------------------------------------
# anomalies

def test_stale_read():
    # the classic: a write completed, a later read returns the value before it
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.put(1, "a", "2", 2, 3, rev=3)
    h.get(2, "a", 4, 5, "1", 2, 2)
    res = expect(h, ILLEGAL)
    assert "get(a)" in res.report(), res.report()


def test_stale_read_with_current_revision():
    # the value is stale even though the header revision looks current
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.put(1, "a", "2", 2, 3, rev=3)
    h.get(2, "a", 4, 5, "1", 2, 3)
    expect(h, ILLEGAL)


def test_stale_read_from_old_leader_after_new_value_was_read():
    # another client already saw the new value: a later read must too
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.put(1, "a", "2", 2, 10, rev=3)          # still in flight
    h.get(2, "a", 3, 4, "2", 3, 3)            # new value visible
    h.get(3, "a", 5, 6, "1", 2, 2)            # ...then the old one again
    expect(h, ILLEGAL)


def test_lost_write():
    # an acknowledged put is not there for a read that starts after it
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.put(1, "a", "2", 2, 3, rev=3)
    h.get(2, "a", 4, 5, None, 0, 3)
    expect(h, ILLEGAL)
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.put(1, "a", "2", 2, 3, rev=3)
    h.get(2, "a", 4, 5, "1", 2, 3)   # the end state lost the second write
    expect(h, ILLEGAL)


def test_lost_delete():
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.delete(1, "a", 2, 3, deleted=1, rev=3)
    h.get(2, "a", 4, 5, "1", 2, 3)
    expect(h, ILLEGAL)


def test_failed_write_must_not_take_effect():
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.put(1, "a", "2", 2, 3, status="fail")
    h.get(2, "a", 4, 5, "2", 3, 3)
    expect(h, ILLEGAL)


def test_double_cas_success():
    h = H()
    h.put(1, "a", "0", 0, 1, rev=2)
    h.cas(1, "a", ("mod", 2), "1", 2, 6, succeeded=True, rev=3)
    h.cas(2, "a", ("mod", 2), "2", 2, 6, succeeded=True, rev=4)
    expect(h, ILLEGAL)
    h = H()
    h.put(1, "a", "0", 0, 1, rev=2)
    h.cas(1, "a", ("value", "0"), "1", 2, 6, succeeded=True, rev=3)
    h.cas(2, "a", ("value", "0"), "2", 2, 6, succeeded=True, rev=4)
    expect(h, ILLEGAL)


def test_cas_failure_when_it_should_succeed():
    h = H()
    h.put(1, "a", "0", 0, 1, rev=2)
    h.cas(1, "a", ("value", "0"), "1", 2, 3, succeeded=False, rev=2)
    expect(h, ILLEGAL)
    h = H()
    h.put(1, "a", "0", 0, 1, rev=2)
    h.cas(1, "a", ("mod", 2), "1", 2, 3, succeeded=False, rev=2, read=("0", 2))
    expect(h, ILLEGAL)


def test_cas_on_absent_value_compare_fails():
    # etcd: a value compare on a missing key is false
    h = H()
    h.cas(1, "a", ("value", ""), "1", 0, 1, succeeded=True, rev=2)
    expect(h, ILLEGAL)


def test_delete_of_absent_key_reported_as_deleted():
    h = H()
    h.delete(1, "a", 0, 1, deleted=1, rev=2)
    expect(h, ILLEGAL)
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.delete(1, "a", 2, 3, deleted=0, rev=2)
    expect(h, ILLEGAL)


def test_wrong_mod_revision():
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.get(1, "a", 2, 3, "1", 7, 7)
    expect(h, ILLEGAL)


def test_read_header_below_observed_write():
    h = H()
    h.put(1, "a", "1", 0, 1, rev=5)
    h.get(1, "a", 2, 3, "1", 5, 4)
    expect(h, ILLEGAL)


def test_revision_goes_back_across_keys():
    # per key each op is fine; across keys the revisions contradict real time
    h = H()
    h.put(1, "a", "1", 0, 1, rev=5)
    h.put(2, "b", "1", 2, 3, rev=4)
    res = expect(h, ILLEGAL)
    assert any("went back" in p for p in res.problems), res.report()
    h = H()
    h.put(1, "a", "1", 0, 1, rev=5)
    h.get(2, "b", 2, 3, None, 0, 4)       # a stale read of another key
    expect(h, ILLEGAL)


def test_same_revision_twice():
    h = H()
    h.put(1, "a", "1", 0, 5, rev=3)
    h.put(2, "b", "1", 0, 5, rev=3)
    res = expect(h, ILLEGAL)
    assert any("same" in p or "got revision" in p for p in res.problems), res.report()


# ---------------------------------------------------------------------------
# unknown outcomes

def test_unknown_write_may_take_effect_late():
    h = H()
    h.put(1, "a", "1", 0, None, status="unknown")
    h.get(2, "a", 1, 2, None, 0, 1)
    h.get(2, "a", 3, 4, "1", 5, 5)        # applied between the reads
    h.get(2, "a", 6, 7, "1", 5, 6)
    expect(h, OK)


def test_unknown_write_may_never_take_effect():
    h = H()
    h.put(1, "a", "0", 0, 1, rev=2)
    h.put(1, "a", "1", 2, None, status="unknown")
    h.cas(2, "a", ("value", "x"), "9", 2, None, status="unknown")
    h.delete(3, "b", 2, None, status="unknown")
    h.get(2, "a", 3, 4, "0", 2, 2)
    h.get(2, "a", 5, 6, "0", 2, 2)
    expect(h, OK)


def test_unknown_write_cannot_take_effect_before_invocation():
    h = H()
    h.get(2, "a", 0, 1, "1", 2, 2)
    h.put(1, "a", "1", 3, None, status="unknown")
    expect(h, ILLEGAL)


def test_unknown_write_takes_effect_once():
    # seen, then gone without a delete, then back: no single point works
    h = H()
    h.put(1, "a", "1", 0, None, status="unknown")
    h.get(2, "a", 1, 2, "1", 2, 2)
    h.get(2, "a", 3, 4, None, 0, 2)
    expect(h, ILLEGAL)


def test_unknown_revision_binds_on_first_read():
    h = H()
    h.put(1, "a", "1", 0, None, status="unknown")
    h.get(2, "a", 1, 2, "1", 10, 10)
    h.get(2, "a", 3, 4, "1", 11, 11)     # same write, other mod revision
    expect(h, ILLEGAL)


def test_unknown_reads_are_ignored():
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.get(2, "a", 2, None, "whatever", 99, 99, status="unknown")
    h.get(2, "a", 3, 4, "1", 2, 2)
    expect(h, OK)


def test_unknown_cas_with_unknown_mod():
    # the cas compares a mod revision the checker cannot know yet: both
    # outcomes must be explored
    h = H()
    h.put(1, "a", "1", 0, None, status="unknown")
    h.cas(2, "a", ("mod", 7), "2", 1, None, status="unknown")
    h.get(3, "a", 2, 3, "2", 8, 8)
    expect(h, OK)
    h.get(3, "a", 4, 5, "1", 7, 8)        # ... but not both
    expect(h, ILLEGAL)


# ---------------------------------------------------------------------------
# bounded search

def _hard_history(n):
    """n unknown puts all observed by concurrent reads, then a read of a value
    nobody wrote: illegal, but only after exploring many interleavings."""
    h = H()
    for i in range(n):
        h.put(i, "a", f"v{i}", 0, None, status="unknown")
    for i in range(n):
        h.get(100 + i, "a", 1, 50, f"v{i}", 10 + i, 10 + i)
    h.get(999, "a", 60, 61, "never-written", 100, 100)
    return h


def test_timeout_reports_unknown_not_ok():
    h = _hard_history(9)
    res = lin.check(h.ops, timeout=0.0)
    if res.verdict != UNKNOWN or res.ok:
        raise AssertionError(f"expected unknown with no time to search, got {res.report()}")
    res = lin.check(h.ops, timeout=120.0)
    if res.verdict != ILLEGAL:
        raise AssertionError(f"with time to search the history is illegal, got {res.report()}")


def test_history_roundtrip(tmp=None):
    h = H()
    h.put(1, "a", "1", 0, 1, rev=2)
    h.put(1, "a", "2", 2, None, status="unknown")
    h.cas(2, "a", ("value", "x"), "3", 2, 3, succeeded=False, rev=2, read=("1", 2))
    h.get(2, "a", 4, 5, "1", 2, 2)
    path = f"/tmp/lin-roundtrip-{os.getpid()}.json"
    try:
        lin.dump_history(h.ops, path)
        back = lin.load_history(path)
    finally:
        os.unlink(path)
    assert [o.to_json() for o in back] == [o.to_json() for o in h.ops]
    assert lin.check(back).verdict == OK


# ---------------------------------------------------------------------------
# a simulated store with injected bugs

class SimStore:
    """A discrete-event model of a replicated KV store and its clients.

    Each op has a random latency; the store applies it at a random point
    inside its interval (its linearization point) and the client records
    invocation and response times.  `bug` selects a fault:
      None          correct
      "stale-read"  reads are served from a snapshot of the store taken some
                    time earlier (a follower serving reads without ReadIndex)
      "lost-write"  some acknowledged puts are never applied
      "racy-cas"    a cas compares against a snapshot, then writes (not atomic)
      "timeouts"    correct, but some writes time out (unknown outcome): half
                    of those take effect late, half never
    """

    def __init__(self, seed, bug=None, clients=5, keys=3, ops=400):
        self.rnd = random.Random(seed)
        self.bug = bug
        self.clients, self.keys, self.n_ops = clients, keys, ops

    def run(self):
        rnd = self.rnd
        # plan: per client sequential ops with random durations
        plan = []
        for c in range(self.clients):
            t = rnd.uniform(0, 1)
            for _ in range(self.n_ops // self.clients):
                dur = rnd.uniform(0.5, 3)
                plan.append((t, t + dur, c))
                t += dur + rnd.uniform(0, 1)
        # events happen at linearization points, in time order
        items = []
        for seq, (call, ret, c) in enumerate(plan):
            kind = rnd.choices(("put", "get", "delete", "cas"), (4, 5, 1, 2))[0]
            key = f"k{rnd.randrange(self.keys)}".encode()
            at = rnd.uniform(call, ret)
            items.append((at, seq, call, ret, c, kind, key))
        items.sort()
        store, rev = {}, 1                 # key -> (value, mod)
        snapshots = [(0.0, {}, 1)]         # (time, store copy, revision)
        history = []
        for at, seq, call, ret, c, kind, key in items:
            op = Op(c, kind, key, call=call, ret=ret)
            if kind in ("put", "cas"):
                op.value = f"c{c}-{seq}".encode()
            if kind == "cas":
                cur = store.get(key)
                if rnd.random() < 0.5 and cur is not None:
                    op.cmp = ("value", cur[0] if rnd.random() < 0.7 else b"other")
                else:
                    op.cmp = ("mod", cur[1] if cur and rnd.random() < 0.7 else 0)
            if self.bug == "timeouts" and op.writes() and rnd.random() < 0.15:
                op.status, op.ret = "unknown", None
                if rnd.random() < 0.5:
                    history.append(op)
                    continue               # never applied
            if kind == "put":
                rev += 1                   # a lost write still gets its revision
                if not (self.bug == "lost-write" and rnd.random() < 0.1):
                    store[key] = (op.value, rev)
                op.out = {"rev": rev}
            elif kind == "get":
                view, vrev = store, rev
                if self.bug == "stale-read":
                    # stale data under the current revision: only the values
                    # give it away
                    old = [s for s in snapshots if s[0] <= at - 3.0]
                    if old:
                        view = old[-1][1]
                cur = view.get(key)
                op.out = {"value": cur[0] if cur else None, "mod": cur[1] if cur else 0,
                          "rev": vrev}
            elif kind == "delete":
                if key in store:
                    rev += 1
                    del store[key]
                    op.out = {"deleted": 1, "rev": rev}
                else:
                    op.out = {"deleted": 0, "rev": rev}
            else:
                view = store
                if self.bug == "racy-cas":
                    old = [s for s in snapshots if s[0] <= at - 2.0]
                    if old:
                        view = old[-1][1]
                cur = view.get(key)
                if op.cmp[0] == "value":
                    ok = cur is not None and cur[0] == op.cmp[1]
                else:
                    ok = (cur[1] if cur else 0) == op.cmp[1]
                if ok:
                    rev += 1
                    store[key] = (op.value, rev)
                    op.out = {"succeeded": True, "rev": rev}
                else:
                    cur = store.get(key)
                    op.out = {"succeeded": False, "rev": rev, "read": True,
                              "value": cur[0] if cur else None, "mod": cur[1] if cur else 0}
            if op.writes():
                snapshots.append((at, dict(store), rev))
            history.append(op)
        history.sort(key=lambda o: o.call)
        return history


def test_simulated_correct_store_passes():
    for seed in range(6):
        for bug in (None, "timeouts"):
            hist = SimStore(seed, bug).run()
            res = lin.check(hist, timeout=60)
            if res.verdict != OK:
                raise AssertionError(f"seed {seed} bug={bug}: correct store flagged\n{res.report()}")


def test_simulated_injected_bugs_are_caught():
    for bug in ("stale-read", "lost-write", "racy-cas"):
        for seed in range(4):
            hist = SimStore(seed, bug).run()
            res = lin.check(hist, timeout=60)
            if res.verdict != ILLEGAL:
                raise AssertionError(f"seed {seed}: injected bug {bug} not caught: {res.summary()}")
            # the per-key search itself must see it, not only the revision checks
            if not any(p.verdict == ILLEGAL for p in res.partitions):
                raise AssertionError(f"seed {seed}: {bug} caught only by cross-key checks: "
                                     f"{res.report()}")


# ---------------------------------------------------------------------------

def run(namespace):
    tests = [(f.__code__.co_firstlineno, n, f) for n, f in namespace.items()
             if n.startswith("test_") and callable(f)]
    tests.sort()
    sel = sys.argv[1:]
    passed = failed = 0
    t_all = time.monotonic()
    for _, name, fn in tests:
        if sel and not any(s in name for s in sel):
            continue
        t0 = time.monotonic()
        try:
            fn()
        except Exception:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - t0:.2f}s)\n{traceback.format_exc()}", flush=True)
        else:
            passed += 1
            print(f"ok   {name} ({time.monotonic() - t0:.2f}s)", flush=True)
    print(f"total {time.monotonic() - t_all:.1f}s", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    run(globals())
