// Does a torch build's arch list run on a GPU? CUDA binary compatibility: SASS for sm_X.y runs on
// X.z with z >= y (same major); otherwise only PTX (compute_XY) of an equal or lower arch can be
// JIT-compiled by the driver. Arch-specific targets (sm_90a) run only on exactly that arch.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sd35::compat {

struct ArchCoverage {
  bool runs = false;
  std::string
      via;  // "sm_90 (exact)", "sm_86 SASS (binary compatible with 8.9)", "compute_90 PTX (JIT)"
};

// cc: "8.9"; arch_list entries: "sm_86", "compute_90", "sm_90a", or "8.6" / "8.6+PTX"
// (TORCH_CUDA_ARCH_LIST form).
ArchCoverage gpu_covered(std::string_view cc, const std::vector<std::string>& arch_list);

}  // namespace sd35::compat
