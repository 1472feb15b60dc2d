"""Linearizability checker for recorded histories of etcd KV operations.

A history is a list of Op records, one per client operation, each with the
time it was invoked and the time its response arrived (one monotonic clock
for the whole test process), its inputs, and its outcome:

  * "ok"      : the response arrived; `out` holds what it said,
  * "fail"    : the operation definitely did not take effect (e.g. the RPC was
                never sent); it is left out of the check (a read that observes
                its value then has nothing to explain it and is flagged),
  * "unknown" : no answer (timeout, connection lost, server error that does
                not rule the write out).  The write may or may not have taken
                effect, at any time after its invocation: it is modelled with
                return time +infinity and any output.  Reads with an unknown
                outcome carry no information and are dropped.

Operations (each on one key; `key` and values are bytes):

  put(key, value)             out: rev (the put's revision, header.revision)
  get(key)                    out: value (None: absent), mod (mod_revision, 0
                                   if absent), rev (header.revision)
  delete(key)                 out: deleted (0/1), rev (header.revision)
  cas(key, cmp, value)        a Txn: if cmp then put(key, value) else
                              (optionally) get(key).  cmp is ("value", bytes)
                              (etcd: false if the key is absent) or ("mod", n)
                              (mod_revision == n; 0 matches an absent key).
                              out: succeeded, rev, and on failure optionally
                              value/mod read by the failure branch (set
                              out["read"] = True then).

The model is a per-key register that also tracks revisions: state is
(value, mod, floor) where floor is a lower bound of the store revision at that
point of the key's linearization (the largest revision this key's operations
have reported so far).  A write must get a revision above floor, a read's
header revision must be at least floor, and a read must report the mod
revision of the write it observes.  A write whose outcome is unknown has an
unknown revision; mod is then encoded as -1 - lb (lb: a lower bound of it)
until a read observes it.

Checking (Porcupine's variant of the Wing & Gong / Lowe algorithm): operations
on different keys are independent in this model, so the history is
partitioned per key and each partition is searched separately: a depth-first
search over linearization orders, backtracking when an operation's return is
reached before it could be linearized, with a cache of visited
(set of linearized ops, model state) pairs so that each configuration is
explored once.  Each partition's search is bounded by a deadline: a search that
runs out of time reports "unknown", never "ok".

Cross-key checks that the per-key model cannot see:
  * real-time order of revisions: if A returned before B was invoked, B's
    revision is >= A's (> if B changed the store),
  * distinct revisions for distinct acknowledged writes.

Usage:
    result = check(history, timeout=30)
    result.verdict in ("ok", "illegal", "unknown");  print(result.report())

Command line:  /usr/bin/python3 linearizability.py history.json  (as written
by dump_history) re-checks a saved history.
"""

import base64
import json
import sys
import time

INF = float("inf")

OK, ILLEGAL, UNKNOWN = "ok", "illegal", "unknown"

KINDS = ("put", "get", "delete", "cas")
STATUSES = ("ok", "fail", "unknown")


class Op:
    """One client operation.  `out` is a dict (see the module docstring)."""

    __slots__ = ("id", "client", "kind", "key", "value", "cmp", "call", "ret", "status", "out",
                 "note")

    def __init__(self, client, kind, key, value=None, cmp=None, call=0.0, ret=None, status="ok",
                 out=None, note=""):
        if kind not in KINDS:
            raise ValueError(f"unknown op kind {kind!r}")
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self.id = None
        self.client = client
        self.kind = kind
        self.key = key
        self.value = value
        self.cmp = cmp
        self.call = call
        self.ret = ret
        self.status = status
        self.out = out or {}
        self.note = note

    def writes(self):
        """Whether this op can change the store."""
        return self.kind in ("put", "delete", "cas")

    def changed_store(self):
        """Acknowledged and created a revision (put, delete of 1 key, cas that succeeded)."""
        if self.status != "ok":
            return False
        if self.kind == "put":
            return True
        if self.kind == "delete":
            return self.out.get("deleted") == 1
        if self.kind == "cas":
            return bool(self.out.get("succeeded"))
        return False

    def describe(self, t0=0.0):
        k = _show(self.key)
        if self.kind == "put":
            what = f"put({k}, {_show(self.value)})"
        elif self.kind == "get":
            what = f"get({k})"
        elif self.kind == "delete":
            what = f"delete({k})"
        else:
            c = self.cmp
            cs = f"value=={_show(c[1])}" if c[0] == "value" else f"mod=={c[1]}"
            what = f"cas({k}, if {cs} then put {_show(self.value)})"
        if self.status == "ok":
            o = self.out
            if self.kind == "put":
                res = f"ok rev={o.get('rev')}"
            elif self.kind == "get":
                res = f"-> {_show(o.get('value'))} mod={o.get('mod')} rev={o.get('rev')}"
            elif self.kind == "delete":
                res = f"-> deleted={o.get('deleted')} rev={o.get('rev')}"
            else:
                res = f"-> {'succeeded' if o.get('succeeded') else 'failed'} rev={o.get('rev')}"
                if not o.get("succeeded") and o.get("read"):
                    res += f" (read {_show(o.get('value'))} mod={o.get('mod')})"
        else:
            res = self.status
        end = "inf" if self.ret is None or self.ret == INF else f"{self.ret - t0:.4f}"
        note = f" [{self.note}]" if self.note else ""
        return f"#{self.id} c{self.client} [{self.call - t0:.4f}, {end}] {what} {res}{note}"

    # -- (de)serialization, for saving failing histories
    def to_json(self):
        def enc(b):
            return None if b is None else base64.b64encode(b).decode()
        out = dict(self.out)
        if "value" in out:
            out["value"] = enc(out["value"])
        cmp = None
        if self.cmp is not None:
            cmp = [self.cmp[0], enc(self.cmp[1]) if self.cmp[0] == "value" else self.cmp[1]]
        return {"client": self.client, "kind": self.kind, "key": enc(self.key),
                "value": enc(self.value), "cmp": cmp, "call": self.call,
                "ret": None if self.ret in (None, INF) else self.ret, "status": self.status,
                "out": out, "note": self.note}

    @staticmethod
    def from_json(d):
        def dec(s):
            return None if s is None else base64.b64decode(s)
        out = dict(d.get("out") or {})
        if "value" in out:
            out["value"] = dec(out["value"])
        cmp = d.get("cmp")
        if cmp is not None:
            cmp = (cmp[0], dec(cmp[1]) if cmp[0] == "value" else cmp[1])
        return Op(d["client"], d["kind"], dec(d["key"]), value=dec(d.get("value")), cmp=cmp,
                  call=d["call"], ret=d.get("ret"), status=d["status"], out=out,
                  note=d.get("note", ""))


def _show(b, limit=24):
    if b is None:
        return "<absent>"
    try:
        s = b.decode()
    except (UnicodeDecodeError, AttributeError):
        s = repr(b)
    return s if len(s) <= limit else s[:limit] + "..."


def dump_history(history, path):
    with open(path, "w") as f:
        json.dump([op.to_json() for op in history], f)


def load_history(path):
    with open(path) as f:
        return [Op.from_json(d) for d in json.load(f)]


# ---------------------------------------------------------------------------
# the model

INITIAL_STATE = (None, 0, 0)     # absent, mod 0, floor 0


def _cmp(state, cmp):
    """True / False / None (cannot tell: the key's mod revision is unknown)."""
    value, mod, _ = state
    if cmp[0] == "value":
        return value is not None and value == cmp[1]
    want = cmp[1]
    if mod >= 0:
        return mod == want
    lb = -1 - mod
    return False if want <= lb else None


def _observe(state, value, mod, rev):
    """A read at header revision `rev` saw (value, mod): the next state, or None."""
    cur, cmod, floor = state
    if value != cur or rev < floor:
        return None
    if value is None:
        return (None, 0, rev) if mod == 0 else None
    if cmod >= 0:
        return (cur, cmod, rev) if mod == cmod and mod <= rev else None
    lb = -1 - cmod                     # an unknown write's revision: bind it now
    return (cur, mod, rev) if lb < mod <= rev else None


def step(state, op):
    """The states the model may be in after `op` (an empty list: not possible here)."""
    value, mod, floor = state
    kind = op.kind
    if op.status != "ok":        # unknown outcome, assumed to take effect now
        if kind == "put":
            return [(op.value, -1 - floor, floor)]
        if kind == "delete":
            return [(None, 0, floor)]
        if kind == "cas":
            c = _cmp(state, op.cmp)
            done = (op.value, -1 - floor, floor)
            if c is True:
                return [done]
            if c is False:
                return [state]
            return [done, state]
        return [state]
    out = op.out
    rev = out["rev"]
    if kind == "put":
        return [(op.value, rev, rev)] if rev > floor else []
    if kind == "get":
        nxt = _observe(state, out["value"], out["mod"], rev)
        return [nxt] if nxt is not None else []
    if kind == "delete":
        d = out["deleted"]
        if d == 1:
            return [(None, 0, rev)] if value is not None and rev > floor else []
        if d == 0:
            return [(None, 0, rev)] if value is None and rev >= floor else []
        return []
    # cas
    c = _cmp(state, op.cmp)
    if out["succeeded"]:
        if c is False or rev <= floor:
            return []
        if c is None and not op.cmp[1] < rev:
            return []
        return [(op.value, rev, rev)]
    if c is True or rev < floor:
        return []
    if out.get("read"):
        nxt = _observe(state, out.get("value"), out.get("mod", 0), rev)
        return [nxt] if nxt is not None else []
    return [(value, mod, rev)]


# ---------------------------------------------------------------------------
# the search

class PartitionResult:
    def __init__(self, key, verdict, ops, steps, elapsed, best=None, stuck=None, pruned=0):
        self.key, self.verdict, self.ops = key, verdict, ops
        self.steps, self.elapsed = steps, elapsed
        self.best = best or []     # longest linearized prefix seen: [(op, state after)]
        self.stuck = stuck         # an op whose return was reached before it could be linearized
        self.pruned = pruned       # unknown ops left out of a search that passed

    def report(self, t0, context=12):
        lines = [f"key {_show(self.key, 60)}: {self.verdict} after {self.steps} search steps, "
                 f"{self.elapsed:.2f}s, {len(self.ops)} ops"]
        if self.verdict == ILLEGAL:
            lines.append(f"  longest linearizable prefix: {len(self.best)} ops; its last ones "
                         "(op, then the model state: value, mod revision, revision floor):")
            for op, st in self.best[-context:]:
                lines.append(f"    {op.describe(t0)}\n        => {_state_str(st)}")
            if self.stuck is not None:
                lines.append(f"  cannot be linearized after that (nor anywhere else): "
                             f"{self.stuck.describe(t0)}")
                done = {op.id for op, _ in self.best}
                conc = [op for op in self.ops if op.id not in done and op is not self.stuck
                        and op.call <= (self.stuck.ret if self.stuck.ret is not None else INF)]
                if conc:
                    lines.append("  not yet linearized at that point, invoked before it returned:")
                    for op in conc[:context]:
                        lines.append(f"    {op.describe(t0)}")
                    if len(conc) > context:
                        lines.append(f"    ... {len(conc) - context} more")
        return "\n".join(lines)


def _state_str(st):
    value, mod, floor = st
    m = str(mod) if mod >= 0 else f"unknown(>{-1 - mod})"
    return f"({_show(value)}, mod={m}, floor={floor})"


def check_partition(ops, init_state=INITIAL_STATE, deadline=None, key=None):
    """Search one key's operations (status ok or unknown).  Returns a
    PartitionResult with verdict ok / illegal / unknown (deadline reached)."""
    t_start = time.monotonic()
    n = len(ops)
    # events: (time, 0 = call / 1 = return, index); calls sort before returns at
    # equal times, which treats touching operations as concurrent (permissive).
    events = []
    for i, op in enumerate(ops):
        ret = op.ret if (op.status == "ok" and op.ret is not None) else INF
        events.append((op.call, 0, i))
        events.append((ret, 1, i))
    events.sort()
    size = len(events) + 1          # node 0 is the head sentinel
    nxt = list(range(1, size + 1))
    nxt[-1] = -1
    prv = list(range(-1, size - 1))
    node_op = [-1] * size
    match = [0] * size              # call node -> its return node; 0 for returns
    call_node = [0] * n
    for pos, (_, is_ret, i) in enumerate(events, start=1):
        node_op[pos] = i
        if is_ret:
            match[call_node[i]] = pos
        else:
            call_node[i] = pos

    def lift(e):
        p, q = prv[e], nxt[e]
        nxt[p] = q
        if q != -1:
            prv[q] = p
        m = match[e]
        p, q = prv[m], nxt[m]
        nxt[p] = q
        if q != -1:
            prv[q] = p

    def unlift(e):
        m = match[e]
        p, q = prv[m], nxt[m]
        nxt[p] = m
        if q != -1:
            prv[q] = m
        p, q = prv[e], nxt[e]
        nxt[p] = e
        if q != -1:
            prv[q] = e

    state = init_state
    linearized = 0
    cache = set()
    calls = []                      # (call node, state before, successor states, next alternative)
    best_len, best, stuck = -1, [], None
    entry = nxt[0]
    steps = 0
    while nxt[0] != -1:
        steps += 1
        if deadline is not None and (steps & 1023) == 0 and time.monotonic() > deadline:
            return PartitionResult(key, UNKNOWN, ops, steps, time.monotonic() - t_start)
        if match[entry]:            # a call: try to linearize its op now
            i = node_op[entry]
            succs = step(state, ops[i])
            bit = 1 << i
            alt = 0
        else:                       # a return: its op was not linearized in time; backtrack
            if len(calls) > best_len:
                best_len = len(calls)
                best = [(ops[node_op[c[0]]], st) for c, st in
                        zip(calls, [c2[1] for c2 in calls[1:]] + [state])]
                stuck = ops[node_op[entry]]
            if not calls:
                return PartitionResult(key, ILLEGAL, ops, steps, time.monotonic() - t_start,
                                       best, stuck)
            entry, state, succs, alt = calls.pop()
            i = node_op[entry]
            bit = 1 << i
            linearized &= ~bit
            unlift(entry)
        took = False
        nl = linearized | bit
        for k in range(alt, len(succs)):
            ns = succs[k]
            if (nl, ns) not in cache:
                cache.add((nl, ns))
                calls.append((entry, state, succs, k + 1))
                state, linearized = ns, nl
                lift(entry)
                entry = nxt[0]
                took = True
                break
        if not took:
            entry = nxt[entry]
    return PartitionResult(key, OK, ops, steps, time.monotonic() - t_start)


# ---------------------------------------------------------------------------
# cross-key checks

def check_revision_order(history, t0=0.0, limit=10):
    """Real-time order of revisions across keys; distinct revisions for
    distinct acknowledged writes.  Returns a list of problems."""
    problems = []
    acked = [op for op in history if op.status == "ok" and op.ret is not None and "rev" in op.out]
    by_ret = sorted(acked, key=lambda o: o.ret)
    by_call = sorted(acked, key=lambda o: o.call)
    j, best = 0, None
    for op in by_call:
        while j < len(by_ret) and by_ret[j].ret < op.call:
            if best is None or by_ret[j].out["rev"] > best.out["rev"]:
                best = by_ret[j]
            j += 1
        if best is None:
            continue
        r, b = op.out["rev"], best.out["rev"]
        if r < b or (r == b and op.changed_store()):
            problems.append(f"revision went back in real time: {op.describe(t0)} was invoked after "
                            f"{best.describe(t0)} returned")
            if len(problems) >= limit:
                break
    seen = {}
    for op in acked:
        if op.changed_store():
            other = seen.setdefault(op.out["rev"], op)
            if other is not op:
                problems.append(f"two acknowledged writes got revision {op.out['rev']}: "
                                f"{other.describe(t0)} and {op.describe(t0)}")
    return problems


# ---------------------------------------------------------------------------
# the whole history

class CheckResult:
    def __init__(self, verdict, partitions, problems, elapsed, t0, n_ops):
        self.verdict = verdict
        self.partitions = partitions
        self.problems = problems
        self.elapsed = elapsed
        self.t0 = t0
        self.n_ops = n_ops

    @property
    def ok(self):
        return self.verdict == OK

    def summary(self):
        bad = [p for p in self.partitions if p.verdict != OK]
        steps = sum(p.steps for p in self.partitions)
        return (f"{self.verdict}: {self.n_ops} ops on {len(self.partitions)} keys, "
                f"{steps} search steps, {self.elapsed:.2f}s"
                + (f", {len(bad)} keys not ok" if bad else "")
                + (f", {len(self.problems)} cross-key problems" if self.problems else ""))

    def report(self):
        lines = [self.summary()]
        lines += ["  " + p for p in self.problems]
        for p in self.partitions:
            if p.verdict != OK:
                lines.append(p.report(self.t0))
        return "\n".join(lines)


def prepare(history):
    """Number the ops; the ones the search needs: ok ops and unknown writes."""
    for i, op in enumerate(history):
        op.id = i
    return [op for op in history
            if op.status == "ok" or (op.status == "unknown" and op.writes())]


def _observed_values(ops):
    seen = set()
    for op in ops:
        if op.status != "ok":
            continue
        if op.kind == "get" or (op.kind == "cas" and op.out.get("read")):
            seen.add(op.out.get("value"))
        if op.kind == "cas" and op.cmp[0] == "value":
            seen.add(op.cmp[1])
    return seen


def check(history, timeout=60.0, init_states=None):
    """Check a whole history.  `init_states`: {key: (value, mod, floor)} for
    keys that existed before the history began (default: absent)."""
    t_start = time.monotonic()
    deadline = t_start + timeout
    ops = prepare(history)
    t0 = min((op.call for op in history), default=0.0)
    by_key = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    problems = check_revision_order(history, t0)
    partitions = []
    for key in sorted(by_key):
        kops = by_key[key]
        init = (init_states or {}).get(key, INITIAL_STATE)
        # An unknown write that nobody observed can always be linearized last,
        # after everything else: if the history without it is linearizable, so
        # is the history with it.  Try that (much smaller) search first; only
        # if it fails search again with every unknown write in place.
        seen = _observed_values(kops)
        lean = [op for op in kops if op.status == "ok" or op.value in seen
                or (op.kind == "delete")]
        res = None
        if len(lean) < len(kops):
            res = check_partition(lean, init, deadline, key)
            res.pruned = len(kops) - len(lean)
            if res.verdict != OK:
                res = None
        if res is None:
            res = check_partition(kops, init, deadline, key)
        partitions.append(res)
    if problems or any(p.verdict == ILLEGAL for p in partitions):
        verdict = ILLEGAL
    elif any(p.verdict == UNKNOWN for p in partitions):
        verdict = UNKNOWN
    else:
        verdict = OK
    return CheckResult(verdict, partitions, problems, time.monotonic() - t_start, t0, len(history))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    history = load_history(argv[1])
    timeout = float(argv[2]) if len(argv) > 2 else 120.0
    res = check(history, timeout=timeout)
    print(res.report())
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
