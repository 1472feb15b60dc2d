#!/usr/bin/env python3
"""Where a server's CPU goes, from `perf script` output (perf record -g).

    perf script -i perf.data -F tid,comm,ip,sym,dso | bench/perf_breakdown.py [--ops N]

Each sample is put in one bucket: kernel samples by the system call they
are under (TCP send, TCP receive, fdatasync, file write, futex = thread
hand-offs, epoll, other), user samples by library (gRPC and its absl,
protobuf, malloc, LMDB, libc) or, for the server's own code, separately.
Prints the share of each bucket per thread and overall; with --ops N (the
operations the server handled during the recording) and --freq F (perf's
sampling rate, default 999) also microseconds of CPU per operation.
"""
import argparse
import collections
import re
import sys

KERNEL_RULES = [
    (re.compile(r"sendmsg|sendto|tcp_sendmsg|__sys_sendto"), "kernel: TCP send"),
    (re.compile(r"recvmsg|recvfrom|tcp_recvmsg"), "kernel: TCP receive"),
    (re.compile(r"fdatasync|fsync"), "kernel: fdatasync"),
    (re.compile(r"sys_pwrite|sys_write|ksys_write|ksys_pwrite"), "kernel: file write"),
    (re.compile(r"futex"), "kernel: futex (thread wake-ups)"),
    (re.compile(r"epoll"), "kernel: epoll"),
    (re.compile(r"sys_madvise|sys_munmap|sys_mmap|page_fault|exc_page_fault"),
     "kernel: memory (faults, mmap)"),
]


def user_bucket(dso, sym):
    d = dso.rsplit("/", 1)[-1]
    if d.startswith(("libgrpc", "libgpr", "libabsl", "libaddress_sorting", "libupb", "libre2",
                     "libcares", "libssl", "libcrypto")):
        return "gRPC library (+absl)"
    if d.startswith("libprotobuf"):
        return "protobuf library"
    if d.startswith("libjemalloc") or d.startswith("libtcmalloc"):
        return "malloc (jemalloc)"
    if d.startswith("liblmdb"):
        return "LMDB"
    if d.startswith("libc.so") or d.startswith("libstdc++") or d.startswith("ld-linux") or \
            d == "[vdso]":
        return "libc / libstdc++ / ld.so"
    if "grpc" in sym or "protobuf" in sym:
        return "server binary: gRPC/protobuf templates"
    if d.startswith("libxxhash"):
        return "server binary: own code"
    return "server binary: own code"


def classify(frames):
    """frames: list of (sym, dso), leaf first."""
    sym, dso = frames[0]
    if "kernel" in dso:
        for s, _ in frames:
            for rx, name in KERNEL_RULES:
                if rx.search(s):
                    return name
        return "kernel: other (scheduling, interrupts)"
    return user_bucket(dso, sym)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=float, default=0)
    ap.add_argument("--freq", type=float, default=999)
    ap.add_argument("--top", type=int, default=4, help="threads shown separately")
    a = ap.parse_args()

    per_thread = collections.defaultdict(collections.Counter)
    names = {}
    total = collections.Counter()
    head = None
    frames = []
    header_rx = re.compile(r"^\s*(\S.*?)\s+(\d+)\s*$")

    def flush():
        if head and frames:
            b = classify(frames)
            per_thread[head][b] += 1
            total[b] += 1

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            head, frames = None, []
            continue
        if head is None:
            m = header_rx.match(line)
            if m:
                names[m.group(2)] = m.group(1)
                head = m.group(2)
            continue
        m = re.match(r"^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
        if m:
            frames.append((m.group(1), m.group(2)))
    flush()

    n = sum(total.values())
    if n == 0:
        print("no samples", file=sys.stderr)
        return 1
    us_per_op = (lambda c: c / a.freq * 1e6 / a.ops) if a.ops > 0 else None
    print(f"{n} samples ({n / a.freq:.2f} CPU-seconds at {a.freq:g} Hz)"
          + (f", {a.ops:.0f} operations: {us_per_op(n):.1f} us of server CPU per operation"
             if us_per_op else ""))
    print()
    print(f"| bucket | share | {'us/op |' if us_per_op else ''}")
    print(f"|---|---:|{'---:|' if us_per_op else ''}")
    for b, c in total.most_common():
        print(f"| {b} | {100 * c / n:.1f}% |" + (f" {us_per_op(c):.1f} |" if us_per_op else ""))
    print()
    threads = sorted(per_thread.items(), key=lambda kv: -sum(kv[1].values()))
    for tid, cnt in threads[:a.top]:
        t = sum(cnt.values())
        parts = ", ".join(f"{b} {100 * c / t:.0f}%" for b, c in cnt.most_common(6))
        print(f"- thread {names.get(tid, '?')}/{tid}: {100 * t / n:.1f}% of samples"
              + (f" ({us_per_op(t):.1f} us/op)" if us_per_op else "") + f": {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
