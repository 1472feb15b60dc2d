#!/usr/bin/env python3
"""Summarize a bench/run-comparison.sh results directory.

    bench/summarize.py DIR

Reads DIR/raw/<mode>/<target>/r<rep>/ (etcd-<test>/results.tsv from
run-bench.sh; cb-<test>.json and .cpu from capstan-bench) and writes
DIR/runs.tsv (every run), DIR/results.tsv and DIR/results.json (medians over
repetitions, Capstan/etcd ratios, whether issue 5's target holds) and
DIR/results.md (markdown tables). Standard library only.
"""
import csv
import glob
import json
import os
import statistics
import sys


def fnum(x):
    try:
        v = float(x)
        return v if v == v else None  # NaN -> None
    except (TypeError, ValueError):
        return None


def read_etcd_suite(path, mode, target, rep, out):
    with open(path) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        out.append({
            "mode": mode, "suite": "etcd-benchmark", "test": r["test"], "target": target,
            "rep": rep, "count": fnum(r["requests"]), "rps": fnum(r["rps"]),
            "p50_ms": fnum(r["p50_ms"]), "p99_ms": fnum(r["p99_ms"]),
            "errors": fnum(r["errors"]),
            "server_cpu_ms_per_op": fnum(r["server_cpu_ms_per_req"]),
            "client_cpu_pct": fnum(r["client_cpu_pct"]),
            "other_cpu_pct": fnum(r["other_cpu_pct"]),
        })


def read_cb(json_path, mode, target, rep, out):
    with open(json_path) as f:
        j = json.load(f)
    cpu = {}
    cpu_path = json_path[:-5] + ".cpu"
    if os.path.exists(cpu_path):
        with open(cpu_path) as f:
            for line in f:
                k, _, v = line.strip().partition("\t")
                cpu[k] = fnum(v)
    test = os.path.basename(json_path)[:-5]
    ops = sum(r["count"] for r in j["rows"] if not r["events"])
    wall = cpu.get("wall_s") or j["duration_s"]
    srv = cpu.get("server_cpu_s")
    client_pct = 100 * j["client_cpu_s"] / wall if wall else None
    other = None
    if srv is not None and cpu.get("machine_cpu_s") is not None and wall:
        other = max(0.0, 100 * (cpu["machine_cpu_s"] - srv - j["client_cpu_s"]) / wall)
    for r in j["rows"]:
        if r["count"] == 0 and r["errors"] == 0:
            continue
        n = r["count"] if r["events"] else ops
        out.append({
            "mode": mode, "suite": "capstan-bench", "test": f"{test}:{r['name']}",
            "target": target, "rep": rep, "count": r["count"], "rps": r["rps"],
            "p50_ms": r["latency_ms"]["p50"], "p99_ms": r["latency_ms"]["p99"],
            "errors": r["errors"],
            "server_cpu_ms_per_op": (1000 * srv / n) if (srv is not None and n) else None,
            "client_cpu_pct": client_pct, "other_cpu_pct": other,
        })


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


# Issue 5's targets, for rows of etcd's own suite: throughput ratio (and p99
# ratio at 1000 clients). txn-put and 3-member put need 3x, the rest 2x.
def goal(mode, suite, test):
    if suite != "etcd-benchmark" or "(create)" in test or test.startswith("watch-get"):
        return None, None
    need = 2.0
    if test.startswith("txn-put") or (mode == "cluster" and test.startswith("put")):
        need = 3.0
    p99 = 0.5 if "_c1000" in test else None
    return need, p99


def main():
    d = sys.argv[1]
    runs = []
    for path in sorted(glob.glob(os.path.join(d, "raw", "*", "*", "r*", "*"))):
        parts = path.split(os.sep)
        mode, target, rep = parts[-4], parts[-3], int(parts[-2][1:])
        name = parts[-1]
        if name.startswith("etcd-") and os.path.isdir(path):
            tsv = os.path.join(path, "results.tsv")
            if os.path.exists(tsv):
                read_etcd_suite(tsv, mode, target, rep, runs)
        elif name.startswith("cb-") and name.endswith(".json"):
            try:
                read_cb(path, mode, target, rep, runs)
            except (ValueError, KeyError) as e:
                print(f"skipping {path}: {e}", file=sys.stderr)

    cols = ["mode", "suite", "test", "target", "rep", "count", "rps", "p50_ms", "p99_ms",
            "errors", "server_cpu_ms_per_op", "client_cpu_pct", "other_cpu_pct"]
    with open(os.path.join(d, "runs.tsv"), "w") as f:
        f.write("\t".join(cols) + "\n")
        for r in runs:
            f.write("\t".join("" if r[c] is None else str(r[c]) for c in cols) + "\n")

    groups = {}
    order = []
    for r in runs:
        key = (r["mode"], r["suite"], r["test"])
        if key not in groups:
            groups[key] = {"etcd": [], "capstan": []}
            order.append(key)
        groups[key].setdefault(r["target"], []).append(r)

    # etcd's suite first, then capstan-bench's, each in the order run.
    order.sort(key=lambda k: (k[0] != "single", k[1] != "etcd-benchmark"))
    results = []
    for key in order:
        mode, suite, test = key
        g = groups[key]
        row = {"mode": mode, "suite": suite, "test": test}
        for t in ("etcd", "capstan"):
            rs = g.get(t, [])
            row[t] = {
                "reps": len(rs),
                "rps": median([x["rps"] for x in rs]),
                "p50_ms": median([x["p50_ms"] for x in rs]),
                "p99_ms": median([x["p99_ms"] for x in rs]),
                "errors": sum(x["errors"] or 0 for x in rs),
                "server_cpu_ms_per_op": median([x["server_cpu_ms_per_op"] for x in rs]),
                "other_cpu_pct": median([x["other_cpu_pct"] for x in rs]),
            }
        e, c = row["etcd"], row["capstan"]
        row["rps_ratio"] = (c["rps"] / e["rps"]) if (c["rps"] and e["rps"]) else None
        row["p99_ratio"] = (c["p99_ms"] / e["p99_ms"]) if (c["p99_ms"] and e["p99_ms"]) else None
        row["cpu_ratio"] = ((c["server_cpu_ms_per_op"] / e["server_cpu_ms_per_op"])
                            if (c["server_cpu_ms_per_op"] and e["server_cpu_ms_per_op"]) else None)
        need, p99_need = goal(mode, suite, test)
        row["goal_rps_ratio"] = need
        row["goal_p99_ratio"] = p99_need
        if need is not None and row["rps_ratio"] is not None:
            met = row["rps_ratio"] >= need
            if p99_need is not None and row["p99_ratio"] is not None:
                met = met and row["p99_ratio"] <= p99_need
            row["goal_met"] = met
        else:
            row["goal_met"] = None
        results.append(row)

    meta = ""
    if os.path.exists(os.path.join(d, "meta.txt")):
        with open(os.path.join(d, "meta.txt")) as f:
            meta = f.read()
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)

    def fmt(v, spec):
        return "—" if v is None else format(v, spec)

    tcols = ["mode", "suite", "test", "etcd_rps", "capstan_rps", "rps_ratio", "etcd_p99_ms",
             "capstan_p99_ms", "p99_ratio", "etcd_cpu_ms_per_op", "capstan_cpu_ms_per_op",
             "goal", "goal_met", "etcd_errors", "capstan_errors", "other_cpu_pct", "reps"]
    with open(os.path.join(d, "results.tsv"), "w") as f:
        f.write("\t".join(tcols) + "\n")
        for r in results:
            e, c = r["etcd"], r["capstan"]
            vals = [r["mode"], r["suite"], r["test"], e["rps"], c["rps"], r["rps_ratio"],
                    e["p99_ms"], c["p99_ms"], r["p99_ratio"], e["server_cpu_ms_per_op"],
                    c["server_cpu_ms_per_op"], r["goal_rps_ratio"], r["goal_met"], e["errors"],
                    c["errors"], median([e["other_cpu_pct"], c["other_cpu_pct"]]),
                    min(e["reps"], c["reps"])]
            f.write("\t".join("" if v is None else str(v) for v in vals) + "\n")

    lines = []
    if meta:
        lines += ["```", meta.strip(), "```", ""]
    for mode in dict.fromkeys(r["mode"] for r in results):
        lines.append(f"### {mode}" + (" (3 members)" if mode == "cluster" else " node"))
        lines.append("")
        lines.append("| suite | test | etcd /s | Capstan /s | ratio | etcd p99 ms | Capstan p99 ms"
                     " | p99 ratio | etcd srv ms/op | Capstan srv ms/op | goal | met | errors e/c"
                     " | other CPU % |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|")
        for r in results:
            if r["mode"] != mode:
                continue
            e, c = r["etcd"], r["capstan"]
            g = ""
            if r["goal_rps_ratio"]:
                g = f"≥{r['goal_rps_ratio']:g}×"
                if r["goal_p99_ratio"]:
                    g += f", p99 ≤{r['goal_p99_ratio']:g}×"
            met = {True: "yes", False: "**no**", None: ""}[r["goal_met"]]
            suite = "etcd" if r["suite"] == "etcd-benchmark" else "cb"
            other = median([e["other_cpu_pct"], c["other_cpu_pct"]])
            lines.append(
                f"| {suite} | {r['test']} | {fmt(e['rps'], '.0f')} | {fmt(c['rps'], '.0f')} | "
                f"{fmt(r['rps_ratio'], '.2f')} | {fmt(e['p99_ms'], '.1f')} | "
                f"{fmt(c['p99_ms'], '.1f')} | {fmt(r['p99_ratio'], '.2f')} | "
                f"{fmt(e['server_cpu_ms_per_op'], '.3f')} | "
                f"{fmt(c['server_cpu_ms_per_op'], '.3f')} | {g} | {met} | "
                f"{int(e['errors'])}/{int(c['errors'])} | {fmt(other, '.0f')} |")
        lines.append("")
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write("\n".join(lines))
    print(f"{len(runs)} runs, {len(results)} rows -> {d}/results.md", file=sys.stderr)


if __name__ == "__main__":
    main()
