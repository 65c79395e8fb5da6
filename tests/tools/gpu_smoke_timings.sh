#!/usr/bin/env bash
# GPU box: where the end-to-end time of `smoke --python` goes (interpreter, plugin, smoke) for the
# embedded model, cold and cached, with the fused kernels from NVRTC (nvcc off PATH). Builds the CLI
# like gpu_env_e2e.sh (Debian packages carried in .gpucarry/debs).
#   run(command="bash tests/tools/gpu_smoke_timings.sh", carry=[".gpucarry"])
set -u
cd "$(dirname "$0")/../.." || exit 1
P=$PWD/build/gpu-deps; LIBDIR=$P/usr/lib/x86_64-linux-gnu
rm -rf "$P" && mkdir -p "$P" && for d in .gpucarry/debs/*.deb; do dpkg -x "$d" "$P"; done
. tests/tools/gpu_deps_fix.sh && gpu_deps_fix "$P" || exit 2  # every .pc (ICU, sentencepiece, zlib too)
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig:$P/usr/share/pkgconfig
PKGCONF=$(command -v pkg-config || echo "$P/usr/bin/pkgconf")
export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSD35_WITH_TORCH=OFF -DSD35_BUILD_TESTS=OFF \
  -DSD35_BUILD_BENCH=OFF -DCMAKE_PREFIX_PATH="$P/usr" -DPKG_CONFIG_EXECUTABLE="$PKGCONF" > /dev/null || exit 2
cmake --build build/gpu -j"$(nproc)" --target sd35-setup > /dev/null || exit 3
PY=$(command -v python3)
NOCUDA_PATH=$(echo "$PATH" | tr ':' '\n' | grep -v cuda | paste -sd:)
build/gpu/bin/sd35-setup first-run; echo "first-run rc=$?"
for run in cold cached cached cached; do
  start=$(date +%s.%N)
  env -u CUDA_HOME PATH="$NOCUDA_PATH" SD35_NVCC=off SD35_PLUGIN_CACHE=$PWD/build/timing-plugins \
    build/gpu/bin/sd35-setup --json smoke --python "$PY" --synthetic --require transformers \
    > "${OUT:-/tmp}/smoke_$run.json" 2> /dev/null
  rc=$?
  end=$(date +%s.%N)
  python3 - "$run" "$rc" "$start" "$end" "${OUT:-/tmp}/smoke_$run.json" <<'PYEOF'
import json, sys
run, rc, start, end, path = sys.argv[1:]
d = json.load(open(path))
t, e = d.get("timings", {}), d.get("environment", {})
print(f"{run:7} rc={rc} end_to_end={float(end)-float(start):.2f}s inspect={t.get('inspect_seconds',0):.2f}s "
      f"plugin={t.get('plugin_seconds',0):.2f}s smoke={t.get('smoke_seconds',0):.2f}s "
      f"build={d.get('plugin',{}).get('build_seconds',0):.1f}s fused={e.get('fused_kernels')} "
      f"native={e.get('native_fp8')} proven={d.get('proven')} "
      f"python_beside={t.get('python_side_concurrent')} waited={t.get('python_side_wait_seconds',0):.2f}s")
for c in d.get("python_side", {}).get("checks", []):
    print(f"        {c['id']}: ok={c['ok']} {c.get('seconds', '')}")
PYEOF
done
