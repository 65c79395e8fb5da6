// Where the plugin's sources are, what the build depends on, and the cache key (plugin/build.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "plugin/build.hpp"
#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/process.hpp"
#include "util/sha256.hpp"
#include "util/user_dirs.hpp"

namespace sd35::plugin {
namespace {

namespace stdfs = std::filesystem;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

std::vector<stdfs::path> glob_cpp(const stdfs::path& dir) {
  std::vector<stdfs::path> out;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".cpp") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> string_list(const nlohmann::json& doc, const char* key) {
  return doc.value(key, std::vector<std::string>{});
}

// sha256 over each file's relative path and bytes, and over every header beside the sources (a
// changed header changes the binary as surely as a changed .cpp).
Result<std::string> digest_sources(const std::vector<stdfs::path>& dirs, const stdfs::path& root) {
  std::vector<stdfs::path> files{root / "plugin-sources.json"};
  std::error_code ec;
  for (const auto& dir : dirs)
    for (auto it = stdfs::recursive_directory_iterator(
             dir, stdfs::directory_options::follow_directory_symlink, ec);
         !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
      const auto ext = it->path().extension();
      if (it->is_regular_file() &&
          (ext == ".cpp" || ext == ".hpp" || ext == ".h" || ext == ".cu" || ext == ".cuh"))
        files.push_back(it->path());
    }
  std::sort(files.begin(), files.end());
  std::string all;
  for (const auto& f : files) {
    SD35_TRY(std::string bytes, fs::read_file(f));
    all += stdfs::relative(f, root).string() + '\0' + sha256_hex(bytes) + '\n';
  }
  return sha256_hex(all);
}

Result<std::string> compiler_identity(const std::string& compiler) {
  proc::Command cmd;
  cmd.argv = {compiler, "--version"};
  cmd.timeout = std::chrono::seconds(30);
  auto out = proc::run(cmd);
  if (!out || !out->success())
    return make_error(Errc::host_not_ready, "the C++ compiler does not run", compiler,
                      "install one (Debian/Ubuntu: build-essential) or set CXX to a working "
                      "g++ or clang++");
  return std::string(out->out.substr(0, out->out.find('\n')));
}

}  // namespace

std::filesystem::path default_plugin_cache() {
  if (auto v = env_or("SD35_PLUGIN_CACHE", ""); !v.empty()) return v;
  return user_cache_dir() / "sd35-setup" / "plugins";
}

Result<SourceSet> read_plugin_sources(const stdfs::path& root) {
  const stdfs::path spec_path = root / "plugin-sources.json";
  SD35_TRY(std::string text, fs::read_file(spec_path));
  const auto spec = nlohmann::json::parse(text, nullptr, false);
  if (spec.is_discarded() || !spec.is_object())
    return make_error(Errc::bad_input, "plugin-sources.json is not a JSON object",
                      spec_path.string(), "reinstall sd35-setup");
  SourceSet s;
  s.root = root;
  const stdfs::path src = root / spec.value("source_dir", "src");
  for (const auto& d : string_list(spec, "include_dirs"))
    s.include_dirs.push_back((root / d).string());
  for (const auto& d : string_list(spec, "cxx_dirs"))
    for (auto& f : glob_cpp(src / d)) s.cxx.push_back(std::move(f));
  for (const auto& f : string_list(spec, "cxx_files")) s.cxx.push_back(src / f);
  for (const auto& f : string_list(spec, "cuda_files")) s.cuda.push_back(src / f);
  for (const auto& f : string_list(spec, "nvrtc_files")) s.nvrtc_cxx.push_back(src / f);
  if (spec.contains("nvrtc_device")) s.nvrtc_device = src / spec["nvrtc_device"].get<std::string>();
  s.defines = string_list(spec, "defines");
  // The paths of the libraries sd35-setup itself was built with (nlohmann_json, fmt, OpenSSL),
  // written by CMake beside the sources.
  if (auto cfg = fs::read_file(root / "build-config.json"); cfg) {
    const auto c = nlohmann::json::parse(*cfg, nullptr, false);
    if (!c.is_discarded()) {
      for (const auto& d : string_list(c, "include_dirs")) s.include_dirs.push_back(d);
      s.link_libraries = string_list(c, "link_libraries");
      for (const auto& d : string_list(c, "defines")) s.defines.push_back(d);
    }
  }
  if (s.cxx.empty())
    return make_error(Errc::bad_input, "plugin-sources.json names no C++ sources",
                      spec_path.string(), "reinstall sd35-setup");
  std::vector<stdfs::path> digest_dirs;
  for (const auto& d : string_list(spec, "digest_dirs")) digest_dirs.push_back(src / d);
  if (digest_dirs.empty()) digest_dirs.push_back(src);
  SD35_TRY(s.digest, digest_sources(digest_dirs, root));
  return s;
}

Result<SourceSet> find_plugin_sources() {
  if (auto v = env_or("SD35_PLUGIN_SRC", ""); !v.empty()) return read_plugin_sources(v);
  std::error_code ec;
  const stdfs::path exe = stdfs::read_symlink("/proc/self/exe", ec);
  const stdfs::path root = exe.parent_path().parent_path() / "share/sd35-setup/plugin-src";
  if (ec || !stdfs::exists(root / "plugin-sources.json", ec))
    return make_error(Errc::host_not_ready, "the smoke plugin's sources are not installed",
                      root.string(),
                      "reinstall sd35-setup (cmake --install puts them under share/sd35-setup), "
                      "or set SD35_PLUGIN_SRC to a source tree's build/<preset>/share/"
                      "sd35-setup/plugin-src");
  return read_plugin_sources(root);
}

namespace {
KernelPlan no_kernels(std::string why) {
  KernelPlan k;
  k.why = std::move(why);
  return k;
}
}  // namespace

CudaHeaders find_cuda_headers(const pyenv::TorchEnv& env) {
  CudaHeaders h;
  if (!env.torch || env.torch->cuda.empty()) return h;
  std::vector<std::string> candidates = env.torch->cuda_include_dirs;
  if (auto home = env_or("CUDA_HOME", env_or("CUDA_PATH", "")); !home.empty())
    candidates.push_back(home + "/include");
  candidates.emplace_back("/usr/local/cuda/include");
  std::error_code ec;
  for (const auto& dir : candidates) {
    if (!stdfs::exists(stdfs::path(dir) / "cuda_runtime_api.h", ec) ||
        !stdfs::exists(stdfs::path(dir) / "crt/host_defines.h", ec))
      continue;
    // The complete folder first; the wheel's folders after it for the libraries' headers.
    h.include_dirs.push_back(dir);
    for (const auto& w : env.torch->cuda_include_dirs)
      if (w != dir) h.include_dirs.push_back(w);
    return h;
  }
  h.note =
      "no complete CUDA headers (the wheel's nvidia-* packages lack crt/host_defines.h and no "
      "CUDA toolkit was found in CUDA_HOME or /usr/local/cuda): the plugin is built without "
      "them, so the fused FP8 kernels and CUDA memory statistics are off (native FP8 through "
      "ATen still runs)";
  return h;
}

KernelPlan plan_kernels(const pyenv::TorchEnv& env, const CudaHeaders& headers) {
  KernelPlan k;
  const auto& t = env.torch;
  if (!t || t->cuda.empty()) return no_kernels("the environment's torch is a CPU build");
  if (!t->device) return no_kernels("the environment's torch sees no CUDA device");
  if (t->device->cc_major * 10 + t->device->cc_minor < 89)
    return no_kernels(
        fmt::format("cc {}.{} has no FP8 tensor cores", t->device->cc_major, t->device->cc_minor));
  if (headers.include_dirs.empty()) return no_kernels(headers.note);
  k.arch = fmt::format("{}{}", t->device->cc_major, t->device->cc_minor);
  const std::string nvcc_env = env_or("SD35_NVCC", "");
  if (nvcc_env != "off") {
    if (!nvcc_env.empty()) {
      k.nvcc = nvcc_env;
    } else if (auto found = proc::which("nvcc")) {
      k.nvcc = *found;
    } else if (auto home = env_or("CUDA_HOME", ""); !home.empty()) {
      std::error_code ec;
      if (stdfs::exists(stdfs::path(home) / "bin/nvcc", ec)) k.nvcc = home + "/bin/nvcc";
    }
  }
  if (!k.nvcc.empty()) {
    k.mode = "nvcc";
    return k;
  }
  if (!t->nvrtc.empty()) {
    k.mode = "nvrtc";
    return k;
  }
  return no_kernels("neither nvcc nor the wheel's NVRTC (nvidia-cuda-nvrtc) was found");
}

Result<BuildRequest> plan_build(const pyenv::TorchEnv& env) {
  if (!env.torch)
    return make_error(Errc::host_not_ready, "the environment has no importable torch",
                      env.interpreter, "install torch into it (sd35-setup install --venv DIR)");
  BuildRequest rq;
  SD35_TRY(rq.sources, find_plugin_sources());
  rq.env = env;
  rq.cuda_headers = find_cuda_headers(env);
  rq.kernels = plan_kernels(env, rq.cuda_headers);
  rq.compiler = env_or("CXX", "c++");
  rq.extra_flags = env_or("SD35_PLUGIN_CXXFLAGS", "");
  rq.cache_root = default_plugin_cache();
  rq.jobs = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  return rq;
}

Result<std::string> build_key(const BuildRequest& rq) {
  SD35_TRY(std::string compiler, compiler_identity(rq.compiler));
  const auto& t = *rq.env.torch;
  nlohmann::json inputs{{"sd35", SD35_VERSION},
                        {"sources", rq.sources.digest},
                        {"torch", t.full_version},
                        {"torch_dir", t.dir},
                        {"cuda", t.cuda},
                        {"cxx11_abi", t.cxx11_abi},
                        {"compiler", rq.compiler},
                        {"compiler_version", compiler},
                        {"flags", rq.extra_flags},
                        {"kernels", rq.kernels.mode},
                        {"arch", rq.kernels.arch},
                        {"nvcc", rq.kernels.nvcc},
                        {"nvrtc", t.nvrtc},
                        {"cuda_headers", rq.cuda_headers.include_dirs},
                        {"link", rq.sources.link_libraries}};
  return sha256_hex(inputs.dump()).substr(0, 24);
}

}  // namespace sd35::plugin
