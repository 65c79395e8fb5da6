// Facts about a machine: what `probe` writes and what every stage plans against (`--host FILE`
// lets a stage plan for another machine). Format: docs/host-facts.md.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace sd35 {

inline constexpr int kHostFactsSchemaVersion = 1;

struct OsFacts {
  std::string id;       // os-release ID, e.g. "debian"
  std::string version;  // os-release VERSION_ID, e.g. "12"
  std::string kernel;   // uname -r
  std::string arch;     // uname -m
};

struct CpuFacts {
  std::string model;
  int cores = 0;
  std::vector<std::string> flags;  // only the ones that matter to us (avx2, avx512f, sha_ni, ...)
};

struct GpuFacts {
  int index = 0;
  std::string name;
  std::string compute_capability;  // "9.0"
  std::uint64_t memory_total_mib = 0;
  std::uint64_t memory_free_mib = 0;
};

struct NvidiaFacts {
  std::string driver_version;              // "550.54.14"
  std::optional<int> cuda_driver_version;  // 12040 from cuDriverGetVersion / NVML
  std::vector<GpuFacts> gpus;
  std::string source;  // where the driver version was read
};

struct TorchFacts {
  std::string version;                 // "2.9.1+cu128"
  std::optional<std::string> cuda;     // "12.8" or nullopt for CPU builds
  bool float8 = false;                 // torch.float8_e4m3fn exists
  std::string scaled_mm;               // "" | "tuple" (2.1-2.4) | "tensor" (>= 2.5)
  std::vector<std::string> arch_list;  // torch.cuda.get_arch_list(): "sm_90", "compute_90"
  std::optional<bool> cxx11_abi;
};

struct XformersFacts {
  std::string version;
  std::optional<std::string> built_for_torch;  // from xformers/cpp_lib.json or Requires-Dist
};

struct PythonFacts {
  std::string path;
  std::string version;  // "3.11.7"
  std::optional<TorchFacts> torch;
  std::optional<XformersFacts> xformers;
  std::optional<std::string> diffusers;
  std::optional<std::string> transformers;
  std::optional<std::string> error;  // why probing this interpreter failed, if it did
};

struct DiskFacts {
  std::string path;  // the directory asked about (cache, temp)
  std::string role;  // "cache" | "temp" | "home"
  std::uint64_t free_bytes = 0;
  std::uint64_t total_bytes = 0;
  std::string fs_type;  // "ext4", "xfs", "overlay", "nfs", "tmpfs", ...
  std::optional<bool> rotational;
  bool writable = false;
};

struct ToolFacts {
  std::optional<std::string> git;  // version, nullopt when absent
  std::optional<std::string> git_lfs;
};

struct HostFacts {
  int schema_version = kHostFactsSchemaVersion;
  OsFacts os;
  std::string glibc;
  CpuFacts cpu;
  std::uint64_t memory_bytes = 0;
  std::optional<NvidiaFacts> nvidia;  // nullopt: no NVIDIA driver
  std::vector<PythonFacts> python;
  std::vector<DiskFacts> disk;
  std::map<std::string, std::string> env;  // cache-related variables; tokens as "<set>"
  ToolFacts tools;
  std::optional<std::string> embedded_torch;  // libtorch this binary carries (version), if any
  std::vector<std::string> notes;  // probe warnings (NVML missing, python timed out, ...)

  // The first interpreter with torch installed, else the first interpreter.
  [[nodiscard]] const PythonFacts* primary_python() const;
  [[nodiscard]] const DiskFacts* disk_for(std::string_view role) const;
};

nlohmann::json to_json(const HostFacts& facts);
// Strict reader for `--host FILE`: errors name the file and JSON pointer.
Result<HostFacts> host_facts_from_json(const nlohmann::json& j, const std::string& source);
Result<HostFacts> load_host_facts(const std::string& path);

}  // namespace sd35
