#!/usr/bin/python3
"""Watch with python3-etcd3: differential against real etcd, and a long
randomized run checked by the watch validator.

  * test_validator_catches_broken_streams: the validator itself fails on a
    dropped, duplicated, reordered or split event and on a wrong prev_kv
    (no server needed);
  * test_diff_*: watch / watch_prefix / add_watch_callback (start revision in
    the past, prev_kv, filters, cancel) on etcd and on the candidate, with the
    received events compared field by field;
  * test_randomized_with_validator: writers doing puts, deletes, range deletes
    and transactions concurrently for WATCH_RANDOM_SECONDS (default 20) while
    watchers on two streams, some created mid-run with past start revisions,
    record everything; the validator then checks every watcher.

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_watch_python.py [name-filter...]
"""

import os
import random
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import DiffPair, Server, TestFailure, candidate_binary, free_port, run_tests  # noqa: E402
import watch_validator as wv  # noqa: E402

for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "grpc_proxy", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_v, None)

try:
    import etcd3
    import etcd3.etcdrpc as rpc
    IMPORT_ERROR = None
except ImportError as e:
    IMPORT_ERROR = str(e)

if IMPORT_ERROR is None:
    # python3-etcd3 0.12 assigns the repeated `filters` field, which current
    # protobuf refuses; extend it instead (the same request on the wire).
    import etcd3.watch as _etcd3_watch

    def _create_watch_request(self, key, range_end=None, start_revision=None,
                              progress_notify=False, filters=None, prev_kv=False):
        cw = rpc.WatchCreateRequest(key=etcd3.utils.to_bytes(key))
        if range_end is not None:
            cw.range_end = etcd3.utils.to_bytes(range_end)
        if start_revision is not None:
            cw.start_revision = start_revision
        cw.progress_notify = bool(progress_notify)
        if filters:
            cw.filters.extend(filters)
        cw.prev_kv = bool(prev_kv)
        return rpc.WatchRequest(create_request=cw)
    _etcd3_watch.Watcher._create_watch_request = _create_watch_request

# python3-etcd3's watch thread raises "Channel closed" when its client is
# closed; that is the client's shutdown, not a test result.
_default_excepthook = threading.excepthook


def _quiet_closed_channels(args):
    if isinstance(args.exc_value, ValueError) and "Channel closed" in str(args.exc_value):
        return
    _default_excepthook(args)


threading.excepthook = _quiet_closed_channels

RANDOM_SECONDS = float(os.environ.get("WATCH_RANDOM_SECONDS", "20"))


def _require():
    if IMPORT_ERROR:
        raise TestFailure(f"python3-etcd3 missing: {IMPORT_ERROR} (use /usr/bin/python3)")


def client_for(srv):
    host, port = srv.endpoint.rsplit(":", 1)
    return etcd3.client(host=host, port=int(port), timeout=10)


def ev_tuple(e):
    pb = e._event
    t = (int(pb.type), bytes(pb.kv.key), bytes(pb.kv.value), pb.kv.create_revision,
         pb.kv.mod_revision, pb.kv.version)
    if pb.HasField("prev_kv"):
        t += (bytes(pb.prev_kv.value), pb.prev_kv.mod_revision)
    return t


# ---------------------------------------------------------------------------
# the validator must be able to fail

def _sample_history():
    h = wv.History()
    h.put(2, "a", "1")
    h.put(3, "b", "1")
    h.txn(4, [("put", "a", "2"), ("put", "c", "1")])
    h.delete(5, "a", "d", deleted=3)
    return h.build()


def _pb_event(typ, key, value, create, mod, version, prev=None):
    from etcd3.etcdrpc import kv_pb2
    ev = kv_pb2.Event()
    ev.type = typ
    ev.kv.key, ev.kv.value = key, value
    ev.kv.create_revision, ev.kv.mod_revision, ev.kv.version = create, mod, version
    if prev is not None:
        ev.prev_kv.key, ev.prev_kv.value = key, prev[0]
        ev.prev_kv.create_revision, ev.prev_kv.mod_revision, ev.prev_kv.version = prev[1:]
    return ev


def _good_responses():
    P, D = wv.PUT, wv.DELETE
    return [
        (2, [_pb_event(P, b"a", b"1", 2, 2, 1)]),
        (3, [_pb_event(P, b"b", b"1", 3, 3, 1)]),
        (4, [_pb_event(P, b"a", b"2", 2, 4, 2, prev=(b"1", 2, 2, 1)),
             _pb_event(P, b"c", b"1", 4, 4, 1)]),
        (5, [_pb_event(D, b"a", b"", 0, 5, 0, prev=(b"2", 2, 4, 2)),
             _pb_event(D, b"b", b"", 0, 5, 0, prev=(b"1", 3, 3, 1)),
             _pb_event(D, b"c", b"", 0, 5, 0, prev=(b"1", 4, 4, 1))]),
    ]


def _log(responses, prev_kv=True):
    w = wv.WatcherLog("w", b"a", b"d", start_revision=2, prev_kv=prev_kv)
    for hrev, evs in responses:
        w.add(hrev, evs)
    return w


def test_validator_catches_broken_streams():
    _require()
    h = _sample_history()
    wv.validate(h, _log(_good_responses()), 5)  # the truth passes
    broken = {}
    r = _good_responses(); del r[1]; broken["gap"] = r
    r = _good_responses(); r.insert(2, r[1]); broken["duplicate"] = r
    r = _good_responses(); r[1], r[2] = r[2], r[1]; broken["reorder"] = r
    r = _good_responses(); r[3] = (5, r[3][1][:1]); r.append((5, _good_responses()[3][1][1:])); broken["split revision"] = r
    r = _good_responses(); r[2][1][0].prev_kv.value = b"bogus"; broken["wrong prev_kv"] = r
    r = _good_responses(); r[3][1].pop(); broken["missing delete"] = r
    for name, resp in broken.items():
        try:
            wv.validate(h, _log(resp), 5)
        except wv.ValidationError:
            continue
        raise TestFailure(f"validator accepted a stream with a {name}")
    # and a history with a lost revision
    h2 = wv.History()
    h2.put(2, "a", "1")
    h2.put(4, "a", "2")
    try:
        h2.build()
    except wv.ValidationError:
        return
    raise TestFailure("validator accepted a history with a gap")


# ---------------------------------------------------------------------------
# differential

def _collect(fn, n, timeout=10):
    """Runs fn(append) and waits for n items."""
    got = []
    cond = threading.Condition()

    def append(x):
        with cond:
            got.append(x)
            cond.notify_all()
    fn(append)
    with cond:
        cond.wait_for(lambda: len(got) >= n, timeout=timeout)
    return got


def _diff_run(scenario):
    _require()
    with DiffPair(name="watch-py") as p:
        results = []
        for srv, _ in p.servers():
            c = client_for(srv)
            try:
                results.append(scenario(c))
            finally:
                c.close()
        p.compare(scenario.__name__, results[0], results[1])


def test_diff_watch_iterators():
    def iterators(c):
        c.put("pre", "0")
        events_it, cancel = c.watch_prefix("/w/")
        it2, cancel2 = c.watch("/w/one", prev_kv=True)
        time.sleep(0.3)
        c.put("/w/one", "1")
        c.put("/w/two", "2")
        c.put("/w/one", "3")
        c.delete("/w/one")
        c.put("/x", "outside")
        out = {"prefix": [], "key": []}
        for e in events_it:
            out["prefix"].append(ev_tuple(e))
            if len(out["prefix"]) == 4:
                break
        for e in it2:
            out["key"].append(ev_tuple(e))
            if len(out["key"]) == 3:
                break
        cancel()
        cancel2()
        return out
    _diff_run(iterators)


def test_diff_callbacks_replay_filters_cancel():
    def callbacks(c):
        for i in range(5):
            c.put("/cb/k", str(i))
        c.delete("/cb/k")
        c.put("/cb/j", "x")
        out = {}
        resp = []
        wid = c.add_watch_callback("/cb/", lambda r: resp.append(
            [ev_tuple(e) for e in r.events] if hasattr(r, "events") else repr(r)),
            range_end="/cb0", start_revision=3, prev_kv=True)
        only_del = []
        wid2 = c.add_watch_callback("/cb/k", lambda r: only_del.append(
            [ev_tuple(e) for e in r.events] if hasattr(r, "events") else repr(r)),
            start_revision=1, filters=[rpc.WatchCreateRequest.NOPUT])
        deadline = time.time() + 10
        while time.time() < deadline and (sum(len(x) for x in resp) < 6 or not only_del):
            time.sleep(0.05)
        c.cancel_watch(wid)
        c.put("/cb/k", "after cancel")
        time.sleep(0.3)
        out["replay"] = resp
        out["nodelete"] = only_del
        c.cancel_watch(wid2)
        return out
    _diff_run(callbacks)


# ---------------------------------------------------------------------------
# randomized run + validator

KEYS = [f"/r/{i:02d}" for i in range(24)]


def _do_put(c, history, lock, key, value):
    r = c.put(key, value)
    with lock:
        history.put(r.header.revision, key, value)


def _do_delete(c, history, lock, key, end):
    req = rpc.DeleteRangeRequest(key=key.encode(), range_end=end.encode())
    r = c.kvstub.DeleteRange(req, c.timeout, credentials=c.call_credentials, metadata=c.metadata)
    with lock:
        history.delete(r.header.revision, key, end, deleted=r.deleted)


def _do_txn(c, history, lock, rnd):
    k1, k2, k3 = rnd.sample(KEYS, 3)
    v = f"t{rnd.randrange(1 << 30)}"
    compare = [c.transactions.version(k1) > 0]
    success = [c.transactions.put(k2, v), c.transactions.delete(k3)]
    failure = [c.transactions.put(k1, v)]
    req = rpc.TxnRequest(compare=[x.build_message() for x in compare],
                         success=c._ops_to_requests(success), failure=c._ops_to_requests(failure))
    r = c.kvstub.Txn(req, c.timeout, credentials=c.call_credentials, metadata=c.metadata)
    if r.succeeded:
        ops = [("put", k2, v), ("delete", k3, "", r.responses[1].response_delete_range.deleted)]
    else:
        ops = [("put", k1, v)]
    with lock:
        history.txn(r.header.revision, ops)


def _writer_loop(c, history, lock, stop, seed, counter):
    rnd = random.Random(seed)
    while not stop.is_set():
        x = rnd.random()
        if x < 0.55:
            _do_put(c, history, lock, rnd.choice(KEYS), f"v{rnd.randrange(1 << 30)}")
        elif x < 0.75:
            _do_delete(c, history, lock, rnd.choice(KEYS), "")
        elif x < 0.82:
            a, b = sorted(rnd.sample(KEYS, 2))
            _do_delete(c, history, lock, a, b)
        else:
            _do_txn(c, history, lock, rnd)
        counter.append(1)


def _add_watcher(c, logs, name, key, end=b"", start=0, prev_kv=False, no_put=False, no_delete=False):
    log = wv.WatcherLog(name, key, end, start, prev_kv, no_put, no_delete)
    filters = []
    if no_put:
        filters.append(rpc.WatchCreateRequest.NOPUT)
    if no_delete:
        filters.append(rpc.WatchCreateRequest.NODELETE)

    def cb(r):
        if isinstance(r, Exception):
            log.errors.append(repr(r))
        else:
            log.add(r.header.revision, r.events)
    kw = dict(prev_kv=prev_kv, filters=filters or None)
    if end:
        kw["range_end"] = end
    if start:
        kw["start_revision"] = start
    c.add_watch_callback(key, cb, **kw)
    logs.append(log)
    return log


def _hub_gauges(port):
    """The watch hub's gauges from /metrics (name -> int)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        body = r.read().decode()
    gauges = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            gauges[name] = int(value)
    return gauges


def test_randomized_with_validator():
    _require()
    metrics_port = free_port()
    srv = Server(candidate_binary(), name="watch-random", label="candidate",
                 extra_args=["--listen-metrics-urls", f"http://127.0.0.1:{metrics_port}"])
    with srv:
        w1, w2 = client_for(srv), client_for(srv)
        writers = [client_for(srv) for _ in range(3)]
        try:
            history = wv.History()
            lock = threading.Lock()
            base = int(w1.get_response("x").header.revision)
            logs = []
            # Live from the start (explicit start revision: base + 1).
            _add_watcher(w1, logs, "all", "\0", "\0", start=base + 1)
            _add_watcher(w1, logs, "prefix prev", "/r/", "/r0", start=base + 1, prev_kv=True)
            _add_watcher(w2, logs, "range 05-12", "/r/05", "/r/12", start=base + 1)
            _add_watcher(w2, logs, "key 07 prev", "/r/07", start=base + 1, prev_kv=True)
            _add_watcher(w2, logs, "nodelete", "/r/", "/r0", start=base + 1, no_delete=True)
            _add_watcher(w1, logs, "noput", "/r/", "/r0", start=base + 1, no_put=True)
            stop = threading.Event()
            counter = []
            threads = [threading.Thread(target=_writer_loop, args=(c, history, lock, stop, i, counter))
                       for i, c in enumerate(writers)]
            for t in threads:
                t.start()
            t_end = time.time() + RANDOM_SECONDS
            rnd = random.Random(99)
            late = 0
            while time.time() < t_end:
                time.sleep(RANDOM_SECONDS / 8)
                cur = int(w1.get_response("x").header.revision)
                # Mid-run watchers replaying from the past, then handing over.
                start = rnd.randint(base + 1, cur)
                late += 1
                _add_watcher(w2 if late % 2 else w1, logs, f"late{late} from {start}", "/r/", "/r0",
                             start=start, prev_kv=bool(late % 3 == 0))
            stop.set()
            for t in threads:
                t.join()
            final = int(w1.get_response("x").header.revision)
            history.build(base_revision=base)
            # Wait until every watcher got everything it should have. Counted as
            # events arrive: concatenating every watcher's event lists each
            # round was quadratic and, with ~25k writes, held the GIL so long
            # that the watch threads could not drain what the server had
            # already sent (the server's queues were empty, the client's
            # threads starved).
            drain_start = time.time()
            deadline = drain_start + 60
            expected = [len(history.expected(l.key, l.range_end, l.start_revision, final,
                                             l.no_put, l.no_delete)) for l in logs]
            while time.time() < deadline:
                if all(l.n_events >= n for l, n in zip(logs, expected)):
                    break
                time.sleep(0.2)
            drained = time.time() - drain_start
            problems = []
            for l in logs:
                if l.errors:
                    problems.append(f"{l.name}: errors {l.errors[:3]}")
                try:
                    wv.validate(history, l, final)
                except wv.ValidationError as e:
                    problems.append(str(e))
            n_events = sum(len(e) for l in logs for _, e in l.responses)
            print(f"    {len(counter)} writes, revisions {base + 1}..{final}, {len(logs)} watchers, "
                  f"{n_events} events checked, drained in {drained:.1f} s", flush=True)
            if final - base < 100:
                problems.append(f"only {final - base} revisions written: the run proves little")
            if problems:
                gauges = _hub_gauges(metrics_port)
                raise TestFailure("\n".join(problems + [
                    f"{k} {v}" for k, v in gauges.items() if "watch" in k or "revision" in k]))
        finally:
            for c in [w1, w2] + writers:
                c.close()


if __name__ == "__main__":
    run_tests(globals())
