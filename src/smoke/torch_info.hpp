// Facts about the libtorch this binary was built with. Torch-free header: sd35core and the CLI
// include it without paying for torch headers.
#pragma once

#include <string>

namespace sd35::smoke {

struct TorchBuildInfo {
  std::string version;          // e.g. "1.13.1" or "2.11.0"
  bool cuda_compiled = false;   // libtorch built with CUDA
  bool cuda_available = false;  // a CUDA device is usable right now
  int cuda_device_count = 0;
  bool native_float8 = false;  // at::kFloat8_e4m3fn exists (libtorch >= 2.1)
  bool scaled_mm = false;      // at::_scaled_mm with the stable (>= 2.5) signature
  bool cxx11_abi = false;
  int cuda_capability = 0;     // device 0 as major * 10 + minor (89 = 8.9); 0 without a device
  bool fused_kernels = false;  // the fused FP8 block kernels are built into this target
  double probe_matmul_checksum = 0.0;  // a tiny real matmul proves the library runs
};

// Runs a tiny tensor computation to prove the linked libtorch loads and works.
TorchBuildInfo torch_build_info();

}  // namespace sd35::smoke
