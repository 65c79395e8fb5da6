// The prompt pipeline's denoising loop: CFG flow-matching Euler over the MMDiT, each step timed,
// and on CUDA the step's forward replayed from a CUDA graph.
#pragma once

#include <string>
#include <vector>

#include "smoke/mmdit_model.hpp"
#include "smoke/stage_graph.hpp"

namespace sd35::smoke {

struct Denoised {
  at::Tensor latents;           // float32, on the model's device
  std::vector<double> step_ms;  // each step's time: CUDA events between steps, else wall time
  std::string mode;             // "cuda graph" or "eager", with why when eager on CUDA
};

// The sampler of mmdit_forward.cpp's sample(), one forward of batch 2B per step. `context` and
// `pooled` hold the unconditional rows first, then the conditional ones.
//
// The adaLN modulations of all steps are computed before the loop, a group of steps per call
// (modulation(): each adaLN weight read once per group instead of once per step).
//
// Why the graph: one fused FP8 step of SD3.5 Large is ~2000 kernels, many of them a few
// microseconds long (adaLN, per-tensor scales, the context stream), so eager launches leave the GPU
// idle ~5 ms of each ~97 ms step. Step 0 runs eagerly (it also warms cuDNN's and cuBLASLt's plans
// and loads every kernel); then the whole step (forward, guidance, Euler update of the latents in
// a static buffer) is captured once, while the GPU still runs step 0, and replayed for the
// remaining steps with the step's modulation rows and dt copied into its static inputs: the same
// kernels on the same data, so the result is the eager one. SD35_CUDA_GRAPH=0 keeps every step
// eager; a forward that cannot be captured falls back to eager and `mode` says why.
//
// `kept` (smoke --repeat: the weights stay on the device between runs): the captured step and
// its static inputs outlive the call; a later call with the same model, shapes and guidance
// copies its noise and conditioning into them and replays every step, step 0 included, so
// nothing is run eagerly or captured again. Another shape or guidance captures anew (the old
// graph and its memory pool are released first). Assigning a fresh one releases them.
//
// The captured step, its static inputs (the latents, updated in place by each replay; the
// conditioning; the step's modulation rows and dt) and what it was captured for.
struct KeptStepGraph {
  StageGraph graph;
  at::Tensor x, context, dt;
  Modulation mod;
  // The modulation table of every step (keep_modulation_table): computed eagerly, its ~80 adaLN
  // linears launched from the CPU leave the GPU idle before the first step.
  StageGraph table_graph;
  at::Tensor table_pooled, table_t;  // its static inputs: pooled [rows, P], timesteps [rows]
  Modulation table;                  // its output, kept by the graph's pool
  std::vector<float> table_timesteps;
  const Model* model = nullptr;
  Precision effective = Precision::fp32;
  double guidance = 0;

  // Replaying it computes this run's step: same weights and path, same shapes, same guidance
  // (a constant inside the graph).
  bool fits(const Model& m, const Exec& e, const at::Tensor& noise, const at::Tensor& ctx,
            double g) const {
    return graph.ready() && model == &m && effective == e.effective && g == guidance &&
           x.sizes() == noise.sizes() && context.sizes() == ctx.sizes() &&
           context.scalar_type() == ctx.scalar_type();
  }
};

// smoke --repeat, after the first run: the modulation table of `spec`'s steps for `pooled`'s rows
// recorded into `kept` (a no-op off CUDA, or when the table is computed in groups). A later
// denoise() with the same timesteps and rows copies its pooled vectors in and replays it; a
// failed recording leaves that run computing the table eagerly.
void keep_modulation_table(const Model& model, const Exec& e, const at::Tensor& pooled,
                           const SamplingSpec& spec, KeptStepGraph& kept);

Result<Denoised> denoise(const Model& model, const Exec& e, const at::Tensor& noise,
                         const at::Tensor& context, const at::Tensor& pooled,
                         const SamplingSpec& spec, KeptStepGraph* kept = nullptr);

}  // namespace sd35::smoke
