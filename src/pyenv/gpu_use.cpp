#include "pyenv/gpu_use.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "compat/compat.hpp"
#include "util/strings.hpp"

namespace sd35::pyenv {
namespace {

constexpr const char* kResolveFix =
    "install a CUDA wheel that matches this driver and GPU: `sd35-setup resolve && sd35-setup "
    "install --venv DIR`, then `sd35-setup smoke --venv DIR` (or `sd35-setup up --venv DIR`)";

bool has_gpu(const NvidiaFacts* host) {
  return host != nullptr && !host->gpus.empty();
}

// "13.0" -> "cu130"
std::string variant_of(const std::string& cuda) {
  std::string digits;
  for (char c : cuda)
    if (c != '.') digits += c;
  return "cu" + digits;
}

std::string gpu_text(const NvidiaFacts& host) {
  const auto& g = host.gpus.front();
  return fmt::format("{} (cc {})", g.name, g.compute_capability);
}

// "sm_90" covers cc 9.0; "compute_90" (PTX) covers 9.0 and newer.
bool arch_covers(const std::vector<std::string>& arch_list, const std::string& cc) {
  std::string digits;
  for (char c : cc)
    if (c != '.') digits += c;
  if (std::find(arch_list.begin(), arch_list.end(), "sm_" + digits) != arch_list.end()) return true;
  for (const auto& a : arch_list)
    if (a.rfind("compute_", 0) == 0 && str::compare_dotted(a.substr(8), digits) <= 0) return true;
  return false;
}

}  // namespace

std::optional<GpuUseProblem> gpu_use_problem(const TorchEnv& env, const NvidiaFacts* host) {
  if (!has_gpu(host)) return std::nullopt;
  if (!env.torch) return GpuUseProblem{"torch does not import in " + env.interpreter, kResolveFix};
  const auto& t = *env.torch;
  if (t.cuda_available) return std::nullopt;
  const std::string gpu = gpu_text(*host);
  if (t.cuda.empty())
    return GpuUseProblem{fmt::format("this host has {} but torch {} in {} is a CPU build", gpu,
                                     t.full_version, env.interpreter),
                         kResolveFix};
  const auto* floor = compat::driver_floor_for_variant(variant_of(t.cuda));
  if (floor != nullptr && str::compare_dotted(host->driver_version, floor->linux_min_driver) < 0)
    return GpuUseProblem{
        fmt::format("driver {} is too old for torch {} (CUDA {} needs driver >= {})",
                    host->driver_version, t.full_version, t.cuda, floor->linux_min_driver),
        fmt::format("update the NVIDIA driver to >= {}, or {}", floor->linux_min_driver,
                    kResolveFix)};
  const std::string& cc = host->gpus.front().compute_capability;
  if (!t.arch_list.empty() && !arch_covers(t.arch_list, cc))
    return GpuUseProblem{fmt::format("torch {} has no kernels for {} (its arch list: {})",
                                     t.full_version, gpu, fmt::join(t.arch_list, " ")),
                         kResolveFix};
  return GpuUseProblem{
      fmt::format("torch {} (CUDA {}) cannot use {}: torch.cuda.is_available() "
                  "is False",
                  t.full_version, t.cuda, gpu),
      "check CUDA_VISIBLE_DEVICES and `nvidia-smi`; then " + std::string(kResolveFix)};
}

std::optional<GpuUseProblem> builtin_gpu_use_problem(const std::string& libtorch_version,
                                                     bool cuda_available, const NvidiaFacts* host) {
  if (!has_gpu(host) || cuda_available) return std::nullopt;
  return GpuUseProblem{
      fmt::format("this host has {} but sd35-setup's built-in libtorch {} cannot use it (Debian's "
                  "libtorch is a CPU build)",
                  gpu_text(*host), libtorch_version),
      "prove the Python environment that will run SD3.5 instead: `sd35-setup smoke --venv DIR` "
      "or `--python PATH` (a CUDA torch there), or `sd35-setup up --venv DIR`"};
}

}  // namespace sd35::pyenv
