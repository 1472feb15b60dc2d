"""A member installing the leader's snapshot keeps answering heartbeats
(issue 13, item 7).

The install copies the whole store; it used to run on the Raft thread,
which then answered nothing until the copy was done. Here the only other
follower is stopped, so the leader keeps its quorum (check-quorum) only if
the installing member answers: with a slow install (a failpoint adds 3 s,
as a large store would) the leader used to step down and a new term began.
"""

import os
import time

from cluster import Cluster, log
from harness import TestFailure, run_tests


def check(cond, what, *details):
    if not cond:
        raise TestFailure(what + "".join("\n    " + str(d)[-2000:] for d in details))


def test_leader_keeps_quorum_while_a_follower_installs_a_snapshot():
    # The servers inherit it (harness.clean_env keeps it).
    os.environ["CAPSTAN_FAILPOINT_SNAPSHOT_INSTALL_DELAY_MS"] = "3000"
    with Cluster(3, "snapresp") as cl:
        cl.learn_ids()
        leader = cl.leader()
        behind, other = cl.followers(leader)
        c = cl.client(leader)
        cl.sigstop(behind)
        for i in range(800):          # past --snapshot-count 500 + 100 catch-up entries
            c.put(f"k{i % 50}", f"v{i}")
        time.sleep(1)
        cl.sigstop(other)
        term = cl.status(leader).raftTerm
        cl.sigcont(behind)            # needs the leader's snapshot, installed in >= 3 s
        t0 = time.monotonic()
        terms = []
        while time.monotonic() - t0 < 7:
            try:
                st = cl.status(leader)
                terms.append((round(time.monotonic() - t0, 1), st.leader == leader.id, st.raftTerm))
            except Exception as e:  # noqa: BLE001
                terms.append((round(time.monotonic() - t0, 1), str(e)[:60]))
            time.sleep(0.5)
        log(f"leader status while the follower installed: {terms}")
        cl.sigcont(other)
        check(all(len(t) == 3 and t[1] and t[2] == term for t in terms),
              f"the leader kept leading in term {term} during the install", terms)
        val, _ = cl.client(behind).get("k49")
        check(val is not None, "the follower holds the data after the install", val)


run_tests(globals())
