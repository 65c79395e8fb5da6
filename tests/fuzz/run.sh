#!/usr/bin/env bash
# Builds the libFuzzer targets with the `fuzz` preset (clang) and runs each for SECONDS seconds
# on its seed corpus (tests/fuzz/corpus/<target>/). New interesting inputs go to a scratch copy,
# never into the committed corpus. Exit status: non-zero when a target crashes.
set -euo pipefail
seconds="${1:-30}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzz_safetensors_header fuzz_lfs_pointer
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for target in safetensors_header lfs_pointer; do
  mkdir -p "$work/$target"
  cp -r "tests/fuzz/corpus/$target/." "$work/$target/"
  echo "== fuzz_$target for ${seconds}s"
  if ! "build/fuzz/bin/fuzz_$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
       -artifact_prefix="$work/" "$work/$target" 2>"$work/$target.log"; then
    status=1
    tail -n 40 "$work/$target.log"
    mkdir -p build/fuzz/artifacts && cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* build/fuzz/artifacts/ 2>/dev/null || true
    echo "fuzz_$target FAILED (artifacts in build/fuzz/artifacts)"
  else
    grep -E "^Done|#[0-9]+.*DONE" "$work/$target.log" | tail -n 1 || true
  fi
done
exit "$status"
