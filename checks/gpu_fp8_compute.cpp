#include <fmt/format.h>

#include "checks/check.hpp"
#include "util/strings.hpp"

namespace sd35::checks {

static Finding run_gpu_fp8_compute(const CheckInfo& info, const CheckContext& ctx) {
  const std::string& min_cc = ctx.manifest.requirements.gpu.fp8_compute_min_cc;
  if (!ctx.host.nvidia || ctx.host.nvidia->gpus.empty())
    return make_finding(info, Verdict::skip,
                        fmt::format("no GPU: FP8 tensor-core compute (cc >= {}) cannot be checked; "
                                    "the CPU runs FP8 only as "
                                    "storage (weights decoded to bf16/fp32)",
                                    min_cc));
  std::string best_name, best_cc;
  for (const auto& g : ctx.host.nvidia->gpus) {
    if (best_cc.empty() || str::compare_dotted(g.compute_capability, best_cc) > 0) {
      best_cc = g.compute_capability;
      best_name = g.name;
    }
  }
  Finding f;
  if (str::compare_dotted(best_cc, min_cc) >= 0) {
    f = make_finding(
        info, Verdict::pass,
        fmt::format("{} has compute capability {} >= {}: FP8 (E4M3) tensor-core GEMMs run natively",
                    best_name, best_cc, min_cc));
  } else {
    f = make_finding(
        info, Verdict::warn,
        fmt::format(
            "{} has compute capability {} < {}: no FP8 tensor cores, so FP8 is storage only "
            "(weights are upcast to bf16 per layer; ~half the memory, no FP8 speed-up)",
            best_name, best_cc, min_cc),
        "use an Ada (cc 8.9: L4, L40S, RTX 40xx), Hopper (9.0: H100/H200) or Blackwell GPU for "
        "native FP8; "
        "otherwise run with --precision fp8-weights");
  }
  f.data = {{"best_compute_capability", best_cc}, {"required", min_cc}};
  return f;
}

extern const CheckDef gpu_fp8_compute{
    {"gpu.fp8-compute", "GPU has FP8 tensor cores",
     "at least one GPU has compute capability >= the manifest's fp8_compute_min_cc (8.9), so "
     "torch._scaled_mm runs on tensor cores",
     "use an Ada, Hopper or Blackwell GPU, or accept FP8 storage only (--precision fp8-weights)",
     false},
    run_gpu_fp8_compute};

}  // namespace sd35::checks
