#!/usr/bin/python3
"""Slow watchers must not stall writes or grow the server's memory.

One gRPC Watch stream creates 10,000 watchers on a prefix, reads their
`created` responses and then stops reading. Writes to that prefix then flow
for SLOW_WRITE_SECONDS (default 20) from several clients: each write matches
all 10,000 stalled watchers (about 10 MB of undelivered events per write, so
an unbounded buffer would reach gigabytes within seconds). Asserted:

  * the server's anonymous memory (RssAnon: heap, not LMDB's mapped file)
    grows by less than RSS_BOUND_MIB (128 MiB) over its level once the
    watchers exist;
  * writes keep flowing: no put takes longer than 1 s and at least 1,000 are
    made;
  * a healthy watcher on another stream receives every event, checked by the
    watch validator;
  * the server is healthy afterwards, and the stalled stream can be closed.

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_watch_slow.py
"""

import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server, TestFailure, candidate_binary, etcdctl, run_tests  # noqa: E402
import watch_validator as wv  # noqa: E402

for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "grpc_proxy", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_v, None)

try:
    import etcd3
    import etcd3.etcdrpc as rpc
    import grpc
    IMPORT_ERROR = None
except ImportError as e:
    IMPORT_ERROR = str(e)

# python3-etcd3's watch thread raises "Channel closed" once its client is
# closed: the client's shutdown, not a test result.
_default_excepthook = threading.excepthook
threading.excepthook = lambda a: None if (isinstance(a.exc_value, ValueError) and "Channel closed" in str(a.exc_value)) else _default_excepthook(a)

N_WATCHERS = 10000
WRITE_SECONDS = float(os.environ.get("SLOW_WRITE_SECONDS", "20"))
RSS_BOUND_MIB = 128
VALUE = b"x" * 1024


def rss_anon_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def test_stalled_stream_with_10k_watchers():
    if IMPORT_ERROR:
        raise TestFailure(f"python3-etcd3 / grpc missing: {IMPORT_ERROR} (use /usr/bin/python3)")
    srv = Server(candidate_binary(), name="watch-slow", label="candidate")
    with srv:
        host, port = srv.endpoint.rsplit(":", 1)
        # The stalled stream, on its own connection.
        channel = grpc.insecure_channel(srv.endpoint)
        requests = queue.Queue()

        def request_iter():
            while True:
                r = requests.get()
                if r is None:
                    return
                yield r
        stalled = rpc.WatchStub(channel).Watch(request_iter())
        for _ in range(N_WATCHERS):
            requests.put(rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                key=b"/load/", range_end=b"/load0")))
        created = 0
        t0 = time.time()
        for r in stalled:
            if r.created and not r.canceled:
                created += 1
            if created == N_WATCHERS or time.time() - t0 > 60:
                break
        if created != N_WATCHERS:
            raise TestFailure(f"only {created} of {N_WATCHERS} watchers created")
        # From here on nobody reads `stalled`.

        history = wv.History()
        lock = threading.Lock()
        watcher_client = etcd3.client(host=host, port=int(port), timeout=10)
        base = int(watcher_client.get_response("x").header.revision)
        healthy = wv.WatcherLog("healthy", b"/load/", b"/load0", start_revision=base + 1)
        watcher_client.add_watch_callback(
            "/load/", lambda r: None if isinstance(r, Exception) else healthy.add(r.header.revision, r.events),
            range_end="/load0", start_revision=base + 1)

        time.sleep(0.5)
        baseline = rss_anon_kib(srv.proc.pid)
        peak = baseline
        stop = threading.Event()
        stats = {"puts": 0, "max_latency": 0.0}
        errors = []

        def writer(i):
            c = etcd3.client(host=host, port=int(port), timeout=10)
            n = 0
            try:
                while not stop.is_set():
                    key = f"/load/{i}/{n % 50}"
                    t = time.time()
                    r = c.put(key, VALUE)
                    dt = time.time() - t
                    with lock:
                        history.put(r.header.revision, key, VALUE)
                        stats["puts"] += 1
                        stats["max_latency"] = max(stats["max_latency"], dt)
                    n += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
            finally:
                c.close()
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        t_end = time.time() + WRITE_SECONDS
        while time.time() < t_end:
            time.sleep(0.25)
            if srv.proc.poll() is not None:
                break
            peak = max(peak, rss_anon_kib(srv.proc.pid))
        stop.set()
        for t in threads:
            t.join()
        final = int(watcher_client.get_response("x").header.revision)
        history.build(base_revision=base)
        deadline = time.time() + 30
        while time.time() < deadline and healthy.last_revision() < final:
            time.sleep(0.1)
        peak = max(peak, rss_anon_kib(srv.proc.pid))

        problems = []
        growth_mib = (peak - baseline) / 1024
        print(f"    {stats['puts']} puts ({stats['puts'] / WRITE_SECONDS:.0f}/s), max put latency "
              f"{stats['max_latency'] * 1000:.0f} ms; RssAnon {baseline // 1024} MiB -> peak "
              f"{peak // 1024} MiB (+{growth_mib:.0f} MiB, bound {RSS_BOUND_MIB})", flush=True)
        if errors:
            problems.append(f"writer errors: {errors[:3]}")
        if growth_mib >= RSS_BOUND_MIB:
            problems.append(f"server memory grew by {growth_mib:.0f} MiB (bound {RSS_BOUND_MIB} MiB)")
        if stats["max_latency"] > 1.0:
            problems.append(f"a put took {stats['max_latency']:.2f} s: writes stalled")
        if stats["puts"] < 1000:
            problems.append(f"only {stats['puts']} puts in {WRITE_SECONDS:.0f} s")
        try:
            wv.validate(history, healthy, final)
        except wv.ValidationError as e:
            problems.append(str(e))
        # Close the stalled stream; the server stays healthy.
        requests.put(None)
        stalled.cancel()
        channel.close()
        watcher_client.close()
        time.sleep(0.5)
        rc, out, err = etcdctl(srv.endpoint, "endpoint", "health")
        if rc != 0:
            problems.append(f"unhealthy after the test: {out} {err}")
        if problems:
            raise TestFailure("\n".join(problems))


if __name__ == "__main__":
    run_tests(globals())
