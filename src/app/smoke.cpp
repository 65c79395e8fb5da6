#include "app/smoke.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "app/smoke_env.hpp"
#include "app/smoke_text.hpp"
#include "app/smoke_weights.hpp"
#include "util/strings.hpp"

namespace sd35::app {

namespace {

Result<std::pair<int, int> > parse_latent(const std::string& text) {
  int h = 0, w = 0;
  char x = 0;
  if (std::sscanf(text.c_str(), "%d%c%d", &h, &x, &w) != 3 || (x != 'x' && x != 'X') || h <= 0 ||
      w <= 0 || h > 4096 || w > 4096)
    return Error{Errc::usage, fmt::format("--latent \"{}\" is not HxW", text), "--latent",
                 "e.g. --latent 64x64"};
  return std::pair{h, w};
}

// The line that says which weights ran (or why the embedded model did).
std::string weights_line(const WeightsChoice& w) {
  if (w.cached)
    return fmt::format("weights: {} at {}, {} from the cache ({} of MMDiT tensors)", w.cached->repo,
                       w.cached->commit.substr(0, 12), w.cached->checkpoint_rel,
                       str::human_bytes(w.cached->mmdit_bytes));
  if (w.source == "argument") return "weights: " + w.checkpoint + " (--checkpoint)";
  return w.note.empty() ? "weights: the embedded synthetic model" : "weights: " + w.note;
}

Status check_options(const SmokeOptions& o) {
  if (o.synthetic && !o.checkpoint.empty())
    return Error{Errc::usage, "--synthetic and --checkpoint exclude each other", "--synthetic",
                 "drop one: --synthetic runs the embedded model, --checkpoint the given weights"};
  if (!o.inputs.empty() && o.checkpoint.empty())
    return Error{Errc::usage, "--inputs needs --checkpoint", "--inputs",
                 "the fixture protocol runs a given checkpoint"};
  SD35_TRY_STATUS(check_text_options(o));
  if (!o.size.empty() && !o.latent.empty())
    return Error{Errc::usage, "--size and --latent exclude each other", "--size",
                 "--size is in pixels (the latent is 1/8 of it): give one of them"};
  if (!o.python.empty() && !o.venv.empty())
    return Error{Errc::usage, "--python and --venv exclude each other", "--venv",
                 "name the environment once: its folder (--venv) or its interpreter (--python)"};
  return {};
}

// "diffusers>=0.31" -> {"diffusers", ">=0.31"}
std::map<std::string, std::string> parse_requires(const std::vector<std::string>& items) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    const auto at = item.find_first_of("<>=!~ ");
    out[item.substr(0, at)] = at == std::string::npos ? "" : item.substr(at);
  }
  return out;
}

Result<smoke::SmokeRequest> build_request(const Manifest& manifest, const SmokeOptions& options,
                                          const WeightsChoice& weights) {
  smoke::SmokeRequest rq;
  rq.checkpoint = weights.checkpoint;
  rq.device = options.device;
  const std::string precision =
      options.precision.empty() ? manifest.smoke.precision : options.precision;
  auto p = smoke::parse_precision(precision);
  if (!p)
    return Error{Errc::usage, fmt::format("unknown precision \"{}\"", precision), "--precision",
                 "use fp8, fp8-weights, bf16 or fp32"};
  rq.precision = *p;
  rq.latent_h = manifest.smoke.latent[0];
  rq.latent_w = manifest.smoke.latent[1];
  if (rq.checkpoint.empty() && options.latent.empty()) {
    // The embedded model is a proof of the toolchain, not of the weights: a 32x32 latent keeps it
    // within seconds on a 2-core CPU. The manifest's latent is for real checkpoints.
    rq.latent_h = std::min(rq.latent_h, 32);
    rq.latent_w = std::min(rq.latent_w, 32);
  }
  if (!options.latent.empty() || !options.size.empty()) {
    SD35_TRY(auto hw,
             options.size.empty() ? parse_latent(options.latent) : parse_image_size(options.size));
    rq.latent_h = hw.first;
    rq.latent_w = hw.second;
  }
  rq.sampling.steps = options.steps > 0 ? options.steps : manifest.smoke.steps;
  rq.sampling.guidance = options.guidance >= 0 ? options.guidance : manifest.smoke.guidance;
  rq.sampling.shift = options.shift > 0 ? options.shift : manifest.smoke.shift;
  rq.inputs = options.inputs;
  rq.dump = options.dump;
  rq.gemm_probe = !options.no_gemm_probe;
  rq.repeat = options.repeat;
  return rq;
}

// One finding per Python-side check, so a failing import shows with its own message.
void report_python_side(const pyenv::TorchEnv& env, Reporter& reporter) {
  for (const auto& c : env.checks) {
    Finding f;
    f.id = "python:" + c.id;
    f.title = c.id;
    f.verdict = c.ok ? Verdict::pass : (c.required ? Verdict::fail : Verdict::warn);
    f.detail = c.ok ? c.detail : c.error;
    f.required = c.required;
    if (!c.ok)
      f.fix = c.id.rfind("import.", 0) == 0
                  ? fmt::format("install it into the environment: {} -m pip install '{}'",
                                env.interpreter, c.id.substr(7))
                  : "reinstall a torch that matches this host: sd35-setup resolve && "
                    "sd35-setup install --venv DIR";
    reporter.finding(f);
  }
}

// What the run proved, on what: the result's last summary line and "proven".
std::string proven_line(const PreparedSmoke& p, const nlohmann::json& env, bool ok) {
  const std::string where =
      env.value("device", "cpu") == "cpu"
          ? "the CPU"
          : fmt::format("{} (cc {})", env.value("device", ""), env.value("cc", ""));
  const std::string what =
      p.env ? fmt::format("torch {} of {}", env.value("torch", ""), p.env->interpreter)
            : fmt::format("the built-in libtorch {}", env.value("libtorch", ""));
  return fmt::format("{} {} on {}{}{}", ok ? "proven:" : "NOT proven:", what, where,
                     env.value("native_fp8", false) ? ", native FP8" : "",
                     env.value("fused_kernels", false) ? " with fused kernels" : "");
}

// `up`'s default prompt where the pipeline cannot run: the MMDiT-only smoke, and why ("" when the
// prompt runs as asked).
std::string drop_unrunnable_prompt(SmokeOptions& o, const WeightsChoice& weights,
                                   const std::vector<std::filesystem::path>& folders) {
  if (!o.prompt_optional || o.prompts.empty()) return {};
  const auto why = pipeline_unavailable(o, weights, folders);
  if (!why) return {};
  o.prompts.clear();
  o.negatives.clear();
  o.image.clear();
  return *why;
}

void note_no_image(const std::string& why, nlohmann::json& doc) {
  if (why.empty()) return;
  doc["image_note"] = why;
  if (doc.contains("summary") && doc["summary"].is_array())
    doc["summary"].push_back("no image: " + why);
}

}  // namespace

Result<Outcome> smoke(const GlobalOptions& global, const SmokeOptions& asked, Reporter& reporter) {
  SD35_TRY(Manifest manifest, load_manifest_for(global));
  SD35_TRY_STATUS(check_options(asked));
  SmokeOptions options = asked;
  SmokeEnvOptions eo{
      options.python, options.venv, options.host_file,
      options.requires_.empty() ? pinned_companions(manifest) : parse_requires(options.requires_)};
  SD35_TRY(PreparedSmoke prepared, prepare_smoke(eo, reporter));
  if (prepared.env && !prepared.python_side) report_python_side(*prepared.env, reporter);
  if (prepared.gpu_problem && options.device != "cpu")
    return Error{Errc::host_not_ready,
                 "the environment cannot use this host's GPU: " + prepared.gpu_problem->cause,
                 prepared.env ? prepared.env->interpreter : prepared.plugin->path(),
                 prepared.gpu_problem->fix};
  const plugin::SmokePlugin& plugin = *prepared.plugin;
  CacheLookup lookup;
  if (options.checkpoint.empty() && !options.synthetic)
    lookup = find_cached_checkpoint(manifest, resolve_cache_dir(global));
  // Only libtorch knows whether `auto` lands on CUDA (a GPU with a CPU-only libtorch does not).
  const auto on_cuda = [&] {
    return options.device == "cuda" || (options.device == "auto" && plugin.cuda_available());
  };
  const WeightsChoice weights =
      choose_weights(options.checkpoint, options.synthetic, lookup, on_cuda);
  reporter.debug(weights_line(weights));
  const auto folders = tokenizer_candidates(global, manifest, options);
  const std::string no_image = drop_unrunnable_prompt(options, weights, folders);
  SD35_TRY(smoke::SmokeRequest rq, build_request(manifest, options, weights));
  SD35_TRY(std::optional<TextPlan> text, prepare_text(options, weights, folders, rq));
  // The plugin's pixels file is gone however this returns (it is read into the PNG first).
  const struct PixelsGuard {
    const smoke::SmokeRequest& rq;
    ~PixelsGuard() { discard_pixels(rq); }
  } pixels_guard{rq};
  EarlyImage early(reporter, text ? &*text : nullptr, rq, weights);
  auto ran = plugin.run(rq, early);
  // Collected even when the native part failed: both parts are always reported.
  const bool concurrent = prepared.python_side.has_value();
  SD35_TRY_STATUS(finish_python_side(prepared));
  if (concurrent) report_python_side(*prepared.env, reporter);
  SD35_TRY(nlohmann::json doc, std::move(ran));
  if (text) SD35_TRY_STATUS(finish_text(*text, rq, weights, doc, early.written()));
  describe_weights(weights, doc);
  doc["environment"] = environment_record(prepared, doc);
  if (prepared.env) doc["python_side"] = pyenv::to_json(*prepared.env);
  if (prepared.built) doc["plugin"] = prepared.built->to_json();
  // Where an end-to-end run's time goes: the interpreter's answer, the plugin, the smoke itself.
  doc["timings"] = {{"inspect_seconds", prepared.inspect_seconds},
                    {"plugin_seconds", prepared.plugin_seconds},
                    {"smoke_seconds", doc.value("total_seconds", 0.0)},
                    {"python_side_concurrent", prepared.python_side_concurrent},
                    {"python_side_wait_seconds", prepared.python_side_wait_seconds}};
  const bool python_ok = !prepared.env || prepared.env->python_side_ok();
  const bool passed = doc.value("ok", false) && python_ok;
  doc["proven"] = passed;
  note_no_image(no_image, doc);  // before the last line, which says what was proven
  if (doc.contains("summary") && doc["summary"].is_array()) {
    auto& summary = doc["summary"];
    summary.insert(summary.begin() + (summary.empty() ? 0 : 1), weights_line(weights));
    if (const auto* failed = prepared.env ? prepared.env->first_failure() : nullptr)
      summary.push_back(fmt::format("PYTHON SIDE FAILED: {}: {}", failed->id, failed->error));
    summary.push_back(proven_line(prepared, doc["environment"], passed));
  }
  reporter.result("smoke", doc);
  if (!python_ok) return Outcome::not_ready;
  return doc.value("ok", false) ? Outcome::ok : Outcome::verification_failed;
}
}  // namespace sd35::app
