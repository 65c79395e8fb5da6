// The NVRTC build of the fused FP8 kernels: a pip CUDA wheel of torch brings libnvrtc (the
// nvidia-cuda-nvrtc package) but no nvcc, so the plugin built at the user's site compiles the
// device code (fused_kernels_device.cuh, embedded as kFusedDeviceSource) at run time for the
// GPU's exact architecture, caches the cubin, and launches through the driver API with the same
// plans as the nvcc build (fused_launch.hpp). NVRTC and libcuda are opened with dlopen, so the
// plugin needs no CUDA headers for this file. Built only with -DSD35_NVRTC_LIBRARY=...
#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "smoke/cuda/fused_launch.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/user_dirs.hpp"

#ifndef SD35_NVRTC_ARCH
#error "fused_nvrtc.cpp is built by the plugin builder with SD35_NVRTC_LIBRARY/INCLUDE/ARCH"
#endif

namespace sd35::smoke::cuda {

extern const char* const kFusedDeviceSource;

namespace {

// The few NVRTC and driver entry points used, declared with opaque handles.
using Program = void*;
using Module = void*;
using Function = void*;
struct Api {
  int (*create)(Program*, const char*, const char*, int, const char* const*, const char* const*);
  int (*add_name)(Program, const char*);
  int (*compile)(Program, int, const char* const*);
  int (*lowered)(Program, const char*, const char**);
  int (*cubin_size)(Program, std::size_t*);
  int (*cubin)(Program, char*);
  int (*log_size)(Program, std::size_t*);
  int (*log)(Program, char*);
  int (*destroy)(Program*);
  int (*version)(int*, int*);
  int (*load)(Module*, const void*);
  int (*function)(Function*, Module, const char*);
  int (*launch)(Function, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                void*, void**, void**);
  int (*error_string)(int, const char**);
};

// Kernel name expressions, in the order of the Kernel enum. The vectorised row kernels come in
// threes (2, 4 and 8 chunks per thread) right after their scalar form.
enum Kernel {
  kLn,
  kLnVec2,
  kLnVec4,
  kLnVec8,
  kGelu,
  kGeluVec2,
  kGeluVec4,
  kGeluVec8,
  kGather,
  kGatherVec2,
  kGatherVec4,
  kGatherVec8,
  kGateVec,
  kGate,
  kQkvVec,
  kQkv,
  kVQuant,
  kGatherFp8,
  kDequant,
  kGnMoments,
  kGnApply,
  kCount
};
constexpr const char* kNames[kCount] = {"sd35::smoke::cuda::dev::ln_modulate_quant_scalar_kernel",
                                        "sd35::smoke::cuda::dev::ln_modulate_quant_vec_kernel<2>",
                                        "sd35::smoke::cuda::dev::ln_modulate_quant_vec_kernel<4>",
                                        "sd35::smoke::cuda::dev::ln_modulate_quant_vec_kernel<8>",
                                        "sd35::smoke::cuda::dev::gelu_quant_scalar_kernel",
                                        "sd35::smoke::cuda::dev::gelu_quant_vec_kernel<2>",
                                        "sd35::smoke::cuda::dev::gelu_quant_vec_kernel<4>",
                                        "sd35::smoke::cuda::dev::gelu_quant_vec_kernel<8>",
                                        "sd35::smoke::cuda::dev::gather_quant_scalar_kernel",
                                        "sd35::smoke::cuda::dev::gather_quant_vec_kernel<2>",
                                        "sd35::smoke::cuda::dev::gather_quant_vec_kernel<4>",
                                        "sd35::smoke::cuda::dev::gather_quant_vec_kernel<8>",
                                        "sd35::smoke::cuda::dev::gate_residual_kernel<true>",
                                        "sd35::smoke::cuda::dev::gate_residual_kernel<false>",
                                        "sd35::smoke::cuda::dev::qkv_pack_vec_kernel",
                                        "sd35::smoke::cuda::dev::qkv_pack_kernel",
                                        "sd35::smoke::cuda::dev::v_quant_kernel",
                                        "sd35::smoke::cuda::dev::gather_fp8_kernel",
                                        "sd35::smoke::cuda::dev::dequant_e4m3_kernel",
                                        "sd35::smoke::cuda::dev::group_norm_moments_kernel",
                                        "sd35::smoke::cuda::dev::group_norm_apply_kernel"};

// The scalar kernel `scalar`, or its vectorised form for the plan's chunks per thread.
Kernel row_kernel(Kernel scalar, const launch::Plan& p) {
  switch (p.per_thread) {
    case 2:
      return static_cast<Kernel>(scalar + 1);
    case 4:
      return static_cast<Kernel>(scalar + 2);
    case 8:
      return static_cast<Kernel>(scalar + 3);
    default:
      return scalar;
  }
}

struct State {
  Api api{};
  Function functions[kCount]{};
  std::string unavailable;  // empty when ready
  std::string last_error;
};

template <class F>
bool bind(void* lib, const char* name, F& out) {
  out = reinterpret_cast<F>(::dlsym(lib, name));
  return out != nullptr;
}

std::string open_apis(Api& a) {
  void* nvrtc = ::dlopen(SD35_NVRTC_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  if (nvrtc == nullptr)
    return fmt::format("cannot open NVRTC ({}): {}", SD35_NVRTC_LIBRARY, ::dlerror());
  void* cuda = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (cuda == nullptr) return fmt::format("cannot open the CUDA driver: {}", ::dlerror());
  const bool ok =
      bind(nvrtc, "nvrtcCreateProgram", a.create) &&
      bind(nvrtc, "nvrtcAddNameExpression", a.add_name) &&
      bind(nvrtc, "nvrtcCompileProgram", a.compile) &&
      bind(nvrtc, "nvrtcGetLoweredName", a.lowered) &&
      bind(nvrtc, "nvrtcGetCUBINSize", a.cubin_size) && bind(nvrtc, "nvrtcGetCUBIN", a.cubin) &&
      bind(nvrtc, "nvrtcGetProgramLogSize", a.log_size) &&
      bind(nvrtc, "nvrtcGetProgramLog", a.log) && bind(nvrtc, "nvrtcDestroyProgram", a.destroy) &&
      bind(nvrtc, "nvrtcVersion", a.version) && bind(cuda, "cuModuleLoadData", a.load) &&
      bind(cuda, "cuModuleGetFunction", a.function) && bind(cuda, "cuLaunchKernel", a.launch) &&
      bind(cuda, "cuGetErrorString", a.error_string);
  return ok ? "" : "NVRTC or the CUDA driver lacks an entry point the kernels need";
}

std::filesystem::path cubin_cache_dir() {
  if (const char* v = std::getenv("SD35_NVRTC_CACHE"); v && *v) return v;
  return user_cache_dir() / "sd35-setup" / "nvrtc";
}

struct Compiled {
  std::string cubin;
  std::vector<std::string> lowered;  // per Kernel
};

std::string program_log(const Api& a, Program p) {
  std::size_t n = 0;
  if (a.log_size(p, &n) != 0 || n == 0) return "";
  std::string text(n, '\0');
  a.log(p, text.data());
  return text.substr(0, 2000);
}

// Reads a cubin and its lowered kernel names cached by an earlier run.
bool read_cached(const std::filesystem::path& cubin, Compiled& out) {
  auto bytes = fs::read_file(cubin);
  auto names = fs::read_file(cubin.string() + ".names");
  if (!bytes || !names || bytes->empty()) return false;
  out.lowered.clear();
  std::size_t start = 0;
  while (start < names->size()) {
    const auto end = names->find('\n', start);
    out.lowered.push_back(names->substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (out.lowered.size() != kCount) return false;
  out.cubin = std::move(*bytes);
  return true;
}

void write_cached(const std::filesystem::path& cubin, const Compiled& c) {
  std::error_code ec;
  std::filesystem::create_directories(cubin.parent_path(), ec);
  std::string names;
  for (const auto& n : c.lowered) names += n + "\n";
  names.pop_back();
  // A cache: failing to write it only costs the next run a compilation.
  if (fs::write_file_atomic(cubin.string() + ".names", names))
    (void)fs::write_file_atomic(cubin, c.cubin);
}

// Compiles the device source with NVRTC for this GPU, or takes the cubin an earlier run cached.
std::string compile(const Api& a, Compiled& out) {
  int major = 0, minor = 0;
  a.version(&major, &minor);
  const std::string arch = "--gpu-architecture=sm_" SD35_NVRTC_ARCH;
  const std::vector<const char*> options{arch.c_str(), "-I" SD35_NVRTC_INCLUDE, "--std=c++17",
                                         "-DNDEBUG"};
  const std::string key = sha256_hex(
      fmt::format("{}|{}.{}|{}|{}", kFusedDeviceSource, major, minor, arch, SD35_NVRTC_INCLUDE));
  const auto cached = cubin_cache_dir() / (key.substr(0, 24) + ".cubin");
  if (read_cached(cached, out)) return "";
  Program p = nullptr;
  if (a.create(&p, kFusedDeviceSource, "fused_kernels_device.cu", 0, nullptr, nullptr) != 0)
    return "nvrtcCreateProgram failed";
  for (const char* name : kNames) a.add_name(p, name);
  if (a.compile(p, static_cast<int>(options.size()), options.data()) != 0) {
    std::string why = fmt::format("NVRTC {}.{} could not compile the fused kernels for sm_{}: {}",
                                  major, minor, SD35_NVRTC_ARCH, program_log(a, p));
    a.destroy(&p);
    return why;
  }
  for (const char* name : kNames) {
    const char* lowered = nullptr;
    a.lowered(p, name, &lowered);
    out.lowered.emplace_back(lowered ? lowered : "");
  }
  std::size_t n = 0;
  a.cubin_size(p, &n);
  out.cubin.assign(n, '\0');
  a.cubin(p, out.cubin.data());
  a.destroy(&p);
  write_cached(cached, out);
  return "";
}

std::string load_functions(State& s, const Compiled& c) {
  Module module = nullptr;
  if (int rc = s.api.load(&module, c.cubin.data()); rc != 0)
    return fmt::format("cuModuleLoadData failed (CUresult {})", rc);
  for (int k = 0; k < kCount; ++k)
    if (c.lowered[k].empty() || s.api.function(&s.functions[k], module, c.lowered[k].c_str()) != 0)
      return fmt::format("kernel {} missing from the NVRTC module", kNames[k]);
  return "";
}

State& state() {
  static State s;
  static std::once_flag once;
  std::call_once(once, [] {
    s.unavailable = open_apis(s.api);
    Compiled compiled;
    if (s.unavailable.empty()) s.unavailable = compile(s.api, compiled);
    if (s.unavailable.empty()) s.unavailable = load_functions(s, compiled);
  });
  return s;
}

int launch_kernel(Kernel k, const launch::Plan& p, void* stream, std::vector<void*> args) {
  if (p.skip || p.status != 0) return p.status;
  State& s = state();
  if (!s.unavailable.empty()) return launch::kInvalidValue;
  return s.api.launch(s.functions[k], p.grid, 1, 1, p.block, 1, 1, static_cast<unsigned>(p.smem),
                      stream, args.data(), nullptr);
}

}  // namespace

const char* kernels_unavailable() {
  const State& s = state();
  return s.unavailable.empty() ? nullptr : s.unavailable.c_str();
}

const char* kernels_source() {
  return "nvrtc";
}

const char* error_text(int rc) {
  State& s = state();
  const char* text = nullptr;
  if (s.unavailable.empty() && s.api.error_string(rc, &text) == 0 && text != nullptr) return text;
  s.last_error = fmt::format("CUresult {}", rc);
  return s.last_error.c_str();
}

int ln_modulate_quant(const LnModulateQuantArgs& a, void* stream) {
  const auto p = launch::ln_modulate_quant(a);
  LnModulateQuantArgs arg = a;
  return launch_kernel(row_kernel(kLn, p), p, stream, {&arg});
}

int gelu_quant(const void* x, std::int64_t rows, std::int64_t width, Fp8Rows out, void* stream) {
  const auto p = launch::gelu_quant(x, rows, width, out);
  const void* xp = x;
  return launch_kernel(row_kernel(kGelu, p), p, stream, {&xp, &width, &out});
}

int gather_quant(const GatherQuantArgs& a, void* stream) {
  const auto p = launch::gather_quant(a);
  GatherQuantArgs arg = a;
  return launch_kernel(row_kernel(kGather, p), p, stream, {&arg});
}

int gate_residual(void* x, std::int64_t rows, std::int64_t rows_per_batch, std::int64_t width,
                  BatchVector gate, const void* y, void* stream) {
  const auto p = launch::gate_residual(x, rows, rows_per_batch, width, gate, y);
  const void* gp = gate.data;
  std::int64_t stride = gate.stride;
  const void* yp = y;
  return launch_kernel(p.vec ? kGateVec : kGate, p, stream,
                       {&x, &rows, &rows_per_batch, &width, &gp, &stride, &yp});
}

int qkv_pack(const QkvPackArgs& a, void* stream) {
  const auto p = launch::qkv_pack(a);
  QkvPackArgs arg = a;
  return launch_kernel(p.vec ? kQkvVec : kQkv, p, stream, {&arg});
}

int v_quant(const void* v, std::int64_t count, const float* v_amax, void* v8, float* scales,
            void* stream) {
  const auto p = launch::v_quant(v, count, v8);
  std::int64_t chunks = count / 8;
  const void* vp = v;
  return launch_kernel(kVQuant, p, stream, {&vp, &chunks, &v_amax, &v8, &scales});
}

int gather_fp8(const GatherFp8Args& a, void* stream) {
  const auto p = launch::gather_fp8(a);
  GatherFp8Args arg = a;
  return launch_kernel(kGatherFp8, p, stream, {&arg});
}

int dequant_e4m3(const void* w, std::int64_t count, float scale, void* out, void* stream) {
  const auto p = launch::dequant_e4m3(w, count, out);
  std::int64_t chunks = count / 16;
  const void* wp = w;
  return launch_kernel(kDequant, p, stream, {&wp, &chunks, &scale, &out});
}

int group_norm(const GroupNormArgs& a, void* stream) {
  const auto p = launch::group_norm(a);
  GroupNormArgs arg = a;
  const int rc = launch_kernel(kGnMoments, p, stream, {&arg});
  return rc != 0 ? rc : launch_kernel(kGnApply, p, stream, {&arg});
}

}  // namespace sd35::smoke::cuda
