#!/usr/bin/env bash
# Builds the libFuzzer targets with the `fuzz` preset (clang) and runs each for SECONDS seconds
# (per target, not in all) on its seed corpus (tests/fuzz/corpus/<target>/), with its dictionary
# (tests/fuzz/<target>.dict) when there is one. New interesting inputs go to a scratch copy, never
# into the committed corpus. Exit status: non-zero when a target crashes, leaks or times out.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 20 s; all targets)
#
# CI runs `tests/fuzz/run.sh 20`: 10 targets x 20 s = ~3.5 min of fuzzing after the build.
# Each run prints "fuzz_<target>: <executions> execs in <s> s"; FUZZ_JOBS=N runs N targets at once.
set -euo pipefail
seconds="${1:-20}"
shift || true
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in tests/fuzz/fuzz_*.cpp; do
    name="$(basename "$f" .cpp)"
    targets+=("${name#fuzz_}")
  done
fi
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]/#/fuzz_}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# run_one TARGET: fuzzes one target; its log is $work/TARGET.log, its verdict $work/TARGET.rc.
run_one() {
  local target="$1" dict=() rc=0
  mkdir -p "$work/$target" "$work/$target.artifacts"
  if [ -d "tests/fuzz/corpus/$target" ]; then cp -r "tests/fuzz/corpus/$target/." "$work/$target/"; fi
  if [ -f "tests/fuzz/$target.dict" ]; then dict=("-dict=tests/fuzz/$target.dict"); fi
  "build/fuzz/bin/fuzz_$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 "${dict[@]}" -artifact_prefix="$work/$target.artifacts/" \
    "$work/$target" >"$work/$target.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$target.rc"
}

jobs="${FUZZ_JOBS:-1}"
for target in "${targets[@]}"; do
  echo "== fuzz_$target for ${seconds}s"
  run_one "$target" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
wait

status=0
for target in "${targets[@]}"; do
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log" | tail -n 1)"
  secs="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$target.log" | tail -n 1)"
  if [ "$(cat "$work/$target.rc")" != 0 ]; then
    status=1
    tail -n 40 "$work/$target.log"
    mkdir -p build/fuzz/artifacts
    cp "$work/$target.artifacts"/* build/fuzz/artifacts/ 2>/dev/null || true
    echo "fuzz_$target FAILED (artifacts in build/fuzz/artifacts)"
  else
    echo "fuzz_$target: ${execs:-?} execs (${secs:-?}/s), no crash, leak or timeout"
  fi
done
exit "$status"
