// Prompt -> image: token ids (from the host's tokenizers) -> CLIP-L, CLIP-G, T5-XXL -> SD3 joint
// conditioning -> CFG flow-matching Euler with the MMDiT -> VAE decoder -> 8-bit pixels. Stages
// are loaded, run and freed in turn unless the GPU holds them all (the memory plan).
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/record_function.h>
#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cmath>
#include <future>
#include <optional>
#include <tuple>
#include <utility>

#include "smoke/denoise.hpp"
#include "smoke/mmdit_fused.hpp"
#include "smoke/pipeline_encode.hpp"
#include "smoke/pipeline_memory.hpp"
#include "smoke/pipeline_models.hpp"
#include "smoke/pipeline_run.hpp"
#include "smoke/smoke_env.hpp"
#include "smoke/smoke_io.hpp"
#include "smoke/stage_graph.hpp"
#include "util/fs.hpp"

#ifdef SD35_TORCH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace sd35::smoke {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::int64_t kClipTokens = 77;
constexpr std::int64_t kT5Tokens = 256;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

Status check_id_rows(const std::vector<std::vector<std::int64_t>>& rows, std::size_t batch,
                     std::int64_t width, const char* what) {
  bool ok = rows.size() == batch;
  for (const auto& r : rows) ok = ok && static_cast<std::int64_t>(r.size()) == width;
  if (ok) return sd35::ok();
  return Error{Errc::usage, fmt::format("{}: expected {} rows of {} token ids", what, batch, width),
               "smoke request", "the host tokenizers pad/truncate every prompt to that length"};
}

Status check_text_request(const TextToImage& t) {
  const std::size_t b = t.prompt_ids.clip_l.size();
  if (b == 0)
    return Error{Errc::usage, "no prompt token ids in the request", "smoke request",
                 "pass --prompt TEXT"};
  for (const TokenIds* ids : {&t.prompt_ids, &t.negative_ids}) {
    SD35_TRY_STATUS(check_id_rows(ids->clip_l, b, kClipTokens, "CLIP-L ids"));
    SD35_TRY_STATUS(check_id_rows(ids->clip_g, b, kClipTokens, "CLIP-G ids"));
    SD35_TRY_STATUS(check_id_rows(ids->t5xxl, b, kT5Tokens, "T5-XXL ids"));
  }
  return sd35::ok();
}

Result<VaeDecoder> load_vae_on(const PipelineSource& source, const Exec& e) {
  SD35_TRY(VaeDecoder vae, load_vae(source));
  to_device(vae, e);
  return vae;
}

// The starting noise: `latents_in` of the fixture inputs, else randn from a CPU generator seeded
// with the request's seed (the same numbers on every device).
Result<at::Tensor> starting_noise(const SmokeRequest& rq, std::int64_t batch,
                                  std::int64_t channels) {
  if (!rq.inputs.empty()) {
    SD35_TRY(Tensor32 t, read_f32_tensor(rq.inputs, "latents_in"));
    if (t.shape.size() != 4 || t.shape[0] != batch || t.shape[1] != channels)
      return Error{Errc::bad_input,
                   fmt::format("latents_in must be [{}, {}, h, w] for this batch", batch, channels),
                   rq.inputs, ""};
    return torch::from_blob(t.data.data(), t.shape, at::kFloat).clone();
  }
  at::Generator gen = at::detail::createCPUGenerator(static_cast<std::uint64_t>(rq.text->seed));
  return at::randn({batch, channels, rq.latent_h, rq.latent_w}, gen,
                   at::TensorOptions().dtype(at::kFloat));
}

// The denoising loop's conditioning: unconditional rows first, as the sampler expects.
std::array<at::Tensor, 2> cfg_conditioning(const Encoded& cond, const Encoded& uncond) {
  return {at::cat({uncond.embeds, cond.embeds}, 0), at::cat({uncond.pooled, cond.pooled}, 0)};
}

// Latents -> image in [0, 1]; tiles of 64 latent pixels when the plan says memory is short.
at::Tensor to_image(const VaeDecoder& vae, const at::Tensor& latents, const Exec& e, bool tiled) {
  const at::Tensor z = latents / vae.scaling_factor + vae.shift_factor;
  const at::Tensor x = tiled ? vae_decode_tiled(vae, z, e, 64, 16) : vae_decode(vae, z, e);
  return (x / 2 + 0.5).clamp(0, 1);
}

// smoke --repeat: the VAE decode recorded as a CUDA graph over static latents.
struct KeptDecode {
  StageGraph graph;
  at::Tensor latents, image;
};

// What one run leaves loaded for the next (smoke --repeat under the resident plan): the weights,
// the captured denoising step, and the recorded encoders, decode and modulation table.
struct Stages {
  std::optional<Encoders> enc;
  std::optional<Model> mmdit;
  std::optional<VaeDecoder> vae;
  // Declared after the models they point into: released first.
  KeptStepGraph step_graph;
  KeptEncode encode_graph;
  KeptDecode decode_graph;
  std::string graphs_skipped;  // why the encode, decode and table graphs were not recorded
};

bool fp8_requested(Precision p) {
  return p == Precision::fp8 || p == Precision::fp8_weights;
}

// The T5's FP8 scales checked against a float32 recompute from the stored bytes.
Status t5_check_stage(const PipelineSource& source, const SmokeRequest& rq, const Exec& e,
                      const Encoders& enc, Run& run) {
  bool fp8 = false;
  for (const auto& l : enc.t5.layers) fp8 = fp8 || l.q.fp8 || l.wi0.fp8;
  if (!fp8) return sd35::ok();
  // The first prompt's first 32 tokens: the float32 CPU recompute of a full-size block 0
  // (190 M weights) is then ~12 GFLOP instead of ~100 for all 256.
  const auto t0 = Clock::now();
  const at::Tensor ids = ids_tensor(rq.text->prompt_ids.t5xxl).narrow(0, 0, 1).narrow(1, 0, 32);
  SD35_TRY(run.t5_check, t5_scale_check(enc.t5, source, ids, e));
  run.timings["t5_scale_check"] = ms_since(t0);
  return sd35::ok();
}

Status load_encoders_stage(const PipelineSource& source, const Exec& e,
                           std::optional<Encoders>& enc, Run& run) {
  const auto t0 = Clock::now();
  SD35_TRY(enc, load_encoders(source, e));
  run.timings["load_text_encoders"] = ms_since(t0);
  return sd35::ok();
}

Status encode_stage(const PipelineSource& source, const SmokeRequest& rq, const Exec& e,
                    std::optional<Encoders>& enc, KeptEncode* kept, Run& run) {
  if (!enc) SD35_TRY_STATUS(load_encoders_stage(source, e, enc, run));
  const auto t0 = Clock::now();
  RECORD_USER_SCOPE("sd35.encode");  // for a profiler (tests/tools/gpu_profile_pipeline.py)
  std::tie(run.cond, run.uncond) =
      encode_with_negatives(*enc, rq.text->prompt_ids, rq.text->negative_ids, e, kept);
  if (kept != nullptr && kept->graph.ready()) run.encode_mode = "cuda graph (kept)";
  sync_device(e.device);
  run.timings["encode"] = ms_since(t0);
  run.fp8_spelling = enc->t5.fp8_spelling;
  return run.proofs_after_image || !run.proofs ? sd35::ok()
                                               : t5_check_stage(source, rq, e, *enc, run);
}

// The MMDiT read and prepared for `e` (FP8 weights laid out for the fused GEMMs).
Result<Model> load_mmdit(const SmokeRequest& rq, const Exec& e) {
  SD35_TRY(Model m, load_model(rq.checkpoint, false));
  SD35_TRY_STATUS(prepare_model(m, e));
  return m;
}

// The MMDiT's load on its own thread and CUDA stream while the text encoders run. Only when the
// memory plan keeps everything resident.
class BackgroundLoad {
 public:
  BackgroundLoad(const SmokeRequest& rq, const Exec& e)
      : result_(std::async(std::launch::async, [&rq, &e] { return load_on_side_stream(rq, e); })) {}
  Result<Model> get(double& ms) {
    auto [model, took] = result_.get();
    ms = took;
    return std::move(model);
  }

 private:
  static std::pair<Result<Model>, double> load_on_side_stream(const SmokeRequest& rq,
                                                              const Exec& e) {
    const auto t0 = Clock::now();
    try {
      c10::InferenceMode guard;
#ifdef SD35_TORCH_CUDA
      if (e.device.is_cuda()) {
        const c10::cuda::CUDAGuard device(e.device);
        const c10::cuda::CUDAStreamGuard stream(c10::cuda::getStreamFromPool());
        Result<Model> m = load_mmdit(rq, e);
        if (m && m->fused && e.native_fp8) build_attention_plan(rq, *m);
        c10::cuda::getCurrentCUDAStream().synchronize();  // complete before another stream uses it
        return {std::move(m), ms_since(t0)};
      }
#endif
      return {load_mmdit(rq, e), ms_since(t0)};
    } catch (const std::exception& ex) {
      return {Error{Errc::internal, "loading the MMDiT failed: " + torch_error_text(ex),
                    rq.checkpoint, "re-run with SD35_OVERLAP_LOAD=0 to load it after the encoders"},
              ms_since(t0)};
    }
  }

  // cuDNN's FP8 attention plan for this request's shape (CFG batch, image + text tokens), built
  // here rather than in the first denoising step.
  static void build_attention_plan(const SmokeRequest& rq, const Model& m) {
    const auto& c = m.config;
    const std::int64_t batch = 2 * static_cast<std::int64_t>(rq.text->prompt_ids.clip_l.size());
    const std::int64_t image_tokens =
        std::int64_t{rq.latent_h / c.patch_size} * (rq.latent_w / c.patch_size);
    fused::build_fp8_attention_plan(m, batch, image_tokens + kClipTokens + kT5Tokens);
  }

  std::future<std::pair<Result<Model>, double>> result_;
};

// The same weights dequantised to bf16 from the same noise and conditioning: how far the FP8 path
// moves the picture.
Status bf16_reference_stage(const SmokeRequest& rq, Model& mmdit, Run& run) {
  SD35_TRY(Exec bf16, plan_exec(Precision::bf16, rq.device));
  SD35_TRY_STATUS(prepare_model(mmdit, bf16));
  SD35_TRY(Denoised ref, denoise(mmdit, bf16, run.noise, run.context, run.pooled, rq.sampling));
  run.latents_bf16 = ref.latents;
  double sum = 0;
  for (double ms : ref.step_ms) sum += ms;
  run.timings["denoise_bf16_reference"] = sum;
  return sd35::ok();
}

Status mmdit_stage(const SmokeRequest& rq, const Exec& e, std::optional<Model>& mmdit,
                   KeptStepGraph* kept, Run& run) {
  if (!mmdit) {
    const auto t0 = Clock::now();
    SD35_TRY(mmdit, load_mmdit(rq, e));
    run.timings["load_mmdit"] = ms_since(t0);
  }
  const auto b = run.cond.embeds.size(0);
  SD35_TRY(run.noise, starting_noise(rq, b, mmdit->config.in_channels));
  const auto conditioning = cfg_conditioning(run.cond, run.uncond);
  run.context = conditioning[0];
  run.pooled = conditioning[1];
  const auto t0 = Clock::now();
  SD35_TRY(Denoised fp8, denoise(*mmdit, e, run.noise, run.context, run.pooled, rq.sampling, kept));
  run.timings["denoise"] = ms_since(t0);
  run.timings["denoise_steps"] = fp8.step_ms;
  run.latents = fp8.latents;
  run.denoise_mode = fp8.mode;
  run.mmdit_path =
      std::string(to_string(e.effective)) + (e.native_fp8 && mmdit->fused ? " (fused)" : "");
  run.native_fp8 = e.native_fp8;
  run.fused = e.native_fp8 && mmdit->fused;
  run.attention = run.fused ? mmdit->attention_note : "ATen scaled_dot_product_attention";
  if (const std::string f = fused::fp8_attention_fallback(); run.fused && !f.empty())
    run.attention += "; fell back to bf16: " + f;
  if (!fp8_requested(rq.precision) || run.proofs_after_image || !run.proofs) return sd35::ok();
  return bf16_reference_stage(rq, *mmdit, run);
}

Status vae_stage(const PipelineSource& source, const Exec& e, std::optional<VaeDecoder>& vae,
                 KeptDecode* kept, Run& run) {
  if (!vae) {
    const auto t0 = Clock::now();
    SD35_TRY(vae, load_vae_on(source, e));
    run.timings["load_vae"] = ms_since(t0);
  }
  const auto t0 = Clock::now();
  RECORD_USER_SCOPE("sd35.decode");
  if (kept != nullptr && kept->graph.ready() && kept->latents.sizes() == run.latents.sizes()) {
    kept->latents.copy_(run.latents);
    kept->graph.replay();
    run.image = kept->image.clone();  // the next replay writes over the graph's output
    run.decode_mode = "cuda graph (kept)";
  } else {
    run.image = to_image(*vae, run.latents, e, run.tiled);
  }
  sync_device(e.device);
  run.timings["decode"] = ms_since(t0);
  return sd35::ok();
}

// Image 0's pixels to the host's file, and the host told at once: it writes the PNG while the
// checks still run.
Status publish_pixels(const SmokeRequest& rq, Run& run, Reporter& reporter) {
  if (rq.text->pixels_out.empty()) return sd35::ok();
  const auto t0 = Clock::now();
  // A hand-over file the host reads and deletes at once: never fsynced (the PNG is).
  SD35_TRY_STATUS(
      fs::write_file_atomic(rq.text->pixels_out, rgb8_pixels(run.image), fs::Flush::no));
  run.timings["publish_pixels"] = ms_since(t0);
  reporter.event(Level::info, "image decoded; the checks follow",
                 {{"pixels_ready", rq.text->pixels_out},
                  {"height", run.image.size(2)},
                  {"width", run.image.size(3)}});
  return sd35::ok();
}

// The checks that need the encoders and the MMDiT again: the T5's scales, the bf16 reference.
Status proofs_stage(const PipelineSource& source, const SmokeRequest& rq, const Exec& e,
                    const Encoders& enc, Model& mmdit, Run& run) {
  SD35_TRY_STATUS(t5_check_stage(source, rq, e, enc, run));
  return fp8_requested(rq.precision) ? bf16_reference_stage(rq, mmdit, run) : sd35::ok();
}

// What the memory plan (made once, before anything loads) decides about a run.
void apply_plan(const MemoryPlan& plan, Run& run) {
  run.memory = plan.to_json();
  // Short memory also means decoding in tiles (the 1024^2 decode alone needs several GiB).
  run.tiled = !plan.resident && plan.free > 0 &&
              plan.activations + plan.vae >
                  static_cast<std::uint64_t>(0.6 * static_cast<double>(plan.free));
  run.proofs_after_image = plan.resident;
}

// Prompt -> pixels under the memory plan, loading what `st` does not hold yet. Resident: the
// MMDiT loads while the encoders run and everything stays in `st` for the next run. Sequential:
// each stage is loaded, run, checked and freed in turn.
Status image_stages(const PipelineSource& source, const SmokeRequest& rq, const Exec& e,
                    const MemoryPlan& plan, Stages& st, Run& run, Reporter& reporter) {
  const bool overlap = plan.resident && !st.mmdit && !env_switched_off("SD35_OVERLAP_LOAD");
  if (!st.enc && !st.mmdit)
    reporter.info(fmt::format("memory plan: {}{}{}", plan.resident ? "resident" : "sequential",
                              run.tiled ? ", tiled VAE decode" : "",
                              overlap ? ", MMDiT loading while the text encoders run" : ""));
  std::optional<BackgroundLoad> loading;
  if (overlap) {
    // The encoders first and alone: the two loads share the host's copy bandwidth, and only the
    // MMDiT's has the encode to hide behind.
    if (!st.enc) SD35_TRY_STATUS(load_encoders_stage(source, e, st.enc, run));
    loading.emplace(rq, e);
  }
  SD35_TRY_STATUS(
      encode_stage(source, rq, e, st.enc, plan.resident ? &st.encode_graph : nullptr, run));
  if (!plan.resident) {
    st.enc.reset();
    release_cached(e.device);
  }
  if (loading) {
    double ms = 0;
    Result<Model> m = loading->get(ms);
    run.timings["load_mmdit"] = ms;
    run.memory["mmdit_loaded_during_encode"] = true;
    SD35_TRY(st.mmdit, std::move(m));
  }
  SD35_TRY_STATUS(mmdit_stage(rq, e, st.mmdit, plan.resident ? &st.step_graph : nullptr, run));
  if (!plan.resident) {
    st.mmdit.reset();
    release_cached(e.device);
  }
  SD35_TRY_STATUS(vae_stage(source, e, st.vae, plan.resident ? &st.decode_graph : nullptr, run));
  return publish_pixels(rq, run, reporter);
}

// smoke --repeat, between run 1 and run 2 under the resident plan: the encoders, the decode and
// the modulation table recorded as CUDA graphs over static inputs (run 1 ran them eagerly, loading
// their kernels and plans), so later runs replay them instead of launching ~2000 kernels each from
// the CPU. Only with room for their memory pools beside everything loaded; otherwise later runs
// stay eager and `runs[].encode_mode`/`decode_mode` say why.
void keep_stage_graphs(const SmokeRequest& rq, const Exec& e, const MemoryPlan& plan, Stages& st,
                       const Run& run) {
  if (!e.device.is_cuda() || env_switched_off("SD35_CUDA_GRAPH") || !st.enc || !st.vae) return;
  if (free_memory(e.device) < 2 * plan.activations) {
    st.graphs_skipped = "no room for the graphs' memory beside the loaded weights";
    return;
  }
  sync_device(e.device);
  capture_encode(*st.enc, rq.text->prompt_ids, rq.text->negative_ids, e, st.encode_graph);
  st.decode_graph.latents = run.latents.clone();
  st.decode_graph.graph.capture([&] {
    c10::InferenceMode guard;
    st.decode_graph.image = to_image(*st.vae, st.decode_graph.latents, e, false);
  });
  if (st.mmdit) keep_modulation_table(*st.mmdit, e, run.pooled, rq.sampling, st.step_graph);
  sync_device(e.device);
}

// What a run's encode and decode ran as, for its "runs" entry: the kept graphs' failures named.
void note_stage_modes(const Stages& st, Run& run) {
  const auto why = [&st](const StageGraph& g) {
    return st.graphs_skipped.empty() ? g.why() : st.graphs_skipped;
  };
  for (auto [mode, graph] : {std::pair{&run.encode_mode, &st.encode_graph.graph},
                             std::pair{&run.decode_mode, &st.decode_graph.graph}})
    if (*mode == "eager" && !why(*graph).empty()) *mode = "eager (" + why(*graph) + ")";
}

// After the picture: the checks that need the encoders and the MMDiT again (resident plan), the
// bf16 reference's picture, the peak memory.
Status finish_stages(const PipelineSource& source, const SmokeRequest& rq, const Exec& e,
                     Stages& st, Run& run) {
  // No run follows: the kept graphs and their memory pools go before the checks, whose bf16
  // reference re-prepares the MMDiT (the step graph points into the FP8 layout) and needs room.
  st.step_graph = KeptStepGraph{};
  st.encode_graph = KeptEncode{};
  st.decode_graph = KeptDecode{};
  if (run.proofs_after_image) SD35_TRY_STATUS(proofs_stage(source, rq, e, *st.enc, *st.mmdit, run));
  // The bf16 reference's picture, whichever order its latents came in.
  if (run.latents_bf16.defined())
    run.image_bf16 = to_image(*st.vae, run.latents_bf16, e, run.tiled);
  run.memory["peak_bytes"] = peak_memory(e.device);
  run.memory["peak_kind"] = e.device.is_cuda() ? "cuda caching allocator" : "process peak RSS";
  run.memory["tiled_decode"] = run.tiled;
  return sd35::ok();
}

// Runs the pipeline rq.repeat times with whatever the memory plan lets stay loaded (the weights
// and the step graph when resident), each run's picture published as soon as it is decoded; the
// last run checks. `runs` gets each run's figures (with --repeat); `run` is the last run.
Status run_stages(const PipelineSource& source, const SmokeRequest& rq, const Exec& e,
                  Clock::time_point t_start, Run& run, nlohmann::json& runs, Reporter& reporter) {
  reset_peak_memory(e.device);
  const auto b = static_cast<std::int64_t>(rq.text->prompt_ids.clip_l.size());
  const MemoryPlan plan =
      plan_memory(source, e, b, std::int64_t{rq.latent_h} * 8, std::int64_t{rq.latent_w} * 8);
  Stages st;
  nlohmann::json loads;
  const int repeat = std::max(1, rq.repeat);
  for (int i = 0; i < repeat; ++i) {
    run = Run{};
    apply_plan(plan, run);
    run.proofs = i + 1 == repeat;
    const auto t_run = i == 0 ? t_start : Clock::now();  // run 1 counts its loads
    SD35_TRY_STATUS(image_stages(source, rq, e, plan, st, run, reporter));
    run.timings["prompt_to_png"] = ms_since(t_run);
    note_stage_modes(st, run);
    // Each run's figures, its image's fingerprint included (a copy to the host and a hash), only
    // where there are several runs to compare.
    if (repeat > 1) runs.push_back(run_figures(run, i));
    if (i == 0) loads = run.timings;
    if (i == 0 && repeat > 1 && plan.resident) keep_stage_graphs(rq, e, plan, st, run);
  }
  // The loads happened once, in run 1: the result's timings (the last run's) say what they took.
  for (const char* k : {"load_text_encoders", "load_mmdit", "load_vae"})
    if (!run.timings.contains(k) && loads.contains(k)) run.timings[k] = loads[k];
  return finish_stages(source, rq, e, st, run);
}

Result<nlohmann::json> text_to_image(const SmokeRequest& rq, Reporter& reporter) {
  const auto t_start = Clock::now();
  SD35_TRY_STATUS(check_text_request(*rq.text));
  if (rq.checkpoint.empty())
    return Error{Errc::usage, "the prompt pipeline needs a checkpoint with text encoders and VAE",
                 "--checkpoint", "pass the all-in-one sd3.5_large_fp8_scaled.safetensors"};
  SD35_TRY(Exec e, plan_exec(rq.precision, rq.device));
  if (!e.note.empty()) reporter.warn(e.note);
  SD35_TRY(PipelineSource source, PipelineSource::open(rq.checkpoint));
  Run run;
  nlohmann::json runs = nlohmann::json::array();
  SD35_TRY_STATUS(run_stages(source, rq, e, t_start, run, runs, reporter));
  if (!rq.dump.empty()) SD35_TRY_STATUS(write_dump(rq.dump, run, *rq.text));
  const nlohmann::json stats = stage_stats(run);
  nlohmann::json checks = pipeline_checks(run, stats);
  if (!runs.empty()) checks.push_back(repeat_check(runs));
  bool ok = true;
  for (const auto& c : checks) ok = ok && c["ok"].get<bool>();
  run.timings["total"] = ms_since(t_start);
  nlohmann::json doc{
      {"ok", ok},
      {"mode", "pipeline"},
      {"checkpoint", rq.checkpoint},
      {"device", e.device.str()},
      {"device_type", e.device.is_cuda() ? "cuda" : "cpu"},
      {"native_fp8", run.native_fp8},
      {"fused_kernels_used", run.fused},
      {"libtorch", TORCH_VERSION},
      {"requested_precision", to_string(rq.precision)},
      {"effective_precision", to_string(e.effective)},
      {"fallback_reason", e.note},
      {"t5_fp8_spelling", run.fp8_spelling},
      {"steps", rq.sampling.steps},
      {"guidance", rq.sampling.guidance},
      {"shift", rq.sampling.shift},
      {"seed", rq.text->seed},
      {"noise", rq.inputs.empty() ? "seeded randn (CPU generator)" : "latents_in of " + rq.inputs},
      {"image",
       {{"height", run.image.size(2)},
        {"width", run.image.size(3)},
        {"pixels", rq.text->pixels_out}}},
      {"denoise_mode", run.denoise_mode},
      {"checks_after_image", run.proofs_after_image},
      {"attention", run.attention},
      {"timings_ms", run.timings},
      {"memory", run.memory},
      {"stats", stats},
      {"checks", checks},
      // The last run's, hashed once: with --repeat, its entry in `runs` has it already.
      {"fingerprint", runs.empty() ? fingerprint(to32(run.image).data, 1.0 / 255.0)
                                   : runs.back()["fingerprint"].get<std::string>()},
      {"dump", rq.dump}};
  doc["summary"] = summary_lines(doc, run, ok);
  if (!runs.empty()) {
    doc["runs"] = runs;
    doc["summary"].push_back(repeat_line(runs));
  }
  return doc;
}

}  // namespace

Result<nlohmann::json> run_text_to_image(const SmokeRequest& request, Reporter& reporter) {
  try {
    return text_to_image(request, reporter);
  } catch (const std::exception& ex) {
    return Error{Errc::internal, "the prompt pipeline failed: " + torch_error_text(ex), "libtorch",
                 "re-run with --device cpu --precision fp32 to isolate the failing path"};
  }
}

Result<Tensor32> decode_with_vae(const std::string& checkpoint, const Tensor32& z,
                                 Precision precision, const std::string& device, int tile) {
  try {
    SD35_TRY(Exec e, plan_exec(precision, device));
    SD35_TRY(PipelineSource source, PipelineSource::open(checkpoint));
    SD35_TRY(VaeDecoder vae, load_vae_on(source, e));
    const at::Tensor in =
        torch::from_blob(const_cast<float*>(z.data.data()), z.shape, at::kFloat).clone();
    return to32(tile > 0 ? vae_decode_tiled(vae, in, e, tile, tile / 4) : vae_decode(vae, in, e));
  } catch (const std::exception& ex) {
    return Error{Errc::internal, "the VAE decode failed: " + torch_error_text(ex), checkpoint, ""};
  }
}

}  // namespace sd35::smoke
