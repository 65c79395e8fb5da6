// NVIDIA driver and GPU facts. The driver version comes from /sys/module/nvidia/version (or the
// /proc text); GPUs from NVML and the CUDA driver version from cuDriverGetVersion, both through
// dlopen so the binary has no link-time CUDA dependency and runs on GPU-less machines.
#include <dlfcn.h>
#include <fmt/format.h>

#include <regex>

#include "host/probe.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace sd35 {
namespace {

using nvmlDevice_t = void*;
struct NvmlMemory {
  unsigned long long total, free, used;  // NOLINT(google-runtime-int): NVML's ABI
};

class Library {
 public:
  explicit Library(const std::string& name)
      : h_(name.empty() ? nullptr : ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) {}
  ~Library() {
    if (h_) ::dlclose(h_);
  }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  explicit operator bool() const { return h_ != nullptr; }
  template <class Fn>
  Fn sym(const char* name) const {
    return h_ ? reinterpret_cast<Fn>(::dlsym(h_, name)) : nullptr;
  }

 private:
  void* h_;
};

void probe_nvml(const ProbeOptions& o, NvidiaFacts& n, std::vector<std::string>& notes) {
  Library nvml(o.nvml_library);
  if (!nvml) {
    if (!o.nvml_library.empty())
      notes.emplace_back(
          fmt::format("NVML ({}) could not be loaded: GPU list unknown", o.nvml_library));
    return;
  }
  auto init = nvml.sym<int (*)()>("nvmlInit_v2");
  auto shutdown = nvml.sym<int (*)()>("nvmlShutdown");
  auto count_fn = nvml.sym<int (*)(unsigned*)>("nvmlDeviceGetCount_v2");
  auto handle_fn = nvml.sym<int (*)(unsigned, nvmlDevice_t*)>("nvmlDeviceGetHandleByIndex_v2");
  auto name_fn = nvml.sym<int (*)(nvmlDevice_t, char*, unsigned)>("nvmlDeviceGetName");
  auto cc_fn = nvml.sym<int (*)(nvmlDevice_t, int*, int*)>("nvmlDeviceGetCudaComputeCapability");
  auto mem_fn = nvml.sym<int (*)(nvmlDevice_t, NvmlMemory*)>("nvmlDeviceGetMemoryInfo");
  auto drv_fn = nvml.sym<int (*)(char*, unsigned)>("nvmlSystemGetDriverVersion");
  auto cuda_fn = nvml.sym<int (*)(int*)>("nvmlSystemGetCudaDriverVersion");
  if (!init || !count_fn || !handle_fn) {
    notes.emplace_back("NVML lacks the expected symbols: GPU list unknown");
    return;
  }
  if (int rc = init(); rc != 0) {
    notes.emplace_back(fmt::format(
        "nvmlInit failed with NVML error {}{}", rc,
        rc == 18 ? " (driver/library version mismatch: reboot after a driver upgrade)" : ""));
    return;
  }
  if (drv_fn && n.driver_version.empty()) {
    char buf[96] = {};
    if (drv_fn(buf, sizeof buf) == 0) n.driver_version = buf;
  }
  if (cuda_fn && !n.cuda_driver_version) {
    int v = 0;
    if (cuda_fn(&v) == 0 && v > 0) n.cuda_driver_version = v;
  }
  unsigned count = 0;
  if (count_fn(&count) == 0) {
    for (unsigned i = 0; i < count; ++i) {
      nvmlDevice_t dev = nullptr;
      if (handle_fn(i, &dev) != 0) continue;
      GpuFacts g;
      g.index = static_cast<int>(i);
      char name[96] = {};
      if (name_fn && name_fn(dev, name, sizeof name) == 0) g.name = name;
      int major = 0, minor = 0;
      if (cc_fn && cc_fn(dev, &major, &minor) == 0)
        g.compute_capability = fmt::format("{}.{}", major, minor);
      NvmlMemory mem{};
      if (mem_fn && mem_fn(dev, &mem) == 0) {
        g.memory_total_mib = mem.total >> 20;
        g.memory_free_mib = mem.free >> 20;
      }
      n.gpus.push_back(g);
    }
  }
  if (shutdown) shutdown();
}

void probe_libcuda(const ProbeOptions& o, NvidiaFacts& n) {
  Library cuda(o.cuda_library);
  if (!cuda) return;
  // cuDriverGetVersion works before cuInit (VERIFIED on the H100 box).
  if (auto fn = cuda.sym<int (*)(int*)>("cuDriverGetVersion")) {
    int v = 0;
    if (fn(&v) == 0 && v > 0) n.cuda_driver_version = v;
  }
}

}  // namespace

std::optional<std::string> parse_proc_driver_version(std::string_view text) {
  // "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build ..."
  // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 ..."
  static const std::regex re(R"(Kernel Module(?: for \w+)?\s+(\d+\.\d+(?:\.\d+)?))");
  std::string first(text.substr(0, text.find('\n')));
  std::smatch m;
  if (std::regex_search(first, m, re)) return m[1].str();
  return std::nullopt;
}

std::optional<NvidiaFacts> probe_nvidia(const ProbeOptions& o, std::vector<std::string>& notes) {
  NvidiaFacts n;
  if (auto v = fs::read_first_line(o.root / "sys/module/nvidia/version"); v && !v->empty()) {
    n.driver_version = std::string(str::trim(*v));
    n.source = "/sys/module/nvidia/version";
  } else if (auto text = fs::read_file(o.root / "proc/driver/nvidia/version", 1 << 16)) {
    if (auto parsed = parse_proc_driver_version(*text)) {
      n.driver_version = *parsed;
      n.source = "/proc/driver/nvidia/version";
    } else {
      notes.emplace_back("/proc/driver/nvidia/version has no desktop driver version (Jetson/L4T?)");
    }
  }
  const bool kernel_driver = !n.driver_version.empty();
  probe_libcuda(o, n);
  if (kernel_driver || n.cuda_driver_version) probe_nvml(o, n, notes);  // WSL: no files, NVML works
  if (n.driver_version.empty()) return std::nullopt;  // no NVIDIA driver on this host
  if (!kernel_driver) n.source = "nvml";
  return n;
}

}  // namespace sd35
