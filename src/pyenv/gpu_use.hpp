// Can this environment's torch use the GPU this host has? When not, the smoke fails rather than
// passing on the CPU, and the reason names the fix (a CUDA wheel that matches driver and GPU).
#pragma once

#include <optional>
#include <string>

#include "host/host_facts.hpp"
#include "pyenv/torch_env.hpp"

namespace sd35::pyenv {

struct GpuUseProblem {
  std::string cause;  // "a CPU build of torch", "driver 535 too old for CUDA 13.0", ...
  std::string fix;
};

// nullopt when the host has no NVIDIA GPU, or the environment's torch uses it.
std::optional<GpuUseProblem> gpu_use_problem(const TorchEnv& env, const NvidiaFacts* host_gpu);

// The same question for a libtorch known only by its version and whether it sees CUDA (the
// built-in plugin).
std::optional<GpuUseProblem> builtin_gpu_use_problem(const std::string& libtorch_version,
                                                     bool cuda_available,
                                                     const NvidiaFacts* host_gpu);

}  // namespace sd35::pyenv
