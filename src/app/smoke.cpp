#include "app/smoke.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "app/smoke_plugin.hpp"
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

}  // namespace

Result<Outcome> smoke(const GlobalOptions& global, const SmokeOptions& options,
                      Reporter& reporter) {
  SD35_TRY(Manifest manifest, load_manifest_for(global));
  if (options.synthetic && !options.checkpoint.empty())
    return Error{Errc::usage, "--synthetic and --checkpoint exclude each other", "--synthetic",
                 "drop one: --synthetic runs the embedded model, --checkpoint the given weights"};
  if (!options.inputs.empty() && options.checkpoint.empty())
    return Error{Errc::usage, "--inputs needs --checkpoint", "--inputs",
                 "the fixture protocol runs a given checkpoint"};
  SD35_TRY(const smoke::PluginApi* plugin, load_smoke_plugin());
  CacheLookup lookup;
  if (options.checkpoint.empty() && !options.synthetic)
    lookup = find_cached_checkpoint(manifest, resolve_cache_dir(global));
  // Only libtorch knows whether `auto` lands on CUDA (a GPU with a CPU-only libtorch does not).
  const auto on_cuda = [&] {
    return options.device == "cuda" || (options.device == "auto" && plugin->cuda_available());
  };
  const WeightsChoice weights =
      choose_weights(options.checkpoint, options.synthetic, lookup, on_cuda);
  reporter.debug(weights_line(weights));
  smoke::SmokeRequest rq;
  rq.checkpoint = weights.checkpoint;
  rq.device = options.device;
  const std::string precision =
      options.precision.empty() ? manifest.smoke.precision : options.precision;
  auto p = plugin->parse_precision(precision);
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
  if (!options.latent.empty()) {
    SD35_TRY(auto hw, parse_latent(options.latent));
    rq.latent_h = hw.first;
    rq.latent_w = hw.second;
  }
  rq.sampling.steps = options.steps > 0 ? options.steps : manifest.smoke.steps;
  rq.sampling.guidance = options.guidance >= 0 ? options.guidance : manifest.smoke.guidance;
  rq.sampling.shift = options.shift > 0 ? options.shift : manifest.smoke.shift;
  rq.inputs = options.inputs;
  rq.dump = options.dump;
  rq.gemm_probe = !options.no_gemm_probe;
  SD35_TRY(nlohmann::json doc, plugin->run_smoke(rq, reporter));
  describe_weights(weights, doc);
  if (doc.contains("summary") && doc["summary"].is_array()) {
    auto& summary = doc["summary"];
    summary.insert(summary.begin() + (summary.empty() ? 0 : 1), weights_line(weights));
  }
  const bool passed = doc.value("ok", false);
  reporter.result("smoke", doc);
  return passed ? Outcome::ok : Outcome::verification_failed;
}
}  // namespace sd35::app
