#!/usr/bin/env bash
# Profiles a single-node Capstan (or etcd, with ETCD_BIN=/usr/bin/etcd) under
# capstan-bench load and says where the server's CPU goes per operation.
#
#   bench/profile-put.sh [--duration SEC] [--clients N] [--conns N] [--out DIR]
#
# 1. Starts the server on 127.0.0.1 (a private port and data dir).
# 2. Floor proxy: serializable Range of one small key (no log, no fsync, a
#    trivial engine read): its server CPU per request approximates the cost
#    of an empty unary gRPC call in this very run.
# 3. put load (closed loop), with `perf record -g` on the server for the
#    middle of the run, then bench/perf_breakdown.py: share and us/op per
#    bucket (gRPC, kernel TCP send, futex, fdatasync, own code...) and per
#    thread.
# Server CPU per operation comes from /proc/<pid>/stat over each whole run.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
ETCD_BIN="${ETCD_BIN:-$BUILD_DIR/bin/capstan}"
CB="$BUILD_DIR/bin/capstan-bench"
DUR=12 CLIENTS=1000 CONNS=100 OUT="" PORT="${PORT:-28379}"
while (($#)); do
  case "$1" in
    --duration) DUR="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-${TMPDIR:-/tmp}/capstan-bench-results/profile-$(basename "$ETCD_BIN")-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
WORK="$(mktemp -d /tmp/capstan-profile-XXXXXX)"
cleanup() { DATA_ROOT="$WORK" "$SHARED/etcd-bench/stop-etcd.sh" single >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT
DATA_ROOT="$WORK" BASE_PORT=$PORT ETCD_BIN="$ETCD_BIN" "$SHARED/etcd-bench/start-etcd.sh" single \
  >"$OUT/start.log" 2>&1 || { echo "could not start $ETCD_BIN" >&2; cat "$OUT/start.log" >&2; exit 1; }
PID=$(cat "$WORK/single/pids")
EP=127.0.0.1:$PORT
TCK=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$PID/stat"; }

run() { # name args... -> prints "name ops server_us_per_op rate"
  local name=$1 t0 t1
  shift
  t0=$(ticks)
  timeout $((DUR + 60)) "$CB" "$@" --endpoints "$EP" --conns "$CONNS" --clients "$CLIENTS" \
    --duration "${DUR}s" --no-progress --no-histogram --json "$OUT/$name.json" >"$OUT/$name.txt" 2>&1
  t1=$(ticks)
  python3 - "$OUT/$name.json" $((t1 - t0)) "$TCK" "$name" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
ops = sum(r["count"] for r in j["rows"] if not r["events"])
cpu = int(sys.argv[2]) / int(sys.argv[3])
print(f"{sys.argv[4]}\t{ops}\t{1e6 * cpu / max(ops, 1):.1f}\t{ops / j['duration_s']:.0f}")
EOF
}

echo "# server $ETCD_BIN ($($ETCD_BIN --version 2>/dev/null | head -1)), pid $PID, $CLIENTS clients on $CONNS conns, ${DUR}s runs" >"$OUT/summary.txt"
echo -e "run\tops\tserver_us_per_op\tops_per_s" >>"$OUT/summary.txt"
run floor-range-s range --range-key profilekey --serializable >>"$OUT/summary.txt"

# put, with perf recording the middle of the run.
t0=$(ticks)
timeout $((DUR + 60)) "$CB" put --endpoints "$EP" --conns "$CONNS" --clients "$CLIENTS" \
  --duration "${DUR}s" --key-space 100000 --no-progress --no-histogram --json "$OUT/put.json" \
  >"$OUT/put.txt" 2>&1 &
BPID=$!
PERF_S=$((DUR > 6 ? DUR - 4 : DUR / 2))
sleep 2
if command -v perf >/dev/null; then
  perf record -F 999 -g -p "$PID" -o "$OUT/perf.data" -- sleep "$PERF_S" >"$OUT/perf.log" 2>&1
else
  echo "perf not installed: no breakdown" >&2
  sleep "$PERF_S"
fi
wait $BPID
t1=$(ticks)
python3 - "$OUT/put.json" $((t1 - t0)) "$TCK" put "$PERF_S" >"$OUT/put.line" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
ops = sum(r["count"] for r in j["rows"] if not r["events"])
cpu = int(sys.argv[2]) / int(sys.argv[3])
rate = ops / j["duration_s"]
print(f"{sys.argv[4]}\t{ops}\t{1e6 * cpu / max(ops, 1):.1f}\t{rate:.0f}\t{rate * float(sys.argv[5]):.0f}")
EOF
cut -f1-4 "$OUT/put.line" >>"$OUT/summary.txt"
if [[ -f "$OUT/perf.data" ]]; then
  OPS_IN_WINDOW=$(cut -f5 "$OUT/put.line")
  echo >>"$OUT/summary.txt"
  echo "## put: where the server's CPU goes (perf, ${PERF_S}s window, ~$OPS_IN_WINDOW puts)" >>"$OUT/summary.txt"
  perf script -i "$OUT/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null |
    python3 "$ROOT/bench/perf_breakdown.py" --ops "$OPS_IN_WINDOW" >>"$OUT/summary.txt"
  perf report -i "$OUT/perf.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null |
    grep '%' | head -40 | cut -c1-160 >"$OUT/top-symbols.txt"
fi
cat "$OUT/summary.txt"
echo "# $OUT" >&2
