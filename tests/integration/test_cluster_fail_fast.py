"""A proposal lost with its leader fails promptly (issue 13, item 7).

A put sent to a leader that is then cut off is appended there but never
committed; once the majority's new leader is established and the old
leader hears of it, the put fails with etcd's "etcdserver: leader changed"
within about an election timeout, instead of after etcd's full request
timeout (5 s plus two election timeouts: "etcdserver: request timed out")."""

import threading
import time

from cluster import ELECTION_MS, Cluster, grpc_error, rpc
from harness import TestFailure, run_tests


def check(cond, what, *details):
    if not cond:
        raise TestFailure(what + "".join("\n    " + str(d)[-2000:] for d in details))


def test_put_lost_with_isolated_leader_fails_fast_with_leader_changed():
    with Cluster(3, "failfast", proxy=True) as cl:
        cl.learn_ids()
        leader = cl.leader()
        c = cl.client(leader)
        c.put("warm", "up")
        cl.isolate(leader)
        start_all = time.monotonic()
        result = {}

        def put():
            start = time.monotonic()
            try:
                c.kvstub.Put(rpc.PutRequest(key=b"lost", value=b"v"), 30)
                result["ok"] = time.monotonic() - start
            except Exception as e:  # noqa: BLE001
                result["error"] = grpc_error(e)
                result["after"] = time.monotonic() - start
        t = threading.Thread(target=put, daemon=True)
        t.start()
        # The majority elects a new leader meanwhile; then the old one hears of it.
        time.sleep(2.5)
        healed = time.monotonic()
        cl.heal()
        t.join(30)
        check("error" in result, "the lost put fails", result)
        check("leader changed" in result["error"], "with etcd's 'leader changed'", result)
        timeout = 5 + 2 * ELECTION_MS / 1000
        check(result["after"] < timeout - 1,
              f"well before the request timeout of {timeout:.0f}s ({result['after']:.1f}s, "
              f"healed at {healed - start_all:.1f}s)", result)
        val, _ = cl.client(cl.leader()).get("lost")
        check(val is None, "the lost put was not applied", val)


run_tests(globals())
