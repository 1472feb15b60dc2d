"""Watch validator: checks what watchers received against the write history.

A test records every write it made with the revision the server answered
(History.put / delete / txn), and every WatchResponse each watcher received
(WatcherLog.add). validate() then rebuilds the store's history from the
writes alone (an independent model: revision order, create/mod revision,
version, range deletes) and asserts, per watcher:

  * order: events in revision order, and inside a revision in the order the
    server applied them;
  * no duplicates and no gaps: the received events are exactly the model's
    events for the watcher's key range, filters and start revision, up to the
    revision the watcher was last required to reach;
  * atomic revisions: all events of one revision arrived in one response
    (fragmented responses are reassembled by the client first);
  * prev_kv: present exactly when asked for and a previous version exists,
    and equal to the model's key-value at revision-1;
  * header.revision of a response is not below its last event.

It also checks the history itself: every revision between the first and last
recorded write is accounted for by exactly one write (a lost or doubled
revision on the server shows up here). Stdlib only; events are plain tuples
or protobuf mvccpb.Event objects (anything with .type/.kv/.prev_kv).
"""

PUT, DELETE = 0, 1


class ValidationError(AssertionError):
    pass


def _b(x):
    return x.encode() if isinstance(x, str) else bytes(x)


def in_range(key, start, end):
    """etcd's key range: end empty = single key, end b'\\0' = from key."""
    if start == b"":
        start = b"\0"
    if not end:
        return key == start
    if end == b"\0":
        return key >= start
    return start <= key < end


class KV:
    __slots__ = ("key", "value", "create_revision", "mod_revision", "version", "lease")

    def __init__(self, key, value, create_revision, mod_revision, version, lease=0):
        self.key, self.value = key, value
        self.create_revision, self.mod_revision = create_revision, mod_revision
        self.version, self.lease = version, lease

    def as_tuple(self):
        return (self.key, self.value, self.create_revision, self.mod_revision, self.version, self.lease)


class Ev:
    """A model event: type, kv (the tombstone for deletes: key and mod_revision
    only, as etcd sends it) and the previous kv (None if there is none)."""
    __slots__ = ("type", "kv", "prev")

    def __init__(self, type_, kv, prev):
        self.type, self.kv, self.prev = type_, kv, prev

    def describe(self):
        t = "PUT" if self.type == PUT else "DELETE"
        return f"{t} {self.kv.key!r}@{self.kv.mod_revision}"


class History:
    """The writes of a test, each with the revision the server reported."""

    def __init__(self):
        self._writes = []  # (revision, seq, [("put", k, v, lease) | ("delete", k, end, count)])
        self._seq = 0
        self.events = None  # revision -> [Ev], after build()

    def _add(self, revision, ops):
        self._seq += 1
        self._writes.append((revision, self._seq, ops))

    def put(self, revision, key, value, lease=0):
        self._add(revision, [("put", _b(key), _b(value), lease)])

    def delete(self, revision, key, range_end=b"", deleted=None):
        """deleted: the count the server reported (checked against the model)."""
        self._add(revision, [("delete", _b(key), _b(range_end), deleted)])

    def txn(self, revision, ops):
        """ops: the executed branch, in order, as ("put", k, v) / ("delete", k, end, deleted)."""
        norm = []
        for op in ops:
            if op[0] == "put":
                norm.append(("put", _b(op[1]), _b(op[2]), op[3] if len(op) > 3 else 0))
            else:
                norm.append(("delete", _b(op[1]), _b(op[2]), op[3] if len(op) > 3 else None))
        self._add(revision, norm)

    def build(self, base_revision=1, initial=None):
        """Replays the writes in revision order. `initial`: {key: KV} at
        base_revision (keys written before the recording started)."""
        state = dict(initial or {})
        self.events = {}
        self.state_before = {}
        expected_rev = base_revision
        problems = []
        # A write that changes nothing (a delete of nothing) reports the
        # revision current when it ran: it belongs after that revision's write.
        def noop(ops):
            return all(op[0] == "delete" and op[3] == 0 for op in ops)
        for revision, _, ops in sorted(self._writes, key=lambda w: (w[0], noop(w[2]), w[1])):
            changes = self._changes(ops, state)
            if not changes:
                # A write that changed nothing (delete of nothing, read-only
                # txn) reports the current revision and takes none.
                continue
            if revision != expected_rev + 1:
                problems.append(f"revision {revision}: expected {expected_rev + 1} "
                                f"({'gap' if revision > expected_rev + 1 else 'reused revision'})")
            expected_rev = revision
            evs = []
            for kind, key, arg in changes:
                prev = state.get(key)
                if kind == "put":
                    value, lease = arg
                    kv = KV(key, value, prev.create_revision if prev else revision, revision,
                            prev.version + 1 if prev else 1, lease)
                    state[key] = kv
                    evs.append(Ev(PUT, kv, prev))
                else:
                    del state[key]
                    evs.append(Ev(DELETE, KV(key, b"", 0, revision, 0, 0), prev))
            self.events[revision] = evs
        self.last_revision = expected_rev
        if problems:
            raise ValidationError("history is not contiguous:\n  " + "\n  ".join(problems[:20]))
        return self

    @staticmethod
    def _changes(ops, state):
        out = []
        touched = dict(state)
        for op in ops:
            if op[0] == "put":
                out.append(("put", op[1], (op[2], op[3])))
                touched[op[1]] = True
            else:
                _, key, end, count = op
                keys = sorted(k for k in touched if in_range(k, key, end) and touched[k])
                if count is not None and count != len(keys):
                    raise ValidationError(f"delete {key!r}..{end!r}: server deleted {count}, "
                                          f"model has {len(keys)} keys: {keys[:10]}")
                for k in keys:
                    out.append(("delete", k, None))
                    touched[k] = False
        return out

    def expected(self, key, range_end, first_rev, last_rev, no_put=False, no_delete=False):
        out = []
        for rev in range(max(first_rev, 1), last_rev + 1):
            for ev in self.events.get(rev, ()):
                if not in_range(ev.kv.key, _b(key), _b(range_end)):
                    continue
                if (ev.type == PUT and no_put) or (ev.type == DELETE and no_delete):
                    continue
                out.append(ev)
        return out


def _event_fields(e):
    """(type, kv tuple, prev tuple or None) of a received event: a protobuf
    mvccpb.Event or a python-etcd3 event (which wraps one in ._event)."""
    pb = getattr(e, "_event", e)
    kv = pb.kv
    kvt = (bytes(kv.key), bytes(kv.value), kv.create_revision, kv.mod_revision, kv.version, kv.lease)
    prev = None
    if pb.HasField("prev_kv"):
        p = pb.prev_kv
        prev = (bytes(p.key), bytes(p.value), p.create_revision, p.mod_revision, p.version, p.lease)
    return int(pb.type), kvt, prev


class WatcherLog:
    """What one watcher asked for and received."""

    def __init__(self, name, key, range_end=b"", start_revision=0, prev_kv=False,
                 no_put=False, no_delete=False):
        self.name = name
        self.key, self.range_end = _b(key), _b(range_end)
        self.start_revision = start_revision
        self.prev_kv = prev_kv
        self.no_put, self.no_delete = no_put, no_delete
        self.responses = []  # (header revision, [event])
        self.errors = []
        self.n_events = 0  # kept as they come: waiters poll it cheaply

    def add(self, header_revision, events):
        events = list(events)
        self.responses.append((header_revision, events))
        self.n_events += len(events)

    def last_revision(self):
        for _, evs in reversed(self.responses):
            if evs:
                return _event_fields(evs[-1])[1][3]
        return 0


def validate(history, watcher, until_revision, first_revision=None):
    """Asserts the watcher saw exactly the history of its range from its start
    revision (or `first_revision`) up to `until_revision`. Raises
    ValidationError describing the first problems found."""
    if history.events is None:
        raise ValueError("call history.build() first")
    problems = []
    received = []  # (response index, header revision, fields)
    for i, (hrev, evs) in enumerate(watcher.responses):
        for e in evs:
            received.append((i, hrev, _event_fields(e)))
    first = first_revision if first_revision is not None else watcher.start_revision
    if not first:
        # Started "now" at an unrecorded moment: check the suffix from its first event.
        first = received[0][2][1][3] if received else until_revision + 1
    want = history.expected(watcher.key, watcher.range_end, first, until_revision,
                            watcher.no_put, watcher.no_delete)

    last = 0
    for i, hrev, (typ, kv, prev) in received:
        if kv[3] < last:
            problems.append(f"order: revision {kv[3]} after {last}")
        last = max(last, kv[3])
        if hrev < kv[3]:
            problems.append(f"response {i}: header revision {hrev} below event revision {kv[3]}")
    seen = {}
    for i, _, (typ, kv, _) in received:
        key = (kv[3], kv[0], typ)
        if key in seen:
            problems.append(f"duplicate: {'PUT' if typ == PUT else 'DELETE'} {kv[0]!r}@{kv[3]}")
        seen[key] = i
    by_rev = {}
    for i, _, (_, kv, _) in received:
        by_rev.setdefault(kv[3], set()).add(i)
    for rev, resps in sorted(by_rev.items()):
        if len(resps) > 1:
            problems.append(f"revision {rev} split over responses {sorted(resps)}")

    # Exact sequence, up to until_revision (later events may legitimately
    # have arrived already).
    got = [r for r in received if r[2][1][3] <= until_revision]
    for j in range(max(len(got), len(want))):
        g = got[j][2] if j < len(got) else None
        w = want[j] if j < len(want) else None
        if w is None:
            problems.append(f"unexpected event #{j}: {g[1][0]!r}@{g[1][3]} (type {g[0]})")
            break
        if g is None:
            problems.append(f"missing events from #{j}: {w.describe()} and {len(want) - j - 1} more "
                            f"(received {len(got)}, expected {len(want)})")
            break
        typ, kv, prev = g
        wkv = w.kv.as_tuple()
        if typ != w.type or kv != wkv:
            problems.append(f"event #{j}: got type {typ} {kv}, want {w.describe()} {wkv}")
            break
        if watcher.prev_kv:
            wprev = w.prev.as_tuple() if (w.prev is not None and not
                                          (w.type == PUT and w.kv.version == 1)) else None
            if prev != wprev:
                problems.append(f"event #{j} {w.describe()}: prev_kv {prev}, want {wprev}")
        elif prev is not None:
            problems.append(f"event #{j} {w.describe()}: prev_kv sent but not asked for")
    if problems:
        raise ValidationError(f"watcher {watcher.name} ({watcher.key!r}..{watcher.range_end!r} "
                              f"from {first}, until {until_revision}):\n  "
                              + "\n  ".join(problems[:20]))
