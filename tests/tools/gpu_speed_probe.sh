#!/usr/bin/env bash
# GPU box, one batch: (1) tests/tools/gpu_attention_probe.py (which attention this torch offers at
# SD3.5 Large's shape, FP8 included); (2) tests/tools/gpu_pipeline_bench.sh's first run (builds the
# CLI and the plugin, writes the full-size synthetic checkpoint, one prompt -> PNG at 1024^2, 28
# steps); (3) tests/tools/gpu_profile_pipeline.py on that plugin and checkpoint (the denoise step
# kernel by kernel); (4) tests/bench/fetch_bench.sh on this machine's NVMe with the CLI just built
# and git-lfs from .gpucarry/debs-bench.
#
#   run(command="OUT=$OUT bash tests/tools/gpu_speed_probe.sh", carry=[".gpucarry"], timeout_s=600)
#
# Env: OUT (results), SPEED_PARTS (default "attention pipeline kernels profile fetch"; kernels:
# the fused kernels against ATen through `smoke --synthetic`; also fp8attn, fixture, rows
# (tests/tools/row_kernels_probe.cu), vae (tests/tools/gpu_vae_probe.py), load (tests/tools/gpu_load_probe.py, after pipeline),
# repeat (smoke --repeat 3 on the fixture pipeline: the kept graphs replayed, after pipeline)).
set -u
cd "$(dirname "$0")/../.." || exit 1
: "${OUT:=/tmp/speed-out}"
mkdir -p "$OUT"
T0=$(date +%s)
PARTS=" ${SPEED_PARTS:-attention pipeline kernels profile fetch} "
part() { [[ $PARTS == *" $1 "* ]]; }
log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
PY=$(command -v python3)

if part attention; then
  log "attention probe"
  timeout 120 "$PY" tests/tools/gpu_attention_probe.py 2>&1 | tee "$OUT/attention.txt"
fi
if part fp8attn; then
  log "cuDNN FP8 attention probe (JAX)"
  XLA_PYTHON_CLIENT_PREALLOCATE=false timeout 150 "$PY" tests/tools/gpu_fp8_attention_probe.py 2>&1 \
    | grep -v "^W0000\|^I0000" | tail -12
fi
if part pipeline; then
  log "pipeline bench (first run)"
  OUT=$OUT BENCH_RUNS="${PIPELINE_RUNS:-first}" BENCH_BUDGET_S=330 bash tests/tools/gpu_pipeline_bench.sh 2>&1 \
    | tee "$OUT/pipeline.txt"
fi
if part kernels; then
  # The embedded-model smoke proves every fused kernel against ATen (check_fused_kernels), with
  # the plugin the pipeline run just built.
  log "fused kernel checks (smoke --synthetic)"
  LIBDIR=$PWD/build/gpu-deps/usr/lib/x86_64-linux-gnu
  NOCUDA_PATH=$(echo "$PATH" | tr ':' '\n' | grep -v cuda | paste -sd:)
  LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} timeout 180 env -u CUDA_HOME \
    PATH="$NOCUDA_PATH" SD35_NVCC=off SD35_PLUGIN_CACHE=$PWD/build/bench-plugins \
    build/gpu/bin/sd35-setup --json smoke --python "$PY" --synthetic > "$OUT/kernels.json" \
    2> "$OUT/kernels.err"
  echo "smoke --synthetic exit $?"
  "$PY" - "$OUT/kernels.json" <<'PYEOF'
import json, sys
def find(o, key):
    if isinstance(o, dict):
        if key in o:
            return o[key]
        for v in o.values():
            r = find(v, key)
            if r is not None:
                return r
    elif isinstance(o, list):
        for v in o:
            r = find(v, key)
            if r is not None:
                return r
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    sys.exit(f"no JSON: {e}")
fk = find(d, "fused_kernels") or {}
rows = fk.get("kernels", [])
for k in rows:
    if not k["ok"]:
        print(f"   BAD {k['name']:58} {k['error']:.4f} (limit {k['limit']})")
print(f"   {sum(k['ok'] for k in rows)} of {len(rows)} kernel checks pass")
print("   fused_kernels ok:", fk.get("ok"), fk.get("error", ""))
for line in find(d, "summary") or []:
    print("   | " + line)
PYEOF
  tail -5 "$OUT/kernels.err" | cut -c1-300
fi
if part fixture; then
  log "fixture pipeline with and without FP8 attention"
  PLUGIN=$(find build/bench-plugins -name 'libsd35smoke*.so' -newer tests/tools/gpu_speed_probe.sh \
    2>/dev/null | head -1)
  timeout 200 "$PY" tests/tools/gpu_fixture_attention.py "$PLUGIN" 2>&1 | grep -v "^\[W" | tail -8
fi
if part repeat; then
  # tests/torch/pipeline_cli_test.cpp RepeatOnCudaReplaysTheKeptGraphs, through the CLI and the
  # plugin built against this box's torch: runs 2-3 must replay the kept graphs, same picture.
  log "smoke --repeat 3 on the fixture pipeline (CUDA)"
  FIX=tests/data/sd3-pipeline/pipe-large
  LIBDIR=$PWD/build/gpu-deps/usr/lib/x86_64-linux-gnu
  NOCUDA_PATH=$(echo "$PATH" | tr ':' '\n' | grep -v cuda | paste -sd:)
  LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} timeout 200 env -u CUDA_HOME \
    PATH="$NOCUDA_PATH" SD35_NVCC=off SD35_PLUGIN_CACHE=$PWD/build/bench-plugins \
    build/gpu/bin/sd35-setup --json smoke --python "$PY" --checkpoint $FIX/pipe-large_all_in_one_fp8.safetensors \
    --tokenizers $FIX --size 64x64 --steps 4 --prompt "a photo of a cat" --image "$OUT/fixture-repeat.png" \
    --device cuda --repeat 3 > "$OUT/repeat.json" 2> "$OUT/repeat.err"
  echo "smoke --repeat exit $? (3: the box's Python side lacks diffusers)"
  "$PY" - "$OUT/repeat.json" <<'PYEOF'
import json, sys
def find(o):
    if isinstance(o, dict):
        if "runs" in o:
            return o
        for v in o.values():
            r = find(v)
            if r is not None:
                return r
p = find(json.load(open(sys.argv[1]))) or {}
runs = p.get("runs", [])
for r in runs:
    print(f"   run {r['run']}: {r['prompt_to_png_ms']:.1f} ms; denoise {r['denoise_mode']}; encode {r['encode_mode']}; "
          f"decode {r['decode_mode']}; image {r['fingerprint'][:12]}")
kept = all("kept" in r["denoise_mode"] and "table replayed" in r["denoise_mode"] and r["encode_mode"] == r["decode_mode"] == "cuda graph (kept)" for r in runs[1:])
same = len({r["fingerprint"] for r in runs}) == 1
print(f"   REPEAT {'PASS' if len(runs) == 3 and kept and same else 'FAIL'}: kept graphs replayed {kept}, same picture {same}")
PYEOF
fi
if part rows; then
  log "row kernel variants: gelu_quant, ln_modulate_quant, qkv_pack (nvcc)"
  nvcc -std=c++17 -O3 -arch=sm_90 -Isrc tests/tools/row_kernels_probe.cu -o build/row_kernels_probe \
    && timeout 90 build/row_kernels_probe
fi
if part vae; then
  log "VAE decoder variants"
  timeout 150 "$PY" tests/tools/gpu_vae_probe.py 2>&1 | grep -v "^\[W" | tail -12
fi
if part load; then
  log "MMDiT load: page cache -> GPU, by copy method"
  MODEL=$PWD/build/bench-model/sd35_large_fp8_synthetic.safetensors
  [[ -f $MODEL ]] && timeout 200 "$PY" tests/tools/gpu_load_probe.py "$MODEL" 2>&1 | tail -14
fi
if part profile; then
  log "profile"
  PLUGIN=$(find build/bench-plugins -name 'libsd35smoke*.so' -newer tests/tools/gpu_speed_probe.sh \
    2>/dev/null | head -1)
  [[ -n $PLUGIN ]] || PLUGIN=$(find build/bench-plugins -name 'libsd35smoke*.so' | head -1)
  MODEL=$PWD/build/bench-model/sd35_large_fp8_synthetic.safetensors
  if [[ -n $PLUGIN && -f $MODEL ]]; then
    # Resident means no load beside the stages: the MMDiT's overlapped load would share the
    # encode's time.
    SD35_OVERLAP_LOAD=0 timeout 200 "$PY" -X faulthandler tests/tools/gpu_profile_pipeline.py "$PLUGIN" "$MODEL" \
      --steps 5 > "$OUT/profile.txt" 2>&1
    echo "profile exit $?"
    grep "^resident\|^kept run\|^warm-up\|^mmdit path" "$OUT/profile.txt" | cut -c1-700
    grep -v "^\[W" "$OUT/profile.txt" | grep -A16 "^== fp8" | cut -c1-200
    grep "^== bf16" "$OUT/profile.txt" | cut -c1-200
    grep -v "^\[W" "$OUT/profile.txt" | grep -A14 "^== sd35.encode" | cut -c1-200
    grep -v "^\[W" "$OUT/profile.txt" | grep -A18 "^== sd35.decode" | cut -c1-200
  else
    echo "no plugin ($PLUGIN) or model ($MODEL)"
  fi
fi
if part fetch; then
  log "fetch bench"
  P=$PWD/build/gpu-deps
  for d in .gpucarry/debs-bench/*.deb; do dpkg -x "$d" "$P"; done
  LIBDIR=$P/usr/lib/x86_64-linux-gnu
  PATH=$P/usr/bin:$PATH LD_LIBRARY_PATH=$LIBDIR FETCH_BENCH_REPS=${FETCH_BENCH_REPS:-3} \
    SD35_BIN=$PWD/build/gpu/bin/sd35-setup timeout $(( 590 - ($(date +%s) - T0) )) \
    bash tests/bench/fetch_bench.sh 2>&1 | tee "$OUT/fetch-bench.txt"
  df -h . | tail -1
  lsblk -d -o NAME,ROTA,MODEL 2>/dev/null | head -5
fi
log "done"
