// GPU measurements: FP8 vs BF16 GEMM throughput at the model's shapes, and one CFG step of a
// random-weight SD3.5-size MMDiT per precision path (tests/bench/smoke_mmdit_bench.cpp).
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <stdexcept>

#include "smoke/mmdit_fused.hpp"
#include "smoke/mmdit_model.hpp"

#ifdef SD35_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/cuda.h>
#endif

namespace sd35::smoke {
namespace {

struct Peak {
  const char* match;  // substring of the CUDA device name
  double bf16, fp8;   // dense TFLOP/s (torch-cuda-fp8.md Table D)
};

// Order matters: the first match wins ("H100 PCIe" before "H100").
constexpr Peak kPeaks[] = {
    {"H100 PCIe", 756, 1513}, {"H100", 989, 1979}, {"H200", 989, 1979},        {"GH200", 989, 1979},
    {"L40S", 362, 733},       {"L4", 121, 242.5},  {"RTX 4090", 165.2, 330.3}, {"A100", 312, 0},
};

#ifdef SD35_TORCH_CUDA
// The same step replayed as a CUDA graph: removes the host's per-op launch overhead (thousands of
// small kernels per step), which eager libtorch and diffusers both pay. Adds the timing (or the
// reason it could not be captured) to `row`.
void time_cuda_graph(const std::function<Result<at::Tensor>()>& step, int iters,
                     nlohmann::json& row) {
  try {
    c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool();
    c10::cuda::CUDAStreamGuard guard(stream);
    if (auto warm = step(); !warm) throw std::runtime_error(warm.error().describe());
    stream.synchronize();
    at::cuda::CUDAGraph graph;
    graph.capture_begin();
    auto captured = step();
    graph.capture_end();
    if (!captured) throw std::runtime_error(captured.error().describe());
    graph.replay();
    stream.synchronize();
    const auto g0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) graph.replay();
    stream.synchronize();
    row["ms_per_cfg_step_cuda_graph"] =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g0).count() /
        iters;
    auto gstats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
    row["peak_gib_cuda_graph"] = static_cast<double>(gstats.allocated_bytes[0].peak) / (1 << 30);
  } catch (const std::exception& ex) {
    row["cuda_graph_error"] = torch_error_text(ex);
  }
}
#endif

}  // namespace

#if defined(SD35_TORCH_CUDA) && defined(SD35_TORCH_SCALED_MM)
namespace {

struct GemmShape {
  std::string name;
  std::int64_t m, n, k;
};

// Seconds per call of `fn` on the GPU: 3 warm-up calls, then the mean of `iters`.
template <class F>
double seconds_per_call(F&& fn, int iters) {
  for (int i = 0; i < 3; ++i) fn();
  torch::cuda::synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) fn();
  torch::cuda::synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
}

// One GEMM shape in BF16 and (cc >= 8.9) FP8, as TFLOP/s and share of the device's dense peak.
nlohmann::json gemm_row(const GemmShape& s, const at::TensorOptions& o, bool fp8_ok,
                        const Peak* peak) {
  at::Tensor a = at::randn({s.m, s.k}, o.dtype(at::kBFloat16));
  at::Tensor b = at::randn({s.n, s.k}, o.dtype(at::kBFloat16));
  const double flop =
      2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
  const double bf16 = flop / seconds_per_call([&] { return at::matmul(a, b.t()); }, 20) / 1e12;
  double fp8 = 0;
  if (fp8_ok) {
    at::Tensor a8 = a.to(at::kFloat8_e4m3fn);
    at::Tensor b8 = b.to(at::kFloat8_e4m3fn).t();
    at::Tensor one = at::ones({}, o.dtype(at::kFloat));
    fp8 = flop /
          seconds_per_call(
              [&] {
                return at::_scaled_mm(a8, b8, one, one, std::nullopt, std::nullopt, at::kBFloat16,
                                      true);
              },
              20) /
          1e12;
  }
  nlohmann::json row{{"shape", s.name},
                     {"m", s.m},
                     {"n", s.n},
                     {"k", s.k},
                     {"bf16_tflops", bf16},
                     {"fp8_tflops", fp8},
                     {"fp8_over_bf16", bf16 > 0 ? fp8 / bf16 : 0}};
  if (peak) {
    row["bf16_pct_of_peak"] = 100.0 * bf16 / peak->bf16;
    if (peak->fp8 > 0) row["fp8_pct_of_peak"] = 100.0 * fp8 / peak->fp8;
  }
  return row;
}

// Joint attention at the model's shape (batch 2 CFG): 4*B*H*L^2*Dh FLOP per call, BF16 SDPA.
nlohmann::json attention_row(const MmditConfig& c, int tokens, const at::TensorOptions& o) {
  const std::int64_t heads = c.num_heads, hd = c.head_dim;
  at::Tensor q = at::randn({2, heads, tokens / 2, hd}, o.dtype(at::kBFloat16));
  const double sec =
      seconds_per_call([&] { return at::scaled_dot_product_attention(q, q, q); }, 10);
  const double l = static_cast<double>(tokens / 2);
  return {{"shape", "attention_bf16"},
          {"m", tokens / 2},
          {"n", tokens / 2},
          {"k", hd},
          {"bf16_tflops",
           4.0 * 2 * static_cast<double>(heads) * l * l * static_cast<double>(hd) / sec / 1e12},
          {"fp8_tflops", 0.0},
          {"fp8_over_bf16", 0.0},
          {"ms", sec * 1e3}};
}

// Activation quantisation cost (per-tensor abs-max + scale + cast) at the FF-down input shape.
nlohmann::json quantisation_costs(int tokens, std::int64_t d, const at::TensorOptions& o) {
  at::Tensor x = at::randn({tokens, 4 * d}, o.dtype(at::kBFloat16));
  auto time_ms = [&](auto&& fn) { return seconds_per_call(fn, 20) * 1e3; };
  nlohmann::json quant;
  quant["shape"] = {tokens, 4 * d};
  quant["aminmax_ms"] = time_ms([&] { return at::aminmax(x); });
  at::Tensor inv = at::full({}, 0.5F, o.dtype(at::kFloat));
  quant["fused_scale_cast_ms"] = time_ms([&] {
    at::Tensor q = at::empty(x.sizes(), x.options().dtype(at::kFloat8_e4m3fn));
    return at::mul_out(q, x, inv);
  });
  quant["two_pass_scale_cast_ms"] = time_ms([&] { return x.mul(inv).to(at::kFloat8_e4m3fn); });
  quant["plain_cast_ms"] = time_ms([&] { return x.to(at::kFloat8_e4m3fn); });
  quant["bf16_copy_ms"] = time_ms([&] { return x.clone(); });
  return quant;
}

std::string probe_summary(const std::string& name, const Peak* peak, double sq_fp8,
                          double sq_bf16) {
  if (!peak)
    return fmt::format("GEMM 8192^3 on {} (no peak table entry): FP8 {:.0f}, BF16 {:.0f} TFLOP/s",
                       name, sq_fp8, sq_bf16);
  return fmt::format(
      "GEMM 8192^3 on {}: FP8 {:.0f} TFLOP/s ({:.0f}% of {:.0f}), BF16 {:.0f} TFLOP/s "
      "({:.0f}% of {:.0f}), FP8/BF16 {:.2f}x",
      name, sq_fp8, 100 * sq_fp8 / peak->fp8, peak->fp8, sq_bf16, 100 * sq_bf16 / peak->bf16,
      peak->bf16, sq_fp8 / std::max(sq_bf16, 1e-9));
}

const Peak* peak_for(const std::string& name) {
  for (const auto& p : kPeaks)
    if (name.find(p.match) != std::string::npos) return &p;
  return nullptr;
}

}  // namespace
#endif

Result<nlohmann::json> gemm_probe(const MmditConfig& c, int tokens) {
#if !defined(SD35_TORCH_CUDA) || !defined(SD35_TORCH_SCALED_MM)
  (void)c;
  (void)tokens;
  return Error{Errc::unavailable,
               fmt::format("GEMM probe needs a CUDA libtorch >= 2.5 (this is {})", TORCH_VERSION),
               "libtorch", "run it on the GPU machine"};
#else
  if (!torch::cuda::is_available())
    return Error{Errc::unavailable, "GEMM probe needs a CUDA device", "libtorch", ""};
  try {
    const auto* props = at::cuda::getCurrentDeviceProperties();
    const std::string name = props->name;
    const Peak* peak = peak_for(name);
    const bool fp8_ok = props->major > 8 || (props->major == 8 && props->minor >= 9);
    const auto o = at::TensorOptions().device(at::kCUDA);
    const std::int64_t d = c.inner_dim();
    const std::vector<GemmShape> shapes{{"qkv", tokens, 3 * d, d},
                                        {"attn_out", tokens, d, d},
                                        {"ff_up", tokens, 4 * d, d},
                                        {"ff_down", tokens, d, 4 * d},
                                        {"square_8192", 8192, 8192, 8192}};
    nlohmann::json rows = nlohmann::json::array();
    double sq_bf16 = 0, sq_fp8 = 0;
    for (const auto& s : shapes) {
      nlohmann::json row = gemm_row(s, o, fp8_ok, peak);
      if (s.name == "square_8192") {
        sq_bf16 = row["bf16_tflops"].get<double>();
        sq_fp8 = row["fp8_tflops"].get<double>();
      }
      rows.push_back(std::move(row));
    }
    rows.push_back(attention_row(c, tokens, o));
    nlohmann::json doc{{"device", name},
                       {"cc", fmt::format("{}.{}", props->major, props->minor)},
                       {"rows", rows},
                       {"activation_quantisation",
                        fp8_ok ? quantisation_costs(tokens, d, o) : nlohmann::json::object()}};
    if (peak)
      doc["dense_peak_tflops"] = {
          {"bf16", peak->bf16}, {"fp8", peak->fp8}, {"matched", peak->match}};
    doc["summary"] = probe_summary(name, peak, sq_fp8, sq_bf16);
    return doc;
  } catch (const std::exception& ex) {
    return Error{Errc::internal, "GEMM probe failed: " + torch_error_text(ex), "cuda", ""};
  }
#endif
}

Result<nlohmann::json> run_benchmark(const BenchRequest& rq) {
#ifndef SD35_TORCH_CUDA
  (void)rq;
  return Error{Errc::unavailable,
               fmt::format("the MMDiT benchmark needs a CUDA libtorch (this is {})", TORCH_VERSION),
               "libtorch", "run tests/bench on the GPU machine"};
#else
  if (!torch::cuda::is_available())
    return Error{Errc::unavailable, "no CUDA device", "libtorch", ""};
  const MmditConfig cfg = rq.model == "medium" ? sd35_medium_config() : sd35_large_config();
  nlohmann::json rows = nlohmann::json::array();
  const at::Device dev(at::kCUDA, 0);
  // The caching allocator's statistics calls below need it initialised for the device: allocate
  // once first (in a fresh process nothing else has touched CUDA yet).
  (void)at::zeros({1}, at::TensorOptions().device(dev));
  for (Precision p : rq.precisions) {
    try {
      SD35_TRY(Exec e, plan_exec(p, "cuda"));
      c10::cuda::CUDACachingAllocator::emptyCache();
      c10::cuda::CUDACachingAllocator::resetPeakStats(0);
      Model m = synthetic_model(cfg, 1, p != Precision::bf16, dev, at::kBFloat16);
      SD35_TRY_STATUS(prepare_model(m, e));
      torch::cuda::synchronize();
      const std::uint64_t wbytes = weight_bytes(m);
      const auto o = at::TensorOptions().device(dev).dtype(at::kBFloat16);
      at::Tensor x = at::randn({2, cfg.in_channels, rq.latent, rq.latent}, o);
      at::Tensor ctx = at::randn({2, rq.text_tokens, cfg.joint_attention_dim}, o);
      at::Tensor pooled = at::randn({2, cfg.pooled_projection_dim}, o);
      at::Tensor t = at::full({2}, 500.0F, at::TensorOptions().device(dev));
      for (int i = 0; i < rq.warmup; ++i)
        SD35_TRY_STATUS([&]() -> Status {
          SD35_TRY(auto y, forward(m, e, x, ctx, pooled, t));
          (void)y;
          return ok();
        }());
      // Mean ms of `iters` eager steps after the warm-up above (the caching allocator is warm).
      auto time_steps = [&]() -> Result<double> {
        SD35_TRY(auto warm, forward(m, e, x, ctx, pooled, t));  // first use of a kernel variant
        (void)warm;
        torch::cuda::synchronize();
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < rq.iters; ++i) {
          SD35_TRY(auto y, forward(m, e, x, ctx, pooled, t));
          (void)y;
        }
        torch::cuda::synchronize();
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                   .count() /
               rq.iters;
      };
      torch::cuda::synchronize();
      c10::cuda::CUDACachingAllocator::resetPeakStats(0);
      SD35_TRY(const double ms, time_steps());
      auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
      const auto peak = stats.allocated_bytes[0].peak;
      nlohmann::json row{{"precision", to_string(e.effective)},
                         {"native_fp8", e.native_fp8},
                         {"fused_kernels", m.fused},
                         {"ms_per_cfg_step", ms},
                         {"weights_gib", static_cast<double>(wbytes) / (1 << 30)},
                         {"peak_gib", static_cast<double>(peak) / (1 << 30)}};
      if (!m.fused_note.empty()) row["fused_note"] = m.fused_note;
      {
        // Which attention kernel torch picks for this step's q, k, v.
        const auto ho = o.dtype(at::kBFloat16);
        const std::int64_t tokens =
            static_cast<std::int64_t>(rq.latent / cfg.patch_size) * (rq.latent / cfg.patch_size) +
            rq.text_tokens;
        at::Tensor q = at::empty({2, tokens, cfg.num_heads, cfg.head_dim}, ho).transpose(1, 2);
        row["attention_backend"] = fused::attention_backend_for(q, q, q);
      }
      if (m.fused && rq.variants) {
        // What the fused kernels and each attention backend are worth, in the same run.
        nlohmann::json variants;
        m.fused = false;
        if (auto r = time_steps()) variants["unfused_aten_ops"] = *r;
        m.fused = true;
        for (const char* backend : {"flash", "cudnn", "efficient"}) {
          if (!fused::select_attention_backend(backend)) continue;
          try {
            if (auto r = time_steps()) variants[std::string("attention_") + backend] = *r;
          } catch (const std::exception& ex) {
            variants[std::string("attention_") + backend] = torch_error_text(ex);
          }
        }
        fused::select_attention_backend("auto");
        row["variants_ms"] = variants;
      }
      if (rq.cuda_graph)
        time_cuda_graph([&] { return forward(m, e, x, ctx, pooled, t); }, rq.iters, row);
      rows.push_back(row);
    } catch (const std::exception& ex) {
      rows.push_back({{"precision", to_string(p)}, {"error", torch_error_text(ex)}});
    }
  }
  return nlohmann::json{{"model", rq.model},   {"config", to_json(cfg)},
                        {"latent", rq.latent}, {"text_tokens", rq.text_tokens},
                        {"batch", 2},          {"rows", rows}};
#endif
}

}  // namespace sd35::smoke
