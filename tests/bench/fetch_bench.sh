#!/usr/bin/env bash
# Fetch benchmark: sd35-setup fetch vs. the real git-lfs and vs. curl + openssl sha256, on the local
# test hub (tests/tools/lfs_hub.py). One command from the repo root after a release build:
#
#   tests/bench/fetch_bench.sh                 # 2 x 1 GiB LFS objects
#   FETCH_BENCH_MIB=64 tests/bench/fetch_bench.sh   # quick run
#
# Three contenders, run FETCH_BENCH_REPS times (default 3) interleaved (the order rotates each
# repetition, so page-cache and CPU-frequency drift hit all of them alike):
#   git      GIT_LFS_SKIP_SMUDGE=1 git clone + git lfs pull
#   curl     curl -o + openssl dgst -sha256 of the same objects, one after the other
#   sd35     sd35-setup --cache DIR fetch --repo URL --revision main
# Prints each repetition, then the median wall time, throughput, peak RSS and disk bytes per model
# byte of each, and the median of the per-repetition ratios sd35/curl and sd35/git. Last, a crash
# test: kill -9 of sd35-setup at 90 % of the bytes, then the same command again; it reports how much
# of what the first run had received was downloaded again.
# Env: FETCH_BENCH_MIB (object size, default 1024), FETCH_BENCH_COUNT (objects, default 2),
# FETCH_BENCH_REPS (default 3), FETCH_BENCH_RESUME=0 skips the crash test, FETCH_BENCH_SD35_ARGS
# (more fetch flags, e.g. "--jobs 2"), SD35_BIN (default
# build/release/bin/sd35-setup), FETCH_BENCH_KEEP=1 keeps the work dir. Everything runs on
# 127.0.0.1/127.0.0.2; nothing leaves the machine.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS=$SRC/tests/tools
BIN=${SD35_BIN:-$SRC/build/release/bin/sd35-setup}
MIB=${FETCH_BENCH_MIB:-1024}
COUNT=${FETCH_BENCH_COUNT:-2}
REPS=${FETCH_BENCH_REPS:-3}
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
    /usr/bin/time -f '%e %M %U %S' -o "$WORK/$name.time" "$@"
  else  # no GNU time (package "time"): wall clock only
    local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f 0\n", b - a}' >"$WORK/$name.time"
  fi
}
wall() { awk '{print $1}' "$WORK/$1.time"; }
cpu() { awk '{printf "%.2f", $3 + $4}' "$WORK/$1.time"; }  # user + sys seconds (0 without GNU time)
rss_mib() { awk '{printf "%.1f", $2/1024}' "$WORK/$1.time"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", (b > 0 ? a / b : 0)}'; }
disk_ratio() { div "$(du -sb "$1" | cut -f1)" "$MODEL_BYTES"; }
mibps() { div "$((MODEL_BYTES >> 20))" "$1"; }
declare -A WALL RSS DISK

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END{if (NR%2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'; }
declare -A ALL_WALL ALL_RSS ALL_DISK
HAVE_SD35=0
if [[ -x $BIN ]] && "$BIN" --help 2>&1 | grep -qE '^ +fetch\b'; then HAVE_SD35=1; fi
if ldd "$BIN" 2>/dev/null | grep -q 'libtorch'; then
  echo "fetch_bench: note: $BIN links libtorch; its peak RSS and wall time include loading it" \
       "(build with -DSD35_WITH_TORCH=OFF to measure the fetch engine alone)"
fi

# curl's job list: one batch request now (hrefs stay valid for the hub's href_ttl_s, 1 h).
python3 - "$WORK/repo.json" "$REPO_URL" >"$WORK/curl-jobs.sh" <<'EOF2'
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
    print("curl -sSf --noproxy '*' %s -o %s '%s'" % (hdr, o["oid"], a["href"]))
    print("test \"$(openssl dgst -sha256 -r %s | cut -c1-64)\" = %s" % (o["oid"], o["oid"]))
EOF2

# run_<tool> REP: one measured run into $WORK/<tool>-REP.time, then its disk use; cleans up after.
run_git() {
  local d=$WORK/git-$1
  measure "git-$1" bash -c 'GIT_LFS_SKIP_SMUDGE=1 git clone -q "$1" "$2" && cd "$2" && git lfs pull' \
    _ "$REPO_URL" "$d"
  ALL_DISK[git]+="$(disk_ratio "$d") "; rm -rf "$d"
}
run_curl() {
  local d=$WORK/curl-$1
  mkdir -p "$d"
  (cd "$d" && measure "curl-$1" bash "$WORK/curl-jobs.sh")
  ALL_DISK[curl]+="$(disk_ratio "$d") "; rm -rf "$d"
}
run_sd35() {
  local d=$WORK/sd35-$1
  # shellcheck disable=SC2086  # FETCH_BENCH_SD35_ARGS: extra fetch flags, word-split on purpose
  measure "sd35-$1" "$BIN" --json --cache "$d" fetch --repo "$REPO_URL" --revision main \
    ${FETCH_BENCH_SD35_ARGS:-} >"$WORK/sd35-$1.json" 2>"$WORK/sd35-$1.log" \
    || { cat "$WORK/sd35-$1.json" "$WORK/sd35-$1.log" >&2; exit 1; }
  ALL_DISK[sd35]+="$(disk_ratio "$d/models--bench--model") "; rm -rf "$d"
}
# sd35's own phase_seconds (git, transfer, of which after the last byte, link) of one run.
sd35_phases() {
  python3 - "$WORK/sd35-$1.json" <<'EOF2'
import json, sys
p = json.load(open(sys.argv[1])).get("phase_seconds", {})
print(" ".join(f"{k} {v:.2f}" for k, v in p.items()))
EOF2
}

TOOLS_RUN=(git curl)
(( HAVE_SD35 )) && TOOLS_RUN+=(sd35)
declare -A RATIO
for rep in $(seq "$REPS"); do
  n=${#TOOLS_RUN[@]}
  line="rep $rep:"
  for k in $(seq 0 $((n - 1))); do  # rotate the order each repetition
    t=${TOOLS_RUN[$(( (k + rep - 1) % n ))]}
    sync
    "run_$t" "$rep"
    ALL_WALL[$t]+="$(wall "$t-$rep") "; ALL_RSS[$t]+="$(rss_mib "$t-$rep") "
    line+=" $t $(wall "$t-$rep") s (cpu $(cpu "$t-$rep") s)"
  done
  if (( HAVE_SD35 )); then
    RATIO[curl]+="$(div "$(wall "sd35-$rep")" "$(wall "curl-$rep")") "
    RATIO[git]+="$(div "$(wall "sd35-$rep")" "$(wall "git-$rep")") "
    line+="  sd35/curl $(div "$(wall "sd35-$rep")" "$(wall "curl-$rep")")"
    line+="  sd35/git $(div "$(wall "sd35-$rep")" "$(wall "git-$rep")")"
  fi
  echo "fetch_bench: $line"
  (( HAVE_SD35 )) && echo "fetch_bench:   sd35 phases (s): $(sd35_phases "$rep")"
done

# --- crash test: kill -9 at 90 %, then resume ------------------------------------------------------
RESUME_LINE=
if (( HAVE_SD35 )) && [[ ${FETCH_BENCH_RESUME:-1} == 1 ]]; then
  d=$WORK/sd35-crash
  blobs=$d/models--bench--model/blobs
  "$BIN" --cache "$d" fetch --repo "$REPO_URL" --revision main >"$WORK/crash1.log" 2>&1 &
  pid=$!
  target=$((MODEL_BYTES * 9 / 10))
  for _ in $(seq 6000); do  # <= 5 min
    got=$(find "$blobs" -type f ! -name '*.json' -printf '%b\n' 2>/dev/null | awk '{s+=$1*512} END{print s+0}') || true
    (( got >= target )) && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # What the first run had received: the blocks of its partial files (and any finished blob).
  had=$(find "$blobs" -type f ! -name '*.json' -printf '%b\n' 2>/dev/null | awk '{s+=$1*512} END{print s+0}') || true
  "$BIN" --cache "$d" --json fetch --repo "$REPO_URL" --revision main >"$WORK/crash2.json" \
    2>"$WORK/crash2.log" || { cat "$WORK/crash1.log" "$WORK/crash2.log" >&2; exit 1; }
  again=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["bytes_downloaded"])' "$WORK/crash2.json")
  redo=$(( again - (MODEL_BYTES - had) )); (( redo < 0 )) && redo=0
  RESUME_LINE="after kill -9 at $(div $((had * 100)) "$MODEL_BYTES")% of the bytes: second run downloaded $again bytes, $redo of the $had the first had received ($(div $((redo * 100)) "$MODEL_BYTES")% of the model)"
  rm -rf "$d"
fi

# --- report ---------------------------------------------------------------------------------------
echo
echo "fetch_bench: $COUNT x $MIB MiB LFS objects ($MODEL_BYTES bytes) over loopback, $(nproc) cores, medians of $REPS interleaved runs"
printf '%-6s %9s %9s %13s %18s   %s\n' tool wall_s MiB/s peak_rss_MiB disk_bytes/model "walls"
for t in "${TOOLS_RUN[@]}"; do
  w=$(echo "${ALL_WALL[$t]}" | median)
  printf '%-6s %9s %9s %13s %18s   %s\n' "$t" "$w" "$(mibps "$w")" "$(echo "${ALL_RSS[$t]}" | median)" \
    "$(echo "${ALL_DISK[$t]}" | median)" "${ALL_WALL[$t]}"
done
if (( HAVE_SD35 )); then
  echo "ratio sd35/curl+openssl wall: median $(echo "${RATIO[curl]}" | median) (per rep: ${RATIO[curl]})"
  echo "ratio sd35/git clone+lfs pull wall: median $(echo "${RATIO[git]}" | median) (per rep: ${RATIO[git]})"
  [[ -n $RESUME_LINE ]] && echo "$RESUME_LINE"
else
  echo "fetch_bench: $BIN has no 'fetch' command; reporting the peers only"
fi
