#include "smoke/denoise.hpp"

#include <ATen/record_function.h>
#include <fmt/format.h>

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

// The velocity of one CFG step (the forward of [x, x]), eager or replayed from a CUDA graph.
class Velocity {
 public:
  Velocity(const Model& model, const Exec& e, at::Tensor context, at::Tensor pooled)
      : model_(model), e_(e), context_(std::move(context)), pooled_(std::move(pooled)) {
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

  Result<at::Tensor> operator()(const at::Tensor& x, float t) {
    const at::Tensor x2 = at::cat({x, x}, 0);
    const at::Tensor t2 = at::full({x2.size(0)}, t, at::TensorOptions().dtype(at::kFloat));
    if (!use_graph_ || eager_steps_ == 0) {
      ++eager_steps_;
      return forward(model_, e_, x2, context_, pooled_, t2.to(e_.device));
    }
#ifdef SD35_TORCH_CUDA
    if (!graph_ && !capture(x2)) return (*this)(x, t);  // eager from now on; mode_ says why
    x_in_.copy_(x2);
    t_in_.copy_(t2);
    graph_->replay();
    return out_;
#else
    return forward(model_, e_, x2, context_, pooled_, t2.to(e_.device));
#endif
  }

 private:
#ifdef SD35_TORCH_CUDA
  // Captures the forward with static inputs shaped like `x2`; false (and eager mode) on failure.
  bool capture(const at::Tensor& x2) {
    x_in_ = at::empty_like(x2);
    t_in_ = at::zeros({x2.size(0)}, x2.options());
    // The eager step's cached blocks go back, so the graph's private pool does not sit beside
    // them (a 16 GiB card runs this with little to spare).
    c10::cuda::CUDACachingAllocator::emptyCache();
    auto graph = std::make_unique<at::cuda::CUDAGraph>();
    std::optional<Result<at::Tensor>> captured;
    try {
      graph->capture_begin();
      captured = forward(model_, e_, x_in_, context_, pooled_, t_in_);
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
  at::Tensor x_in_, t_in_, out_;
#endif
  const Model& model_;
  const Exec& e_;
  at::Tensor context_, pooled_;
  bool use_graph_ = false;
  int eager_steps_ = 0;
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
  Velocity velocity(model, e, context, pooled);
  // A named range per step, so a profiler (tests/tools/gpu_profile_pipeline.py) can tell this
  // path's kernels from the reference run's; free when no profiler listens.
  const std::string range = "sd35.denoise_step." + std::string(to_string(e.effective));
  for (std::size_t i = 0; i < static_cast<std::size_t>(spec.steps); ++i) {
    RECORD_USER_SCOPE(range.c_str());
    const auto t0 = Clock::now();
    SD35_TRY(at::Tensor v, velocity(x, ts[i]));
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
