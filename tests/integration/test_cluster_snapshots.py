"""Raft snapshots in a real 3-member cluster: log compaction, and members
that catch up from the leader's state machine instead of its log.

Every member runs with a tiny --snapshot-count and
--experimental-snapshot-catchup-entries, so a few hundred writes compact the
log past what a stopped or partitioned member has: the leader must stream
its store, the member must install it (keeping its own identity), watchers
on it must still see every event in order, and restarts from a WAL that
starts at a snapshot marker must keep every write."""

import os
import threading
import time

from cluster import Cluster, rpc
from harness import TestFailure, run_tests

SNAP_ARGS = ["--snapshot-count", "50", "--experimental-snapshot-catchup-entries", "10"]


def check(cond, what, *details):
    if not cond:
        raise TestFailure(what + "".join("\n    " + str(d)[-2000:] for d in details))


def log_text(m):
    with open(m.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def logged(m, text, seconds=10):
    """Whether m's log has `text`, waiting for it a moment: the installer
    thread makes a snapshot's store visible before the Raft thread logs the
    install, so a caught-up member may not have logged it yet."""
    deadline = time.monotonic() + seconds
    while text not in log_text(m):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def serializable_range(c, prefix):
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    r = c.kvstub.Range(rpc.RangeRequest(key=prefix.encode(), range_end=end.encode(),
                                        serializable=True), 5)
    return {kv.key.decode(): (kv.value.decode(), kv.mod_revision, kv.version) for kv in r.kvs}, \
        r.header.revision


def wait_caught_up(cl, m, prefix, want, timeout=30):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        try:
            got, _ = serializable_range(cl.client(m), prefix)
            if got == want:
                return
        except Exception:  # noqa: BLE001  (restarting)
            pass
        time.sleep(0.2)
    missing = sorted(set(want) - set(got or {}))[:5]
    raise TestFailure(f"{m.name} did not catch up within {timeout}s: {len(got or {})} of "
                      f"{len(want)} keys, missing e.g. {missing}\n  log: {m.log_path}")


def check_hashes_equal(cl):
    """HashKV at one revision is the same on every member."""
    ld = cl.leader()
    rev = cl.client(ld).kvstub.Range(rpc.RangeRequest(key=b"x"), 5).header.revision
    hashes = {}
    for m in cl.members:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = cl.client(m).maintenancestub.HashKV(rpc.HashKVRequest(revision=rev), 5)
                hashes[m.name] = r.hash
                break
            except Exception as e:  # noqa: BLE001  (future revision until it applied)
                if time.monotonic() > deadline:
                    raise TestFailure(f"HashKV at {rev} on {m.name}: {e}")
                time.sleep(0.2)
    check(len(set(hashes.values())) == 1, f"HashKV at revision {rev} differs", hashes)


def member_ids(c):
    return sorted(m.ID for m in c.clusterstub.MemberList(rpc.MemberListRequest(), 5).members)


def write_keys(c, prefix, n, start=0):
    for i in range(start, start + n):
        c.put(f"{prefix}{i:05d}", f"v{i}")


def test_stopped_follower_catches_up_from_a_snapshot():
    with Cluster(3, "snapfollow", extra_args=SNAP_ARGS) as cl:
        leader = cl.leader()
        c = cl.client(leader)
        lease = c.lease(300)
        c.put("snap/leased", "L", lease=lease)
        follower = cl.followers(leader)[0]
        own_id = follower.id
        cl.kill(follower)
        write_keys(c, "snap/k", 400)
        c.delete("snap/k00007")
        c.kvstub.Compact(rpc.CompactionRequest(
            revision=c.kvstub.Range(rpc.RangeRequest(key=b"x"), 5).header.revision - 5,
            physical=True), 10)
        want, _ = serializable_range(c, "snap/")
        cl.restart(follower)
        wait_caught_up(cl, follower, "snap/", want)
        check("sending snapshot" in log_text(leader), "the leader sent a snapshot",
              log_text(leader)[-1500:])
        check(logged(follower, "installing the leader's snapshot"),
              "the follower installed it", log_text(follower)[-1500:])
        fc = cl.client(follower)
        st = fc.maintenancestub.Status(rpc.StatusRequest(), 5)
        check(st.header.member_id == own_id,
              f"the follower kept its own member id (got {st.header.member_id:x}, "
              f"own {own_id:x}, leader {leader.id:x})")
        ttl = fc.leasestub.LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=lease.id, keys=True), 5)
        check(ttl.TTL > 0 and list(ttl.keys) == [b"snap/leased"],
              "the lease and its key came with the snapshot", ttl)
        check(member_ids(fc) == member_ids(c), "same member list on the follower")
        check_hashes_equal(cl)

        # The follower's WAL now starts at the snapshot: a restart must keep everything.
        write_keys(c, "snap/k", 100, start=400)
        want, _ = serializable_range(c, "snap/")
        for m in cl.members:
            cl.kill(m)
        for m in cl.members:
            cl._clients.pop(m.index, None)
            m.launch()
        cl.leader(timeout=15)
        for m in cl.members:
            wait_caught_up(cl, m, "snap/", want)
        check_hashes_equal(cl)
        # and it still takes writes, on every member
        for m in cl.members:
            cl.client(m).put(f"snap/after-{m.name}", "x")
        want, _ = serializable_range(cl.client(cl.leader()), "snap/")
        for m in cl.members:
            wait_caught_up(cl, m, "snap/", want)


def test_partitioned_follower_watch_sees_every_event_across_a_snapshot():
    """A watch on a member that installs a snapshot gets the events the
    snapshot skipped, in order, from the store's history."""
    with Cluster(3, "snapwatch", proxy=True, extra_args=SNAP_ARGS) as cl:
        leader = cl.leader()
        follower = cl.followers(leader)[0]
        fc = cl.client(follower)
        events, errors = [], []
        started = threading.Event()

        def watch():
            try:
                it, cancel = fc.watch_prefix("w/")
                started.set()
                for ev in it:
                    events.append((ev.key.decode(), ev.value.decode(), ev.mod_revision))
                    if len(events) >= 300:
                        cancel()
                        return
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
                started.set()

        t = threading.Thread(target=watch, daemon=True)
        t.start()
        started.wait(5)
        time.sleep(0.5)
        c = cl.client(leader)
        write_keys(c, "w/", 20)
        cl.isolate(follower)
        write_keys(c, "w/", 280, start=20)
        cl.heal()
        t.join(40)
        check(not errors, "the watch ran without errors", errors)
        check(len(events) == 300, f"the watch on {follower.name} got {len(events)} of 300 events",
              events[-3:], log_text(follower)[-1500:])
        check([e[0] for e in events] == [f"w/{i:05d}" for i in range(300)],
              "events in write order, none lost or repeated")
        revs = [e[2] for e in events]
        check(revs == sorted(revs) and len(set(revs)) == 300, "revisions increase")
        check(logged(follower, "installing the leader's snapshot"),
              "the partitioned follower caught up through a snapshot", log_text(follower)[-1500:])


def test_new_member_joins_after_the_log_was_compacted():
    with Cluster(3, "snapjoin", extra_args=SNAP_ARGS) as cl:
        leader = cl.leader()
        c = cl.client(leader)
        write_keys(c, "j/", 300)
        want, _ = serializable_range(c, "j/")
        new = cl.add_member(via=leader)
        wait_caught_up(cl, new, "j/", want)
        check(logged(new, "installing the leader's snapshot"),
              "the new member started from a snapshot", log_text(new)[-1500:])
        check(member_ids(cl.client(new)) == member_ids(c), "the new member knows every member")
        # it takes part: with one of the old members down, writes still commit
        victim = [m for m in cl.followers(cl.leader()) if m is not new][0]
        cl.kill(victim)
        cl.client(cl.leader(among=[m for m in cl.members if m is not victim])).put("j/late", "x")
        want["j/late"] = None
        got, _ = serializable_range(cl.client(new), "j/")
        deadline = time.monotonic() + 10
        while "j/late" not in got and time.monotonic() < deadline:
            time.sleep(0.2)
            got, _ = serializable_range(cl.client(new), "j/")
        check("j/late" in got, "the new member applies new writes")
        cl.restart(victim)
        check_hashes_equal(cl)


def test_one_member_grows_into_a_cluster():
    """etcd's runtime-reconfiguration path from a single member: `member add`
    on it, start the new member with --initial-cluster-state existing, again;
    the first member keeps running Raft after a restart even though its
    --initial-cluster names only itself."""
    with Cluster(1, "grow") as cl:
        first = cl.members[0]
        c = cl.client(first)
        write_keys(c, "g/", 200)
        lease = c.lease(300)
        c.put("g/leased", "L", lease=lease)
        second = cl.add_member(via=first)
        check("replacing the one-member log" in log_text(first), "the first member switched logs",
              log_text(first)[-1500:])
        want, _ = serializable_range(c, "g/")
        wait_caught_up(cl, second, "g/", want)
        third = cl.add_member(via=second)
        write_keys(cl.client(cl.leader()), "g/", 50, start=200)
        want, _ = serializable_range(cl.client(cl.leader()), "g/")
        for m in cl.members:
            wait_caught_up(cl, m, "g/", want)
        check(len(member_ids(cl.client(third))) == 3, "three members",
              member_ids(cl.client(third)))
        # The first member restarts as a Raft member, and the cluster survives
        # losing any one member.
        cl.kill(first)
        cl.client(cl.leader(among=[second, third])).put("g/without-first", "x")
        cl.restart(first)
        want, _ = serializable_range(cl.client(cl.leader()), "g/")
        wait_caught_up(cl, first, "g/", want)
        ttl = cl.client(third).leasestub.LeaseTimeToLive(
            rpc.LeaseTimeToLiveRequest(ID=lease.id, keys=True), 5)
        check(ttl.TTL > 0 and list(ttl.keys) == [b"g/leased"], "the lease is everywhere", ttl)
        check_hashes_equal(cl)


def test_three_members_start_from_one_snapshot():
    """`etcdctl snapshot save` from one cluster seeds every member of a new
    3-member cluster (--initial-snapshot on each), as etcd's disaster
    recovery does with `snapshot restore` per member."""
    import tempfile
    from harness import etcdctl
    tmp = tempfile.mkdtemp(prefix="capstan-seed-")
    snap = os.path.join(tmp, "snap.db")
    try:
        with Cluster(1, "seedsrc") as src:
            c = src.client(src.members[0])
            write_keys(c, "s/", 150)
            c.delete("s/00003")
            want, rev = serializable_range(c, "s/")
            rc, out, err = etcdctl(src.members[0].endpoint, "snapshot", "save", snap, timeout=60)
            check(rc == 0, "etcdctl snapshot save", out, err)
        with Cluster(3, "seeded", extra_args=["--initial-snapshot", snap]) as cl:
            for m in cl.members:
                wait_caught_up(cl, m, "s/", want)
            ld = cl.leader()
            r = cl.client(ld).put("s/next", "n")
            check(r.header.revision == rev + 1,
                  f"the seeded cluster continues at revision {rev + 1}, not {r.header.revision}")
            want, _ = serializable_range(cl.client(ld), "s/")
            for m in cl.members:
                wait_caught_up(cl, m, "s/", want)
            check_hashes_equal(cl)
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
