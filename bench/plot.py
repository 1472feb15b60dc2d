#!/usr/bin/env python3
"""Plots a run-comparison results.json: throughput and p99 latency, Capstan vs etcd.

    bench/plot.py DIR/results.json [OUTDIR]

Writes OUTDIR/throughput.png (requests/s, one panel per topology, with the
Capstan/etcd ratio above each pair) and OUTDIR/p99.png. Needs matplotlib
(Debian: apt-get install python3-matplotlib; run with /usr/bin/python3 if
another python3 comes first on PATH); without it, prints a note and exits 0.
"""
import json
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("plot.py: matplotlib is not installed (apt-get install python3-matplotlib); "
          "skipping the plots", file=sys.stderr)
    sys.exit(0)


def panels(results):
    modes = list(dict.fromkeys(r["mode"] for r in results))
    out = []
    for m in modes:
        rows = [r for r in results if r["mode"] == m and r["etcd"]["rps"] and r["capstan"]["rps"]
                and "(create)" not in r["test"]]
        if rows:
            out.append((m, rows))
    return out


def label(r):
    prefix = "" if r["suite"] == "etcd-benchmark" else "cb:"
    return prefix + r["test"].replace("cb-", "")


def bars(results, key, ylabel, title, path, ratio_key):
    ps = panels(results)
    if not ps:
        print(f"plot.py: nothing to plot for {key}", file=sys.stderr)
        return
    fig, axes = plt.subplots(len(ps), 1, figsize=(max(10, 0.55 * max(len(r) for _, r in ps) + 2),
                                                  4.2 * len(ps)), squeeze=False)
    for ax, (mode, rows) in zip(axes[:, 0], ps):
        xs = range(len(rows))
        e = [r["etcd"][key] or 0 for r in rows]
        c = [r["capstan"][key] or 0 for r in rows]
        w = 0.4
        ax.bar([x - w / 2 for x in xs], e, w, label="etcd 3.4", color="#8c8c8c")
        ax.bar([x + w / 2 for x in xs], c, w, label="Capstan", color="#1f77b4")
        ax.set_yscale("log")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([label(r) for r in rows], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}: {mode}" + (" (3 members)" if mode == "cluster" else " node"))
        for x, r in zip(xs, rows):
            ratio = r.get(ratio_key)
            if ratio:
                top = max(r["etcd"][key] or 0, r["capstan"][key] or 0)
                ax.annotate(f"{ratio:.2f}×", (x, top), ha="center", va="bottom", fontsize=6)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot.py: wrote {path}", file=sys.stderr)


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(src))
    with open(src) as f:
        results = json.load(f)["results"]
    bars(results, "rps", "requests (events) per second, log", "Throughput, Capstan/etcd above",
         os.path.join(out, "throughput.png"), "rps_ratio")
    bars(results, "p99_ms", "p99 latency ms, log", "p99 latency, Capstan/etcd above",
         os.path.join(out, "p99.png"), "p99_ratio")


if __name__ == "__main__":
    main()
