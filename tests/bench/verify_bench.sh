#!/usr/bin/env bash
# verify throughput vs the peer tools, one command:
#   tests/bench/verify_bench.sh [FILE_MIB=512] [FILES=4]
# Creates FILES random files of FILE_MIB MiB, then times, in the same run:
#   openssl dgst -sha256 file by file | sha256sum over all files | sd35-setup verify --full
# and the warm re-verify (state file: nothing rehashed). Page cache is dropped before each cold
# measurement when the kernel lets us (root, not in a restricted container); otherwise every tool
# reads from a warm page cache and the script says so.
set -euo pipefail
mib="${1:-512}"
files="${2:-4}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${SD35_BIN:-$root/build/release/bin/sd35-setup}"
[[ -x "$bin" ]] || { echo "build sd35-setup first: cmake --build --preset release --target sd35-setup" >&2; exit 2; }
work="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$work/data"
trap 'rm -rf "$work"' EXIT

echo "creating $files x $mib MiB in $work ..."
for i in $(seq 0 $((files - 1))); do
  head -c "$((mib * 1024 * 1024))" /dev/urandom >"$work/data/f$i.bin"
done
sync

drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }
if drop; then cache_mode="cold (page cache dropped before each tool)"; else cache_mode="WARM page cache (drop_caches not permitted)"; fi
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
elapsed() { calc "$2 - $1"; }

# Manifest naming the files with their sha256 (computed here, not timed).
python3 - "$root/manifests/sd35-large-fp8.json" "$work" "$files" <<'PY'
import hashlib, json, os, sys
src, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = json.load(open(src))
files = []
for i in range(n):
    p = os.path.join(work, "data", f"f{i}.bin")
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    files.append({"path": f"f{i}.bin", "size": os.path.getsize(p), "sha256": h.hexdigest()})
m["model"]["files"] = files
m["model"].pop("extra_files", None)  # the tokenizers are not on this hub / not timed here
m["requirements"]["disk_free_bytes"] = 0
json.dump(m, open(os.path.join(work, "manifest.json"), "w"))
PY

# One round: each tool over all files; "cold" drops the page cache before each tool.
round() {
  local mode=$1
  [[ "$mode" == cold ]] && drop
  local t0 t1
  t0=$(now); for f in "$work"/data/*.bin; do openssl dgst -sha256 "$f" >/dev/null; done; t1=$(now)
  t_openssl=$(elapsed "$t0" "$t1")
  [[ "$mode" == cold ]] && drop
  t0=$(now); sha256sum "$work"/data/*.bin >/dev/null; t1=$(now)
  t_sha256sum=$(elapsed "$t0" "$t1")
  [[ "$mode" == cold ]] && drop
  t0=$(now)
  "$bin" --json --manifest "$work/manifest.json" verify --path "$work/data" --full >"$work/verify.out" 2>/dev/null || {
    cat "$work/verify.out"; echo "verify failed" >&2; exit 1; }
  t1=$(now)
  t_verify=$(elapsed "$t0" "$t1")
  t_inproc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["content"]["seconds"])' "$work/verify.out")
}

cores=$(nproc)
par=$(( cores < files ? cores : files ))
total_mib=$((mib * files))
rate() { calc "$total_mib / $1"; }
report() {
  echo "  [$1]"
  printf "  %-36s %8.3f s  %10s MiB/s\n" "openssl dgst -sha256 (file by file)" "$t_openssl" "$(rate "$t_openssl")"
  printf "  %-36s %8.3f s  %10s MiB/s\n" "sha256sum (all files)" "$t_sha256sum" "$(rate "$t_sha256sum")"
  printf "  %-36s %8.3f s  %10s MiB/s\n" "sd35-setup verify --full" "$t_verify" "$(rate "$t_verify")"
  printf "  %-36s %8.3f s  %10s MiB/s\n" "  of which hashing stage (in-process)" "$t_inproc" "$(rate "$t_inproc")"
  echo "    ratio verify/openssl: $(calc "$t_openssl / $t_verify")x (target >= $(calc "0.9 * $par")x =" \
       "0.9 x min(cores, files)); verify/sha256sum: $(calc "$t_sha256sum / $t_verify")x;" \
       "hashing stage alone vs openssl: $(calc "$t_openssl / $t_inproc")x"
}
echo
echo "verify benchmark: $files x $mib MiB, $cores cores"
if [[ "$cache_mode" == cold* ]]; then
  round cold
  report "cold: page cache dropped before each tool"
else
  echo "  (cold round skipped: drop_caches not permitted)"
fi
for f in "$work"/data/*.bin; do cat "$f" >/dev/null; done
round warm
report "warm page cache (hashing speed)"
best_warm=""
for _ in 1 2 3 4 5; do
  t0=$(now); "$bin" -q --manifest "$work/manifest.json" verify --path "$work/data" >/dev/null 2>&1; t1=$(now)
  t=$(elapsed "$t0" "$t1")
  if [[ -z "$best_warm" ]] || [[ "$(calc "($t < $best_warm) ? 1 : 0")" == "1.000" ]]; then best_warm=$t; fi
done

# Process start-up alone: separates it from the verify work.
best_start=""
for _ in 1 2 3 4 5; do
  t0=$(now); "$bin" --version >/dev/null; t1=$(now)
  t=$(elapsed "$t0" "$t1")
  if [[ -z "$best_start" ]] || [[ "$(calc "($t < $best_start) ? 1 : 0")" == "1.000" ]]; then best_start=$t; fi
done
warm_doc_s=$("$bin" --json --manifest "$work/manifest.json" verify --path "$work/data" 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["content"]["seconds"])')

printf "  %-36s %8.3f s\n" "sd35-setup verify (warm, best of 5)" "$best_warm"
echo "  warm re-verify: $(calc "$best_warm * 1000") ms wall, of which process start-up (sd35-setup --version)" \
     "$(calc "$best_start * 1000") ms; content stage in-process $(calc "$warm_doc_s * 1000") ms (target <= 50 ms)"
