#!/usr/bin/env bash
# On the GPU machine (Ubuntu 24.04, NVMe, 16 cores, no network): (1) README command 1's build
# part, cold, on 2 cores (taskset -c 0,1, -j2, no ccache) — the tool preset's targets with the
# Debian packages carried in .gpucarry/debs — then `first-run`; (2) tests/bench/fetch_bench.sh
# (2 x 1 GiB from the loopback hub: sd35-setup fetch vs curl + openssl vs git clone + git lfs pull)
# with git-lfs from .gpucarry/debs-bench (apt-get download git-lfs, here).
#
#   run(command="OUT=$OUT bash tests/tools/gpu_fetch_bench.sh", carry=[".gpucarry"])
#
# Env: OUT (results), FETCH_BENCH_REPS (default 3), SKIP_BUILD_TIMING=1 (build with all cores).
set -u
set -o pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$SRC" || exit 1
: "${OUT:?set OUT}"
mkdir -p "$OUT"
CARRY=${GPUCARRY:-$SRC/.gpucarry}
P=$SRC/build/gpu-deps
LIBDIR=$P/usr/lib/x86_64-linux-gnu
rm -rf "$P" && mkdir -p "$P"
for d in "$CARRY"/debs/*.deb "$CARRY"/debs-bench/*.deb; do dpkg -x "$d" "$P"; done
# shellcheck source=tests/tools/gpu_deps_fix.sh
. tests/tools/gpu_deps_fix.sh && gpu_deps_fix "$P"
PKGCONF=$(command -v pkg-config || echo "$P/usr/bin/pkgconf")
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig:$P/usr/share/pkgconfig
export PATH=$P/usr/bin:$PATH   # git-lfs
git lfs version | tee "$OUT/git-lfs.txt"

cores=(taskset -c "0,1")
jobs=2
[[ ${SKIP_BUILD_TIMING:-0} == 1 ]] && { cores=(); jobs=$(nproc); }
rm -rf build/gpu-tool
t0=$(date +%s.%N)
LD_LIBRARY_PATH=$LIBDIR CCACHE_DISABLE=1 "${cores[@]}" cmake -S . -B build/gpu-tool -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DSD35_BUILD_TESTS=OFF -DSD35_BUILD_BENCH=OFF -DSD35_WITH_TORCH=OFF \
  -DCMAKE_PREFIX_PATH="$P/usr" -DPKG_CONFIG_EXECUTABLE="$PKGCONF" -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
  "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags -Wl,-rpath,$LIBDIR -Wl,-rpath-link,$LIBDIR" \
  > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
t1=$(date +%s.%N)
LD_LIBRARY_PATH=$LIBDIR CCACHE_DISABLE=1 "${cores[@]}" cmake --build build/gpu-tool -j"$jobs" \
  > "$OUT/build.log" 2>&1 || { grep -E "error" "$OUT/build.log" | head; exit 1; }
t2=$(date +%s.%N)
BIN=$SRC/build/gpu-tool/bin/sd35-setup
HOME=$SRC/build/gpu-home "$BIN" first-run > "$OUT/first-run.txt" 2>&1
fr=$?
t3=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v fr="$fr" -v j="$jobs" 'BEGIN{
  printf "command 1 build part (-j%s%s, cold, no ccache): configure %.1f s, build %.1f s; first-run %.1f s (exit %s)\n",
    j, (j==2?", taskset 2 cores":""), b-a, c-b, d-c, fr}' | tee "$OUT/summary.txt"
tail -25 "$OUT/first-run.txt"

FETCH_BENCH_REPS=${FETCH_BENCH_REPS:-3} SD35_BIN=$BIN bash tests/bench/fetch_bench.sh 2>&1 | tee "$OUT/fetch-bench.txt"
df -h . | tail -1 | tee -a "$OUT/summary.txt"
