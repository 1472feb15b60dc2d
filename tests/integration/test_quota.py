#!/usr/bin/python3
"""Differential test: the backend space quota (NOSPACE alarm), etcd vs CAPSTAN_BIN.

Both servers start with the same small --quota-backend-bytes.  The same
script runs against both (etcdctl, plus python3-etcd3 for the gRPC status
code) and the observable results are compared after normalization:

  * put large values until the first error: the error is gRPC
    RESOURCE_EXHAUSTED "etcdserver: mvcc: database space exceeded", it comes
    after roughly the quota's worth of data (checked per server: between half
    and 1.25 times the quota), and the refused put left nothing behind,
  * `alarm list` shows "memberID:<id> alarm:NOSPACE", `endpoint status`
    shows it in its ERRORS column (simple, json, table),
  * reads still work, deletes still work, puts / txn puts / lease grants
    fail, lease keep-alive / time-to-live / revoke behave as etcd's,
  * disarming while the space is still used: the next put raises the alarm
    again,
  * delete + compaction + defrag + `alarm disarm`: puts, txns and lease grants
    work again and the alarm stays off.

How many puts fit differs between bbolt and LMDB, so revisions at or after
the end of the fill are shown relative to it (<FILL+n>), like the number of
fill/ keys (<NFILL>); db sizes, ids, raft terms/indexes are normalized by the
harness.

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_quota.py
      CAPSTAN_BIN=/usr/bin/etcd ... validates the test (etcd vs etcd must pass).
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import DiffPair, Server, TestFailure, b64, etcdctl, parse_normalized_json, pretty_json, run_tests  # noqa: E402

for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "grpc_proxy", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_v, None)

try:
    import etcd3
    import etcd3.etcdrpc as rpc
    import grpc
    IMPORT_ERROR = None
except ImportError as e:
    IMPORT_ERROR = f"{e} (python3-etcd3 is installed for Debian's /usr/bin/python3; running {sys.executable})"

# this process uses gRPC: start servers without fork handlers (harness.spawn_args)
Server.no_fork_handlers = True

QUOTA = 4 * 1024 * 1024        # 4 MiB: both servers start and fill it in ~20 puts
VALUE_SIZE = 200 * 1000        # per put (well below --max-request-bytes)
MAX_FILL = 200


class QuotaPair:
    """DiffPair plus per-server relative-revision normalization."""

    def __init__(self):
        self.p = DiffPair(extra_args=["--quota-backend-bytes", str(QUOTA)], name="quota")
        self.fill_rev = {}     # server -> revision at the end of the fill
        self.nfill = {}        # server -> number of acknowledged fill puts
        self.nkeys = {}        # server -> number of fill/ keys (see "refused put")

    def __enter__(self):
        self.p.__enter__()
        return self

    def __exit__(self, *exc):
        return self.p.__exit__(*exc)

    def relative(self, srv, text):
        base = self.fill_rev.get(srv)
        if base is None:
            return text

        def rel(m):
            n = int(m.group(2))
            return f'{m.group(1)}"<FILL+{n - base}>"' if n >= base else m.group(0)
        text = re.sub(r'("\w*revision"\s*:\s*)(\d+)', rel, text)
        text = re.sub(r"(compacted revision )(\d+)", lambda m: m.group(1) + (
            f"<FILL+{int(m.group(2)) - base}>" if int(m.group(2)) >= base else m.group(2)), text)
        return text

    def ctl(self, step, *args, stdin=None, post=None, nfill_stdout=False):
        """One etcdctl invocation on both servers, compared after
        normalization.  Callable args get the server.  post(r) is a
        step-specific normalization (applied to both).  nfill_stdout: stdout is
        the number of filled keys (e.g. del --prefix fill/) -> <NFILL>."""
        shown, raw = [], []
        for srv, norm in self.p.servers():
            a = [x(srv) if callable(x) else x for x in args]
            rc, out, err = etcdctl(srv.endpoint, *a, stdin=stdin)
            raw.append((rc, out, err))
            out_n = self.relative(srv, norm(out))
            if nfill_stdout and out.strip() == str(self.nkeys.get(srv)):
                out_n = "<NFILL>\n"
            r = (rc, out_n, self.relative(srv, norm(err)))
            if post is not None:
                r = post(r)
            r = (r[0], pretty_json(r[1]) or r[1], r[2])
            shown.append(f"exit code: {r[0]}\n--- stdout:\n{r[1]}\n--- stderr:\n{r[2]}")
        self.p.compare(step, shown[0], shown[1], what="etcdctl " + " ".join(
            "<per-server>" if callable(x) else (x if len(str(x)) < 60 else str(x)[:60] + "...") for x in args))
        self.p.note_candidate_timeout(raw[1][0] == 124)
        return raw

    def compare(self, step, ref, cand):
        return self.p.compare(step, ref, cand)

    def require(self, step, values, want=True):
        """An absolute expectation, per server: [want, want] vs the values
        (so that it fails even when both servers agree on something wrong)."""
        return self.p.compare(step + " [left: expected on both servers]", [want, want], list(values))


def drop_json_key(key):
    def post(r):
        rc, out, err = r
        try:
            doc = parse_normalized_json(out)
        except ValueError:
            return r
        if isinstance(doc, dict):
            doc.pop(key, None)
        return rc, json.dumps(doc), err
    return post


def ttl_range(lo, hi):
    """remaining(Ns) / "TTL":N -> OK or the value when outside [lo, hi]."""
    def post(r):
        rc, out, err = r
        out = re.sub(r"remaining\((\d+)s\)", lambda m: "remaining(<OK>)" if lo <= int(m.group(1)) <= hi
                     else m.group(0), out)
        out = re.sub(r"keepalived with TTL\((\d+)\)", lambda m: "keepalived with TTL(<OK>)"
                     if lo <= int(m.group(1)) <= hi else m.group(0), out)
        return rc, out, err
    return post


def txn_stdin(cmps, succ, fail):
    return "".join("".join(line + "\n" for line in b) + "\n" for b in (cmps, succ, fail))


def grpc_put(srv, key, value):
    """A put through python3-etcd3's raw stub: (code name, details) or ("OK", revision)."""
    c = etcd3.client(host="127.0.0.1", port=srv.client_port, timeout=10,
                     grpc_options=[("grpc.enable_http_proxy", 0)])
    try:
        r = c.kvstub.Put(rpc.PutRequest(key=key, value=value), 10)
        return ("OK", r.header.revision)
    except grpc.RpcError as e:
        return (e.code().name, e.details())
    finally:
        c.close()


def test_nospace_alarm():
    if IMPORT_ERROR:
        raise TestFailure(f"cannot import etcd3: {IMPORT_ERROR}")
    with QuotaPair() as q:
        ctl = q.ctl
        ctl("put k/a before the fill", "put", "k/a", "1")          # rev 2
        ctl("put k/b before the fill", "put", "k/b", "2")          # rev 3
        ctl("put k/c before the fill", "put", "k/c", "3")          # rev 4
        leases = {}

        def learn(srv, out):
            m = re.search(r"lease ([0-9a-f]+) granted", out)
            if m:
                leases[srv] = m.group(1)
                dict(q.p.servers())[srv].add_lease(int(m.group(1), 16))
        for srv, _ in q.p.servers():
            learn(srv, etcdctl(srv.endpoint, "lease", "grant", "600")[1])
        if len(leases) != 2:
            raise TestFailure("lease grant before the fill failed")
        ctl("put k/leased --lease before the fill", "put", lambda s: f"--lease={leases[s]}", "k/leased", "l")

        # fill: large values until the first error, on each server
        first_error = {}
        for srv, norm in q.p.servers():
            for i in range(MAX_FILL):
                rc, out, err = etcdctl(srv.endpoint, "put", f"fill/{i:04d}",
                                       stdin=bytes([65 + i % 26]) * VALUE_SIZE)
                if rc != 0:
                    first_error[srv] = (rc, norm(out), norm(err))
                    q.nfill[srv] = i
                    break
            r = etcdctl(srv.endpoint, "endpoint", "status", "-w", "json")
            try:
                q.fill_rev[srv] = json.loads(r[1])[0]["Status"]["header"]["revision"]
            except (ValueError, KeyError, IndexError):
                q.fill_rev[srv] = None
        servers = [s for s, _ in q.p.servers()]
        q.compare("first failing put (etcdctl: exit code, stdout, stderr)",
                  *[first_error.get(s, f"no error after {MAX_FILL} puts") for s in servers])
        # the quota is enforced near its configured size (per server)
        q.require("data written before the first error is within [0.5, 1.25] x quota",
                  [0.5 * QUOTA <= q.nfill.get(s, MAX_FILL) * VALUE_SIZE <= 1.25 * QUOTA for s in servers])
        # etcd checks the quota before proposing a put and again when applying
        # it (quotaApplierV3): a put refused at apply time IS applied, only its
        # answer is the error.  Which check fires first depends on the
        # backend's sizes, so either outcome is accepted, but all or nothing:
        # the refused put is absent, or present with its value and revision.
        applied = {}
        for srv in servers:
            i = q.nfill.get(srv, MAX_FILL)
            rc, out, _ = etcdctl(srv.endpoint, "get", f"fill/{i:04d}", "-w", "json")
            try:
                kvs = json.loads(out).get("kvs", [])
            except ValueError:
                kvs = None
            if kvs == []:
                applied[srv] = False
            elif kvs and len(kvs) == 1 and kvs[0]["mod_revision"] == q.fill_rev[srv] and \
                    kvs[0]["value"] == b64(bytes([65 + i % 26]) * VALUE_SIZE):
                applied[srv] = True
            q.nkeys[srv] = i + 1 if applied.get(srv) else i
        q.require("refused put: absent, or applied with its value at the last revision",
                  [srv in applied for srv in servers])
        q.require("fill ends at revision 5 + filled keys (+1 if the refused put was applied)",
                  [q.fill_rev[s] == 5 + q.nkeys.get(s, -1) for s in servers])
        # the gRPC status as a client library sees it
        q.require("first failing put: etcdctl shows the gRPC status",
                  ["code = ResourceExhausted desc = etcdserver: mvcc: database space exceeded"
                   in first_error.get(s, (0, "", ""))[2] for s in servers])
        q.require("put through gRPC: RESOURCE_EXHAUSTED",
                  [grpc_put(s, b"fill/grpc", b"x" * 1000) for s in servers],
                  ("RESOURCE_EXHAUSTED", "etcdserver: mvcc: database space exceeded"))
        ctl("no fill/grpc key", "get", "fill/grpc", "-w", "json")

        # the alarm
        ctl("alarm list", "alarm", "list")
        # etcd 3.4 leaves AlarmResponse.header unset; 3.5 fills it: dropped
        ctl("alarm list -w json (header dropped)", "alarm", "list", "-w", "json", post=drop_json_key("header"))
        for fmt in ("simple", "json", "table"):
            ctl(f"endpoint status -w {fmt} (ERRORS column)", "endpoint", "status", "-w", fmt)

        # reads work
        ctl("get k/a -w json", "get", "k/a", "-w", "json")
        ctl("get first filled key --keys-only -w json", "get", "fill/0000", "--keys-only", "-w", "json")
        ctl("get --prefix k/", "get", "--prefix", "k/")
        ctl("get --rev=3 (history)", "get", "k/b", "--rev=3", "-w", "json")
        ctl("get --consistency=s", "get", "k/a", "--consistency=s")
        ctl("read-only txn", "txn", stdin=txn_stdin(['value("k/a") = "1"'], ["get k/a"], ["get k/b"]))

        # writes fail
        ctl("put new key (error)", "put", "k/new", "v")
        ctl("put overwrite (error)", "put", "k/a", "v2")
        ctl("put tiny (error)", "put", "t", "")
        ctl("txn with a put (error)", "txn", stdin=txn_stdin([], ["put k/x 1"], []))
        ctl("txn put in failure branch (error)", "txn",
            stdin=txn_stdin(['value("k/a") = "nope"'], ["get k/a"], ["put k/y 1"]))
        ctl("lease grant (error)", "lease", "grant", "60")
        ctl("state unchanged by refused writes", "get", "--prefix", "k/", "-w", "json")

        # leases: keep-alive, time-to-live, revoke
        ctl("lease keep-alive --once", "lease", "keep-alive", "--once", lambda s: leases[s],
            post=ttl_range(590, 600))
        ctl("lease timetolive --keys", "lease", "timetolive", "--keys", lambda s: leases[s],
            post=ttl_range(580, 600))
        ctl("lease revoke", "lease", "revoke", lambda s: leases[s])
        ctl("leased key gone", "get", "k/leased", "-w", "json")

        # deletes work
        ctl("del k/b", "del", "k/b")
        ctl("del --prev-kv k/c -w json", "del", "--prev-kv", "k/c", "-w", "json")
        ctl("txn with only a delete", "txn", stdin=txn_stdin([], ["del k/missing"], []))
        ctl("get after deletes", "get", "--prefix", "k/", "-w", "json")

        # disarm while the space is still used: the next large put raises it
        # again (a small one may fit: bbolt counts its file size, LMDB the
        # pages in use)
        ctl("alarm disarm (still full)", "alarm", "disarm")
        ctl("alarm list after disarm", "alarm", "list")
        ctl("large put after disarm, still full (error)", "put", "k/new", stdin=b"n" * VALUE_SIZE)
        ctl("alarm list: raised again", "alarm", "list")

        # free the space: delete, compact, defrag, disarm
        ctl("del --prefix fill/", "del", "--prefix", "fill/", nfill_stdout=True)
        ctl("compact to the current revision --physical", "compact", "--physical",
            lambda s: str(etcdctl_rev(s)))
        ctl("defrag", "defrag")
        ctl("alarm still listed after defrag", "alarm", "list")
        ctl("alarm disarm", "alarm", "disarm")
        ctl("alarm list empty", "alarm", "list")
        ctl("endpoint status -w json (no errors)", "endpoint", "status", "-w", "json")
        ctl("put works again", "put", "k/new", "v")
        ctl("txn put works again", "txn", stdin=txn_stdin([], ["put k/x 1", "get k/new"], []))
        q.require("put through gRPC works again", [grpc_put(s, b"k/grpc", b"y" * 1000)[0] for s in servers], "OK")
        ctl("lease grant works again", "lease", "grant", "60", post=lambda r: (
            r[0], re.sub(r"lease [0-9a-f]+ granted", "lease <NEW_LEASE> granted", r[1]), r[2]))
        ctl("put a few large values again", "put", "k/big", stdin=b"z" * VALUE_SIZE)
        ctl("alarm list still empty", "alarm", "list")
        ctl("final state", "get", "--prefix", "k/", "--keys-only", "-w", "json")
        ctl("endpoint status (final)", "endpoint", "status")


def etcdctl_rev(srv):
    rc, out, _ = etcdctl(srv.endpoint, "get", "k/a", "-w", "json")
    try:
        return json.loads(out)["header"]["revision"]
    except (ValueError, KeyError):
        return 0


if __name__ == "__main__":
    run_tests(globals())
