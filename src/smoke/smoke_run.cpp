// The smoke command's work: fixture protocol, embedded default, real checkpoint run, codec check
// against torch's float8, GEMM probe and the benchmark. Everything returns torch-free results.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <random>

#include "smoke/fp8_codec.hpp"
#include "smoke/mmdit_model.hpp"
#include "smoke/smoke_io.hpp"

#ifdef SD35_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/cuda.h>
#endif

namespace sd35::smoke {
namespace {

using Clock = std::chrono::steady_clock;

at::Tensor from32(const Tensor32& t) {
  return torch::from_blob(const_cast<float*>(t.data.data()), t.shape, at::TensorOptions().dtype(at::kFloat)).clone();
}

Tensor32 to32(const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU, at::kFloat).contiguous();
  Tensor32 out;
  out.shape = c.sizes().vec();
  out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return out;
}

// Portable seeded normals (libstdc++ mt19937_64 + normal_distribution): the same on every torch.
at::Tensor seeded_normal(std::vector<std::int64_t> shape, std::uint64_t seed) {
  at::Tensor t = torch::empty(shape, at::TensorOptions().dtype(at::kFloat));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist;
  float* p = t.data_ptr<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

void sync(const at::Device& d) {
#ifdef SD35_TORCH_CUDA
  if (d.is_cuda()) torch::cuda::synchronize();
#endif
}

void reset_peak(const at::Device& d) {
#ifdef SD35_TORCH_CUDA
  if (d.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(d.index() < 0 ? 0 : d.index());
#endif
}

// Device allocator peak on CUDA, process peak RSS on the CPU.
std::uint64_t peak_bytes(const at::Device& d) {
#ifdef SD35_TORCH_CUDA
  if (d.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(d.index() < 0 ? 0 : d.index());
    return static_cast<std::uint64_t>(
        stats.allocated_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak);
  }
#endif
  return peak_rss_bytes();
}

std::string device_name(const at::Device& d) {
#ifdef SD35_TORCH_CUDA
  if (d.is_cuda()) {
    const auto* p = at::cuda::getCurrentDeviceProperties();
    return fmt::format("{} (cc {}.{})", p->name, p->major, p->minor);
  }
#endif
  return "cpu";
}

std::string path_text(const Exec& e) {
  std::string s(to_string(e.effective));
  s += e.native_fp8 ? " (at::_scaled_mm, E4M3 activations" : (e.act == at::kBFloat16 ? " (bf16 compute" : " (fp32 compute");
  s += fmt::format(" on {})", e.device.is_cuda() ? "cuda" : "cpu");
  return s;
}

double gib(std::uint64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0 * 1024.0); }

struct Conditioning {
  at::Tensor noise, context, pooled, uncond_context, uncond_pooled;
};

Conditioning synthetic_conditioning(const MmditConfig& c, int h, int w, int tokens, std::uint64_t seed) {
  return {seeded_normal({1, c.in_channels, h, w}, seed), seeded_normal({1, tokens, c.joint_attention_dim}, seed + 1),
          seeded_normal({1, c.pooled_projection_dim}, seed + 2),
          seeded_normal({1, tokens, c.joint_attention_dim}, seed + 3) * 0.5,
          seeded_normal({1, c.pooled_projection_dim}, seed + 4) * 0.5};
}

struct TimedSample {
  Tensor32 out;
  double ms_per_step = 0;
  std::uint64_t peak = 0;
};

Result<TimedSample> timed_sample(const Model& m, const Exec& e, const Conditioning& cond, const SamplingSpec& spec) {
  reset_peak(e.device);
  sync(e.device);
  const auto t0 = Clock::now();
  SD35_TRY(at::Tensor x, sample(m, e, cond.noise, cond.context, cond.pooled, cond.uncond_context, cond.uncond_pooled, spec));
  sync(e.device);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  TimedSample ts;
  ts.out = to32(x);
  ts.ms_per_step = ms / std::max(1, spec.steps);
  ts.peak = peak_bytes(e.device);
  return ts;
}

bool all_finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

bool wants_fp8_storage(Precision p) { return p == Precision::fp8 || p == Precision::fp8_weights; }

template <class F>
auto guarded(F&& f, const char* what) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& ex) {
    return Error{Errc::internal, fmt::format("{} failed: {}", what, torch_error_text(ex)), "libtorch",
                 "re-run with --device cpu --precision fp32 to isolate the failing path"};
  }
}

}  // namespace

Result<LoadedCheckpointInfo> inspect_checkpoint(const std::string& path) {
  return guarded([&]() -> Result<LoadedCheckpointInfo> {
    SD35_TRY(Model m, load_model(path, false));
    return m.info;
  }, "loading the checkpoint");
}

Result<FixtureRun> run_fixture(const std::string& checkpoint, const std::string& inputs, Precision precision,
                               const std::string& device, const SamplingSpec& sampling) {
  return guarded([&]() -> Result<FixtureRun> {
    SD35_TRY(Exec e, plan_exec(precision, device));
    SD35_TRY(Model m, load_model(checkpoint, wants_fp8_storage(precision)));
    SD35_TRY_STATUS(prepare_model(m, e));
    std::map<std::string, at::Tensor> in;
    for (const char* n : {"latents", "context", "pooled", "timestep", "uncond_context", "uncond_pooled", "noise"}) {
      SD35_TRY(Tensor32 t, read_f32_tensor(inputs, n));
      in[n] = from32(t);
    }
    FixtureRun run;
    run.checkpoint = m.info;
    run.path_taken = path_text(e) + (e.note.empty() ? "" : "; " + e.note);
    SD35_TRY(at::Tensor fwd, forward(m, e, in["latents"], in["context"], in["pooled"], in["timestep"]));
    run.forward = to32(fwd);
    SD35_TRY(at::Tensor smp, sample(m, e, in["noise"], in["context"], in["pooled"], in["uncond_context"],
                                    in["uncond_pooled"], sampling));
    run.sample = to32(smp);
    flow_match_schedule(sampling.steps, sampling.shift, run.timesteps, run.sigmas);
    return run;
  }, "the fixture run");
}

Result<CodecTorchAgreement> compare_codec_with_torch(const std::string& device) {
#ifndef SD35_TORCH_FLOAT8
  (void)device;
  return Error{Errc::unavailable, fmt::format("libtorch {} has no float8 dtypes (needs >= 2.1)", TORCH_VERSION),
               "libtorch", "the codec is still checked against its own oracle"};
#else
  return guarded([&]() -> Result<CodecTorchAgreement> {
    SD35_TRY(Exec e, plan_exec(Precision::fp32, device));
    CodecTorchAgreement r;
    r.native_float8 = true;
    r.device = e.device.str();
    // Values: every code's value, midpoints between neighbours and one float ulp either side,
    // out-of-range magnitudes, specials.
    std::vector<float> values;
    for (auto dec : {fp8::decode_e4m3fn, fp8::decode_e5m2}) {
      std::vector<float> finite;
      for (int c = 0; c < 256; ++c) {
        const float v = dec(static_cast<std::uint8_t>(c));
        values.push_back(v);
        if (std::isfinite(v) && c < 128) finite.push_back(v);
      }
      std::sort(finite.begin(), finite.end());
      for (std::size_t i = 0; i + 1 < finite.size(); ++i) {
        const float mid = static_cast<float>((static_cast<double>(finite[i]) + finite[i + 1]) / 2);
        for (float x : {mid, std::nextafter(mid, 0.0F), std::nextafter(mid, 1e30F)}) {
          values.push_back(x);
          values.push_back(-x);
        }
      }
    }
    for (float x : {448.0F, 464.0F, 470.0F, 480.0F, 1e5F, 57344.0F, 61440.0F, 65536.0F, 1e9F, INFINITY, -INFINITY})
      values.push_back(x);
    at::Tensor src = torch::from_blob(values.data(), {static_cast<std::int64_t>(values.size())}, at::kFloat).to(e.device);
    at::Tensor q4 = src.to(at::kFloat8_e4m3fn).view(at::kByte).cpu();
    at::Tensor q5 = src.to(at::kFloat8_e5m2).view(at::kByte).cpu();
    // Decoding: all 256 codes through torch.
    at::Tensor codes = torch::arange(256, at::kInt).to(at::kByte).to(e.device);
    at::Tensor d4 = codes.view(at::kFloat8_e4m3fn).to(at::kFloat).cpu();
    at::Tensor d5 = codes.view(at::kFloat8_e5m2).to(at::kFloat).cpu();
    auto note = [&](const std::string& s) {
      if (r.first_mismatch.empty()) r.first_mismatch = s;
      ++r.mismatches;
    };
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto a4 = q4[static_cast<std::int64_t>(i)].item<std::uint8_t>();
      const auto a5 = q5[static_cast<std::int64_t>(i)].item<std::uint8_t>();
      const auto b4 = fp8::encode_e4m3fn(values[i]);
      const auto b5 = fp8::encode_e5m2(values[i]);
      r.checked += 2;
      if (a4 != b4) note(fmt::format("e4m3fn({}) torch 0x{:02x} codec 0x{:02x}", values[i], a4, b4));
      if (a5 != b5) note(fmt::format("e5m2({}) torch 0x{:02x} codec 0x{:02x}", values[i], a5, b5));
    }
    for (int c = 0; c < 256; ++c) {
      const float t4 = d4[c].item<float>(), t5 = d5[c].item<float>();
      const float c4 = fp8::decode_e4m3fn(static_cast<std::uint8_t>(c)), c5 = fp8::decode_e5m2(static_cast<std::uint8_t>(c));
      r.checked += 2;
      if (!(t4 == c4 || (std::isnan(t4) && std::isnan(c4)))) note(fmt::format("decode e4m3fn 0x{:02x}", c));
      if (!(t5 == c5 || (std::isnan(t5) && std::isnan(c5)))) note(fmt::format("decode e5m2 0x{:02x}", c));
    }
    return r;
  }, "the codec comparison");
#endif
}

}  // namespace sd35::smoke
