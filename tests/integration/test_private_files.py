#!/usr/bin/python3
"""The member's files are private (issue 12, item 5).

The WAL and the store hold every value written, Secrets and ServiceAccount
tokens included. As etcd: every directory under the data dir and the WAL dir
is 0700 and every file 0600, whatever the umask; a data dir that an older
version (or an operator) left readable by others is made private at start,
with a warning naming each path changed.

Run:  CAPSTAN_BIN=build/bin/capstan /usr/bin/python3 tests/integration/test_private_files.py
"""

import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Server, TestFailure, candidate_binary, etcdctl, run_tests  # noqa: E402

for _v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "grpc_proxy", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_v, None)


def modes(*roots):
    """{path: mode} of every directory and regular file under roots (roots included)."""
    out = {}
    for root in roots:
        out[root] = stat.S_IMODE(os.lstat(root).st_mode)
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                st = os.lstat(p)
                if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                    out[p] = stat.S_IMODE(st.st_mode)
    return out


def check_private(srv, roots, when):
    found = modes(*roots)
    bad = []
    for p, m in sorted(found.items()):
        want = 0o700 if os.path.isdir(p) else 0o600
        if m != want:
            bad.append(f"{p}: {m:04o}, want {want:04o}")
    if bad:
        raise TestFailure(f"{when}: paths not private:\n  " + "\n  ".join(bad) +
                          f"\n{srv.log_tail()}")
    # The test must have looked at something real.
    if not any(p.endswith(".wal") for p in found) or not any(p.endswith("data.mdb") for p in found):
        raise TestFailure(f"{when}: no WAL segment or store among {sorted(found)}")


def write(srv, n=20):
    for i in range(n):
        rc, out, err = etcdctl(srv.endpoint, "put", f"secret/{i}", f"token-{i}")
        if rc != 0:
            raise TestFailure(f"put failed: {out}{err}")


def start_with_wal_dir(umask):
    srv = Server(candidate_binary(), name="private")
    wal_dir = os.path.join(srv.root, "waldisk", "wal")
    srv.extra_args += ["--wal-dir", wal_dir]
    old = os.umask(umask)  # the server inherits it
    try:
        srv.start()
    finally:
        os.umask(old)
    return srv, wal_dir


def test_new_member_files_are_private_whatever_the_umask():
    srv, wal_dir = start_with_wal_dir(0)
    try:
        write(srv)
        check_private(srv, [srv.data_dir, wal_dir], "running, umask 0000")
        srv.stop(keep_data=True)
        check_private(srv, [srv.data_dir, wal_dir], "after a clean stop")
    finally:
        srv.stop()


def test_loose_data_dir_is_made_private_at_start():
    srv, wal_dir = start_with_wal_dir(0o022)
    try:
        write(srv)
        srv.stop(keep_data=True)
        # What an older version left: world-readable everything.
        for p, m in modes(srv.data_dir, wal_dir).items():
            os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
        segment = next(p for p in modes(wal_dir) if p.endswith(".wal"))
        old = os.umask(0)
        try:
            srv.restart()
        finally:
            os.umask(old)
        check_private(srv, [srv.data_dir, wal_dir], "after a restart on a loose data dir")
        with open(srv.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        for p in (srv.data_dir, wal_dir, segment):
            if f"[warning] {p} (was 0" not in log:
                raise TestFailure(f"no warning naming {p}:\n{srv.log_tail(40)}")
        rc, out, err = etcdctl(srv.endpoint, "get", "secret/7", "--print-value-only")
        if rc != 0 or out.strip() != "token-7":
            raise TestFailure(f"data lost across the restart: {out}{err}")
    finally:
        srv.stop()


if __name__ == "__main__":
    run_tests(globals())
