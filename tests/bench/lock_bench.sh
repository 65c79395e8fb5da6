#!/usr/bin/env bash
# lock_bench.sh — one command, two numbers:
#   1. `sd35-setup resolve` offline (fake H100 host file) vs. the peer `python3 -m pip --version`
#      (the floor of any pip-based resolver invocation: interpreter + pip import);
# plus the same two operations in-process (lock_inproc_bench), to separate the decision itself
# from process start-up;
#   2. `sd35-setup verify --lock` on an unchanged 4 GiB model (stat fast path) vs. the peer
#      `sha256sum` of the same file (what a gate without a fast path does).
# Usage: tests/bench/lock_bench.sh [path/to/sd35-setup]   (default build/release/bin/sd35-setup)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-${SD35_BIN:-$here/build/release/bin/sd35-setup}}"
data="$here/tests/data"
work="$(mktemp -d "${TMPDIR:-/tmp}/sd35-lock-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
size_gib="${LOCK_BENCH_GIB:-4}"

now_ns() { date +%s%N; }
# median of N runs of a command, in milliseconds (3 decimals)
median_ms() {
  local n="$1"; shift
  local t=()
  for _ in $(seq "$n"); do
    local a b; a=$(now_ns); "$@" >/dev/null 2>&1 || true; b=$(now_ns)
    t+=($(( (b - a) / 1000 )))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{v[NR]=$1} END {m=v[int((NR+1)/2)]; printf "%.3f", m/1000}'
}

# --- resolve, offline ---------------------------------------------------------------------------
host="$data/hosts/resolve-h100-driver535.json"
resolve_ms=$(median_ms 15 "$bin" --json resolve --host "$host")
pip_ms=$(median_ms 5 python3 -m pip --version)
startup_ms=$(median_ms 5 "$bin" --version)

# --- verify --lock on an unchanged multi-GB model ------------------------------------------------
commit=0123456789abcdef0123456789abcdef01234567
repo="$work/cache/models--bench--model"
mkdir -p "$repo/blobs" "$repo/refs" "$repo/snapshots/$commit"
truncate -s "${size_gib}G" "$work/model.bin"          # sparse: no disk space needed
a=$(now_ns); sha=$(sha256sum "$work/model.bin" | cut -d' ' -f1); b=$(now_ns)
sha256sum_ms=$(awk -v d=$(( (b - a) / 1000 )) 'BEGIN {printf "%.3f", d/1000}')
mv "$work/model.bin" "$repo/blobs/$sha"
printf '%s' "$commit" > "$repo/refs/main"
ln -s "../../blobs/$sha" "$repo/snapshots/$commit/model.safetensors"
cat > "$work/manifest.json" <<JSON
{"schema_version":1,"name":"bench","model":{"repo":"bench/model","revision":"main","format":"sai-single-file",
 "architecture":"sd35-large","files":[{"path":"model.safetensors","size":$((size_gib * 1073741824)),"sha256":"$sha"}]},
 "environment":{"python":">=3.8","candidates":[{"torch":"2.9.1","cuda":["cu128"]}]},"requirements":{},"smoke":{}}
JSON
cat > "$work/resolve.json" <<JSON
{"selected":{"torch":"2.9.1","cuda":"cu128","index_url":"https://download.pytorch.org/whl/cu128","python":"3.11.7",
 "packages":[{"name":"torch","version":"2.9.1+cu128","file":"torch.whl","url":"https://download.pytorch.org/whl/cu128/torch.whl",
 "sha256":"$(printf 'a%.0s' $(seq 64))","index_url":"https://download.pytorch.org/whl/cu128"}]}}
JSON
common=(--manifest "$work/manifest.json" --cache "$work/cache")
"$bin" "${common[@]}" lock --from "$work/resolve.json" --host "$host" --out "$work/sd35.lock.json" >/dev/null
a=$(now_ns); "$bin" "${common[@]}" verify --lock "$work/sd35.lock.json" --host "$host" >/dev/null; b=$(now_ns)
cold_ms=$(awk -v d=$(( (b - a) / 1000 )) 'BEGIN {printf "%.3f", d/1000}')
warm_ms=$(median_ms 15 "$bin" "${common[@]}" verify --lock "$work/sd35.lock.json" --host "$host")

inproc="$(dirname "$bin")/lock_inproc_bench"
[ -x "$inproc" ] || inproc="$here/build/release/tests/bench/lock_inproc_bench"
if [ -x "$inproc" ]; then
  "$inproc" "$host" "$work/manifest.json" "$work/cache" "$work/sd35.lock.json"
else
  echo "(lock_inproc_bench not built: cmake --build --preset release --target lock_inproc_bench)"
fi
echo "sd35-setup --version (process start-up alone): ${startup_ms} ms median of 5"
echo "resolve CLI (offline, H100 host file): ${resolve_ms} ms median of 15   [target <= 50 ms]"
echo "  peer python3 -m pip --version:    ${pip_ms} ms   ratio sd35/peer = $(awk -v a="$resolve_ms" -v b="$pip_ms" 'BEGIN {printf "%.3f", a/b}')"
echo "verify --lock CLI, unchanged ${size_gib} GiB model: ${warm_ms} ms median of 15 (first run, hashing: ${cold_ms} ms)   [target <= 200 ms]"
echo "  peer sha256sum of the file:       ${sha256sum_ms} ms   ratio sd35/peer = $(awk -v a="$warm_ms" -v b="$sha256sum_ms" 'BEGIN {printf "%.4f", a/b}')"
