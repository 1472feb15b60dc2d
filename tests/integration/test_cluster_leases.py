"""Leases and watches across leader changes in a 3-member cluster.

As etcd, a new leader gives every lease its full TTL again plus an election
timeout (the lessor's promotion): a keep-alive the previous leader answered
may not have reached it, and it must not expire a lease that a client was
promised. Renewals replicate (the leader's own in a batch per lease tick). A
watch on a follower sees the expiry's delete like any event."""

import threading
import time

from cluster import Cluster, rpc
from harness import TestFailure, run_tests


def check(cond, what, *details):
    if not cond:
        raise TestFailure(what + "".join("\n    " + str(d)[-2000:] for d in details))


def ttl_of(c, lease_id):
    return c.leasestub.LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=lease_id), 5).TTL


def leased_key(cl, key, ttl):
    """Puts `key` on a new lease through the leader: (leader, a follower, the
    leader's client, the lease)."""
    cl.learn_ids()
    leader = cl.leader()
    c = cl.client(leader)
    lease = c.lease(ttl)
    c.put(key, "v", lease=lease)
    return leader, cl.followers(leader)[0], c, lease


def kill_leader(cl, leader):
    """Kills the leader and returns the one the survivors elect."""
    cl.kill(leader)
    return cl.leader(among=[m for m in cl.members if m is not leader], timeout=15)


def test_lease_gets_full_ttl_plus_election_on_move_leader():
    with Cluster(3, "leases") as cl:
        leader, target, c, lease = leased_key(cl, "held", 30)
        time.sleep(6)
        before = ttl_of(c, lease.id)
        check(before <= 25, "the lease counts down", before)
        c.maintenancestub.MoveLeader(rpc.MoveLeaderRequest(targetID=target.id), 10)
        new_leader = cl.leader()
        check(new_leader is not leader, "leadership moved", new_leader.name)
        time.sleep(1)
        after = ttl_of(cl.client(new_leader), lease.id)
        # TTL + election timeout (1 s) from the promotion, truncated, as etcd.
        check(28 <= after <= 31, f"the new leader restarts the lease at its TTL plus an election "
              f"timeout ({before} -> {after})", after)
        val, _ = cl.client(new_leader).get("held")
        check(val == b"v", "key attached to the lease still there", val)


def test_keepalive_at_leader_reaches_followers_and_next_leader():
    with Cluster(3, "leaseka") as cl:
        leader, follower, _, lease = leased_key(cl, "kept", 20)
        time.sleep(5)
        before = ttl_of(cl.client(follower), lease.id)
        check(before <= 16, "the lease counts down on the follower", before)
        # Answered by the leader itself, replicated within a lease tick.
        answers = lease.refresh()
        check(answers and answers[0].TTL == 20, "the leader renews to the full TTL", answers)
        time.sleep(1)
        after = ttl_of(cl.client(follower), lease.id)
        check(after >= 18, f"the follower has the renewal ({before} -> {after})", after)
        new_leader = kill_leader(cl, leader)
        ttl = ttl_of(cl.client(new_leader), lease.id)
        check(ttl >= 10, f"the next leader kept the renewal (TTL {ttl})", ttl)
        val, _ = cl.client(new_leader).get("kept")
        check(val == b"v", "the key of the renewed lease is still there", val)


def test_lease_expires_after_leader_kill_and_follower_watch_sees_it():
    with Cluster(3, "leasekill") as cl:
        leader, follower, _, _ = leased_key(cl, "short", 6)
        events = []
        done = threading.Event()

        def watch():
            try:
                it, cancel = cl.client(follower).watch("short")
                for ev in it:
                    events.append(type(ev).__name__)
                    if type(ev).__name__ == "DeleteEvent":
                        break
                cancel()
            except Exception as e:  # noqa: BLE001 - the cluster may be stopping
                events.append(f"error: {e}")
            finally:
                done.set()
        t = threading.Thread(target=watch, daemon=True)
        t.start()
        time.sleep(2)
        granted = time.monotonic() - 2
        kill_leader(cl, leader)
        done.wait(30)
        expired_after = time.monotonic() - granted
        check(events and events[-1] == "DeleteEvent", "follower watch saw the expiry", events)
        # The new leader, elected within a few seconds of the kill at 2 s,
        # gives the lease its TTL plus an election timeout (1 s) again: it
        # expires after that and the revoke round, never before the TTL.
        check(6 <= expired_after < 2 + 4 + 6 + 1 + 2, f"expired {expired_after:.1f}s after grant",
              expired_after)
        val, _ = cl.client(follower).get("short")
        check(val is None, "key deleted with its lease", val)


run_tests(globals())
