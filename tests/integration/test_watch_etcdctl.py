#!/usr/bin/python3
"""Differential test: `etcdctl watch` against real etcd vs CAPSTAN_BIN.

Each test starts a reference etcd and a candidate (harness.DiffPair), makes
the same writes on both, and compares what `etcdctl watch` prints (simple and
-w json output, normalized by the harness): replay from a past revision
(--rev), prefix and [key, end) range watches, --prev-kv, live events
including multi-key transactions, a future start revision, and the
cancellation of a watch whose start revision was compacted. The output is
deterministic: every write is made while no other write is in flight, and
live writes start only once the watch is established.

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_watch_etcdctl.py [name-filter...]
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (ETCDCTL, DiffPair, clean_env, etcdctl, pretty_json,  # noqa: E402
                     run_tests)

# How long a watch gets to connect before live writes, and to print after them.
SETTLE_S = 0.8


def write_all(p, *commands):
    """Runs etcdctl commands (lists of args, or (args, stdin)) on both servers."""
    for srv, _ in p.servers():
        for c in commands:
            args, stdin = (c if isinstance(c, tuple) else (c, None))
            rc, out, err = etcdctl(srv.endpoint, *args, stdin=stdin)
            if rc != 0:
                raise AssertionError(f"[{srv.label}] etcdctl {args}: {rc} {out} {err}")


def txn(compares, success, failure):
    return "".join(l + "\n" for l in compares) + "\n" + "".join(l + "\n" for l in success) + "\n" + \
        "".join(l + "\n" for l in failure) + "\n"


def watch(p, step, args, live=()):
    """Runs `etcdctl watch <args>` on each server, makes the `live` writes
    while it runs, stops it and compares the normalized output."""
    shown = []
    for srv, norm in p.servers():
        cmd = [ETCDCTL, f"--endpoints={srv.endpoint}", "--dial-timeout=2s", "watch"] + list(args)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=clean_env(ETCDCTL_API="3"), start_new_session=True)
        try:
            time.sleep(SETTLE_S)
            for c in live:
                a, stdin = (c if isinstance(c, tuple) else (c, None))
                rc, out, err = etcdctl(srv.endpoint, *a, stdin=stdin)
                if rc != 0:
                    raise AssertionError(f"[{srv.label}] live write {a}: {rc} {out} {err}")
            time.sleep(SETTLE_S)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
        out = norm(out.decode("utf-8", "backslashreplace"))
        err = norm(err.decode("utf-8", "backslashreplace"))
        # One JSON document per response with -w json: pretty-print each.
        if "-w" in args and "json" in args:
            out = "\n".join(pretty_json(l) or l for l in out.splitlines())
        shown.append(f"--- stdout:\n{out}\n--- stderr:\n{err}")
    p.compare(step, shown[0], shown[1], what="etcdctl watch " + " ".join(map(str, args)))
    return shown


HISTORY = [
    ["put", "a", "1"],
    ["put", "b", "2"],
    ["put", "a", "3"],
    ["put", "a/x", "4"],
    ["del", "b"],
    (["txn"], txn(['value("a") = "3"'], ["put a/y 5", "put c 6", "del a/x"], ["put z 0"])),
    ["put", "a/y", "7"],
    ["del", "a", "a0"],   # a, a/y: one revision, two events
    ["put", "a", "8"],
]


def test_replay_from_past_revisions():
    with DiffPair(name="watch-replay") as p:
        write_all(p, *HISTORY)
        watch(p, "key from rev 1", ["--rev=1", "a"])
        watch(p, "key from rev 3 (mid history)", ["--rev=3", "a"])
        watch(p, "prefix from rev 1", ["--rev=1", "--prefix", "a"])
        watch(p, "range [a/, c] from rev 2", ["--rev=2", "a/", "c"])
        watch(p, "prev-kv replay", ["--rev=1", "--prev-kv", "--prefix", "a"])
        watch(p, "whole keyspace json", ["--rev=1", "--prefix", "", "-w", "json"])
        watch(p, "at the current revision", ["--rev=10", "--prefix", ""])


def test_live_events():
    with DiffPair(name="watch-live") as p:
        write_all(p, ["put", "seed", "0"])
        live = [["put", "k1", "v1"], ["put", "k2", "v2"], ["put", "k1", "v3"],
                (["txn"], txn([], ["put k3 a", "put k4 b", "del k2"], [])),
                ["del", "k", "l"], ["put", "other", "x"]]
        watch(p, "prefix live", ["--prefix", "k"], live=live)
        watch(p, "prefix live prev-kv json", ["--prefix", "--prev-kv", "k", "-w", "json"], live=live)
        watch(p, "single key live", ["k1"], live=live)


def test_replay_then_live():
    with DiffPair(name="watch-handover") as p:
        write_all(p, *HISTORY)
        live = [["put", "a", "live1"], ["put", "a/q", "live2"], ["del", "a"]]
        watch(p, "replay from 2 then live", ["--rev=2", "--prefix", "a", "--prev-kv"], live=live)


def test_future_start_revision():
    with DiffPair(name="watch-future") as p:
        write_all(p, ["put", "f", "0"])  # revision 2
        live = [["put", "f", str(i)] for i in range(1, 6)]  # revisions 3..7
        watch(p, "start at 5 waits", ["--rev=5", "f"], live=live)


def test_compacted_start_revision():
    with DiffPair(name="watch-compacted") as p:
        write_all(p, *HISTORY, ["compact", "6"])
        watch(p, "compacted start", ["--rev=2", "a"])
        watch(p, "start at the compaction revision", ["--rev=6", "--prefix", "a"])


if __name__ == "__main__":
    run_tests(globals())
