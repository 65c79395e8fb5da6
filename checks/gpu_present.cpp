#include <fmt/format.h>

#include "checks/check.hpp"

namespace sd35::checks {

static Finding run_gpu_present(const CheckInfo& info, const CheckContext& ctx) {
  const auto& nv = ctx.host.nvidia;
  if (!nv)
    return make_finding(
        info, Verdict::fail,
        "no NVIDIA driver found (/sys/module/nvidia/version and /proc/driver/nvidia/version "
        "absent): "
        "SD3.5 FP8 needs an NVIDIA GPU, so the GPU and FP8 checks cannot pass on this machine");
  if (nv->gpus.empty())
    return make_finding(
        info, Verdict::fail,
        fmt::format("NVIDIA driver {} is loaded but no GPU is visible (NVML listed none)",
                    nv->driver_version),
        "check CUDA_VISIBLE_DEVICES, container --gpus flags and that /dev/nvidia* exist");
  std::string names;
  for (const auto& g : nv->gpus)
    names += fmt::format("{}{} (cc {}, {} MiB)", names.empty() ? "" : ", ", g.name,
                         g.compute_capability, g.memory_total_mib);
  Finding f = make_finding(
      info, Verdict::pass,
      fmt::format("{} GPU(s): {}; driver {}", nv->gpus.size(), names, nv->driver_version));
  f.data = {{"gpus", nv->gpus.size()}, {"driver_version", nv->driver_version}};
  return f;
}

extern const CheckDef gpu_present{
    {"gpu.present", "NVIDIA GPU present",
     "an NVIDIA driver is loaded and at least one GPU is visible to it",
     "install the NVIDIA driver (e.g. Debian's nvidia-driver, or the CUDA repo's cuda-drivers) and "
     "reboot; in containers pass --gpus all",
     true},
    run_gpu_present};

}  // namespace sd35::checks
