#!/usr/bin/python3
"""Differential test: etcdctl lease commands against real etcd vs CAPSTAN_BIN.

Same conventions as test_etcdctl_diff.py (whose ctl() runs each step on both
servers and compares exit code, stdout and stderr after normalization).  Lease
ids are implementation specific: each server's ids are learned from its
`lease grant` output and replaced by <LEASE_n> (hex and decimal forms).
Timing-dependent values are range-checked instead of compared:
remaining TTLs (`remaining(Ns)`, "ttl":N, keep-alive TTL(N)) become <OK> when
within the expected range, and stay visible (so differ) otherwise.  The
attached keys of `lease timetolive --keys` are sorted (etcd lists them in Go
map order, i.e. randomly).

Covers: grant (minimum TTL, too large TTL), put --lease, get -w json (lease
field), timetolive (+ --keys, -w json), list, keep-alive --once (and that it
really extends the lease), revoke (keys gone, in one revision), revoke /
keep-alive / timetolive / put of an unknown lease, and expiry: a TTL 2 lease
not kept alive expires on both servers within seconds and all its keys are
deleted in ONE revision.

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_etcdctl_lease_diff.py
      CAPSTAN_BIN=/usr/bin/etcd ... validates the test (etcd vs etcd must pass).
"""

import base64
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import DiffPair, TestFailure, etcdctl, run_tests  # noqa: E402
from test_etcdctl_diff import ctl, txn  # noqa: E402


# ---------------------------------------------------------------------------
# helpers

class Leases:
    """Lease ids per server, learned from `lease grant` outputs."""

    def __init__(self, p):
        self.p = p
        self.ids = {}          # name -> {server: hex id}

    def grant(self, name, ttl, step=None, post=None):
        got = {}

        def learn(srv, norm, out):
            m = re.search(r"lease ([0-9a-f]+) granted", out)
            if m:
                got[srv] = m.group(1)
                norm.add_lease(int(m.group(1), 16))
        ctl(self.p, step or f"lease grant {ttl} ({name})", "lease", "grant", str(ttl), learn=learn, post=post)
        if len(got) != 2:
            raise TestFailure(self.p.report() + f"\nlease grant {ttl} failed on a server; cannot continue")
        self.ids[name] = got
        return got

    def __call__(self, name, fmt="{}"):
        """A per-server argument: the lease id of `name` (formatted)."""
        return lambda srv: fmt.format(self.ids[name][srv])


def ttl_ok(lo, hi):
    """Step-specific normalization: remaining / keep-alive TTLs in [lo, hi]
    become <OK> (timing dependent), values outside stay visible.  Attached
    keys are sorted (etcd returns them in Go map order)."""
    def ok(m, prefix, suffix):
        n = int(m.group(1))
        return f"{prefix}<OK>{suffix}" if lo <= n <= hi else m.group(0)

    def post(r):
        rc, out, err = r
        out = re.sub(r"remaining\((-?\d+)s\)", lambda m: ok(m, "remaining(", "s)"), out)
        out = re.sub(r"keepalived with TTL\((-?\d+)\)", lambda m: ok(m, "keepalived with TTL(", ")"), out)
        out = re.sub(r'"ttl":(-?\d+)', lambda m: ok(m, '"ttl":', ""), out)
        out = re.sub(r'"TTL":(-?\d+)', lambda m: ok(m, '"TTL":', ""), out)
        out = re.sub(r"attached keys\(\[([^\]]*)\]\)",
                     lambda m: "attached keys([" + " ".join(sorted(m.group(1).split())) + "])", out)
        out = re.sub(r'"keys":\[([^\]]*)\]',
                     lambda m: '"keys":[' + ",".join(sorted(m.group(1).split(","))) + "]", out)
        return rc, out, err
    return post


def require(p, step, values, want=True):
    """An absolute expectation, per server ([want, want] vs the values): fails
    even when both servers agree on something wrong."""
    return p.compare(step + " [left: expected on both servers]", [want, want], list(values))


def revision(srv):
    rc, out, _ = etcdctl(srv.endpoint, "get", "nothing", "-w", "json")
    try:
        return json.loads(out)["header"]["revision"] if rc == 0 else None
    except (ValueError, KeyError):
        return None


def keys_at(srv, prefix, rev=None):
    args = ["get", "--prefix", prefix, "--keys-only", "-w", "json"] + ([f"--rev={rev}"] if rev else [])
    rc, out, err = etcdctl(srv.endpoint, *args)
    if rc != 0:
        return f"error: {err.strip()[-200:]}"
    return sorted(base64.b64decode(kv["key"]).decode() for kv in json.loads(out).get("kvs", []))


# ---------------------------------------------------------------------------
# tests

def test_lease_basics():
    with DiffPair(name="lease") as p:
        L = Leases(p)
        L.grant("long", 600)
        L.grant("short", 300)
        L.grant("mid", 450)
        L.grant("min", 1, step="lease grant 1 (raised to the minimum TTL)")
        L.grant("zero", 0, step="lease grant 0 (minimum TTL)")
        ctl(p, "lease grant too large TTL (error)", "lease", "grant", "9000000001")
        ctl(p, "lease grant not a number (client error)", "lease", "grant", "ten")
        ctl(p, "lease grant no TTL (client error)", "lease", "grant")
        ctl(p, "put --lease", "put", L("long", "--lease={}"), "l/a", "1")
        ctl(p, "put --lease 2", "put", L("long", "--lease={}"), "l/b", "2")
        ctl(p, "put --lease 3", "put", L("long", "--lease={}"), "l/c", "3")
        ctl(p, "put --lease other lease", "put", L("short", "--lease={}"), "l/s", "s")
        ctl(p, "put no lease", "put", "l/plain", "p")
        ctl(p, "get -w json (lease field)", "get", "l/a", "-w", "json")
        ctl(p, "get --prefix -w json (lease fields)", "get", "--prefix", "l/", "-w", "json")
        ctl(p, "get -w fields (Lease)", "get", "l/s", "-w", "fields")
        ctl(p, "put moves key to another lease", "put", L("short", "--lease={}"), "l/c", "3b")
        ctl(p, "put --lease unknown lease (error)", "put", "--lease=1234abcd", "l/x", "v")
        ctl(p, "put --lease not hex (client error)", "put", "--lease=xyz", "l/x", "v")
        ctl(p, "nothing written by failed puts", "get", "--prefix", "l/", "--keys-only", "-w", "json")

        # time to live
        ctl(p, "timetolive", "lease", "timetolive", L("long"), post=ttl_ok(590, 600))
        ctl(p, "timetolive --keys", "lease", "timetolive", "--keys", L("long"), post=ttl_ok(590, 600))
        ctl(p, "timetolive --keys -w json", "lease", "timetolive", "--keys", L("long"), "-w", "json",
            post=ttl_ok(590, 600))
        ctl(p, "timetolive --keys other lease", "lease", "timetolive", "--keys", L("short"), post=ttl_ok(290, 300))
        ctl(p, "timetolive lease without keys -w json", "lease", "timetolive", "--keys", L("mid"), "-w", "json",
            post=ttl_ok(440, 450))
        # Fresh, so that its 2 s cannot run out on a loaded machine before the check.
        L.grant("min3", 1, step="lease grant 1 again (to inspect)")
        ctl(p, "timetolive minimum-TTL lease", "lease", "timetolive", L("min3"), post=ttl_ok(0, 2))
        ctl(p, "timetolive unknown lease", "lease", "timetolive", "1234abcd")
        ctl(p, "timetolive unknown lease -w json", "lease", "timetolive", "1234abcd", "-w", "json")
        ctl(p, "timetolive no id (client error)", "lease", "timetolive")

        # list: etcd sorts by expiry (short 300, mid 450, long 600; the
        # 2 s leases first, unless they already expired: revoked first)
        # A fresh minimum-TTL lease, revoked at once: the earlier one may have
        # expired by now on a loaded machine (2 s TTL), on either server.
        L.grant("min2", 1, step="lease grant 1 again (to revoke)")
        ctl(p, "lease revoke min lease", "lease", "revoke", L("min2"))
        time.sleep(3)     # and the `grant 0` lease expires
        ctl(p, "lease list (ordered by expiry)", "lease", "list")
        ctl(p, "lease list -w json", "lease", "list", "-w", "json")

        # keep-alive
        ctl(p, "keep-alive --once", "lease", "keep-alive", "--once", L("long"), post=ttl_ok(600, 600))
        ctl(p, "keep-alive --once -w json", "lease", "keep-alive", "--once", L("short"), "-w", "json",
            post=ttl_ok(300, 300))
        ctl(p, "timetolive after keep-alive", "lease", "timetolive", L("short"), post=ttl_ok(298, 300))
        ctl(p, "keep-alive --once unknown lease (error)", "lease", "keep-alive", "--once", "1234abcd")
        ctl(p, "keep-alive no id (client error)", "lease", "keep-alive")

        # revoke: all keys of the lease deleted in one revision
        ctl(p, "get before revoke -w json", "get", "--prefix", "l/", "--keys-only", "-w", "json")
        revs = {srv: revision(srv) for srv, _ in p.servers()}
        ctl(p, "lease revoke", "lease", "revoke", L("long"))
        ctl(p, "get after revoke -w json (l/a, l/b gone; l/c moved)", "get", "--prefix", "l/", "-w", "json")
        require(p, "revoke: one revision, keys there before it and gone at it",
                [[revision(s) - revs[s], keys_at(s, "l/", revs[s]), keys_at(s, "l/", revs[s] + 1)]
                 for s, _ in p.servers()],
                [1, ["l/a", "l/b", "l/c", "l/plain", "l/s"], ["l/c", "l/plain", "l/s"]])
        ctl(p, "timetolive revoked lease", "lease", "timetolive", L("long"))
        ctl(p, "timetolive --keys revoked lease -w json", "lease", "timetolive", "--keys", L("long"), "-w", "json")
        ctl(p, "revoke again (error)", "lease", "revoke", L("long"))
        ctl(p, "revoke unknown lease (error)", "lease", "revoke", "1234abcd")
        ctl(p, "revoke no id (client error)", "lease", "revoke")
        ctl(p, "revoke not hex (client error)", "lease", "revoke", "xyz")
        ctl(p, "keep-alive --once revoked lease (error)", "lease", "keep-alive", "--once", L("long"))
        ctl(p, "put --lease revoked lease (error)", "put", L("long", "--lease={}"), "l/z", "v")
        # (txn stdin is the same text for both servers: an unknown id)
        ctl(p, "txn put --lease unknown lease (error)", "txn", stdin=txn([], ["put --lease=1234abcd l/t v"], []))
        ctl(p, "lease list after revoke", "lease", "list")
        ctl(p, "revoke lease without keys", "lease", "revoke", L("mid"))
        ctl(p, "final state -w json", "get", "--prefix", "", "-w", "json")


def test_lease_expiry():
    with DiffPair(name="lease-exp") as p:
        L = Leases(p)
        ctl(p, "put x/before", "put", "x/before", "b")
        L.grant("exp", 2)
        L.grant("kept", 4)
        for k in ("x/1", "x/2", "x/3"):
            ctl(p, f"put --lease {k}", "put", L("exp", "--lease={}"), k, "v")
        ctl(p, "put --lease kept key", "put", L("kept", "--lease={}"), "y/kept", "k")
        ctl(p, "put x/plain", "put", "x/plain", "p")
        ctl(p, "leased keys present -w json", "get", "--prefix", "x/", "-w", "json")
        before = {srv: revision(srv) for srv, _ in p.servers()}
        # poll (both servers) until the leased keys are gone; keep "kept"
        # alive meanwhile
        gone, t0 = {}, time.monotonic()
        while len(gone) < 2 and time.monotonic() - t0 < 12:
            for srv, _ in p.servers():
                etcdctl(srv.endpoint, "lease", "keep-alive", "--once", L("kept")(srv))
                if srv not in gone and keys_at(srv, "x/") == ["x/before", "x/plain"]:
                    gone[srv] = round(time.monotonic() - t0, 1)
            time.sleep(0.2)
        require(p, "TTL 2 lease expired and its keys were deleted within 12 s",
                [srv in gone for srv, _ in p.servers()])
        if len(gone) < 2:
            raise TestFailure(p.report() + f"\nexpiry times: { {s.label: t for s, t in gone.items()} }")
        # all three keys in ONE revision: before+1, keys present at before
        require(p, "expiry: one revision, all keys at the previous one, none at it",
                [[revision(s) - before[s], keys_at(s, "x/", before[s]), keys_at(s, "x/", before[s] + 1)]
                 for s, _ in p.servers()],
                [1, ["x/1", "x/2", "x/3", "x/before", "x/plain"], ["x/before", "x/plain"]])
        ctl(p, "get after expiry -w json", "get", "--prefix", "x/", "-w", "json")
        ctl(p, "timetolive expired lease", "lease", "timetolive", L("exp"))
        ctl(p, "keep-alive expired lease (error)", "lease", "keep-alive", "--once", L("exp"))
        ctl(p, "put --lease expired lease (error)", "put", L("exp", "--lease={}"), "x/late", "v")
        ctl(p, "kept-alive lease still there", "lease", "timetolive", "--keys", L("kept"), post=ttl_ok(1, 4))
        ctl(p, "kept-alive key still there", "get", "y/kept", "-w", "json")
        ctl(p, "lease list: only the kept lease", "lease", "list")
        # now stop keeping it alive: it expires as well
        gone, t0 = {}, time.monotonic()
        while len(gone) < 2 and time.monotonic() - t0 < 12:
            for srv, _ in p.servers():
                if srv not in gone and keys_at(srv, "y/") == []:
                    gone[srv] = True
            time.sleep(0.2)
        require(p, "kept lease expires once no longer kept alive", [srv in gone for srv, _ in p.servers()])
        ctl(p, "final state -w json", "get", "--prefix", "", "-w", "json")
        ctl(p, "lease list empty", "lease", "list")


if __name__ == "__main__":
    run_tests(globals())
