"""Live leases never die early (issue 13, items 1 and 2), checked with the
lease-safety checker (lease_safety.py) over recorded histories.

- A follower frozen (SIGSTOP) longer than the TTL, resumed and then made
  leader: the lease a client kept alive throughout survives with its key
  (etcd keeps it; Capstan used to revoke it, since the frozen member's
  deadlines had passed and replicated renewals refused an expired lease).
- An isolated leader: its keep-alive answers stop (it must confirm its
  leadership first), and the lease is not revoked while an answer promised
  it time.
Against the unfixed server both scenarios fail: the key of the kept-alive
lease disappears on every member about a second after the move, and the
isolated leader answers keep-alives until it steps down.
"""

import threading
import time

from cluster import Cluster, grpc_error, log, rpc
from harness import TestFailure, run_tests
import lease_safety


def check(cond, what, *details):
    if not cond:
        raise TestFailure(what + "".join("\n    " + str(d)[-3000:] for d in details))


class KeepAliveClient(threading.Thread):
    """Keeps `lease` alive through member `m` every `every` seconds,
    recording each answer."""

    def __init__(self, cl, m, lease_id, history, every):
        super().__init__(daemon=True)
        self.cl, self.m, self.lease_id, self.history, self.every = cl, m, lease_id, history, every
        self.stopping = threading.Event()
        self.errors = []

    def run(self):
        while not self.stopping.is_set():
            sent = time.monotonic()
            try:
                for resp in self.cl.client(self.m).refresh_lease(self.lease_id):
                    self.history.keepalive(self.lease_id, sent, time.monotonic(), resp.TTL,
                                           self.m.name)
                    break
            except Exception as e:  # noqa: BLE001 - a frozen or isolated member fails
                self.errors.append(grpc_error(e))
            self.stopping.wait(max(0.0, self.every - (time.monotonic() - sent)))

    def stop(self):
        self.stopping.set()
        self.join(15)


class Reader(threading.Thread):
    """Reads `key` on each of `members` in turn (linearizable), recording
    whether it is there."""

    def __init__(self, cl, members, key, lease_id, history):
        super().__init__(daemon=True)
        self.cl, self.members, self.key, self.lease_id, self.history = (
            cl, members, key, lease_id, history)
        self.stopping = threading.Event()

    def run(self):
        i = 0
        while not self.stopping.is_set():
            m = self.members[i % len(self.members)]
            i += 1
            if m.stopped_by_signal or not m.alive():
                continue
            start = time.monotonic()
            try:
                resp = self.cl.client(m).kvstub.Range(rpc.RangeRequest(key=self.key.encode()), 2)
                self.history.read(self.key, self.lease_id, start, time.monotonic(),
                                  len(resp.kvs) > 0, m.name)
            except Exception:  # noqa: BLE001 - no leader for a moment
                pass
            self.stopping.wait(0.1)

    def stop(self):
        self.stopping.set()
        self.join(15)


def leased_key(cl, key, ttl):
    cl.learn_ids()
    leader = cl.leader()
    c = cl.client(leader)
    lease = c.lease(ttl)
    c.put(key, "v", lease=lease)
    return leader, lease


def key_everywhere(cl, key):
    out = {}
    for m in cl.live():
        try:
            val, _ = cl.client(m).get(key)
            out[m.name] = val
        except Exception as e:  # noqa: BLE001
            out[m.name] = grpc_error(e)
    return out


def test_checker_flags_an_early_revocation():
    """The checker itself: a history in which the key vanished while promised
    is flagged, and one in which it vanished after the promise is not."""
    h = lease_safety.LeaseHistory()
    h.keepalive(7, sent=10.0, received=10.1, ttl=5, member="m0")
    h.read("k", 7, start=11.0, end=11.2, present=True, member="m1")
    h.read("k", 7, start=14.0, end=14.1, present=False, member="m1")
    v = lease_safety.check(h)
    check(len(v) == 1 and "m1" in v[0], "an early disappearance is a violation", v)
    ok = lease_safety.LeaseHistory()
    ok.keepalive(7, sent=10.0, received=10.1, ttl=5, member="m0")
    ok.keepalive(7, sent=12.0, received=12.1, ttl=0, member="m0")  # already expired there
    ok.read("k", 7, start=15.1, end=15.2, present=False, member="m1")
    check(not lease_safety.check(ok), "a disappearance after the promise is fine",
          lease_safety.check(ok))
    # An answer that arrived after the read but was asked before it counts.
    late = lease_safety.LeaseHistory()
    late.keepalive(7, sent=10.0, received=13.0, ttl=5, member="m0")
    late.read("k", 7, start=11.0, end=12.0, present=False, member="m1")
    check(lease_safety.check(late), "a promise answered late still binds")


def test_frozen_follower_made_leader_keeps_live_lease():
    ttl = 5
    with Cluster(3, "leasefrozen") as cl:
        leader, lease = leased_key(cl, "held", ttl)
        frozen = cl.followers(leader)[0]
        other = [m for m in cl.followers(leader) if m is not frozen][0]
        h = lease_safety.LeaseHistory()
        ka = KeepAliveClient(cl, leader, lease.id, h, every=ttl / 3)
        reader = Reader(cl, [leader, other, frozen], "held", lease.id, h)
        ka.start()
        reader.start()
        try:
            time.sleep(2)
            cl.sigstop(frozen)
            time.sleep(12)         # longer than the TTL: its deadlines pass
            cl.sigcont(frozen)
            time.sleep(3)          # it catches up
            cl.move_leader(leader, frozen)
            check(cl.leader(timeout=15) is frozen, "leadership moved to the member that was frozen")
            time.sleep(8)          # more than the TTL under the new leader
        finally:
            ka.stop()
            reader.stop()
        violations = lease_safety.check(h)
        check(not violations, "no key of a live lease disappeared", *violations[:5])
        positive = [k for k in h.keepalives if k.ttl > 0]
        check(len(positive) >= 10, "the lease was kept alive throughout", len(positive), ka.errors[-5:])
        late = [k for k in h.keepalives if k.sent > h.keepalives[-1].sent - 3]
        check(all(k.ttl > 0 for k in late), "keep-alives still renew after the move", late)
        vals = key_everywhere(cl, "held")
        check(all(v == b"v" for v in vals.values()), "the key is on every member", vals)
        ttl_now = cl.client(frozen).leasestub.LeaseTimeToLive(
            rpc.LeaseTimeToLiveRequest(ID=lease.id), 5).TTL
        check(ttl_now > 0, "the lease is alive on the new leader", ttl_now)


def test_isolated_leader_stops_answering_and_lease_is_not_revoked_early():
    ttl = 5
    with Cluster(3, "leaseiso", proxy=True) as cl:
        leader, lease = leased_key(cl, "iso", ttl)
        majority = cl.followers(leader)
        h = lease_safety.LeaseHistory()
        ka = KeepAliveClient(cl, leader, lease.id, h, every=0.3)
        reader = Reader(cl, majority, "iso", lease.id, h)
        ka.start()
        reader.start()
        try:
            time.sleep(2)
            cl.isolate(leader)
            isolated_at = time.monotonic()
            # The majority elects a leader, which must not revoke the lease
            # before the isolated leader's last answer ran out.
            time.sleep(ttl + 6)
            healed_at = time.monotonic()
            cl.heal()
            time.sleep(2)
        finally:
            ka.stop()
            reader.stop()
        # The proxy applies the cut within a few ms; give it 0.2 s.
        stale = h.answers_from(leader.name, isolated_at + 0.2, healed_at)
        check(not stale, f"the isolated leader {leader.name} stopped renewing",
              *[f"sent {k.sent - isolated_at:+.2f}s ttl {k.ttl}" for k in stale[:5]])
        before = h.answers_from(leader.name, 0)
        check(before, "it answered before the isolation", ka.errors[-3:])
        violations = lease_safety.check(h)
        check(not violations, "no key disappeared while promised", *violations[:5])
        gone = [r for r in h.reads if not r.present]
        log(f"key gone on the majority {gone[0].end - isolated_at:.1f}s after the isolation"
            if gone else "key never seen gone")
        check(gone, "the unrenewed lease expired on the majority in the end")


run_tests(globals())
