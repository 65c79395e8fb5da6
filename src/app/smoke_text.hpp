// `smoke --prompt`: the host's half of prompt -> PNG. Before the plugin runs: the options checked,
// the tokenizers found (text::find_tokenizers) and run, SmokeRequest::text filled. After: the
// plugin's pixels turned into the PNG with every parameter in text chunks, and the result's
// "image" {path, fingerprint, width, height, params}.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/smoke.hpp"
#include "app/smoke_weights.hpp"
#include "smoke_api/request.hpp"

namespace sd35::app {

inline constexpr const char* kDefaultImage = "sd35-smoke.png";

// "HxW" in pixels -> the latent {H/8, W/8}; both multiples of 16 (Errc::usage naming the rule).
Result<std::pair<int, int>> parse_image_size(const std::string& text);

struct TextPlan {
  std::filesystem::path image;  // the PNG to write
};

// The text options on their own, before anything is loaded: one negative per prompt,
// --negative/--image/--tokenizers need --prompt, --size in multiples of 16 (Errc::usage).
Status check_text_options(const SmokeOptions& options);

// Folders after --tokenizers and the checkpoint's own that may hold the tokenizers: the
// manifest's fetched extra files (fetch::tokenizers_dir), when they are in the cache.
std::vector<std::filesystem::path> tokenizer_candidates(const GlobalOptions& global,
                                                        const Manifest& manifest,
                                                        const SmokeOptions& options);

// Why the prompt -> image pipeline cannot run on these weights with these tokenizers (nullopt:
// it can): the embedded model (no text encoders or VAE), a checkpoint that lacks a component, no
// tokenizer files. For `up`'s default prompt (SmokeOptions::prompt_optional).
std::optional<std::string> pipeline_unavailable(const SmokeOptions& options,
                                                const WeightsChoice& weights,
                                                const std::vector<std::filesystem::path>& folders);

// With prompts, finds and runs the tokenizers into `rq.text` (options checked already).
// nullopt: no prompt, the MMDiT-only smoke.
Result<std::optional<TextPlan>> prepare_text(const SmokeOptions& options,
                                             const WeightsChoice& weights,
                                             const std::vector<std::filesystem::path>& folders,
                                             smoke::SmokeRequest& rq);

// Reads the plugin's pixels, writes the PNG, sets doc["image"] and adds a summary line.
// Errc::unavailable when the plugin produced no image (an older plugin).
Status finish_text(const TextPlan& plan, const smoke::SmokeRequest& rq,
                   const WeightsChoice& weights, nlohmann::json& doc);

// Removes the plugin's pixels file (after the PNG, or after a failed run).
void discard_pixels(const smoke::SmokeRequest& rq);

}  // namespace sd35::app
