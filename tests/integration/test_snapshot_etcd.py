#!/usr/bin/python3
"""Snapshots in etcd's own format, both directions, against real etcd.

  * Capstan -> etcd: data, history, leases and a compaction written into
    CAPSTAN_BIN; `etcdctl snapshot save` against it (etcdctl checks the
    sha256 trailer), `etcdctl snapshot status -w json`, `etcdctl snapshot
    restore`, then real etcd (ETCD_REF_BIN, Debian's 3.4) started from the
    restored dir serves the same keys, values, revisions, versions and
    leases, historic reads above the compaction point, and the compaction
    error below it.  Also: an empty store, and a snapshot taken while writes
    continue (it must be the state at exactly one revision).
  * etcd -> Capstan: the same history written into real etcd, `etcdctl
    snapshot save`, then CAPSTAN_BIN --initial-snapshot FILE serves the same
    (restarts ignore the flag; a damaged snapshot is refused).
  * etcd data dir -> Capstan: Capstan started with --data-dir on a stopped
    etcd's data dir imports member/snap/db and moves etcd's files to
    <data-dir>/etcd-backup, from which real etcd still starts.

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_snapshot_etcd.py
"""

import base64
import json
import os
import shutil
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (REF_BIN, HarnessError, Server, TestFailure, candidate_binary,  # noqa: E402
                     etcdctl, free_port, run_tests)

for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "grpc_proxy", "all_proxy",
           "ALL_PROXY"):
    os.environ.pop(_v, None)

try:
    import etcd3
    import etcd3.etcdrpc as rpc
    IMPORT_ERROR = None
except ImportError as e:
    IMPORT_ERROR = f"{e} (python3-etcd3 is installed for Debian's /usr/bin/python3; running {sys.executable})"

RPC_TIMEOUT = 20
ALL = ("", "--prefix")  # etcdctl: every key


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def need_client():
    if IMPORT_ERROR:
        raise HarnessError(IMPORT_ERROR)


def client(srv):
    need_client()
    return etcd3.client(host="127.0.0.1", port=srv.client_port, timeout=RPC_TIMEOUT,
                        grpc_options=[("grpc.enable_http_proxy", 0)])


def ctl(srv, *args, timeout="60s"):
    rc, out, err = etcdctl(srv.endpoint, *args, command_timeout=timeout, timeout=120)
    check(rc == 0, f"etcdctl {' '.join(map(str, args))} against {srv.label} failed: {err.strip()[-800:]}")
    return out


def ctl_json(srv, *args):
    return json.loads(ctl(srv, *args, "-w", "json"))


def dump(srv, rev=0):
    """(header revision, [kv...]) of every key at `rev`, as etcdctl prints them."""
    args = list(ALL) + ([f"--rev={rev}"] if rev else [])
    doc = ctl_json(srv, "get", *args)
    return doc["header"]["revision"], doc.get("kvs", [])


def dump_error(srv, rev):
    rc, out, err = etcdctl(srv.endpoint, "get", *ALL, f"--rev={rev}")
    return rc, err.strip().splitlines()[-1] if err.strip() else ""


def leases(srv):
    """{lease id: (granted ttl, sorted keys)}."""
    out = {}
    for line in ctl(srv, "lease", "list").splitlines()[1:]:
        lid = line.strip()
        if not lid:
            continue
        doc = ctl_json(srv, "lease", "timetolive", lid, "--keys")
        keys = sorted(base64.b64decode(k) for k in doc.get("keys") or [])
        out[lid] = (doc["granted-ttl"], keys, doc["ttl"])
    return out


def compare_leases(a, b, what):
    check(set(a) == set(b), f"{what}: leases differ: {sorted(a)} vs {sorted(b)}")
    for lid in a:
        check(a[lid][:2] == b[lid][:2], f"{what}: lease {lid}: {a[lid]} vs {b[lid]}")
        check(0 < b[lid][2] <= b[lid][0], f"{what}: lease {lid} remaining TTL {b[lid][2]}")


# ---------------------------------------------------------------------------
# the history written into the source server

def populate(srv):
    """Writes a history with everything a snapshot must carry; returns the
    compaction revision and a few revisions worth reading back."""
    c = client(srv)
    try:
        l1 = c.lease(600)
        l2 = c.lease(3600)
        # Enough revisions for a multi-level B+tree in the key bucket, in
        # transactions of many puts (one revision, many sub-revisions).
        for batch in range(30):
            ops = [c.transactions.put(f"bulk/{batch:02d}/{i:03d}", "v" * (50 + i))
                   for i in range(100)]
            c.transaction(compare=[], success=ops, failure=[])
        history = []
        for i in range(60):
            r = c.put(f"hist/{i % 7}", f"value {i}")
            history.append(r.header.revision)
        c.put("leased/a", "1", lease=l1)
        c.put("leased/b", "2", lease=l1)
        c.put("leased/c", "3", lease=l2)
        c.delete("hist/3")
        c.put("big/1", b"\xff" * 600000)        # overflow pages
        c.put("big/2", os.urandom(300000))
        c.put(b"bin/\x00\x01\xfe", b"")         # binary key, empty value
        compact_rev = history[30]
        c.compact(compact_rev, physical=True)
        for i in range(10):
            c.put(f"hist/{i % 3}", f"after compaction {i}")
        c.delete_prefix("bulk/29/")
        last = c.put("last", "x").header.revision
        return compact_rev, [compact_rev, history[45], history[-1], last - 3, last]
    finally:
        c.close()


def expect_same(src, dst, revs, compact_rev, what):
    """dst serves exactly what src does: now, at `revs`, and the compaction."""
    rev_a, kvs_a = dump(src)
    rev_b, kvs_b = dump(dst)
    check(rev_a == rev_b, f"{what}: revision {rev_a} (source) vs {rev_b}")
    check(len(kvs_a) == len(kvs_b), f"{what}: {len(kvs_a)} keys (source) vs {len(kvs_b)}")
    for a, b in zip(kvs_a, kvs_b):
        check(a == b, f"{what}: key differs:\n  source {json.dumps(a)[:400]}\n  copy   {json.dumps(b)[:400]}")
    for rev in revs:
        _, a = dump(src, rev)
        _, b = dump(dst, rev)
        check(a == b, f"{what}: read at revision {rev} differs ({len(a)} vs {len(b)} keys)")
    ea, eb = dump_error(src, compact_rev - 1), dump_error(dst, compact_rev - 1)
    check(ea[0] != 0 and "required revision has been compacted" in ea[1], f"{what}: source below compaction: {ea}")
    check(eb[0] != 0 and "required revision has been compacted" in eb[1], f"{what}: copy below compaction: {eb}")
    compare_leases(leases(src), leases(dst), what)


def save_snapshot(srv, path):
    out = ctl(srv, "snapshot", "save", path)
    check("Snapshot saved" in out, f"snapshot save: {out}")
    size = os.path.getsize(path)
    check(size % 512 == 32, f"snapshot of {size} bytes has no sha256 trailer")
    return size


def snapshot_status(srv, path, size):
    st = ctl_json(srv, "snapshot", "status", path)
    check(st["totalSize"] == size - 32, f"snapshot status totalSize {st['totalSize']} vs file {size}")
    check(st["hash"] != 0 and st["totalKey"] > 0, f"snapshot status: {st}")
    return st


def restored_etcd(snapshot, name="restored"):
    """Real etcd on a data dir made by `etcdctl snapshot restore`."""
    ref = Server(REF_BIN, name=name, label="etcd-restored")
    ref.client_port, ref.peer_port = free_port(), free_port()
    rc, out, err = etcdctl(ref.endpoint, "snapshot", "restore", snapshot, "--name", ref.name,
                           "--data-dir", ref.data_dir,
                           "--initial-cluster", f"{ref.name}={ref.peer_url}",
                           "--initial-advertise-peer-urls", ref.peer_url, timeout=120)
    check(rc == 0, f"etcdctl snapshot restore failed: {err.strip()[-800:]}")
    ref.restart()
    return ref


# ---------------------------------------------------------------------------
# tests

def test_capstan_snapshot_restores_into_etcd():
    tmp = tempfile.mkdtemp(prefix="capstan-snap-")
    try:
        with Server(candidate_binary(), name="snapsrc", label="capstan") as cap:
            compact_rev, revs = populate(cap)
            snap = os.path.join(tmp, "capstan.db")
            size = save_snapshot(cap, snap)
            st = snapshot_status(cap, snap, size)
            rev, _ = dump(cap)
            check(st["revision"] == rev, f"snapshot status revision {st['revision']}, store at {rev}")
            ref = restored_etcd(snap)
            try:
                expect_same(cap, ref, revs, compact_rev, "etcd restored from Capstan's snapshot")
                ref.stop(keep_data=True)
                ref.restart()
                expect_same(cap, ref, revs, compact_rev, "restored etcd after a restart")
                c = client(ref)
                try:
                    r = c.put("written/after/restore", "ok")
                    check(r.header.revision == rev + 1, f"etcd continues at {r.header.revision}, not {rev + 1}")
                finally:
                    c.close()
            finally:
                ref.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_empty_capstan_snapshot():
    tmp = tempfile.mkdtemp(prefix="capstan-snap-")
    try:
        with Server(candidate_binary(), name="snapempty", label="capstan") as cap:
            snap = os.path.join(tmp, "empty.db")
            size = save_snapshot(cap, snap)
            st = ctl_json(cap, "snapshot", "status", snap)
            check(st["totalSize"] == size - 32 and st["revision"] == 0, f"snapshot status: {st}")
            ref = restored_etcd(snap)
            try:
                rev, kvs = dump(ref)
                check(kvs == [] and rev == 1, f"etcd from an empty snapshot: revision {rev}, {len(kvs)} keys")
            finally:
                ref.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_snapshot_under_write_load():
    """The snapshot is the state at one revision, whatever is written meanwhile."""
    tmp = tempfile.mkdtemp(prefix="capstan-snap-")
    try:
        with Server(candidate_binary(), name="snapload", label="capstan") as cap:
            compact_rev, _ = populate(cap)
            stop = threading.Event()
            errors = []

            def writer():
                c = client(cap)
                try:
                    i = 0
                    while not stop.is_set():
                        c.put(f"load/{i % 50}", f"{i}" * 100)
                        i += 1
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))
                finally:
                    c.close()

            t = threading.Thread(target=writer, daemon=True)
            t.start()
            try:
                snaps = []
                for n in range(3):
                    snap = os.path.join(tmp, f"load{n}.db")
                    size = save_snapshot(cap, snap)
                    snaps.append((snap, snapshot_status(cap, snap, size)["revision"]))
            finally:
                stop.set()
                t.join(30)
            check(not errors, f"writer failed: {errors}")
            snap, snap_rev = snaps[-1]
            ref = restored_etcd(snap)
            try:
                rev, kvs = dump(ref)
                check(rev == snap_rev, f"restored etcd at {rev}, snapshot status said {snap_rev}")
                _, want = dump(cap, snap_rev)
                check(kvs == want, f"snapshot is not the store at revision {snap_rev}: "
                                   f"{len(kvs)} vs {len(want)} keys")
            finally:
                ref.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_etcd_snapshot_starts_capstan():
    tmp = tempfile.mkdtemp(prefix="capstan-snap-")
    try:
        snap = os.path.join(tmp, "etcd.db")
        with Server(REF_BIN, name="snapetcd", label="etcd") as ref:
            compact_rev, revs = populate(ref)
            save_snapshot(ref, snap)
            cap = Server(candidate_binary(), name="fromsnap", label="capstan",
                         extra_args=["--initial-snapshot", snap])
            with cap:
                expect_same(ref, cap, revs, compact_rev, "Capstan started from etcd's snapshot")
                rev, _ = dump(ref)
                # A restart uses the store; the flag is ignored.
                cap.stop(keep_data=True)
                cap.restart()
                expect_same(ref, cap, revs, compact_rev, "Capstan restarted")
                c = client(cap)
                try:
                    r = c.put("written/after/import", "ok")
                    check(r.header.revision == rev + 1, f"Capstan continues at {r.header.revision}, not {rev + 1}")
                finally:
                    c.close()

        # A damaged snapshot is refused, with etcd's reason.
        with open(snap, "r+b") as f:
            f.seek(8192 + 100)
            b = f.read(1)
            f.seek(8192 + 100)
            f.write(bytes([b[0] ^ 0xff]))
        bad = Server(candidate_binary(), name="badsnap", label="capstan",
                     extra_args=["--initial-snapshot", snap], health_timeout=10)
        try:
            bad.start()
            raise TestFailure("Capstan started from a damaged snapshot")
        except HarnessError:
            check("sha256 mismatch" in bad.log_tail(50), f"no sha256 error in the log:\n{bad.log_tail()}")
        finally:
            bad.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_capstan_starts_on_etcd_data_dir():
    ref = Server(REF_BIN, name="datadir", label="etcd")
    cap = Server(candidate_binary(), name="datadir", label="capstan")
    try:
        ref.start()
        compact_rev, revs = populate(ref)
        want_rev, want = dump(ref)
        want_hist = {rev: dump(ref, rev)[1] for rev in revs}
        want_leases = leases(ref)
        ref.stop(keep_data=True)  # etcd commits its backend when stopped cleanly

        cap.client_port, cap.peer_port = free_port(), free_port()
        shutil.copytree(ref.data_dir, cap.data_dir)
        cap.restart()
        rev, kvs = dump(cap)
        check((rev, kvs) == (want_rev, want), f"Capstan on etcd's data dir: revision {rev}, "
                                              f"{len(kvs)} keys; etcd had {want_rev}, {len(want)}")
        for r, v in want_hist.items():
            check(dump(cap, r)[1] == v, f"read at revision {r} differs")
        e = dump_error(cap, compact_rev - 1)
        check(e[0] != 0 and "required revision has been compacted" in e[1], f"below compaction: {e}")
        compare_leases(want_leases, leases(cap), "Capstan on etcd's data dir")
        backup = os.path.join(cap.data_dir, "etcd-backup", "member")
        check(os.path.exists(os.path.join(backup, "snap", "db")) and
              os.path.isdir(os.path.join(backup, "wal")), "etcd's files were not kept in etcd-backup")

        # The next start is a plain restart.
        c = client(cap)
        try:
            c.put("written/by/capstan", "1")
        finally:
            c.close()
        cap.stop(keep_data=True)
        cap.restart()
        rev2, kvs2 = dump(cap)
        check(rev2 == want_rev + 1 and len(kvs2) == len(want) + 1, f"after restart: {rev2}, {len(kvs2)} keys")

        # Rollback: etcd starts from the backup of its own files.
        cap.stop(keep_data=True)
        ref.data_dir = os.path.join(cap.data_dir, "etcd-backup")
        ref.restart()
        check(dump(ref) == (want_rev, want), "etcd on etcd-backup does not serve its data")
    finally:
        ref.stop()
        cap.stop()


if __name__ == "__main__":
    run_tests(globals())
