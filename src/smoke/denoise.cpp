#include "smoke/denoise.hpp"

#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "smoke/pipeline_memory.hpp"
#include "smoke/smoke_env.hpp"

#ifdef SD35_TORCH_CUDA
#include <ATen/cuda/CUDAEvent.h>
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

// Rows of (timestep, pooled) whose modulation one call computes unless the request says
// otherwise: every step of a 28-step run of one prompt at once, in ~140 MB for SD3.5 Large;
// longer runs and batches go in groups.
constexpr std::int64_t kModulationRows = 64;

// Free device memory above which the graph's pool is captured beside the eager step's cached
// blocks (SD3.5 Large's 1024^2 step holds a few GiB of activations).
constexpr std::uint64_t kRoomForGraphPool = std::uint64_t{16} << 30;

// The most rows one modulation() call computes for `spec`.
std::int64_t max_modulation_rows(const SamplingSpec& spec) {
  return spec.modulation_rows > 0 ? spec.modulation_rows : kModulationRows;
}

// How many steps' rows one modulation() call computes (at most `left`).
std::size_t steps_per_table(std::int64_t max_rows, std::int64_t rows_per_step, std::size_t left) {
  return std::min<std::size_t>(std::max<std::int64_t>(1, max_rows / rows_per_step), left);
}

// Each of steps [step, step + group)'s timestep once per row of pooled, on the model's device.
at::Tensor timestep_rows(const std::vector<float>& ts, std::size_t step, std::size_t group,
                         std::int64_t rows, const at::Device& device) {
  std::vector<float> t;
  for (std::size_t i = step; i < step + group; ++i) t.insert(t.end(), rows, ts[i]);
  return torch::tensor(t, at::TensorOptions().dtype(at::kFloat)).to(device);
}

// x + dt * (v_uncond + g * (v_cond - v_uncond)), v the forward of [x, x]: one CFG Euler step. The
// same ops eager and captured, so a replayed step is the eager one.
at::Tensor cfg_euler(const at::Tensor& x, const at::Tensor& v, const at::Tensor& dt,
                     double guidance) {
  auto parts = v.chunk(2, 0);
  const at::Tensor guided = parts[0] + static_cast<float>(guidance) * (parts[1] - parts[0]);
  return x + dt * guided;
}

// The CFG sampler's state: the latents, advanced one step at a time, eagerly or by replaying a
// CUDA graph of the whole step (forward, guidance and the Euler update).
class Sampler {
 public:
  Sampler(const Model& model, const Exec& e, const at::Tensor& noise, const at::Tensor& context,
          at::Tensor pooled, const SamplingSpec& spec, KeptStepGraph* kept)
      : model_(model),
        e_(e),
        pooled_(std::move(pooled)),
        guidance_(spec.guidance),
        modulation_rows_(max_modulation_rows(spec)) {
    std::vector<float> sigmas, dts;
    flow_match_schedule(spec.steps, spec.shift, ts_, sigmas);
    for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) dts.push_back(sigmas[i + 1] - sigmas[i]);
    dts_ = torch::tensor(dts, at::TensorOptions().dtype(at::kFloat)).to(e.device);
    choose_mode();
    if (kept != nullptr && use_graph_ && adopt(*kept, noise, context)) return;
    st_->x = noise.to(e.device, at::kFloat).clone();
    // A kept graph reads its conditioning from a buffer of its own (later runs copy theirs in).
    st_->context = kept != nullptr ? context.clone() : context;
  }

  const std::string& mode() const { return mode_; }
  // The latents after the last step; a copy when the kept graph's buffer is the next run's.
  at::Tensor latents() const { return st_ == &local_ ? st_->x : st_->x.clone(); }

  // Step 0 runs eagerly (it loads the kernels and builds cuDNN's and cuBLASLt's plans); from step 1
  // the graph is replayed, captured at step 1 while the GPU still runs step 0: nothing waits for
  // the GPU here, so the capture's CPU time hides behind step 0's kernels. A graph kept from the
  // last run is replayed from step 0.
  Status step(std::size_t i) {
    const Modulation mod = step_modulation(i);
#ifdef SD35_TORCH_CUDA
    if (use_graph_ && (st_->graph.ready() || (i > 0 && capture(mod)))) {
      st_->mod.packed.copy_(mod.packed);
      st_->dt.copy_(dts_[static_cast<std::int64_t>(i)]);
      st_->graph.replay();
      return ok();
    }
#endif
    SD35_TRY(at::Tensor v, forward(model_, e_, at::cat({st_->x, st_->x}, 0), st_->context, mod));
    st_->x = cfg_euler(st_->x, v, dts_[static_cast<std::int64_t>(i)], guidance_);
    return ok();
  }

 private:
  void choose_mode() {
    if (!e_.device.is_cuda()) {
      mode_ = "eager";
    } else if (env_switched_off("SD35_CUDA_GRAPH")) {
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

  // The kept graph when it fits this run (its inputs then hold this run's noise and
  // conditioning); otherwise it is emptied (its pool goes back before this run captures) and
  // refilled by this run's capture.
  bool adopt(KeptStepGraph& kept, const at::Tensor& noise, const at::Tensor& context) {
    st_ = &kept;
    if (kept.fits(model_, e_, noise, context, guidance_)) {
      kept.x.copy_(noise);
      kept.context.copy_(context);
      mode_ = "cuda graph (kept from the last run: every step replayed)";
      return true;
    }
    kept = KeptStepGraph{};
    return false;
  }

  // Step `step`'s rows of the modulation table, computed a group of steps at a time (or, the whole
  // table, replayed from the kept graph).
  Modulation step_modulation(std::size_t step) {
    const std::int64_t rows = pooled_.size(0);
    if (!table_.packed.defined() || step < table_first_ ||
        static_cast<std::int64_t>(step - table_first_) * rows >= table_.packed.size(0)) {
      table_first_ = step;
      if (step == 0 && replay_kept_table()) {
        mode_ += "; modulation table replayed";
        return table_.rows(0, rows);
      }
      const std::size_t group = table_group(step);
      table_ = modulation(model_, e_, timestep_rows(ts_, step, group, rows, e_.device),
                          pooled_.repeat({static_cast<std::int64_t>(group), 1}));
    }
    return table_.rows(static_cast<std::int64_t>(step - table_first_) * rows, rows);
  }

  std::size_t table_group(std::size_t step) const {
    return steps_per_table(modulation_rows_, pooled_.size(0), ts_.size() - step);
  }

  bool keeps_whole_table() const {
    return st_ != &local_ && use_graph_ && table_group(0) == ts_.size();
  }

  // The kept table graph, when it was recorded for these timesteps and pooled rows. A recording
  // that failed is named in the mode.
  bool replay_kept_table() {
    if (!keeps_whole_table()) return false;
    if (const std::string& why = st_->table_graph.why(); !why.empty())
      mode_ += "; modulation table eager (" + why + ")";
    if (!st_->table_graph.ready() || st_->table_timesteps != ts_ ||
        st_->table_pooled.sizes() != pooled_.sizes())
      return false;
    st_->table_pooled.copy_(pooled_);
    st_->table_graph.replay();
    table_ = st_->table;
    return true;
  }

#ifdef SD35_TORCH_CUDA
  // Captures one whole step over static inputs (the latents, updated in place, the step's
  // modulation rows and dt); false (and eager mode) on failure.
  bool capture(const Modulation& mod) {
    st_->mod = mod;
    st_->mod.packed = mod.packed.clone();
    st_->dt = dts_[0].clone();
    // Short of memory (a 16 GiB card), the eager step's cached blocks go back first, so the
    // graph's private pool does not sit beside them. That waits for step 0 to finish (it frees
    // memory), so with room to spare they stay and the capture overlaps step 0.
    if (free_memory(e_.device) < kRoomForGraphPool) c10::cuda::CUDACachingAllocator::emptyCache();
    std::optional<Result<at::Tensor>> v;
    if (!st_->graph.capture([&] {
          v = forward(model_, e_, at::cat({st_->x, st_->x}, 0), st_->context, st_->mod);
          if (*v) st_->x.copy_(cfg_euler(st_->x, **v, st_->dt, guidance_));
        }))
      return give_up(st_->graph.why());
    if (!*v) {
      st_->graph = StageGraph{};
      return give_up("the captured forward failed: " + v->error().message);
    }
    st_->model = &model_;
    st_->effective = e_.effective;
    st_->guidance = guidance_;
    return true;
  }

  bool give_up(const std::string& why) {
    use_graph_ = false;
    mode_ = "eager (" + why + ")";
    return false;
  }
#endif
  const Model& model_;
  const Exec& e_;
  KeptStepGraph local_;  // the step's graph and inputs when the caller keeps none
  KeptStepGraph* st_ = &local_;
  at::Tensor pooled_, dts_;
  double guidance_;
  std::vector<float> ts_;
  std::int64_t modulation_rows_;
  Modulation table_;
  std::size_t table_first_ = 0;
  bool use_graph_ = false;
  std::string mode_;
};

// Each step's time. On the CPU the wall time of the step. On CUDA the time between events
// recorded after each step: the loop never waits for a step to finish, so the next step's copies
// and graph launch are queued while the GPU still runs the last one and no gap opens between
// steps. SD35_STEP_SYNC=1 ends every step with a device synchronisation instead (a profiler then
// finds each step's kernels inside its `sd35.denoise_step` range).
class StepClock {
 public:
  explicit StepClock(const at::Device& d)
      : cuda_(d.is_cuda()), sync_each_(!cuda_ || env_is("SD35_STEP_SYNC", "1")) {
    lap_start_ = Clock::now();
#ifdef SD35_TORCH_CUDA
    if (!sync_each_) record();
#endif
  }

  void lap() {
#ifdef SD35_TORCH_CUDA
    if (!sync_each_) return record();
    if (cuda_) torch::cuda::synchronize();
#endif
    step_ms_.push_back(ms_since(lap_start_));
    lap_start_ = Clock::now();
  }

  std::vector<double> finish() {
#ifdef SD35_TORCH_CUDA
    if (cuda_) torch::cuda::synchronize();
    for (std::size_t i = 1; i < events_.size(); ++i)
      step_ms_.push_back(events_[i - 1].elapsed_time(events_[i]));
#endif
    return step_ms_;
  }

 private:
#ifdef SD35_TORCH_CUDA
  void record() {
    events_.emplace_back(cudaEventDefault);  // timing enabled (the default event has none)
    events_.back().record();
  }
  std::vector<at::cuda::CUDAEvent> events_;
#endif
  bool cuda_, sync_each_;
  Clock::time_point lap_start_;
  std::vector<double> step_ms_;
};

Result<Denoised> run_loop(const Model& model, const Exec& e, const at::Tensor& noise,
                          const at::Tensor& context, const at::Tensor& pooled,
                          const SamplingSpec& spec, KeptStepGraph* kept) {
  Sampler sampler(model, e, noise, context, pooled, spec, kept);
  StepClock clock(e.device);
  // A named range per step, so a profiler (tests/tools/gpu_profile_pipeline.py) can tell this
  // path's kernels from the reference run's; free when no profiler listens.
  const std::string range = "sd35.denoise_step." + std::string(to_string(e.effective));
  for (std::size_t i = 0; i < static_cast<std::size_t>(spec.steps); ++i) {
    RECORD_USER_SCOPE(range.c_str());
    SD35_TRY_STATUS(sampler.step(i));
    clock.lap();
  }
  Denoised out;
  out.step_ms = clock.finish();
  out.latents = sampler.latents();
  out.mode = sampler.mode();
  return out;
}

}  // namespace

void keep_modulation_table(const Model& model, const Exec& e, const at::Tensor& pooled,
                           const SamplingSpec& spec, KeptStepGraph& kept) {
#ifdef SD35_TORCH_CUDA
  c10::InferenceMode guard;
  std::vector<float> ts, sigmas;
  flow_match_schedule(spec.steps, spec.shift, ts, sigmas);
  if (!e.device.is_cuda() ||
      steps_per_table(max_modulation_rows(spec), pooled.size(0), ts.size()) < ts.size())
    return;  // computed in groups: stays eager
  kept.table_graph = StageGraph{};
  kept.table_timesteps.clear();
  kept.table_pooled = pooled.to(e.device).clone();
  // Kept with the graph: a replay reads it (a local would be freed and its memory reused).
  kept.table_t = timestep_rows(ts, 0, ts.size(), pooled.size(0), e.device);
  const auto group = static_cast<std::int64_t>(ts.size());
  if (kept.table_graph.capture([&] {
        kept.table = modulation(model, e, kept.table_t, kept.table_pooled.repeat({group, 1}));
      }))
    kept.table_timesteps = ts;
#else
  (void)model, (void)e, (void)pooled, (void)spec, (void)kept;
#endif
}

Result<Denoised> denoise(const Model& model, const Exec& e, const at::Tensor& noise,
                         const at::Tensor& context, const at::Tensor& pooled,
                         const SamplingSpec& spec, KeptStepGraph* kept) {
  c10::InferenceMode guard;
#ifdef SD35_TORCH_CUDA
  if (e.device.is_cuda()) {
    // Graphs are captured on a side stream (never the legacy default one); the eager first step
    // runs there too, so its warm-up (cuBLASLt workspaces, plans) is the captured stream's.
    torch::cuda::synchronize();
    c10::cuda::CUDAStreamGuard stream(c10::cuda::getStreamFromPool());
    return run_loop(model, e, noise, context, pooled, spec, kept);
  }
#endif
  return run_loop(model, e, noise, context, pooled, spec, kept);
}

}  // namespace sd35::smoke
