#!/usr/bin/python3
"""Lease expiry storm: thousands of leases expiring at once must be revoked at
the configured --lease-revoke-rate, each in its own revision, without stalling
writes.

Scenario (one fresh server per run): a client grants N leases (client-chosen
ids, TTL LEASE_STORM_TTL s) and attaches keys to them (one key each, three keys for
every MULTI_EVERY-th lease).  A watch on the storm prefix (from the revision
after the setup) and a writer thread (sequential puts of one unleased key,
latency of every put recorded) start.  Then the server is frozen (SIGSTOP)
until every lease's deadline has passed and resumed (SIGCONT): it finds all N
leases expired at once -- the worst case of a mass expiry (a client holding
thousands of leases died, the process or its VM stalled), and the only way to
get N deadlines aligned within a millisecond from a Python client (a
keep-alive burst takes ~1 s for 5000 leases here, as long as the revocation
at 5000/s).  Asserted:
  * no lease was revoked before the freeze (else the setup was too slow for the
    TTL and the test says so),
  * all leases (LeaseLeases, LeaseTimeToLive = -1) and keys (Range) are gone
    within 1.5 * N / rate + 2 s after the resume,
  * each lease's keys were deleted in ONE revision that deletes nothing else
    (watch events grouped by revision), and the revision count adds up:
    revisions after setup = N (one per lease) + the writer's puts,
  * the achieved revocation rate (leases revoked after the first batch / time
    from the first to the last delete seen by the watch) is within
    [RATE_LOW, RATE_HIGH] x the configured rate: the limit is obeyed, and
    reached,
  * writes issued during the storm (from the resume to the last delete) have
    p99 latency < P99_BOUND_MS and max < MAX_BOUND_MS (2-core box); an apply
    loop stalled by the revocations (seconds) fails this, as does a writer
    that completes fewer than 10 puts during the storm.
Runs with the default rate (1000/s, etcd's hard-coded limit) and with
--lease-revoke-rate 5000; the measured rates and latencies are printed.

With CAPSTAN_BIN=/usr/bin/etcd (validating the test) the flag is not passed
and the expected rate is etcd's fixed 1000/s in both runs.

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_lease_mass_expiry.py
Env:  LEASE_STORM_N (default 5000), LEASE_STORM_TTL (default 10).
"""

import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server, TestFailure, candidate_binary, run_tests  # noqa: E402

for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "grpc_proxy", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_v, None)

try:
    import etcd3.etcdrpc as rpc
    import grpc
    IMPORT_ERROR = None
except ImportError as e:
    IMPORT_ERROR = f"{e} (python3-etcd3 is installed for Debian's /usr/bin/python3; running {sys.executable})"

# this process uses gRPC: start servers without fork handlers (harness.spawn_args)
Server.no_fork_handlers = True

N = int(os.environ.get("LEASE_STORM_N", "5000"))
# Longer than the setup (granting 5000 leases takes 2-6 s here, on a busy
# box), so that no lease expires before the freeze.
TTL = int(os.environ.get("LEASE_STORM_TTL", "10"))
MULTI_EVERY = 25                 # every 25th lease has 3 keys (atomicity check)
PREFIX = b"storm/"
PREFIX_END = b"storm0"
WRITER_KEY = b"writer/k"
ETCD_FIXED_RATE = 1000           # etcd's leaseRevokeRate
RATE_LOW, RATE_HIGH = 0.7, 1.2   # achieved / configured revocation rate
P99_BOUND_MS = 200.0             # write latency during the storm
MAX_BOUND_MS = 1000.0
RPC_TIMEOUT = 10
EV_DELETE = 1                    # mvccpb.Event.DELETE


def is_etcd(binary):
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, timeout=10).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return False
    return not out.startswith("capstan")


def lease_keys(i):
    return [PREFIX + b"%05d/%d" % (i, k) for k in range(3 if i % MULTI_EVERY == 0 else 1)]


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class Writer(threading.Thread):
    """Sequential puts of one unleased key; records (start, latency s, revision).
    pause() parks it between two puts (nothing in flight) until resume()."""

    def __init__(self, kv):
        super().__init__(daemon=True)
        self.kv = kv
        self.stop = threading.Event()
        self.go = threading.Event()
        self.go.set()
        self.parked = threading.Event()
        self.samples = []
        self.errors = []

    def pause(self):
        self.go.clear()
        if not self.parked.wait(RPC_TIMEOUT + 5):
            raise TestFailure("writer did not park: a put hangs")

    def resume(self):
        self.parked.clear()
        self.go.set()

    def run(self):
        i = 0
        while not self.stop.is_set():
            if not self.go.is_set():
                self.parked.set()
                self.go.wait()
                continue
            i += 1
            t = time.monotonic()
            try:
                r = self.kv.Put(rpc.PutRequest(key=WRITER_KEY, value=b"%d" % i), timeout=RPC_TIMEOUT)
                self.samples.append((t, time.monotonic() - t, r.header.revision))
            except grpc.RpcError as e:
                self.samples.append((t, time.monotonic() - t, None))
                self.errors.append(f"{e.code()}: {e.details()}")

    def finish(self):
        self.stop.set()
        self.go.set()
        self.join(timeout=RPC_TIMEOUT + 5)


class Watch(threading.Thread):
    """A watch on PREFIX from `start_rev`; records (arrival time, events) per response."""

    def __init__(self, channel, start_rev):
        super().__init__(daemon=True)
        self.stub = rpc.WatchStub(channel)
        self.start_rev = start_rev
        self.responses = []       # (t, [(type, key, mod_revision)])
        self.created = threading.Event()
        self.done = threading.Event()
        self.error = None
        self._call = None

    def run(self):
        done = self.done

        def requests():
            yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                key=PREFIX, range_end=PREFIX_END, start_revision=self.start_rev))
            done.wait()
        try:
            self._call = self.stub.Watch(requests())
            for resp in self._call:
                if resp.created:
                    self.created.set()
                if resp.events:
                    self.responses.append((time.monotonic(), [(ev.type, ev.kv.key, ev.kv.mod_revision)
                                                              for ev in resp.events]))
                if resp.canceled:
                    self.error = f"watch canceled: {resp.cancel_reason!r}"
                    break
        except grpc.RpcError as e:
            if not done.is_set():
                self.error = f"watch failed: {e.code()}: {e.details()}"
        finally:
            self.created.set()

    def deleted_keys(self):
        return {k for _, evs in list(self.responses) for (_, k, _) in evs}

    def close(self):
        self.done.set()
        if self._call is not None:
            self._call.cancel()
        self.join(timeout=10)


def grant_and_attach(lease, kv, ids):
    """Grant every lease and put its keys, in pipelined chunks (a chunk's keys
    are attached right after its grants).  Returns (last revision, #keys)."""
    last, nkeys = 0, 0
    for c in range(0, len(ids), 1000):
        chunk = list(enumerate(ids))[c:c + 1000]
        for f in [lease.LeaseGrant.future(rpc.LeaseGrantRequest(ID=lid, TTL=TTL), timeout=30)
                  for _, lid in chunk]:
            r = f.result()
            if r.error:
                raise TestFailure(f"LeaseGrant failed: {r.error}")
        puts = [(k, lid) for i, lid in chunk for k in lease_keys(i)]
        nkeys += len(puts)
        futs = [kv.Txn.future(rpc.TxnRequest(success=[      # etcd's default --max-txn-ops is 128
            rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=b"v", lease=lid))
            for k, lid in puts[p:p + 100]]), timeout=30) for p in range(0, len(puts), 100)]
        for f in futs:
            r = f.result()
            if not r.succeeded:
                raise TestFailure("txn of leased puts failed")
            last = max(last, r.header.revision)
    return last, nkeys


def storm(rate_flag):
    """One server, one storm: asserts (TestFailure) and prints the measurements."""
    if IMPORT_ERROR:
        raise TestFailure(f"python3-etcd3 / grpc missing: {IMPORT_ERROR}")
    binary = candidate_binary()
    etcd = is_etcd(binary)
    rate = ETCD_FIXED_RATE if etcd or rate_flag is None else rate_flag
    extra = [] if etcd or rate_flag is None else ["--lease-revoke-rate", str(rate_flag)]
    problems = []
    m = {"rate": rate, "flag": rate_flag, "etcd": etcd, "n": N}
    with Server(binary, name="storm", extra_args=extra, label="candidate") as srv:
        channel = grpc.insecure_channel(srv.endpoint)
        frozen, writer, watch = False, None, None
        try:
            kv, lease = rpc.KVStub(channel), rpc.LeaseStub(channel)
            base = (0x5EED << 48) | ((os.getpid() & 0xFFFF) << 24)
            ids = [base + i for i in range(N)]
            key_lease = {k: lid for i, lid in enumerate(ids) for k in lease_keys(i)}

            t_setup = time.monotonic()
            setup_rev, nkeys = grant_and_attach(lease, kv, ids)
            t_granted = time.monotonic()
            m.update(keys=nkeys, setup_s=t_granted - t_setup)
            watch = Watch(channel, setup_rev + 1)
            watch.start()
            if not watch.created.wait(10) or watch.error:
                raise TestFailure(f"watch not created: {watch.error}")
            writer = Writer(kv)
            writer.start()
            time.sleep(0.5)   # baseline writes

            # --- freeze until every deadline has passed, then resume
            writer.pause()   # nothing in flight during the freeze
            t_stop = time.monotonic()
            early = len(watch.deleted_keys())
            srv.proc.send_signal(signal.SIGSTOP)
            frozen = True
            if early:
                raise TestFailure(f"setup too slow for TTL {TTL}s: {early} keys were deleted by expiry "
                                  f"before the freeze (setup took {t_granted - t_setup:.1f}s); "
                                  f"raise LEASE_STORM_TTL")
            time.sleep(max(0.5, t_granted + TTL + 0.5 - time.monotonic()))
            t_cont = time.monotonic()
            srv.proc.send_signal(signal.SIGCONT)
            frozen = False
            writer.resume()
            m["frozen_s"] = t_cont - t_stop

            bound = 1.5 * N / rate + 2.0
            deleted = set()
            while time.monotonic() < t_cont + bound:
                deleted = watch.deleted_keys()
                if len(deleted) >= nkeys:
                    break
                time.sleep(0.05)
            time.sleep(0.3)   # a few writes after the storm
            writer.finish()

            # --- everything gone?
            left_keys = kv.Range(rpc.RangeRequest(key=PREFIX, range_end=PREFIX_END, count_only=True),
                                 timeout=RPC_TIMEOUT).count
            listed = {l.ID for l in lease.LeaseLeases(rpc.LeaseLeasesRequest(), timeout=RPC_TIMEOUT).leases}
            left_leases = len(listed & set(ids))
            ttl_probe = [lease.LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=lid), timeout=RPC_TIMEOUT).TTL
                         for lid in (ids[0], ids[N // 2], ids[-1])]
            final_rev = kv.Range(rpc.RangeRequest(key=WRITER_KEY), timeout=RPC_TIMEOUT).header.revision
            time.sleep(0.2)
            watch.close()
            if left_keys or left_leases or len(deleted) < nkeys:
                problems.append(f"not all gone {bound:.1f}s (1.5*{N}/{rate}/s + 2s) after the resume: "
                                f"{left_keys} keys and {left_leases} leases left, "
                                f"{len(deleted)} of {nkeys} deletes watched")
            if any(t != -1 for t in ttl_probe):
                problems.append(f"LeaseTimeToLive of expired leases: TTL {ttl_probe}, expected -1")
            if watch.error:
                problems.append(watch.error)
            if writer.errors:
                problems.append(f"{len(writer.errors)} writer puts failed, first: {writer.errors[0]}")

            # --- one revision per lease, holding exactly its keys
            by_rev, arrival = {}, {}
            for t, evs in watch.responses:
                for typ, k, rev in evs:
                    by_rev.setdefault(rev, []).append((typ, k))
                    arrival.setdefault(rev, t)
            bad, lease_revs = [], {}
            for rev, evs in sorted(by_rev.items()):
                owners = {key_lease.get(k) for _, k in evs}
                if {typ for typ, _ in evs} != {EV_DELETE} or len(owners) != 1 or None in owners:
                    bad.append(f"rev {rev}: {evs[:4]}{'...' if len(evs) > 4 else ''}")
                    continue
                lid = owners.pop()
                want = lease_keys(lid - base)
                if sorted(k for _, k in evs) != want:
                    bad.append(f"rev {rev}: deleted {sorted(k for _, k in evs)} of lease {lid:x}, "
                               f"its keys are {want}")
                if lid in lease_revs:
                    bad.append(f"lease {lid:x} deleted in revisions {lease_revs[lid]} and {rev}")
                lease_revs[lid] = rev
            if bad:
                problems.append(f"{len(bad)} revisions are not exactly one lease's keys:\n      "
                                + "\n      ".join(bad[:10]))
            writer_revs = [r for _, _, r in writer.samples if r is not None]
            expect = len(lease_revs) + len(writer_revs)
            if len(lease_revs) == N and final_rev - setup_rev != expect:
                problems.append(f"revision arithmetic: {final_rev - setup_rev} revisions after setup, expected "
                                f"{N} lease revocations + {len(writer_revs)} writer puts = {expect}")
            if set(writer_revs) & set(by_rev):
                problems.append("a writer put and a lease revocation share a revision")

            # --- achieved rate, seen by the watch; write latency meanwhile
            times = sorted(arrival.values())
            if len(times) >= 2 and times[-1] > times[0]:
                t_first, t_last = times[0], times[-1]
                m["achieved_rate"] = sum(1 for t in times if t > t_first) / (t_last - t_first)
                m["first_delete_s"] = t_first - t_cont
                m["all_gone_s"] = t_last - t_cont
                lo, hi = RATE_LOW * rate, RATE_HIGH * rate
                if not lo <= m["achieved_rate"] <= hi:
                    problems.append(f"achieved revocation rate {m['achieved_rate']:.0f} leases/s outside "
                                    f"[{lo:.0f}, {hi:.0f}] (configured {rate}/s)")
                during = [lat * 1000 for t, lat, _ in writer.samples if t_cont <= t <= t_last]
                before = [lat * 1000 for t, lat, _ in writer.samples if t < t_stop]
                m.update(writes_during=len(during), p50_ms=percentile(during, 50), p99_ms=percentile(during, 99),
                         max_ms=max(during, default=float("nan")), base_p50_ms=percentile(before, 50),
                         base_p99_ms=percentile(before, 99))
                if len(during) < 10:
                    problems.append(f"only {len(during)} writes completed during the storm "
                                    f"({t_last - t_cont:.2f}s): the writer was stalled")
                elif not (m["p99_ms"] < P99_BOUND_MS and m["max_ms"] < MAX_BOUND_MS):
                    problems.append(f"write latency during the storm: p99 {m['p99_ms']:.1f} ms (bound "
                                    f"{P99_BOUND_MS:.0f}), max {m['max_ms']:.1f} ms (bound {MAX_BOUND_MS:.0f})")
            else:
                problems.append(f"watch saw {len(times)} deleting revisions")
            print(format_measurements(m), flush=True)
        finally:
            if frozen:
                srv.proc.send_signal(signal.SIGCONT)
            if writer is not None:
                writer.finish()
            if watch is not None:
                watch.close()
            channel.close()
        if problems:
            raise TestFailure("\n".join(f"  - {p}" for p in problems) + f"\n  server log: {srv.log_path}")
        return m


def format_measurements(m):
    who = "etcd" if m["etcd"] else "capstan"
    flag = ("fixed" if m["etcd"] else "default" if m["flag"] is None else f"--lease-revoke-rate {m['flag']}")
    lines = [f"  [{who} {flag}: {m['rate']}/s] {m['n']} leases ({m.get('keys')} keys), TTL {TTL}s; "
             f"setup {m.get('setup_s', 0):.2f}s, frozen {m.get('frozen_s', 0):.2f}s"]
    if "achieved_rate" in m:
        lines.append(f"    achieved revocation rate {m['achieved_rate']:.0f} leases/s; first delete "
                     f"{m['first_delete_s']:.2f}s after the resume, all gone after {m['all_gone_s']:.2f}s")
        lines.append(f"    writes during the storm: {m['writes_during']}, p50 {m['p50_ms']:.1f} ms, "
                     f"p99 {m['p99_ms']:.1f} ms, max {m['max_ms']:.1f} ms "
                     f"(before: p50 {m['base_p50_ms']:.1f} ms, p99 {m['base_p99_ms']:.1f} ms)")
    return "\n".join(lines)


def test_storm_default_rate():
    storm(None)


def test_storm_rate_5000():
    storm(5000)


if __name__ == "__main__":
    run_tests(globals())
