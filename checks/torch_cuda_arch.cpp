#include <fmt/format.h>

#include "checks/check.hpp"
#include "compat/gpu_arch.hpp"

namespace sd35::checks {

static Finding run_torch_cuda_arch(const CheckInfo& info, const CheckContext& ctx) {
  const PythonFacts* py = ctx.host.primary_python();
  if (!py || !py->torch)
    return make_finding(info, Verdict::skip,
                        "torch is not installed: nothing to compare with the GPU");
  const TorchFacts& t = *py->torch;
  if (!t.cuda)
    return make_finding(info, Verdict::skip, fmt::format("torch {} is a CPU build", t.version));
  if (!ctx.host.nvidia || ctx.host.nvidia->gpus.empty())
    return make_finding(
        info, Verdict::skip,
        fmt::format("torch {} (CUDA {}) but no GPU to run it on", t.version, *t.cuda));
  std::string arch_text;
  for (const auto& a : t.arch_list) arch_text += (arch_text.empty() ? "" : " ") + a;
  for (const auto& g : ctx.host.nvidia->gpus) {
    auto cov = compat::gpu_covered(g.compute_capability, t.arch_list);
    if (!cov.runs)
      return make_finding(
          info, Verdict::fail,
          fmt::format(
              "{} (sm_{}) is not in torch {}'s arch list [{}]: {}. torch will say \"{} with CUDA "
              "capability sm_{} is not compatible with the current PyTorch installation\"",
              g.name, g.compute_capability, t.version, arch_text, cov.via, g.name,
              g.compute_capability),
          "install a torch build whose CUDA variant covers this GPU (Blackwell: cu128+ and torch "
          ">= 2.7; "
          "Volta: cu126; Pascal: cu126) — `sd35-setup resolve` picks it");
  }
  auto cov = compat::gpu_covered(ctx.host.nvidia->gpus.front().compute_capability, t.arch_list);
  return make_finding(info, Verdict::pass,
                      fmt::format("torch {} runs on every GPU: {}", t.version, cov.via));
}

extern const CheckDef torch_cuda_arch{
    {"torch.cuda-arch", "GPU in torch's arch list",
     "every GPU is covered by the torch build's compiled architectures (exact or binary-compatible "
     "SASS, or PTX)",
     "install a torch CUDA variant that lists this GPU's architecture", true},
    run_torch_cuda_arch};

}  // namespace sd35::checks
