#include <fmt/format.h>

#include "checks/check.hpp"

namespace sd35::checks {

static Finding run_gpu_memory(const CheckInfo& info, const CheckContext& ctx) {
  const auto need = ctx.manifest.requirements.gpu.min_memory_mib;
  if (!ctx.host.nvidia || ctx.host.nvidia->gpus.empty())
    return make_finding(info, Verdict::skip,
                        fmt::format("no GPU: cannot check the {} MiB the manifest asks for", need));
  const GpuFacts* best = nullptr;
  for (const auto& g : ctx.host.nvidia->gpus)
    if (!best || g.memory_total_mib > best->memory_total_mib) best = &g;
  if (need == 0 || best->memory_total_mib >= need)
    return make_finding(
        info, Verdict::pass,
        fmt::format("{} has {} MiB ({} MiB free); the manifest asks for {} MiB", best->name,
                    best->memory_total_mib, best->memory_free_mib, need));
  return make_finding(
      info, Verdict::warn,
      fmt::format(
          "largest GPU {} has {} MiB < {} MiB the manifest asks for: expect out-of-memory at full "
          "resolution",
          best->name, best->memory_total_mib, need),
      "use CPU offload (diffusers enable_model_cpu_offload), a smaller model (sd35-medium-fp8), or "
      "a larger GPU");
}

extern const CheckDef gpu_memory{
    {"gpu.memory", "GPU memory",
     "the largest GPU has at least requirements.gpu.min_memory_mib of memory",
     "use CPU offload, a smaller model or a larger GPU", false},
    run_gpu_memory};

}  // namespace sd35::checks
