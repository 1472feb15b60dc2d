#!/usr/bin/python3
"""Differential test of 3-member clusters: real etcd 3.4 vs CAPSTAN_BIN.

Each test starts a 3-member etcd cluster and a 3-member candidate cluster
concurrently (cluster.Cluster with binary=...), gives the members the same
roles on both sides (L = the leader after start, F1/F2 = the followers in
start order; members added later are N1, N2 ...), runs the same steps against
the member with the same role on both sides (mostly a FOLLOWER, some through
the leader, some with all three endpoints given to etcdctl) and compares exit
code, stdout and stderr after normalization:

  * per-cluster values become role placeholders: <ID_F1>, <NAME_L>,
    127.0.0.1:<CPORT_F2> / <PPORT_F2> (client / peer port), <CLUSTER_ID>,
    <LEASE_n>; plus harness.GENERIC_RULES (raft term/index, db size, hash,
    version, timestamps, latency);
  * member ids are random in etcd and hashes in Capstan, so everything etcd
    orders by member id (member list, endpoint * --cluster, the
    ETCD_INITIAL_CLUSTER line of member add) is compared as a sorted set.

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_cluster_diff.py [name-filter...]
      CAPSTAN_BIN=/usr/bin/etcd ... validates the test (etcd vs etcd must pass).
"""

import json
import os
import re
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster import IMPORT_ERROR, Cluster, Member, client, grpc_error  # noqa: E402
from harness import (HOST, REF_BIN, VERBOSE, HarnessError, Normalizer, TestFailure,  # noqa: E402
                     _render, candidate_binary, etcdctl, free_port, parse_normalized_json, pretty_json,
                     run_tests, unified_diff)

if IMPORT_ERROR is None:
    import etcd3.etcdrpc as rpc

ROLES = ("L", "F1", "F2")


def _quiet_closed_watch_threads(args, _default=threading.excepthook):
    # python3-etcd3's watcher thread re-opens its stream after a cancel and
    # dies with this when the test closes the client; nothing is lost.
    if (args.exc_type is ValueError and "Channel closed" in str(args.exc_value)
            and args.thread is not None and args.thread.name.startswith("etcd3_watch")):
        return
    _default(args)


threading.excepthook = _quiet_closed_watch_threads

# Applied after the per-cluster placeholders (harness.GENERIC_RULES covers
# the single-server forms of these with <CLIENT_PORT>/<MEMBER_ID>).
CLUSTER_RULES = [
    # `endpoint status` simple: endpoint, id, version, db size, is leader,
    # is learner, raft term, raft index, raft applied index, errors
    (re.compile(r"^((?:http://)?127\.0\.0\.1:<CPORT_\w+>, <ID_\w+>), 3\.\d+\.\d+[^,]*, [0-9.]+ [kMGT]?B, "
                r"(true|false), (true|false), \d+, \d+, \d+, ", re.M),
     r"\1, <SERVER_VERSION>, <DB_SIZE>, \2, \3, <RAFT_TERM>, <RAFT_INDEX>, <RAFT_INDEX>, "),
    # `endpoint hashkv` simple: the hash covers the backend's encoding
    (re.compile(r"^((?:http://)?127\.0\.0\.1:<CPORT_\w+>), [1-9]\d*$", re.M), r"\1, <HASH>"),
    # etcdctl prints member ids with %16x in a few places: the padding
    # depends on the id's leading zero digits
    (re.compile(r" +(<ID_\w+>)"), r" \1"),
]


class Side:
    """One cluster (reference or candidate), its roles and its normalizer."""

    def __init__(self, label, binary, tag):
        self.label = label
        self.cl = Cluster(3, f"{tag}{label[0]}", binary=binary)
        self.norm = Normalizer()
        self.roles = {}
        self.added = 0
        self.leases = {}
        self.values = {}     # per-side values a step remembered (e.g. revisions)
        self.cluster_id = None

    def register(self, role, m):
        self.roles[role] = m
        n = self.norm
        n.add_text(f"{HOST}:{m.client_port}", f"{HOST}:<CPORT_{role}>")
        n.add_text(f"{HOST}:{m.adv_peer_port}", f"{HOST}:<PPORT_{role}>")
        n.add_text(m.name, f"<NAME_{role}>")
        if m.id:
            n.add_id(m.id, f"<ID_{role}>")

    def assign_roles(self):
        leader = self.cl.leader(timeout=20)
        fs = sorted(self.cl.followers(leader), key=lambda m: m.index)
        for role, m in zip(ROLES, [leader] + fs):
            self.register(role, m)
        c = self.cl.client(leader)
        self.cluster_id = c.clusterstub.MemberList(rpc.MemberListRequest(), 5).header.cluster_id
        self.norm.add_id(self.cluster_id, "<CLUSTER_ID>")

    def endpoints(self, where):
        if where == "ALL":
            return ",".join(self.roles[r].endpoint for r in ROLES if r in self.roles)
        if isinstance(where, (list, tuple)):
            return ",".join(self.roles[r].endpoint for r in where)
        return self.roles[where].endpoint

    def text(self, s):
        s = self.norm(s)
        for rx, repl in CLUSTER_RULES:
            s = rx.sub(repl, s)
        return s


class ClusterPair:
    """A 3-member etcd cluster and a 3-member candidate cluster, started
    concurrently; compare() records a diff per mismatching step."""

    def __init__(self, tag):
        if IMPORT_ERROR:
            raise HarnessError(IMPORT_ERROR)
        self.ref = Side("ref", REF_BIN, tag)
        self.cand = Side("cand", candidate_binary(), tag)
        self.sides = (self.ref, self.cand)
        self.mismatches = []
        self.steps = 0

    def __enter__(self):
        try:
            for s in self.sides:
                s.cl.launch()
            for s in self.sides:
                s.cl.wait_started()
            for s in self.sides:
                s.assign_roles()
            self.started = time.monotonic()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for s in self.sides:
            s.cl.stop()

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None and self.mismatches:
            raise TestFailure(self.report())
        return False

    def report(self):
        return f"{len(self.mismatches)} of {self.steps} steps differ\n" + "\n".join(self.mismatches)

    def compare(self, step, ref_value, cand_value, what=""):
        self.steps += 1
        if VERBOSE:
            shown = "\n".join("    " + l[:160] for l in _render(ref_value).splitlines()[:40])
            print(f"  step {step!r}:\n{shown}", flush=True)
        if ref_value == cand_value:
            return True
        self.mismatches.append(f"--- step {step!r} differs{': ' + what if what else ''}\n"
                               + unified_diff(ref_value, cand_value, "reference (etcd)",
                                              "candidate (CAPSTAN_BIN)"))
        return False

    def require(self, step, values, want=True):
        """An absolute expectation on both sides (e.g. an invariant)."""
        self.compare(step, [want, want], list(values))


def _show(arg):
    if callable(arg):
        return "<per-cluster arg>"
    s = str(arg)
    return s if s and re.fullmatch(r"[\w./:=,+@%<>-]+", s) else repr(s)


def ctl(P, step, where, *args, stdin=None, post=None, learn=None, parallel=False, timeout=30,
        command_timeout="5s"):
    """Run one etcdctl invocation against the member(s) with role `where` on
    both sides ("L", "F1", "F2", "N1"..., "ALL" or a list of roles) and
    compare.  Callables in args get the Side.  post normalizes both sides
    (commented at the call site); learn(side, raw_stdout) sees raw output.
    parallel=True runs both sides at once (for steps that wait a timeout)."""
    raw = [None, None]

    def run(i, side):
        a = [x(side) if callable(x) else x for x in args]
        raw[i] = etcdctl(side.endpoints(where), *a, stdin=stdin, timeout=timeout,
                         command_timeout=command_timeout)

    if parallel:
        ts = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(P.sides)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    else:
        for i, s in enumerate(P.sides):
            run(i, s)
    shown = []
    for side, (rc, out, err) in zip(P.sides, raw):
        if learn is not None:
            learn(side, out)
        r = (rc, side.text(out), side.text(err))
        if post is not None:
            r = post(r)
        r = (r[0], pretty_json(r[1]) or r[1], r[2])
        shown.append(f"exit code: {r[0]}\n--- stdout:\n{r[1]}\n--- stderr:\n{r[2]}")
    P.compare(step, shown[0], shown[1], what=f"etcdctl [{where}] " + " ".join(_show(a) for a in args))
    return raw


def both(P, step, fn):
    """Run fn(side) on both sides (python3-etcd3 / gRPC); an exception is a
    result (class and gRPC status).  Values must be normalized by fn."""
    got = []
    for side in P.sides:
        try:
            got.append(fn(side))
        except Exception as e:  # noqa: BLE001
            got.append({"error": side.text(grpc_error(e))})
    P.compare(step, got[0], got[1])
    return got


# -- step-specific normalizations (each says why)

def _sorted_json(doc):
    """Lists of members / endpoints: etcd orders them by member id, which is
    random; compare them as sets."""
    if isinstance(doc, list):
        return sorted((_sorted_json(x) for x in doc), key=lambda x: json.dumps(x, sort_keys=True))
    if isinstance(doc, dict):
        return {k: (sorted((_sorted_json(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
                    if k in ("members", "Members") and isinstance(v, list) else _sorted_json(v))
                for k, v in doc.items()}
    return doc


def by_member(r):
    """Output ordered by member id (see _sorted_json): JSON lists sorted,
    text lines sorted (a table's header stays first), the
    ETCD_INITIAL_CLUSTER list sorted."""
    rc, out, err = r
    # `endpoint health` prints its results on stderr, in completion order
    err = "\n".join(sorted(err.split("\n"))) if "is healthy" in err or "is unhealthy" in err else err
    try:
        doc = parse_normalized_json(out)
        return rc, json.dumps(_sorted_json(doc)), err
    except ValueError:
        pass

    def ic(m):
        return m.group(1) + ",".join(sorted(m.group(2).split(","))) + m.group(3)
    out = re.sub(r'^(ETCD_INITIAL_CLUSTER=")([^"]*)(")', ic, out, flags=re.M)
    lines = out.split("\n")
    if lines and lines[0].startswith(("ID | ", "ENDPOINT | ")):
        body = [l for l in lines[1:] if l]
        out = "\n".join([lines[0]] + sorted(body)) + "\n"
    elif any(l.startswith("ETCD_") for l in lines):
        pass
    else:
        body = [l for l in lines if l]
        out = "\n".join(sorted(body)) + ("\n" if body else "")
    return rc, out, err


def ttl_ok(lo, hi):
    """Remaining/keep-alive TTLs in [lo, hi] become <OK> (timing dependent);
    attached keys sorted (etcd returns them in Go map order)."""
    def ok(m, prefix, suffix):
        n = int(m.group(1))
        return f"{prefix}<OK>{suffix}" if lo <= n <= hi else m.group(0)

    def post(r):
        rc, out, err = r
        out = re.sub(r"remaining\((-?\d+)s\)", lambda m: ok(m, "remaining(", "s)"), out)
        out = re.sub(r"keepalived with TTL\((-?\d+)\)", lambda m: ok(m, "keepalived with TTL(", ")"), out)
        out = re.sub(r'"ttl":(-?\d+)', lambda m: ok(m, '"ttl":', ""), out)
        out = re.sub(r"attached keys\(\[([^\]]*)\]\)",
                     lambda m: "attached keys([" + " ".join(sorted(m.group(1).split())) + "])", out)
        out = re.sub(r'"keys":\[([^\]]*)\]',
                     lambda m: '"keys":[' + ",".join(sorted(m.group(1).split(","))) + "]", out)
        return rc, out, err
    return post


def log_messages(r):
    """etcdctl's zap log lines on stderr: keep only level and message (the
    other fields are sizes, durations and paths of this run)."""
    rc, out, err = r
    lines = []
    for l in err.splitlines():
        try:
            d = json.loads(l)
            lines.append(f"{d.get('level')}: {d.get('msg')}")
        except ValueError:
            lines.append(l)
    return rc, out, "\n".join(lines)


def learn_lease(name):
    def learn(side, out):
        m = re.search(r"lease ([0-9a-f]+) granted", out)
        if m:
            side.leases[name] = m.group(1)
            side.norm.add_lease(int(m.group(1), 16))
    return learn


def lease(name):
    return lambda side: side.leases.get(name, "0")


def rev(name, delta=0):
    return lambda side: str(side.values[name] + delta)


def remember_rev(P, name, where="F1"):
    for s in P.sides:
        rc, out, _ = etcdctl(s.endpoints(where), "get", "x", "-w", "json")
        s.values[name] = int(json.loads(out)["header"]["revision"])


def txn_stdin(*blocks):
    return "".join("".join(line + "\n" for line in b) + "\n" for b in blocks)


# ---------------------------------------------------------------------------
# KV, leases, watch and maintenance through a follower

def test_kv_through_follower():
    with ClusterPair("kv") as P:
        # writes through a follower, reads through the other follower and the leader
        for fmt in ("simple", "json"):
            ctl(P, f"put via follower -w {fmt}", "F1", "put", f"a/{fmt}", "v1", "-w", fmt)
        ctl(P, "put --prev-kv via follower", "F1", "put", "--prev-kv", "a/simple", "v2")
        for k in ("a/1", "a/2", "a/3", "b/1", "b/2", "c"):
            ctl(P, f"put {k} via leader", "L", "put", k, f"val-{k}")
        ctl(P, "get --prefix via other follower (linearizable)", "F2", "get", "--prefix", "a/")
        ctl(P, "get --prefix -w json via follower", "F2", "get", "--prefix", "a/", "-w", "json")
        ctl(P, "get --consistency=l via follower", "F1", "get", "b/1", "--consistency=l", "-w", "json")
        # a serializable read after a linearizable one on the same member sees the write
        ctl(P, "get --consistency=s via follower", "F2", "get", "b/", "--prefix", "--consistency=s",
            "-w", "json")
        ctl(P, "range [a/2, b/2) via follower", "F1", "get", "a/2", "b/2")
        ctl(P, "get --from-key --keys-only", "F2", "get", "--from-key", "b", "--keys-only")
        ctl(P, "get --prefix --limit --sort-by", "F1", "get", "--prefix", "a/", "--limit=2",
            "--sort-by=MODIFY", "--order=DESCEND", "-w", "json")
        ctl(P, "get --count-only", "F2", "get", "--prefix", "", "--count-only", "-w", "json")
        ctl(P, "get missing key", "F1", "get", "nope", "-w", "json")
        ctl(P, "get with all endpoints", "ALL", "get", "--prefix", "a/", "--print-value-only")
        ctl(P, "put with all endpoints", "ALL", "put", "all", "eps")
        ctl(P, "get after put with all endpoints (follower, linearizable)", "F2", "get", "all")
        ctl(P, "del via follower", "F1", "del", "a/3")
        ctl(P, "del --prefix --prev-kv via follower", "F2", "del", "--prefix", "b/", "--prev-kv", "-w", "json")
        ctl(P, "del missing via follower", "F1", "del", "nope")
        ctl(P, "put empty key (error) via follower", "F1", "put", "", "v")
        ctl(P, "put --ignore-value missing key (error) via follower", "F1", "put", "--ignore-value", "nope")

        # read-your-writes on one follower with serializable reads: a write
        # through a follower returns after that follower applied it
        def ryw(side):
            m = side.roles["F2"]
            c = side.cl.client(m)
            stale = 0
            for i in range(30):
                c.put(f"ryw/{i}", str(i))
                r = c.kvstub.Range(rpc.RangeRequest(key=f"ryw/{i}".encode(), serializable=True), 5)
                stale += 0 if r.kvs and r.kvs[0].value == str(i).encode() else 1
            return {"stale serializable reads": stale}
        both(P, "read-your-writes with serializable reads on a follower", ryw)

        # txn through a follower
        ctl(P, "txn success branch via follower", "F1", "txn",
            stdin=txn_stdin(['value("c") = "val-c"'], ["put c c2", "get a/1"], ["put c never"]))
        ctl(P, "txn failure branch -w json via follower", "F2", "txn", "-w", "json",
            stdin=txn_stdin(['mod("c") < "2"'], ["del c"], ["get c", "put t/f yes"]))
        ctl(P, "txn -i via follower", "F1", "txn", "-i",
            stdin=txn_stdin(['create("t/new") = "0"'], ["put t/new 1"], []))
        ctl(P, "txn duplicate key (error) via follower", "F2", "txn",
            stdin=txn_stdin([], ["put d 1", "put d 2"], []))
        ctl(P, "txn bad compare (client error)", "F1", "txn", stdin=txn_stdin(["bogus"], [], []))

        # compaction through a follower
        remember_rev(P, "before_compact")
        ctl(P, "put after remember", "F2", "put", "c", "c3")
        ctl(P, "get old revision of c", "F1", "get", "c", "--rev", rev("before_compact"), "-w", "json")
        ctl(P, "compaction via follower", "F1", "compaction", rev("before_compact"))
        ctl(P, "get compacted revision via follower (error)", "F2", "get", "c", "--rev",
            rev("before_compact", -2))
        ctl(P, "get compacted revision via leader (error)", "L", "get", "c", "--rev", "1")
        ctl(P, "get at compaction revision", "F1", "get", "c", "--rev", rev("before_compact"))
        ctl(P, "compaction again (error)", "F2", "compaction", rev("before_compact"))
        ctl(P, "compaction of a future revision (error)", "F1", "compaction", "100000")
        ctl(P, "get future revision (error)", "F2", "get", "c", "--rev", "100000")
        ctl(P, "compaction --physical via follower", "F2", "compaction", "--physical",
            rev("before_compact", 1))

        # leases through a follower
        ctl(P, "lease grant via follower", "F1", "lease", "grant", "600", learn=learn_lease("l1"))
        ctl(P, "lease grant 2 via other follower", "F2", "lease", "grant", "300", learn=learn_lease("l2"))
        ctl(P, "put --lease via follower", "F2", "put", "--lease", lease("l1"), "l/1", "x")
        ctl(P, "put --lease via leader", "L", "put", "--lease", lease("l1"), "l/2", "y")
        ctl(P, "put --lease unknown (error)", "F1", "put", "--lease", "1234abcd", "l/3", "z")
        ctl(P, "lease timetolive --keys via follower", "F1", "lease", "timetolive", lease("l1"), "--keys",
            post=ttl_ok(590, 600))
        ctl(P, "lease timetolive -w json via other follower", "F2", "lease", "timetolive", lease("l1"),
            "--keys", "-w", "json", post=ttl_ok(590, 600))
        ctl(P, "lease keep-alive --once via follower", "F2", "lease", "keep-alive", "--once", lease("l1"),
            post=ttl_ok(590, 600))
        ctl(P, "lease list via follower", "F1", "lease", "list", post=by_member)
        ctl(P, "lease revoke via follower", "F2", "lease", "revoke", lease("l1"))
        ctl(P, "keys of a revoked lease are gone (follower)", "F1", "get", "--prefix", "l/", "-w", "json")
        ctl(P, "lease timetolive of a revoked lease", "F1", "lease", "timetolive", lease("l1"))
        ctl(P, "lease revoke again (error)", "F1", "lease", "revoke", lease("l1"))
        ctl(P, "lease keep-alive --once of a revoked lease (error)", "F2", "lease", "keep-alive", "--once",
            lease("l1"))
        ctl(P, "lease list after revoke", "L", "lease", "list")

        # watch through a follower: history replay (etcdctl waits forever; the
        # harness stops it after the timeout, so exit code 124 on both sides)
        ctl(P, "watch --prefix --rev via follower", "F1", "watch", "--prefix", "t/", "--rev",
            rev("before_compact"), timeout=3, parallel=True)
        ctl(P, "watch compacted revision via follower", "F2", "watch", "c", "--rev", "2", timeout=3,
            parallel=True)

        # maintenance through a follower
        ctl(P, "endpoint status via follower", "F1", "endpoint", "status")
        ctl(P, "endpoint status --cluster via follower", "F1", "endpoint", "status", "--cluster",
            post=by_member)
        ctl(P, "endpoint status --cluster -w json", "F2", "endpoint", "status", "--cluster", "-w", "json",
            post=by_member)
        ctl(P, "endpoint status all endpoints -w table", "ALL", "endpoint", "status", "-w", "table",
            post=by_member)
        ctl(P, "endpoint health --cluster via follower", "F1", "endpoint", "health", "--cluster",
            post=by_member)
        ctl(P, "endpoint health all endpoints -w json", "ALL", "endpoint", "health", "-w", "json",
            post=by_member)
        ctl(P, "endpoint hashkv --cluster via follower", "F2", "endpoint", "hashkv", "--cluster",
            post=by_member)
        ctl(P, "endpoint hashkv -w json via follower", "F1", "endpoint", "hashkv", "-w", "json")

        def hashes_agree(side):
            rv = None
            hs = set()
            for m in side.cl.members:
                c = side.cl.client(m)
                if rv is None:
                    rv = c.kvstub.Range(rpc.RangeRequest(key=b"x"), 5).header.revision
                    time.sleep(0.5)
                hs.add(c.maintenancestub.HashKV(rpc.HashKVRequest(revision=rv), 5).hash)
            return len(hs) == 1
        P.require("every member's HashKV is the same", [hashes_agree(s) for s in P.sides])
        ctl(P, "alarm list via follower", "F1", "alarm", "list")
        ctl(P, "alarm disarm via follower", "F2", "alarm", "disarm")
        ctl(P, "defrag via follower", "F1", "defrag")
        ctl(P, "defrag --cluster via follower", "F2", "defrag", "--cluster", post=by_member)

        # snapshot from a follower
        tmp = tempfile.mkdtemp(prefix="cluster-diff-snap-")

        def snap_path(side):
            return os.path.join(tmp, f"{side.label}.db")

        def no_path(r):
            rc, out, err = log_messages(r)
            return rc, out.replace(tmp, "<TMP>").replace("ref.db", "<DB>").replace("cand.db", "<DB>"), err
        ctl(P, "snapshot save via follower", "F1", "snapshot", "save", snap_path, post=no_path)
        ctl(P, "snapshot save with two endpoints (client error)", ["F1", "F2"], "snapshot", "save",
            snap_path)

        def snapshot_status(side):
            rc, out, err = etcdctl(side.endpoints("F1"), "snapshot", "status", snap_path(side), "-w", "json")
            if rc != 0:
                return {"rc": rc, "err": err}
            d = json.loads(out)
            # hash, totalKey (backend keys incl. internal buckets) and
            # totalSize describe the backend file, not the data
            return {"revision": d["revision"]}
        both(P, "snapshot status revision", snapshot_status)

        # python3-etcd3 through a follower
        def py_members(side):
            c = side.cl.client(side.roles["F1"])
            n = side.norm
            return sorted(({"id": n.ident(m.id), "name": side.text(m.name),
                            "peer_urls": [side.text(u) for u in m.peer_urls],
                            "client_urls": [side.text(u) for u in m.client_urls]} for m in c.members),
                          key=lambda d: d["name"])
        both(P, "python members via follower", py_members)

        def py_status(side):
            st = side.cl.client(side.roles["F2"]).status()
            return {"leader": side.norm.ident(st.leader.id), "raft_term>0": st.raft_term > 0,
                    "db_size>0": st.db_size > 0, "raft_index>0": st.raft_index > 0}
        both(P, "python status via follower", py_status)

        def py_kv(side):
            c = side.cl.client(side.roles["F1"])
            out = []
            c.put("py/a", "1")
            c.put("py/b", "2")
            v, meta = c.get("py/a")
            out.append([v, meta.key, meta.version])
            out.append(sorted((v, m.key) for v, m in c.get_prefix("py/")))
            ok, resps = c.transaction(compare=[c.transactions.value("py/a") == "1"],
                                      success=[c.transactions.put("py/c", "3")],
                                      failure=[c.transactions.delete("py/a")])
            out.append(ok)
            out.append(c.delete("py/b"))
            out.append(c.delete("py/none"))
            out.append(sorted((v, m.key) for v, m in c.get_prefix("py/")))
            ls = c.lease(100)
            c.put("py/lease", "x", lease=ls)
            out.append([ls.granted_ttl, 95 <= ls.remaining_ttl <= 100, sorted(ls.keys)])
            ls.refresh()
            ls.revoke()
            out.append(c.get("py/lease")[0])
            return out
        both(P, "python kv/txn/lease via follower", py_kv)

        def py_watch(side):
            c = client(side.roles["F2"].client_port)
            w = side.cl.client(side.roles["F1"])
            events, cancel = c.watch_prefix("pw/")
            got = []
            try:
                for i in range(3):
                    w.put(f"pw/{i}", str(i))
                w.delete("pw/1")
                for ev in events:
                    got.append([type(ev).__name__, ev.key, ev.value])
                    if len(got) == 4:
                        break
            finally:
                cancel()
                c.close()
            return got
        both(P, "python watch via follower (writes via the other follower)", py_watch)

        ctl(P, "final state via follower", "F2", "get", "--from-key", "", "-w", "json")


# ---------------------------------------------------------------------------
# membership and leadership

def learn_new_member(name):
    def learn(side, out):
        m = re.search(r"Member\s+([0-9a-f]+) added", out)
        if m:
            side.values[name] = int(m.group(1), 16)
            side.norm.add_id(int(m.group(1), 16), f"<ID_{name}>")
    return learn


def new_member(P, role):
    """A member object (ports, name) per side, registered under `role`."""
    for s in P.sides:
        i = len(s.cl.members) + len(s.cl.removed) + s.added
        s.added += 1
        m = Member(s.cl, i, f"{s.cl.name}-m{i}")   # not in s.cl.members until started
        m.extra_args = list(s.cl.extra_args)
        s.register(role, m)


def member_id(role):
    # ("0" when a failed step left the id unknown: later steps then differ too)
    return lambda side: format(side.values.get(role) or side.roles[role].id or 0, "x")


def test_membership():
    with ClusterPair("mem") as P:
        # etcd refuses membership changes until it has been connected to
        # every peer for 5 s (etcdserver.HealthInterval): "unhealthy cluster"
        time.sleep(max(0.0, P.started + 6 - time.monotonic()))
        for fmt in ("simple", "json", "table"):
            ctl(P, f"member list -w {fmt} via follower", "F1", "member", "list", "-w", fmt, post=by_member)
        ctl(P, "member list via leader", "L", "member", "list", post=by_member)
        ctl(P, "member list with all endpoints", "ALL", "member", "list", post=by_member)

        # bad input
        ctl(P, "member add: peer URL in use (error)", "F1", "member", "add", "dup",
            lambda s: f"--peer-urls={s.roles['L'].adv_peer_url}")
        ctl(P, "member add: invalid URL (error)", "F1", "member", "add", "bad", "--peer-urls=foo")
        ctl(P, "member add: no peer URLs (client error)", "F1", "member", "add", "none")
        ctl(P, "member remove: unknown id (error)", "F2", "member", "remove", "1234abcd")
        ctl(P, "member remove: bad id (client error)", "F2", "member", "remove", "xyz")
        ctl(P, "member update: unknown id (error)", "F1", "member", "update", "1234abcd",
            "--peer-urls=http://127.0.0.1:1")
        ctl(P, "member update: peer URL of another member (error)", "F1", "member", "update",
            member_id("F2"), lambda s: f"--peer-urls={s.roles['L'].adv_peer_url}")
        ctl(P, "member promote: unknown id (error)", "F2", "member", "promote", "1234abcd")
        ctl(P, "member promote: a voting member (error)", "F2", "member", "promote", member_id("F1"))
        ctl(P, "member promote via leader: a voting member (error)", "L", "member", "promote",
            member_id("F2"))

        # a learner, added through a follower but not started yet
        new_member(P, "N1")
        ctl(P, "member add --learner via follower", "F1", "member", "add", lambda s: s.roles["N1"].name,
            lambda s: f"--peer-urls={s.roles['N1'].adv_peer_url}", "--learner",
            learn=learn_new_member("N1"), post=by_member)
        ctl(P, "member list shows the unstarted learner", "F1", "member", "list", "-w", "json",
            post=by_member)
        ctl(P, "member list -w table (learner)", "F2", "member", "list", "-w", "table", post=by_member)
        new_member(P, "N2")
        ctl(P, "member add a second learner (error)", "F2", "member", "add", lambda s: s.roles["N2"].name,
            lambda s: f"--peer-urls={s.roles['N2'].adv_peer_url}", "--learner")
        # (not the learner's own URL again: etcd derives a new member's id from
        # its URLs and the current second, "member ID already exist" then)
        ctl(P, "member add a learner with the peer URL of a voter (error)", "L", "member", "add", "x",
            lambda s: f"--peer-urls={s.roles['F1'].adv_peer_url}", "--learner")
        ctl(P, "member promote: learner not started (error) via follower", "F1", "member", "promote",
            member_id("N1"))
        ctl(P, "member promote: learner not started (error) via leader", "L", "member", "promote",
            member_id("N1"))
        ctl(P, "move-leader to the learner (error)", "ALL", "move-leader", member_id("N1"))

        # start the learner
        for s in P.sides:
            m = s.roles["N1"]
            m.initial_cluster = ",".join(f"{x.name}={x.adv_peer_url}" for x in s.cl.members + [m])
            m.state = "existing"
            s.cl.members.append(m)
            m.launch()
        for s in P.sides:
            wait_serving(s.roles["N1"])
        ctl(P, "endpoint status of the learner", "N1", "endpoint", "status", "-w", "json")
        ctl(P, "linearizable get on the learner (error)", "N1", "get", "a")
        ctl(P, "put on the learner (error)", "N1", "put", "a", "b")
        wait_learner_applied(P)
        ctl(P, "serializable get on the learner", "N1", "get", "a", "--consistency=s", "-w", "json")
        ctl(P, "member list on the learner", "N1", "member", "list", post=by_member)

        # etcd's stream interceptor refuses every stream on a learner
        def learner_stream(kind):
            def run(side):
                c = side.cl.client(side.roles["N1"])
                if kind == "watch":
                    req = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=b"a"))
                    return str(next(c.watcher._watch_stub.Watch(iter([req]), 5)))
                if kind == "keep-alive":
                    return str(next(c.leasestub.LeaseKeepAlive(iter([rpc.LeaseKeepAliveRequest(ID=1)]), 5)))
                return str(next(c.maintenancestub.Snapshot(rpc.SnapshotRequest(), 5)))[:0]
            return run
        for kind in ("watch", "keep-alive", "snapshot"):
            both(P, f"{kind} stream on the learner (error)", learner_stream(kind))

        def promote(side):
            deadline = time.monotonic() + 20
            while True:
                rc, out, err = etcdctl(side.endpoints("F2"), "member", "promote", member_id("N1")(side))
                if rc == 0 or time.monotonic() > deadline or "in sync" not in err:
                    return {"rc": rc, "out": side.text(out), "err": side.text(err)}
                time.sleep(0.3)
        both(P, "member promote the started learner via follower", promote)
        ctl(P, "member promote again (error)", "F1", "member", "promote", member_id("N1"))
        ctl(P, "member list after promote -w json", "F1", "member", "list", "-w", "json", post=by_member)
        wait_voter(P, "N1")
        ctl(P, "put via the promoted member", "N1", "put", "promoted", "yes")
        ctl(P, "get via the promoted member", "N1", "get", "promoted")

        # update the promoted member's peer URL, then remove it
        for s in P.sides:
            s.values["N1_old_peer"] = s.roles["N1"].adv_peer_url
            port = free_port()
            s.values["N1_new_peer"] = f"http://{HOST}:{port}"
            s.norm.add_text(f"{HOST}:{port}", f"{HOST}:<PPORT_N1_NEW>")
        ctl(P, "member update via follower", "F2", "member", "update", member_id("N1"),
            lambda s: "--peer-urls=" + s.values["N1_new_peer"])
        ctl(P, "member list after update", "F1", "member", "list", "-w", "json", post=by_member)
        ctl(P, "member remove via follower", "F1", "member", "remove", member_id("N1"))
        for s in P.sides:
            s.cl.members.remove(s.roles["N1"])
            s.cl.removed.append(s.roles["N1"])
        ctl(P, "member remove the removed member again (error)", "F2", "member", "remove", member_id("N1"))
        ctl(P, "member list after remove", "F1", "member", "list", post=by_member)
        ctl(P, "member update of a removed member (error)", "F2", "member", "update", member_id("N1"),
            lambda s: "--peer-urls=" + s.values["N1_old_peer"])

        # a voting member added but never started, then removed
        ctl(P, "member add (voter, not started) via follower", "F2", "member", "add",
            lambda s: s.roles["N2"].name, lambda s: f"--peer-urls={s.roles['N2'].adv_peer_url}",
            learn=learn_new_member("N2"), post=by_member)
        ctl(P, "member list with an unstarted voter", "F1", "member", "list", post=by_member)
        # etcd refuses any member add while it is not connected to every
        # voter, e.g. this unstarted one (mayAddMember's isConnectedFullySince).
        ctl(P, "member add while a voter is down (error: unhealthy cluster)", "F1", "member", "add",
            "n3", "--peer-urls=http://127.0.0.1:9")
        ctl(P, "member add a learner while a voter is down (error: unhealthy cluster)", "L",
            "member", "add", "n3", "--learner", "--peer-urls=http://127.0.0.1:9")
        ctl(P, "member remove the unstarted voter via follower", "F1", "member", "remove",
            member_id("N2"))

        # leadership
        ctl(P, "move-leader from a follower endpoint only (client error)", "F1", "move-leader",
            member_id("F2"))
        ctl(P, "move-leader to a non-member id (error)", "ALL", "move-leader", "1234abcd")
        ctl(P, "move-leader bad id (client error)", "ALL", "move-leader", "zz")
        ctl(P, "move-leader to itself", "L", "move-leader", member_id("L"))

        def grpc_move_on_follower(side):
            c = side.cl.client(side.roles["F2"])
            c.maintenancestub.MoveLeader(rpc.MoveLeaderRequest(targetID=side.roles["F1"].id), 5)
            return "ok"
        both(P, "MoveLeader RPC on a follower (error)", grpc_move_on_follower)
        ctl(P, "move-leader to F1 (all endpoints)", "ALL", "move-leader", member_id("F1"),
            command_timeout="15s")
        ctl(P, "endpoint status after move-leader", "ALL", "endpoint", "status", post=by_member)
        ctl(P, "put via the old leader", "L", "put", "after-move", "1")

        # remove the (new) leader through a follower
        ctl(P, "member remove the leader via follower", "F2", "member", "remove", member_id("F1"),
            command_timeout="15s")
        for s in P.sides:
            s.cl.members.remove(s.roles["F1"])
            s.cl.removed.append(s.roles["F1"])
        for s in P.sides:
            s.cl.leader(timeout=20)
        ctl(P, "member list after removing the leader", "F2", "member", "list", post=by_member)
        ctl(P, "put after removing the leader", "F2", "put", "after-remove", "1", command_timeout="15s")
        ctl(P, "get after removing the leader", "L", "get", "--prefix", "after-", "-w", "json")
        ctl(P, "endpoint health of the remaining members", ["L", "F2"], "endpoint", "health",
            post=by_member)


def wait_serving(m, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc, out, err = etcdctl(m.endpoint, "endpoint", "status", dial_timeout="1s", command_timeout="2s",
                               timeout=10)
        if rc == 0:
            return
        if not m.alive():
            break
        time.sleep(0.2)
    raise HarnessError(f"[{m.label}] new member not serving\n{m.log_tail()}")


def wait_learner_applied(P, timeout=20):
    """The learner applied everything the leader has (serializable reads)."""
    for s in P.sides:
        deadline = time.monotonic() + timeout
        want = s.cl.client(s.roles["L"]).kvstub.Range(rpc.RangeRequest(key=b"x"), 5).header.revision
        while True:
            c = client(s.roles["N1"].client_port)
            try:
                got = c.kvstub.Range(rpc.RangeRequest(key=b"x", serializable=True), 2).header.revision
            except Exception:  # noqa: BLE001
                got = 0
            finally:
                c.close()
            if got >= want:
                break
            if time.monotonic() > deadline:
                raise HarnessError(f"[{s.label}] learner at revision {got}, leader at {want}")
            time.sleep(0.2)


def wait_voter(P, role, timeout=20):
    for s in P.sides:
        s.roles[role].wait_healthy(timeout=timeout)


if __name__ == "__main__":
    run_tests(globals())
