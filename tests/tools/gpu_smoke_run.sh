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
# Run: run(command="bash .devcarry/gpu_smoke_run.sh", carry=[".devcarry"]) after copying this file
# there. It builds the torch-only preset with the fused CUDA kernels, runs the fused-kernel and
# native-FP8 tests, the MMDiT benchmark (BENCH_ARG=large|medium to narrow it), then every torch test.
# Build torch-only with the fused CUDA kernels on the GPU box; torch tests; benchmarks with variants.
set -o pipefail
cd "$(dirname "$0")"
P=$PWD/deps/usr
T=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
cd repo
export LD_LIBRARY_PATH=$P/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH}
cmake --preset torch-only -DCMAKE_PREFIX_PATH="$P;$T" -DOPENSSL_ROOT_DIR=$P -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
  -DPKG_CONFIG_EXECUTABLE=$(command -v pkg-config || echo /bin/true) > $OUT/configure.log 2>&1 || { tail -40 $OUT/configure.log; exit 1; }
grep -E "libtorch|CUDA" $OUT/configure.log | head
time cmake --build --preset torch-only -j16 > $OUT/build.log 2>&1; echo "build rc=$?"
grep -E "error|rror:" $OUT/build.log | head -40
[ -x build/torch-only/bin/sd35torch_tests ] || exit 2
SD35_TEST_DATA=$PWD/tests/data timeout 300 build/torch-only/bin/sd35torch_tests --gtest_filter='*Fused*:*Native*:*Embedded*' > $OUT/fused_tests.log 2>&1; echo "fused tests rc=$?"
grep -E "fused|rel L2|PASSED|FAILED|Failure|error|Skipped" $OUT/fused_tests.log | head -60
SD35_TEST_FULL_SIZE=1 SD35_TEST_DATA=$PWD/tests/data timeout 300 build/torch-only/bin/sd35torch_tests --gtest_filter='MmditResident.FullSize*' > $OUT/full_size.log 2>&1; echo "full-size test rc=$?"
grep -E "file|peak RSS|OK|FAILED|Failure|Skipped|Expected|Which" $OUT/full_size.log | cut -c1-400 | head -20
SD35_TEST_DATA=$PWD/tests/data timeout 240 build/torch-only/bin/smoke_mmdit_bench ${BENCH_ARG} 2>&1 | tee $OUT/bench.log | grep -vE "^gemm |^  " | head -60
ctest --preset torch-only -j4 > $OUT/ctest.log 2>&1; echo "ctest rc=$?"; grep -E "tests passed|Failed|FAILED" $OUT/ctest.log | head -20
