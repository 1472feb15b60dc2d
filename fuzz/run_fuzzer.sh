#!/bin/sh
# run_fuzzer.sh BINARY TARGET MAX_LEN
#
# Replays fuzz/corpus/TARGET and fuzz/regressions/TARGET, then fuzzes for
# $FUZZ_SECONDS seconds (default 10). Fails on any crash, leak, sanitizer
# report, slow input (over 10 s) or out-of-memory (over 1 GiB); the input that
# did it is kept under $FUZZ_ARTIFACT_DIR (default /tmp/capstan-fuzz-artifacts)
# and its path printed. New corpus entries go to a scratch directory unless
# $FUZZ_CORPUS_DIR names one to keep them in (TARGET/ below it).
# Exit 77 (ctest: skipped) when BINARY is not built.
set -u
bin=$1 target=$2 max_len=$3
seconds=${FUZZ_SECONDS:-10}
src=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$bin" ]; then
  echo "$bin is not built (make fuzz-build); skipping"
  exit 77
fi
scratch_root=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch_root=/dev/shm
scratch=$(mktemp -d "$scratch_root/capstan-fuzz-$target-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
artifacts=${FUZZ_ARTIFACT_DIR:-/tmp/capstan-fuzz-artifacts}/$target
mkdir -p "$artifacts" "$scratch/tmp"
if [ -n "${FUZZ_CORPUS_DIR:-}" ]; then
  corpus=$FUZZ_CORPUS_DIR/$target
else
  corpus=$scratch/corpus
fi
mkdir -p "$corpus"
set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -max_len="$max_len" \
  -print_final_stats=1 -error_exitcode=1 -artifact_prefix="$artifacts/"
[ -f "$src/dict/$target.dict" ] && set -- "$@" -dict="$src/dict/$target.dict"
set -- "$@" "$corpus"
for d in "$src/corpus/$target" "$src/regressions/$target"; do
  [ -d "$d" ] && set -- "$@" "$d"
done
echo "$bin $*"
# The targets' scratch files go under $scratch (TempDir honours TMPDIR).
TMPDIR=$scratch/tmp \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$bin" "$@" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  echo "fuzz.$target FAILED (exit $rc); inputs that did it:"
  ls -1 "$artifacts"/* 2>/dev/null
fi
exit $rc
