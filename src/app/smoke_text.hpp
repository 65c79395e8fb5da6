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

// Forwards everything to `inner`, except the plugin's "pixels_ready" event: on it, writes the PNG
// at once (the plugin's checks run after the picture exists), and keeps what happened (of
// --repeat's runs, the last).
class EarlyImage final : public Reporter {
 public:
  // `plan` null: no prompt, nothing to write.
  EarlyImage(Reporter& inner, const TextPlan* plan, const smoke::SmokeRequest& rq,
             const WeightsChoice& weights);
  using Reporter::event;
  void event(Level level, std::string_view message, const nlohmann::json& fields) override;
  void progress(const ProgressUpdate& update) override { inner_.progress(update); }
  void finding(const Finding& finding) override { inner_.finding(finding); }
  void result(std::string_view kind, const nlohmann::json& document) override {
    inner_.result(kind, document);
  }
  // The PNG's "image" object, or why it could not be written; nullopt until the event came.
  const std::optional<Result<nlohmann::json>>& written() const { return written_; }

 private:
  Reporter& inner_;
  const TextPlan* plan_;
  const smoke::SmokeRequest& rq_;
  const WeightsChoice& weights_;
  std::optional<Result<nlohmann::json>> written_;
};

// Sets doc["image"] from the PNG EarlyImage wrote (`written`), or reads the plugin's pixels and
// writes it now; adds a summary line. Errc::unavailable when the plugin produced no image (an
// older plugin).
Status finish_text(const TextPlan& plan, const smoke::SmokeRequest& rq,
                   const WeightsChoice& weights, nlohmann::json& doc,
                   std::optional<Result<nlohmann::json>> written);

// Removes the plugin's pixels file (after the PNG, or after a failed run).
void discard_pixels(const smoke::SmokeRequest& rq);

}  // namespace sd35::app
