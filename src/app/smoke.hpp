// `sd35-setup smoke`: proves an environment. Through the chosen Python environment's own torch
// (--python/--venv: a plugin built against it, plus the Python side: companions, float8, CUDA,
// torch._scaled_mm) or the built-in libtorch, it runs a real checkpoint (--checkpoint, or the
// manifest's model fetched into the cache) or the embedded FP8 MMDiT (app/smoke_weights.hpp
// decides) and reports agreement, step time, peak memory and a fingerprint for the lockfile. Works
// without libtorch too: then it reports Errc::unavailable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/context.hpp"

namespace sd35::app {

struct SmokeOptions {
  std::string checkpoint;  // empty: the manifest's model from the cache, else the embedded one
  bool synthetic = false;  // always the embedded synthetic model
  std::string device = "auto";
  std::string precision;  // empty: manifest smoke.precision
  std::string latent;     // "HxW"; empty: manifest smoke.latent
  int steps = 0;          // 0: manifest
  double guidance = -1;   // < 0: manifest
  double shift = -1;      // < 0: manifest
  std::string inputs;     // fixture protocol (with dump)
  std::string dump;
  bool no_gemm_probe = false;
  // The environment to prove (smoke/plugin built against its torch); both empty: the built-in
  // plugin (the libtorch sd35-setup was built with).
  std::string python;
  std::string venv;
  std::string host_file;               // GPU facts from a described host instead of the probe
  std::vector<std::string> requires_;  // "name" or "name<spec>": replaces the manifest's pins
  // Prompt -> PNG (app/smoke_text.hpp): a batch of prompts, one negative each ("" when none given).
  std::vector<std::string> prompts;
  std::vector<std::string> negatives;
  std::string image;       // the PNG; empty with prompts: sd35-smoke.png in the current folder
  std::string size;        // "HxW" pixels (multiples of 16); sets the latent to H/8 x W/8
  std::int64_t seed = 0;   // the starting noise (unless --inputs holds latents_in)
  std::string tokenizers;  // folder with tokenizer/ and tokenizer_3/ as in a diffusers repo
  // Prompt -> PNG this many times in one process, the weights and the step graph kept loaded
  // between runs when the memory plan is resident: a resident service's time per image.
  int repeat = 1;
  // `up`'s default prompt: where the pipeline cannot run (the embedded model, no tokenizers), run
  // the MMDiT-only smoke and say why in the result's "image_note" instead of failing.
  bool prompt_optional = false;
};

Result<Outcome> smoke(const GlobalOptions& global, const SmokeOptions& options, Reporter& reporter);

}  // namespace sd35::app
