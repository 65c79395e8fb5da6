#include "smoke/torch_info.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include "smoke/mmdit_fused.hpp"  // SD35_FUSED_PATH, SD35_TORCH_CUDA
#ifdef SD35_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace sd35::smoke {

TorchBuildInfo torch_build_info() {
  TorchBuildInfo info;
  info.version =
      fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
#ifdef USE_CUDA
  info.cuda_compiled = true;
#endif
  info.cuda_available = torch::cuda::is_available();
  info.cuda_device_count = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  info.native_float8 = true;
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
  info.scaled_mm = true;
#endif
  info.cxx11_abi = _GLIBCXX_USE_CXX11_ABI != 0;
#ifdef SD35_TORCH_CUDA
  if (info.cuda_available) {
    const auto* props = at::cuda::getDeviceProperties(0);
    info.cuda_capability = props->major * 10 + props->minor;
  }
#endif
#ifdef SD35_FUSED_PATH
  info.fused_kernels = true;
#endif
  // 4x4 ones @ arange: each row sums 0..15 column-wise -> deterministic checksum 4 * 120 = 480.
  auto a = torch::ones({4, 4});
  auto b = torch::arange(16, torch::kFloat32).reshape({4, 4});
  info.probe_matmul_checksum = torch::matmul(a, b).sum().item<double>();
  return info;
}

}  // namespace sd35::smoke
