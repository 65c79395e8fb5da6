#!/bin/bash
# GPU-box recipe used for the smoke results in docs/smoke.md (device tool; see the lead's notes).
# Layout expected next to this script's copy (.devcarry/ in the main checkout, ignored by git):
#   .devcarry/repo/  a copy of the worktree's tracked files
#   .devcarry/deps/usr/{include,lib/x86_64-linux-gnu,share/cmake}: Debian 12's fmt 9, nlohmann_json,
#     GTest/GMock, OpenSSL headers + libs + CMake configs (the GPU image has pip torch, nvcc,
#     cmake and ninja, but not these development packages). Prepare here with e.g.
#       cp -r /usr/include/{fmt,nlohmann,gtest,gmock,openssl} deps/usr/include/
#       cp -r /usr/include/x86_64-linux-gnu/openssl/* deps/usr/include/openssl/
#       cp -L /usr/lib/x86_64-linux-gnu/{libfmt.so.9,libcrypto.so.3} + libgtest*.a libgmock*.a
#       cp -r /usr/lib/x86_64-linux-gnu/cmake/{GTest,fmt} /usr/share/cmake/nlohmann_json
# Run: run(command="bash .devcarry/run_gpu.sh", carry=[".devcarry"]).
# Build the torch-only preset against pip torch on the GPU box, run the torch tests and the benchmark.
set -o pipefail
cd "$(dirname "$0")"
P=$PWD/deps/usr
T=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
{ echo "== probe"; python3 -c 'import torch;print(torch.__version__, torch.cuda.get_device_name(0))'; nvcc --version | tail -2; cmake --version | head -1; ninja --version; g++ --version | head -1; ls /usr/include/gtest 2>&1 | head -2; command -v pkg-config; nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv; } 2>&1 | tee $OUT/probe.log
cd repo
export LD_LIBRARY_PATH=$P/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH}
cmake --preset torch-only -DCMAKE_PREFIX_PATH="$P;$T" -DOPENSSL_ROOT_DIR=$P -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
  -DPKG_CONFIG_EXECUTABLE=$(command -v pkg-config || echo /bin/true) > $OUT/configure.log 2>&1 || { tail -40 $OUT/configure.log; exit 1; }
time cmake --build --preset torch-only -j16 2>&1 | tee $OUT/build.log | grep -E "error|Error" | head -40
[ -x build/torch-only/bin/sd35torch_tests ] || exit 2
ctest --preset torch-only -j4 > $OUT/ctest.log 2>&1; echo "ctest rc=$?"; grep -E "tests passed|Failed|FAILED|native FP8|Skipped" $OUT/ctest.log | head -30
SD35_TEST_DATA=$PWD/tests/data timeout 300 build/torch-only/bin/smoke_mmdit_bench ${BENCH_ARG} 2>&1 | tee $OUT/bench.log
for mode in fused two-pass bf16-fused; do
  echo "== SD35_FP8_CAST=$mode (Large fp8)"
  SD35_FP8_CAST=$mode SD35_TEST_DATA=$PWD/tests/data timeout 120 build/torch-only/bin/smoke_mmdit_bench large 2>&1 | grep -E "^large fp8 " | tee -a $OUT/bench_modes.log
  SD35_FP8_CAST=$mode SD35_TEST_DATA=$PWD/tests/data build/torch-only/bin/sd35torch_tests --gtest_filter='*NativeFp8*' 2>&1 | grep -E "rel L2|PASSED|FAILED" | tee -a $OUT/bench_modes.log
done
