// Reading host facts: OS, glibc, CPU, memory, NVIDIA driver and GPUs (files + NVML/libcuda via
// dlopen, no link-time CUDA dependency), Python interpreters, disks, env, tools.
// Everything reads below `root` so tests can point it at fake /sys, /proc and /etc trees.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "host/host_facts.hpp"

namespace sd35 {

struct ProbeOptions {
  std::filesystem::path root = "/";
  bool probe_path_python = true;     // PATH's python3 first
  std::vector<std::string> pythons;  // --python PATH (repeatable)
  std::chrono::milliseconds python_timeout{20000};
  std::string nvml_library = "libnvidia-ml.so.1";                    // empty: skip NVML
  std::string cuda_library = "libcuda.so.1";                         // empty: skip libcuda
  std::vector<std::pair<std::string, std::filesystem::path>> disks;  // role -> path
  bool probe_tools = true;
};

Result<HostFacts> probe_host(const ProbeOptions& options);

// The libtorch version this binary carries. The executable registers a function (it links the
// torch target); the library and its tests stay free of libtorch.
using EmbeddedTorchVersionFn = std::string (*)();
void set_embedded_torch_probe(EmbeddedTorchVersionFn fn);

// Pieces, exposed for tests.
std::optional<std::string> parse_proc_driver_version(std::string_view proc_text);
std::optional<NvidiaFacts> probe_nvidia(const ProbeOptions& options,
                                        std::vector<std::string>& notes);
PythonFacts probe_python(const std::string& interpreter, std::chrono::milliseconds timeout);
DiskFacts probe_disk(const std::filesystem::path& path, std::string role,
                     const std::filesystem::path& root);
std::map<std::string, std::string> probe_env();

}  // namespace sd35
