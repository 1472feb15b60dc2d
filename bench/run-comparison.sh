#!/usr/bin/env bash
# Side-by-side comparison of Capstan and real etcd (Debian's etcd 3.4), in one
# command: builds what is needed, starts both (single node, then 3 members),
# runs etcd's official benchmark suite (../shared/etcd-bench/run-bench.sh)
# and capstan-bench's suite against both, INTERLEAVED test by test (the order
# alternates per repetition), and writes medians, ratios, a markdown table
# and JSON. Everything runs on 127.0.0.1 and every run is time-bounded.
#
#   bench/run-comparison.sh [--quick] [--reps N] [--modes single,cluster]
#                           [--suites etcd,cb] [--only REGEX] [--out DIR]
#                           [--duration SEC] [--no-build] [--no-plot]
#
#   --quick      etcd suite totals /10, capstan-bench runs of 3 s, 1 repetition
#                (about 10 minutes for both modes). Default: 3 repetitions,
#                full totals, 10 s runs (about an hour).
#   --reps N     repetitions (medians are taken over them)
#   --modes      which topologies: single, cluster (3 members)
#   --suites     etcd = etcd's benchmark tool, cb = capstan-bench
#   --only RE    run only tests whose id matches RE (e.g. 'put|txn')
#   --out DIR    results directory (default /tmp/capstan-bench-results/comparison-<UTC stamp>)
#
# Env: SHARED (default ../shared next to the repo), BENCH (etcd's benchmark
# binary, default ~/.cache/etcd-bench/bin/benchmark), BUILD_DIR (default build),
# PORT_BASE (default 24379; etcd single/cluster use +0/+1000, Capstan +2000/+3000:
# all below the kernel's ephemeral range, so no outgoing socket can hold them).
#
# Output in DIR: runs.tsv (every run), results.tsv / results.json (medians and
# ratios), results.md (the table), raw/ (each run's own output), and
# *.png if bench/plot.py finds matplotlib.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
EB="$SHARED/etcd-bench"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BENCH="${BENCH:-${ETCD_BENCH_HOME:-$HOME/.cache/etcd-bench}/bin/benchmark}"
PORT_BASE="${PORT_BASE:-24379}"
QUICK=0 REPS="" MODES="single,cluster" SUITES="etcd,cb" ONLY="" OUT="" DUR="" BUILD=1 PLOT=1
while (($#)); do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --reps) REPS="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    --suites) SUITES="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --duration) DUR="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-plot) PLOT=0; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if ((QUICK)); then REPS="${REPS:-1}"; DUR="${DUR:-3}"; else REPS="${REPS:-3}"; DUR="${DUR:-10}"; fi
OUT="${OUT:-${TMPDIR:-/tmp}/capstan-bench-results/comparison-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT/raw"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d /tmp/capstan-comparison-XXXXXX)"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

# ---- build ----------------------------------------------------------------------
if ((BUILD)); then
  log "building capstan and capstan-bench (ninja -j2)"
  if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja >>"$OUT/run.log" 2>&1 || { log "cmake failed"; exit 1; }
  fi
  ninja -C "$BUILD_DIR" -j2 capstan capstan-bench >>"$OUT/run.log" 2>&1 || { log "build failed (see $OUT/run.log)"; exit 1; }
fi
CAPSTAN="$BUILD_DIR/bin/capstan"
CB="$BUILD_DIR/bin/capstan-bench"
[[ -x "$CAPSTAN" && -x "$CB" ]] || { log "missing $CAPSTAN or $CB"; exit 1; }
if [[ ",$SUITES," == *",etcd,"* && ! -x "$BENCH" ]]; then
  log "etcd's benchmark tool is not at $BENCH: run $EB/build-bench.sh (or --suites cb)"; exit 1
fi
command -v etcd >/dev/null || { log "no etcd binary (apt-get install etcd-server)"; exit 1; }

# ---- servers ----------------------------------------------------------------------
RUNNING=()  # "target mode" pairs to stop on exit
start_target() { # target mode -> sets EP, PIDS
  local target=$1 mode=$2 port bin=/usr/bin/etcd out
  case "$target/$mode" in
    etcd/single) port=$PORT_BASE ;;
    etcd/cluster) port=$((PORT_BASE + 1000)) ;;
    capstan/single) port=$((PORT_BASE + 2000)); bin=$CAPSTAN ;;
    capstan/cluster) port=$((PORT_BASE + 3000)); bin=$CAPSTAN ;;
  esac
  if ! out=$(DATA_ROOT="$WORK/$target" BASE_PORT=$port ETCD_BIN=$bin "$EB/start-etcd.sh" "$mode" 2>&1); then
    echo "$out" >>"$OUT/run.log"; log "could not start $target ($mode)"
    stop_target "$target" "$mode"  # members that did start (their pids are recorded)
    return 1
  fi
  RUNNING+=("$target $mode")
  EP=$(cat "$WORK/$target/$mode/endpoints")
  PIDS=$(cat "$WORK/$target/$mode/pids")
  log "$target $mode: endpoints $EP pids $PIDS"
}
stop_target() { DATA_ROOT="$WORK/$1" "$EB/stop-etcd.sh" "$2" >>"$OUT/run.log" 2>&1; }
cleanup() {
  local t
  for t in "${RUNNING[@]}"; do stop_target $t; done
  RUNNING=()
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TCK=$(getconf CLK_TCK)
cpu_ticks() { local t=0 p; for p in $1; do
  [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
machine_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
compact() { # endpoints: compact to the current revision (keeps history bounded)
  local rev
  rev=$(ETCDCTL_API=3 etcdctl --endpoints="$1" --dial-timeout=3s --command-timeout=20s endpoint status -w json 2>/dev/null |
    grep -o '"revision":[0-9]*' | head -1 | cut -d: -f2)
  [[ -n "$rev" ]] && ETCDCTL_API=3 etcdctl --endpoints="$1" --command-timeout=20s compaction "$rev" >/dev/null 2>&1
}

# ---- the suites ----------------------------------------------------------------------
# etcd's suite: the test ids of run-bench.sh, one run-bench.sh call per test.
mapfile -t ETCD_TESTS < <(grep -oE '^  "[a-z0-9_-]+\|' "$EB/run-bench.sh" | tr -d ' "|')
# capstan-bench's suite: id | args (the mode adds endpoints; {L} = --target-leader in clusters).
D=$DUR
CB_TESTS=(
  "cb-put_c1|put --conns 1 --clients 1 --duration ${D}s --key-space 100000 {L}"
  "cb-put_c1000|put --conns 100 --clients 1000 --duration ${D}s --key-space 100000 {L}"
  "cb-put-rate5k_c1000|put --conns 100 --clients 1000 --rate 5000 --duration ${D}s --key-space 100000 {L}"
  "cb-txn-put_c1000|txn-put --conns 100 --clients 1000 --duration ${D}s --key-space 100000 {L}"
  "cb-range-l_c1000|range --conns 100 --clients 1000 --duration ${D}s --range-key benchkey"
  "cb-range-s_c1000|range --conns 100 --clients 1000 --duration ${D}s --range-key benchkey --serializable"
  "cb-watch_s10x100|watch --conns 10 --clients 10 --watchers 100 --streams 10 --duration ${D}s"
  "cb-lease-keepalive_c100|lease-keepalive --conns 10 --clients 100 --duration ${D}s"
  "cb-kube_c200|kube --conns 20 --clients 200 --watchers 200 --streams 20 --duration ${D}s"
)

run_etcd_test() { # target mode rep id endpoints pids
  local target=$1 mode=$2 rep=$3 id=$4 ep=$5 pids=$6 dir
  dir="$OUT/raw/$mode/$target/r$rep/etcd-$id"
  mkdir -p "$(dirname "$dir")"
  local extra=()
  ((QUICK)) && extra+=(--quick)
  [[ $mode == cluster ]] && extra+=(--leader)
  BENCH="$BENCH" "$EB/run-bench.sh" "$ep" --label "$target" --out "$dir" --pids "$pids" \
    --only "^${id}\$" --timeout 120 "${extra[@]}" >"$dir.log" 2>&1
  tail -n +2 "$dir/results.tsv" 2>/dev/null | awk -F'\t' '{printf "   %s %s: %s req/s, p99 %s ms, server %s ms/req\n", $1, $2, $6, $10, $17}' >&2
}

run_cb_test() { # target mode rep id args endpoints pids
  local target=$1 mode=$2 rep=$3 id=$4 args=$5 ep=$6 pids=$7 base
  base="$OUT/raw/$mode/$target/r$rep/$id"
  mkdir -p "$(dirname "$base")"
  if [[ $mode == cluster ]]; then args=${args//\{L\}/--target-leader}; else args=${args//\{L\}/}; fi
  local c0 c1 m0 m1 t0 t1 rc
  c0=$(cpu_ticks "$pids"); m0=$(machine_busy); t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  timeout -k 5 $((DUR + 90)) "$CB" $args --endpoints "$ep" --json "$base.json" --no-progress \
    >"$base.txt" 2>&1
  rc=$?
  c1=$(cpu_ticks "$pids"); m1=$(machine_busy); t1=$(date +%s.%N)
  # server CPU seconds, machine CPU seconds (all cores), wall seconds, exit code
  awk -v c=$((c1 - c0)) -v m=$((m1 - m0)) -v t="$TCK" -v a="$t0" -v b="$t1" -v rc="$rc" \
    'BEGIN{printf "server_cpu_s\t%.3f\nmachine_cpu_s\t%.3f\nwall_s\t%.3f\nrc\t%d\n", c/t, m/t, b-a, rc}' >"$base.cpu"
  awk '/^Summary/{s=1; next} s && /^  [a-z]/ && $1 != "op" && $1 != "client" {print} /^  client CPU/{s=0}' \
    "$base.txt" | awk -v t="$target" -v id="$id" \
    '{printf "   %s %s %s: %s /s, p99 %s ms, errors %s\n", t, id, $1, $4, $8, $3}' >&2
  [[ $id == *put* || $id == *txn* || $id == *watch* || $id == *kube* ]] && compact "$ep"
}

# ---- main loop -------------------------------------------------------------------
START=$SECONDS
{
  echo "# capstan vs etcd comparison, $(date -u +%FT%TZ)"
  echo "# host: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
  echo "# capstan: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty'), etcd: $(etcd --version 2>/dev/null | head -1)"
  echo "# quick=$QUICK reps=$REPS duration=${DUR}s modes=$MODES suites=$SUITES only=${ONLY:-all}"
} >"$OUT/meta.txt"
cat "$OUT/meta.txt" >&2
for mode in ${MODES//,/ }; do
  log "=== $mode: starting etcd and capstan"
  start_target etcd "$mode" || exit 1
  EP_ETCD=$EP PIDS_ETCD=$PIDS
  start_target capstan "$mode" || exit 1
  EP_CAP=$EP PIDS_CAP=$PIDS
  for ((rep = 1; rep <= REPS; rep++)); do
    # A/B order alternates per repetition (and per test within it).
    n=0
    if [[ ",$SUITES," == *",etcd,"* ]]; then
      for id in "${ETCD_TESTS[@]}"; do
        [[ -n "$ONLY" && ! "$id" =~ $ONLY ]] && continue
        log "$mode rep $rep: etcd-suite $id"
        if (((rep + n) % 2)); then order="etcd capstan"; else order="capstan etcd"; fi
        for t in $order; do
          if [[ $t == etcd ]]; then run_etcd_test etcd "$mode" "$rep" "$id" "$EP_ETCD" "$PIDS_ETCD"
          else run_etcd_test capstan "$mode" "$rep" "$id" "$EP_CAP" "$PIDS_CAP"; fi
        done
        n=$((n + 1))
      done
    fi
    if [[ ",$SUITES," == *",cb,"* ]]; then
      for entry in "${CB_TESTS[@]}"; do
        id=${entry%%|*} args=${entry#*|}
        [[ -n "$ONLY" && ! "$id" =~ $ONLY ]] && continue
        log "$mode rep $rep: $id"
        if (((rep + n) % 2)); then order="etcd capstan"; else order="capstan etcd"; fi
        for t in $order; do
          if [[ $t == etcd ]]; then run_cb_test etcd "$mode" "$rep" "$id" "$args" "$EP_ETCD" "$PIDS_ETCD"
          else run_cb_test capstan "$mode" "$rep" "$id" "$args" "$EP_CAP" "$PIDS_CAP"; fi
        done
        n=$((n + 1))
      done
    fi
  done
  log "=== $mode: stopping"
  stop_target etcd "$mode"
  stop_target capstan "$mode"
  RUNNING=()
done
log "all runs done in $((SECONDS - START)) s"

python3 "$ROOT/bench/summarize.py" "$OUT" || log "summarize.py failed"
if ((PLOT)); then
  PY=python3
  python3 -c 'import matplotlib' 2>/dev/null || PY=/usr/bin/python3
  "$PY" "$ROOT/bench/plot.py" "$OUT/results.json" "$OUT" || log "plot.py failed"
fi
log "results: $OUT/results.md  $OUT/results.tsv  $OUT/results.json"
cat "$OUT/results.md"
