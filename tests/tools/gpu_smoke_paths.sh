#!/usr/bin/env bash
# GPU box: the on-demand plugin's three kernel paths and the GPU test, each on a fresh plugin cache:
#   1. nvcc on PATH        -> fused kernels compiled into the plugin (fused_kernels_built = nvcc)
#   2. NVRTC (nvcc off)    -> fused kernels compiled at run time with the wheel's libnvrtc
#   3. no CUDA headers     -> /usr/local/cuda hidden in a private mount namespace, no CUDA_HOME,
#                             the wheel's incomplete nvidia/cu13/include: native FP8 through ATen,
#                             no fused kernels, and the reason said
#   4. tests/net/smoke_env_test.cpp's SmokeEnvGpu (gtest, carried as .gpucarry/debs-test): must pass,
#      not skip, on the GPU.
#   run(command="bash tests/tools/gpu_smoke_paths.sh", carry=[".gpucarry"])
#   ONLY="none gtest" runs only those parts.
set -u
cd "$(dirname "$0")/../.." || exit 1
want() { [[ " ${ONLY:-nvcc nvrtc none gtest} " == *" $1 "* ]]; }
P=$PWD/build/gpu-deps; LIBDIR=$P/usr/lib/x86_64-linux-gnu
rm -rf "$P" && mkdir -p "$P" && for d in .gpucarry/debs/*.deb .gpucarry/debs-test/*.deb; do dpkg -x "$d" "$P"; done
sed -i -e "s#\"/usr#\"$P/usr#g" -e "s#=/usr#=$P/usr#g" -e '/^Requires.private/d' -e '/^Libs.private/d' \
  "$LIBDIR/pkgconfig/libgit2.pc"
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig:$P/usr/share/pkgconfig
PKGCONF=$(command -v pkg-config || echo "$P/usr/bin/pkgconf")
export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
cmake -S . -B build/gpu-t -G Ninja -DCMAKE_BUILD_TYPE=Release -DSD35_WITH_TORCH=OFF -DSD35_BUILD_TESTS=ON \
  -DSD35_BUILD_BENCH=OFF -DCMAKE_PREFIX_PATH="$P/usr" -DPKG_CONFIG_EXECUTABLE="$PKGCONF" > /tmp/cfg.log 2>&1 \
  || { tail -20 /tmp/cfg.log; exit 2; }
cmake --build build/gpu-t -j"$(nproc)" --target sd35-setup $(want gtest && echo sd35net_tests) 2>&1 | grep -E "error|FAILED" | head -20
test -x build/gpu-t/bin/sd35-setup || exit 3
BIN=$PWD/build/gpu-t/bin/sd35-setup
PY=$(command -v python3)
NOCUDA_PATH=$(echo "$PATH" | tr ':' '\n' | grep -v cuda | paste -sd:)
W=$PWD/build/paths; rm -rf "$W"; mkdir -p "$W/empty"
show() {
  python3 - "$1" "$2" <<'PYEOF'
import json, sys
label, path = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception as e:
    print(f"{label}: no JSON ({e})"); sys.exit()
e, t = d.get("environment", {}), d.get("timings", {})
print(f"{label}: proven={d.get('proven')} built={e.get('fused_kernels_built')} fused={e.get('fused_kernels')} "
      f"native={e.get('native_fp8')} device={e.get('device')} build={d.get('plugin',{}).get('build_seconds',0):.1f}s "
      f"step_fp8={d.get('step_ms', d.get('fp8_step_ms'))}")
for s in d.get("summary", []):
    if "fused" in s.lower() or "kernel" in s.lower() or "proven" in s.lower(): print("   ", s)
PYEOF
}
export PATH=/usr/local/cuda/bin:$PATH
want nvcc && SD35_PLUGIN_CACHE=$W/p-nvcc $BIN --json smoke --python "$PY" --synthetic --require json > "$W/nvcc.json" 2> "$W/nvcc.err"
want nvcc && { echo "nvcc rc=$?"; show nvcc "$W/nvcc.json"; }
want nvrtc && env -u CUDA_HOME PATH="$NOCUDA_PATH" SD35_NVCC=off SD35_PLUGIN_CACHE=$W/p-nvrtc \
  $BIN --json smoke --python "$PY" --synthetic --require json > "$W/nvrtc.json" 2> "$W/nvrtc.err"
want nvrtc && { echo "nvrtc rc=$?"; show nvrtc "$W/nvrtc.json"; }
want none && unshare -m sh -c "mount --bind '$W/empty' /usr/local/cuda && ls /usr/local/cuda | wc -l && \
  env -u CUDA_HOME -u CUDA_PATH PATH='$NOCUDA_PATH' SD35_NVCC=off SD35_PLUGIN_CACHE='$W/p-none' \
  '$BIN' --json smoke --python '$PY' --synthetic --require json > '$W/none.json' 2> '$W/none.err'; echo none rc=\$?"
want none && { show none "$W/none.json"; grep -i "kernel\|error" "$W/none.err" | head -5; }
want gtest && SD35_TEST_GPU_PYTHON=$PY SD35_BIN=$BIN build/gpu-t/bin/sd35net_tests --gtest_filter='SmokeEnvGpu.*' 2>&1 | tail -8
