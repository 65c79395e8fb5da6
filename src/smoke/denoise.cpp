#include "smoke/denoise.hpp"

#include <ATen/record_function.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>

#ifdef SD35_TORCH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/cuda.h>
#endif

namespace sd35::smoke {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool graphs_disabled() {
  const char* v = std::getenv("SD35_CUDA_GRAPH");
  return v != nullptr && std::string(v) == "0";
}

// Rows of (timestep, pooled) whose modulation one call computes unless the request says
// otherwise: every step of a 28-step run of one prompt at once, in ~140 MB for SD3.5 Large;
// longer runs and batches go in groups.
constexpr std::int64_t kModulationRows = 64;

// The velocity of one CFG step (the forward of [x, x]), eager or replayed from a CUDA graph.
class Velocity {
 public:
  Velocity(const Model& model, const Exec& e, at::Tensor context, at::Tensor pooled,
           std::vector<float> ts, std::int64_t modulation_rows)
      : model_(model),
        e_(e),
        context_(std::move(context)),
        pooled_(std::move(pooled)),
        ts_(std::move(ts)),
        modulation_rows_(modulation_rows > 0 ? modulation_rows : kModulationRows) {
    if (!e.device.is_cuda()) {
      mode_ = "eager";
    } else if (graphs_disabled()) {
      mode_ = "eager (SD35_CUDA_GRAPH=0)";
    } else {
#ifdef SD35_TORCH_CUDA
      use_graph_ = true;
      mode_ = "cuda graph";
#else
      mode_ = "eager (this libtorch build has no CUDA graph API)";
#endif
    }
  }

  const std::string& mode() const {
    return mode_;
  }

  Result<at::Tensor> operator()(const at::Tensor& x, std::size_t step) {
    const at::Tensor x2 = at::cat({x, x}, 0);
    const Modulation mod = step_modulation(step);
    if (!use_graph_ || !warmed_) {
      warmed_ = true;
      return forward(model_, e_, x2, context_, mod);
    }
#ifdef SD35_TORCH_CUDA
    if (!graph_ && !capture(x2, mod)) return (*this)(x, step);  // eager from now on
    x_in_.copy_(x2);
    mod_in_.packed.copy_(mod.packed);
    graph_->replay();
    return out_;
#else
    return forward(model_, e_, x2, context_, mod);
#endif
  }

 private:
  // Step `step`'s rows of the modulation table, computed a group of steps at a time.
  Modulation step_modulation(std::size_t step) {
    const std::int64_t rows = pooled_.size(0);
    if (!table_.packed.defined() || step < table_first_ ||
        static_cast<std::int64_t>(step - table_first_) * rows >= table_.packed.size(0)) {
      const auto group = std::min<std::size_t>(std::max<std::int64_t>(1, modulation_rows_ / rows),
                                               ts_.size() - step);
      std::vector<float> t;
      for (std::size_t i = step; i < step + group; ++i) t.insert(t.end(), rows, ts_[i]);
      const at::Tensor t_rows = torch::tensor(t, at::TensorOptions().dtype(at::kFloat));
      table_ =
          modulation(model_, e_, t_rows, pooled_.repeat({static_cast<std::int64_t>(group), 1}));
      table_first_ = step;
    }
    return table_.rows(static_cast<std::int64_t>(step - table_first_) * rows, rows);
  }

#ifdef SD35_TORCH_CUDA
  // Captures the forward with static inputs shaped like `x2` and `mod`; false (and eager mode)
  // on failure.
  bool capture(const at::Tensor& x2, const Modulation& mod) {
    x_in_ = at::empty_like(x2);
    mod_in_ = mod;
    mod_in_.packed = mod.packed.clone();
    // The eager step's cached blocks go back, so the graph's private pool does not sit beside
    // them (a 16 GiB card runs this with little to spare).
    c10::cuda::CUDACachingAllocator::emptyCache();
    auto graph = std::make_unique<at::cuda::CUDAGraph>();
    std::optional<Result<at::Tensor>> captured;
    try {
      graph->capture_begin();
      captured = forward(model_, e_, x_in_, context_, mod_in_);
      graph->capture_end();
    } catch (const std::exception& ex) {
      return give_up("capture failed: " + torch_error_text(ex));
    }
    if (!captured || !*captured) return give_up("the captured forward failed");
    out_ = **captured;
    graph_ = std::move(graph);
    return true;
  }

  bool give_up(const std::string& why) {
    use_graph_ = false;
    mode_ = "eager (" + why + ")";
    return false;
  }

  std::unique_ptr<at::cuda::CUDAGraph> graph_;
  at::Tensor x_in_, out_;
  Modulation mod_in_;
#endif
  const Model& model_;
  const Exec& e_;
  at::Tensor context_, pooled_;
  std::vector<float> ts_;
  std::int64_t modulation_rows_;
  Modulation table_;
  std::size_t table_first_ = 0;
  bool use_graph_ = false;
  bool warmed_ = false;  // the first step ran eagerly (plans built, kernels loaded)
  std::string mode_;
};

void sync(const at::Device& d) {
#ifdef SD35_TORCH_CUDA
  if (d.is_cuda()) torch::cuda::synchronize();
#endif
  (void)d;
}

Result<Denoised> run_loop(const Model& model, const Exec& e, const at::Tensor& noise,
                          const at::Tensor& context, const at::Tensor& pooled,
                          const SamplingSpec& spec) {
  std::vector<float> ts, sigmas;
  flow_match_schedule(spec.steps, spec.shift, ts, sigmas);
  Denoised out;
  at::Tensor x = noise.to(e.device, at::kFloat);
  Velocity velocity(model, e, context, pooled, ts, spec.modulation_rows);
  // A named range per step, so a profiler (tests/tools/gpu_profile_pipeline.py) can tell this
  // path's kernels from the reference run's; free when no profiler listens.
  const std::string range = "sd35.denoise_step." + std::string(to_string(e.effective));
  for (std::size_t i = 0; i < static_cast<std::size_t>(spec.steps); ++i) {
    RECORD_USER_SCOPE(range.c_str());
    const auto t0 = Clock::now();
    SD35_TRY(at::Tensor v, velocity(x, i));
    auto parts = v.chunk(2, 0);
    const at::Tensor guided = parts[0] + static_cast<float>(spec.guidance) * (parts[1] - parts[0]);
    x = x + (sigmas[i + 1] - sigmas[i]) * guided;
    sync(e.device);
    out.step_ms.push_back(ms_since(t0));
  }
  out.latents = x;
  out.mode = velocity.mode();
  return out;
}

}  // namespace

Result<Denoised> denoise(const Model& model, const Exec& e, const at::Tensor& noise,
                         const at::Tensor& context, const at::Tensor& pooled,
                         const SamplingSpec& spec) {
  c10::InferenceMode guard;
#ifdef SD35_TORCH_CUDA
  if (e.device.is_cuda()) {
    // Graphs are captured on a side stream (never the legacy default one); the eager first step
    // runs there too, so its warm-up (cuBLASLt workspaces, plans) is the captured stream's.
    torch::cuda::synchronize();
    c10::cuda::CUDAStreamGuard stream(c10::cuda::getStreamFromPool());
    return run_loop(model, e, noise, context, pooled, spec);
  }
#endif
  return run_loop(model, e, noise, context, pooled, spec);
}

}  // namespace sd35::smoke
