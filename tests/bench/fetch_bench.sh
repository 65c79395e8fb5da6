#!/usr/bin/env bash
# Fetch benchmark: sd35-setup fetch vs. the real git-lfs and vs. curl + openssl sha256, on the local
# test hub (tests/tools/lfs_hub.py). One command from the repo root after a release build:
#
#   tests/bench/fetch_bench.sh                 # 2 x 1 GiB LFS objects
#   FETCH_BENCH_MIB=64 tests/bench/fetch_bench.sh   # quick run
#
# Prints wall time, throughput, peak RSS and disk bytes per model byte for each tool, and the ratios of
# sd35-setup against both peers. Env: FETCH_BENCH_MIB (object size, default 1024), FETCH_BENCH_COUNT
# (objects, default 2), SD35_BIN (default build/release/bin/sd35-setup), FETCH_BENCH_KEEP=1 keeps the
# work dir. Everything runs on 127.0.0.1/127.0.0.2; nothing leaves the machine.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS=$SRC/tests/tools
BIN=${SD35_BIN:-$SRC/build/release/bin/sd35-setup}
MIB=${FETCH_BENCH_MIB:-1024}
COUNT=${FETCH_BENCH_COUNT:-2}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fetch-bench-XXXXXX")
HUB_PID=

cleanup() {
  if [[ -n $HUB_PID ]]; then
    kill -TERM "$HUB_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
  fi
  [[ ${FETCH_BENCH_KEEP:-0} == 1 ]] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "fetch_bench: $1 is required" >&2; exit 2; }; }
for t in git git-lfs curl openssl python3 du; do need "$t"; done
free_kib=$(df -Pk "$WORK" | awk 'NR==2{print $4}')
need_kib=$(( MIB * 1024 * COUNT * 6 ))  # hub copy + git-lfs (2x) + curl + sd35 cache + slack
if (( free_kib < need_kib )); then
  echo "fetch_bench: need ~$((need_kib / 1048576)) GiB free in $WORK, have $((free_kib / 1048576)) GiB" >&2
  exit 2
fi

# --- isolated git: no user config, no prompts, no proxies ---------------------------------------
export HOME=$WORK/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 NO_PROXY=127.0.0.1,127.0.0.2
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy GIT_ASKPASS SSH_ASKPASS
mkdir -p "$HOME"
git lfs install --skip-repo >/dev/null

# --- hub + repo ---------------------------------------------------------------------------------
python3 "$TOOLS/lfs_hub.py" --root "$WORK/hub" --port-file "$WORK/ports.json" >"$WORK/hub.log" 2>&1 &
HUB_PID=$!
for _ in $(seq 200); do [[ -s $WORK/ports.json ]] && break; sleep 0.1; done
[[ -s $WORK/ports.json ]] || { echo "fetch_bench: hub did not start" >&2; cat "$WORK/hub.log" >&2; exit 1; }
GIT_URL=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["git_url"])' "$WORK/ports.json")

files=""
for i in $(seq "$COUNT"); do
  files+="{\"path\":\"weights/part-$i.safetensors\",\"lfs\":true,\"size\":$((MIB << 20)),\"seed\":$i},"
done
spec="{\"org\":\"bench\",\"name\":\"model\",\"files\":[$files{\"path\":\"README.md\",\"content\":\"bench\\n\"},
  {\"path\":\"model_index.json\",\"content\":\"{}\\n\"}]}"
echo "fetch_bench: building repo with $COUNT x $MIB MiB LFS objects ..."
echo "$spec" | python3 "$TOOLS/make_test_repo.py" --root "$WORK/hub" --spec - >"$WORK/repo.json"
REPO_URL=$GIT_URL/bench/model
MODEL_BYTES=$((COUNT * (MIB << 20)))

# --- measuring helpers --------------------------------------------------------------------------
# measure NAME CMD...: wall seconds and peak RSS (KiB) of CMD (and its children) into $WORK/NAME.time
measure() {
  local name=$1; shift
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f '%e %M' -o "$WORK/$name.time" "$@"
  else  # no GNU time (package "time"): wall clock only
    local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f 0\n", b - a}' >"$WORK/$name.time"
  fi
}
wall() { awk '{print $1}' "$WORK/$1.time"; }
rss_mib() { awk '{printf "%.1f", $2/1024}' "$WORK/$1.time"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", (b > 0 ? a / b : 0)}'; }
disk_ratio() { div "$(du -sb "$1" | cut -f1)" "$MODEL_BYTES"; }
mibps() { div "$((MODEL_BYTES >> 20))" "$1"; }
declare -A WALL RSS DISK

# --- peer 1: git-lfs (clone without smudge, then time `git lfs pull`) ---------------------------
GIT_LFS_SKIP_SMUDGE=1 git clone -q "$REPO_URL" "$WORK/gitlfs"
sync
(cd "$WORK/gitlfs" && measure gitlfs git lfs pull)
WALL[git-lfs]=$(wall gitlfs); RSS[git-lfs]=$(rss_mib gitlfs); DISK[git-lfs]=$(disk_ratio "$WORK/gitlfs")
rm -rf "$WORK/gitlfs"

# --- peer 2: curl -o + openssl dgst -sha256, one object after the other -------------------------
mkdir -p "$WORK/curl"
python3 - "$WORK/repo.json" "$REPO_URL" >"$WORK/curl/jobs.sh" <<'EOF'
import json, sys, urllib.request
repo, url = json.load(open(sys.argv[1])), sys.argv[2]
objs = [{"oid": f["oid"], "size": f["size"]} for f in repo["files"] if f["lfs"]]
req = urllib.request.Request(url + ".git/info/lfs/objects/batch", method="POST",
      data=json.dumps({"operation": "download", "transfers": ["basic"], "objects": objs}).encode(),
      headers={"Content-Type": "application/vnd.git-lfs+json", "Accept": "application/vnd.git-lfs+json"})
doc = json.load(urllib.request.urlopen(req, timeout=30))
print("set -e")
for o in doc["objects"]:
    a = o["actions"]["download"]
    hdr = " ".join("-H '%s: %s'" % kv for kv in a["header"].items())
    print("curl -sSf %s -o %s '%s'" % (hdr, o["oid"], a["href"]))
    print("test \"$(openssl dgst -sha256 -r %s | cut -c1-64)\" = %s" % (o["oid"], o["oid"]))
EOF
(cd "$WORK/curl" && measure curl bash jobs.sh)
rm -f "$WORK/curl/jobs.sh"
WALL[curl]=$(wall curl); RSS[curl]=$(rss_mib curl); DISK[curl]=$(disk_ratio "$WORK/curl")
rm -rf "$WORK/curl"

# --- sd35-setup fetch -----------------------------------------------------------------------------
# >>> SD35 FETCH: the fetch-client helper owns this block (command line and cache layout). <<<
SD35_DONE=0
if [[ -x $BIN ]] && "$BIN" --help 2>&1 | grep -qE '^ +fetch\b'; then
  if measure sd35 "$BIN" --cache "$WORK/cache" fetch --repo "$REPO_URL" --revision main; then
    WALL[sd35]=$(wall sd35); RSS[sd35]=$(rss_mib sd35); DISK[sd35]=$(disk_ratio "$WORK/cache")
    SD35_DONE=1
    # sd35-setup loads libtorch only for `smoke` (a plugin); a binary that links it anyway pays RSS
    # and start-up time that have nothing to do with fetching. Say so, so the RSS column is read right.
    if ldd "$BIN" 2>/dev/null | grep -q 'libtorch'; then
      echo "fetch_bench: note: $BIN links libtorch; its peak RSS and wall time include loading it" \
           "(build with -DSD35_WITH_TORCH=OFF to measure the fetch engine alone)"
    fi
  else
    echo "fetch_bench: sd35-setup fetch FAILED (exit $?); reporting the peers only" >&2
  fi
else
  echo "fetch_bench: $BIN has no 'fetch' command yet; reporting the peers only"
fi
# <<< SD35 FETCH end >>>

# --- report ---------------------------------------------------------------------------------------
echo
echo "fetch_bench: $COUNT x $MIB MiB LFS objects ($MODEL_BYTES bytes) over loopback, $(nproc) cores"
printf '%-10s %9s %9s %13s %18s\n' tool wall_s MiB/s peak_rss_MiB disk_bytes/model
for t in git-lfs curl sd35; do
  [[ -n ${WALL[$t]:-} ]] || continue
  printf '%-10s %9s %9s %13s %18s\n' "$t" "${WALL[$t]}" "$(mibps "${WALL[$t]}")" "${RSS[$t]}" "${DISK[$t]}"
done
if (( SD35_DONE )); then
  echo "ratio sd35/git-lfs wall: $(div "${WALL[sd35]}" "${WALL[git-lfs]}") (<1 = sd35 faster)"
  echo "ratio sd35/curl+sha256 wall: $(div "${WALL[sd35]}" "${WALL[curl]}")"
  echo "ratio sd35/git-lfs disk bytes: $(div "${DISK[sd35]}" "${DISK[git-lfs]}")"
  echo "ratio sd35/git-lfs peak RSS: $(div "${RSS[sd35]}" "${RSS[git-lfs]}")"
fi
