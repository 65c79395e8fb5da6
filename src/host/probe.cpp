#include "host/probe.hpp"

#include <fmt/format.h>
#include <gnu/libc-version.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/strings.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;

std::string unquote(std::string_view v) {
  v = str::trim(v);
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
    v = v.substr(1, v.size() - 2);
  return std::string(v);
}

OsFacts probe_os(const stdfs::path& root) {
  OsFacts os;
  std::ifstream in(root / "etc/os-release");
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq);
    if (key == "ID") os.id = unquote(line.substr(eq + 1));
    if (key == "VERSION_ID") os.version = unquote(line.substr(eq + 1));
  }
  if (root == "/") {
    struct utsname u {};
    if (::uname(&u) == 0) {
      os.kernel = u.release;
      os.arch = u.machine;
    }
  } else {
    os.kernel = fs::read_first_line(root / "proc/sys/kernel/osrelease").value_or("");
    os.arch = "x86_64";
  }
  return os;
}

CpuFacts probe_cpu(const stdfs::path& root) {
  // Only the flags that change how fast we hash and decode.
  static const std::set<std::string> interesting = {"avx", "avx2", "avx512f", "avx512bw", "sha_ni",
                                                    "aes", "f16c", "fma",     "amx_bf16"};
  CpuFacts cpu;
  std::ifstream in(root / "proc/cpuinfo");
  int processors = 0;
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key(str::trim(std::string_view(line).substr(0, colon)));
    std::string_view value = str::trim(std::string_view(line).substr(colon + 1));
    if (key == "processor") ++processors;
    if (key == "model name" && cpu.model.empty()) cpu.model = std::string(value);
    if (key == "flags" && cpu.flags.empty()) {
      for (auto f : str::split(value, ' '))
        if (interesting.count(std::string(f))) cpu.flags.emplace_back(f);
      std::sort(cpu.flags.begin(), cpu.flags.end());
    }
  }
  cpu.cores = root == "/" ? static_cast<int>(std::thread::hardware_concurrency()) : processors;
  if (cpu.cores == 0) cpu.cores = processors;
  return cpu;
}

std::uint64_t probe_memory(const stdfs::path& root) {
  std::ifstream in(root / "proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("MemTotal:")) continue;
    auto parts = str::split(str::trim(std::string_view(line).substr(9)), ' ');
    if (auto kb = str::parse_u64(parts.front())) return *kb * 1024;
  }
  return 0;
}

std::string fs_type_name(long magic) {          // NOLINT(google-runtime-int): statfs ABI
  switch (static_cast<unsigned long>(magic)) {  // NOLINT(google-runtime-int)
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x794C7630:
      return "overlay";
    case 0x6969:
      return "nfs";
    case 0xFF534D42:
      return "cifs";
    case 0x65735546:
      return "fuse";
    case 0x2FC12FC1:
      return "zfs";
    case 0x4D44:
      return "vfat";
    case 0x5346544E:
      return "ntfs";
    case 0x01161970:
      return "gfs2";
    case 0x0BD00BD0:
      return "lustre";
    case 0x47504653:
      return "gpfs";
    case 0x73717368:
      return "squashfs";
    case 0x9FA0:
      return "proc";
    case 0x62656572:
      return "sysfs";
    case 0x00C36400:
      return "ceph";
    default:
      return fmt::format("0x{:x}", static_cast<unsigned long>(magic));  // NOLINT
  }
}

std::optional<bool> rotational_for(const stdfs::path& path, const stdfs::path& root) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  std::error_code ec;
  stdfs::path dev = root / fmt::format("sys/dev/block/{}:{}", major(st.st_dev), minor(st.st_dev));
  stdfs::path real = stdfs::canonical(dev, ec);
  if (ec) return std::nullopt;
  // A partition has no queue/; its parent (the whole disk) does.
  for (const stdfs::path& p : {real, real.parent_path()}) {
    if (auto v = fs::read_first_line(p / "queue/rotational")) return *v == "1";
  }
  return std::nullopt;
}

std::optional<std::string> tool_version(std::vector<std::string> argv) {
  proc::Command cmd;
  cmd.argv = std::move(argv);
  cmd.timeout = std::chrono::milliseconds(5000);
  auto r = proc::run(cmd);
  if (!r || !r->success()) return std::nullopt;
  std::string line(str::trim(r->out.substr(0, r->out.find('\n'))));
  // "git version 2.39.5" -> "2.39.5"; "git-lfs/3.3.0 (GitHub; linux amd64; go 1.19.8)" -> "3.3.0"
  if (line.starts_with("git version ")) return line.substr(12);
  if (line.starts_with("git-lfs/")) return line.substr(8, line.find(' ') - 8);
  return line;
}

EmbeddedTorchVersionFn& embedded_torch_probe() {
  static EmbeddedTorchVersionFn fn = nullptr;
  return fn;
}

}  // namespace

void set_embedded_torch_probe(EmbeddedTorchVersionFn fn) {
  embedded_torch_probe() = fn;
}

DiskFacts probe_disk(const stdfs::path& path, std::string role, const stdfs::path& root) {
  DiskFacts d;
  d.path = path.string();
  d.role = std::move(role);
  stdfs::path at = fs::nearest_existing(path);
  if (auto sp = fs::space(at)) {
    d.free_bytes = sp->free_bytes;
    d.total_bytes = sp->total_bytes;
  }
  struct statfs sf {};
  if (::statfs(at.c_str(), &sf) == 0) d.fs_type = fs_type_name(sf.f_type);
  d.rotational = rotational_for(at, root);
  d.writable = ::access(at.c_str(), W_OK) == 0;
  return d;
}

std::map<std::string, std::string> probe_env() {
  // Cache location, endpoint and offline switches, and the deprecated spellings doctor warns about.
  static const char* plain[] = {"HF_HOME",
                                "HF_HUB_CACHE",
                                "HUGGINGFACE_HUB_CACHE",
                                "TRANSFORMERS_CACHE",
                                "HF_DATASETS_CACHE",
                                "XDG_CACHE_HOME",
                                "HF_ENDPOINT",
                                "HF_HUB_OFFLINE",
                                "TRANSFORMERS_OFFLINE",
                                "HF_HUB_ENABLE_HF_TRANSFER",
                                "HF_HUB_DISABLE_XET",
                                "HF_TOKEN_PATH",
                                "CUDA_VISIBLE_DEVICES",
                                "TMPDIR",
                                "PYTORCH_CUDA_ALLOC_CONF"};
  static const char* secret[] = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"};
  std::map<std::string, std::string> env;
  for (const char* k : plain)
    if (const char* v = std::getenv(k)) env[k] = v;
  for (const char* k : secret)
    if (const char* v = std::getenv(k); v && *v)
      env[k] = "<set>";  // presence only, never the value
  // The token file huggingface_hub reads: HF_TOKEN_PATH, else $HF_HOME/token, else
  // ~/.cache/huggingface/token.
  std::filesystem::path token_file;
  if (const char* p = std::getenv("HF_TOKEN_PATH"); p && *p)
    token_file = p;
  else if (const char* h = std::getenv("HF_HOME"); h && *h)
    token_file = std::filesystem::path(h) / "token";
  else if (const char* home = std::getenv("HOME"); home && *home)
    token_file = std::filesystem::path(home) / ".cache/huggingface/token";
  std::error_code ec;
  if (!token_file.empty() && std::filesystem::file_size(token_file, ec) > 0 && !ec)
    env["HF_TOKEN_FILE"] = token_file.string();
  return env;
}

Result<HostFacts> probe_host(const ProbeOptions& o) {
  HostFacts h;
  h.os = probe_os(o.root);
  h.glibc = o.root == "/" ? gnu_get_libc_version()
                          : fs::read_first_line(o.root / "glibc-version").value_or("");
  h.cpu = probe_cpu(o.root);
  h.memory_bytes = probe_memory(o.root);
  h.nvidia = probe_nvidia(o, h.notes);
  std::vector<std::string> interpreters;
  if (o.probe_path_python) {
    if (auto p = proc::which("python3")) interpreters.push_back(*p);
  }
  for (const auto& p : o.pythons)
    if (std::find(interpreters.begin(), interpreters.end(), p) == interpreters.end())
      interpreters.push_back(p);
  // Interpreters run in parallel: each may spend a second importing torch.
  std::vector<PythonFacts> pys(interpreters.size());
  std::vector<std::thread> workers;
  for (std::size_t i = 0; i < interpreters.size(); ++i)
    workers.emplace_back([&, i] { pys[i] = probe_python(interpreters[i], o.python_timeout); });
  for (auto& w : workers) w.join();
  h.python = std::move(pys);
  for (const auto& [role, path] : o.disks) h.disk.push_back(probe_disk(path, role, o.root));
  h.env = probe_env();
  if (o.probe_tools) {
    h.tools.git = tool_version({"git", "--version"});
    if (h.tools.git) h.tools.git_lfs = tool_version({"git", "lfs", "version"});
  }
  if (auto fn = embedded_torch_probe()) h.embedded_torch = fn();
  return h;
}

}  // namespace sd35
