#include "app/smoke_text.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "fetch/model_extras.hpp"
#include "image/png.hpp"
#include "model/diffusers_pipeline.hpp"
#include "model/layout.hpp"
#include "safetensors/safetensors.hpp"
#include "text/tokenizers.hpp"
#include "util/fs.hpp"

namespace sd35::app {

namespace stdfs = std::filesystem;

Status check_text_options(const SmokeOptions& o) {
  if (o.prompts.empty()) {
    for (const auto& [flag, set] :
         {std::pair{"--negative", !o.negatives.empty()}, std::pair{"--image", !o.image.empty()},
          std::pair{"--tokenizers", !o.tokenizers.empty()}, std::pair{"--repeat", o.repeat > 1}})
      if (set)
        return make_error(Errc::usage, fmt::format("{} needs --prompt", flag), flag,
                          "add --prompt TEXT to run the whole pipeline to a PNG");
    return {};
  }
  if (!o.negatives.empty() && o.negatives.size() != o.prompts.size())
    return make_error(
        Errc::usage,
        fmt::format("{} --negative for {} --prompt", o.negatives.size(), o.prompts.size()),
        "--negative", "give one --negative per --prompt (\"\" for none), or no --negative at all");
  if (!o.size.empty()) SD35_TRY_STATUS(parse_image_size(o.size));
  return {};
}

namespace {

// "model" of the PNG's parameters: which weights made the image.
std::string model_text(const WeightsChoice& w) {
  if (w.cached)
    return fmt::format("{}@{} {}", w.cached->repo, w.cached->commit, w.cached->checkpoint_rel);
  if (!w.checkpoint.empty()) return w.checkpoint;
  return "embedded synthetic model";
}

// What made the picture (the first of the batch): its prompt and negative, and for a batch of
// several, every prompt and negative in order too: the first picture's pixels depend on the batch
// it was made in (its noise is drawn for the whole batch, batched arithmetic rounds differently),
// so the gate re-runs that batch to make the same picture again.
nlohmann::json image_params(const smoke::SmokeRequest& rq, const WeightsChoice& weights) {
  const smoke::TextToImage& t = *rq.text;
  nlohmann::json params{{"prompt", t.prompts.front()},
                        {"negative_prompt", t.negatives.front()},
                        {"seed", t.seed},
                        {"steps", rq.sampling.steps},
                        {"guidance", rq.sampling.guidance},
                        {"shift", rq.sampling.shift},
                        {"size", fmt::format("{}x{}", rq.latent_h * 8, rq.latent_w * 8)},
                        {"precision", std::string(smoke::to_string(rq.precision))},
                        {"device", rq.device},
                        {"model", model_text(weights)},
                        {"batch", t.prompts.size()},
                        {"sd35_setup", SD35_VERSION}};
  if (t.prompts.size() > 1) {
    params["prompts"] = t.prompts;
    params["negative_prompts"] = t.negatives;
  }
  return params;
}

image::TextChunks text_chunks(const nlohmann::json& params) {
  image::TextChunks chunks;
  for (const auto& [key, value] : params.items())
    chunks.emplace_back(key, value.is_string() ? value.get<std::string>() : value.dump());
  chunks.emplace_back("Software", std::string("sd35-setup ") + SD35_VERSION);
  return chunks;
}

Result<int> dimension(const nlohmann::json& image, const char* key) {
  if (!image.contains(key) || !image[key].is_number_integer() || image[key].get<int>() <= 0)
    return make_error(Errc::internal, fmt::format("the plugin's image has no valid \"{}\"", key),
                      "result.image", "report this with the --json document");
  return image[key].get<int>();
}

}  // namespace

Result<std::pair<int, int>> parse_image_size(const std::string& text) {
  int h = 0, w = 0;
  char x = 0;
  char extra = 0;
  const bool shape =
      std::sscanf(text.c_str(), "%d%c%d%c", &h, &x, &w, &extra) == 3 && (x == 'x' || x == 'X');
  if (!shape || h < 16 || w < 16 || h > 8192 || w > 8192 || h % 16 != 0 || w % 16 != 0)
    return make_error(Errc::usage,
                      fmt::format("--size \"{}\" is not HxW pixels in multiples of 16", text),
                      "--size",
                      "height and width must be multiples of 16 px (the latent is 1/8 of the image "
                      "and the MMDiT's patches are 2x2 latents), 16..8192, e.g. --size 1024x1024");
  return std::pair{h / 8, w / 8};
}

std::vector<stdfs::path> tokenizer_candidates(const GlobalOptions& global, const Manifest& manifest,
                                              const SmokeOptions& o) {
  if (o.prompts.empty() || !o.tokenizers.empty()) return {};
  // Not fetched (yet) is no error here: find_tokenizers says what is needed when nothing fits.
  auto dir = fetch::tokenizers_dir(manifest, hub_env_for(global));
  if (!dir) return {};
  return {*dir};
}

namespace {

// What a checkpoint lacks for the pipeline: a diffusers pipeline folder's component folders, an
// all-in-one file's text encoders and VAE (nullopt: nothing).
std::optional<std::string> missing_in_weights(const std::string& checkpoint) {
  std::error_code ec;
  if (stdfs::is_directory(checkpoint, ec)) {
    const auto root = model::diffusers_pipeline_root(checkpoint);
    if (!root) return checkpoint + " is not a diffusers pipeline folder";
    for (const char* c : {"clip_l", "clip_g", "t5xxl", "vae"})
      if (!stdfs::is_directory(*root / model::diffusers_folder(c), ec))
        return fmt::format("the diffusers pipeline {} has no {}/", root->string(),
                           model::diffusers_folder(c));
    return std::nullopt;
  }
  auto header = st::read_header(checkpoint);
  if (!header) return header.error().describe();
  if (const auto missing = model::missing_components(*header); !missing.empty())
    return fmt::format("{} has no {}", checkpoint, fmt::join(missing, ", "));
  return std::nullopt;
}

}  // namespace

std::optional<std::string> pipeline_unavailable(const SmokeOptions& o, const WeightsChoice& weights,
                                                const std::vector<stdfs::path>& folders) {
  if (weights.checkpoint.empty())
    return weights.note.empty()
               ? std::string("the embedded synthetic model has no text encoders or VAE")
               : "the embedded synthetic model (no text encoders or VAE) ran: " + weights.note;
  if (auto lacking = missing_in_weights(weights.checkpoint)) return lacking;
  auto files = text::find_tokenizers({o.tokenizers, weights.checkpoint, folders});
  if (!files) return files.error().message + "; " + files.error().hint;
  return std::nullopt;
}

Result<std::optional<TextPlan>> prepare_text(const SmokeOptions& o, const WeightsChoice& weights,
                                             const std::vector<stdfs::path>& folders,
                                             smoke::SmokeRequest& rq) {
  if (o.prompts.empty()) return std::optional<TextPlan>();
  TextPlan plan;
  plan.image = o.image.empty() ? stdfs::path(kDefaultImage) : stdfs::path(o.image);
  const stdfs::path folder = plan.image.has_parent_path() ? plan.image.parent_path() : ".";
  std::error_code ec;
  if (!stdfs::is_directory(folder, ec))
    return make_error(Errc::usage, "the folder for the image does not exist", folder.string(),
                      "create it, or pass --image in an existing folder");
  text::TokenizerSearch search{o.tokenizers, weights.checkpoint, folders};
  SD35_TRY(text::TokenizerFiles files, text::find_tokenizers(search));
  SD35_TRY(text::Tokenizers tokenizers, text::Tokenizers::load(files));
  smoke::TextToImage t;
  t.prompts = o.prompts;
  t.negatives = o.negatives.empty() ? std::vector<std::string>(o.prompts.size()) : o.negatives;
  t.prompt_ids = tokenizers.encode(t.prompts);
  t.negative_ids = tokenizers.encode(t.negatives);
  t.seed = o.seed;
  t.pixels_out = (stdfs::absolute(folder, ec) / fmt::format(".{}.pixels.{}.tmp",
                                                            plan.image.filename().string(),
                                                            static_cast<long>(::getpid())))
                     .string();
  rq.text = std::move(t);
  return std::optional<TextPlan>(std::move(plan));
}

void discard_pixels(const smoke::SmokeRequest& rq) {
  std::error_code ec;
  if (rq.text && !rq.text->pixels_out.empty()) stdfs::remove(rq.text->pixels_out, ec);
}

namespace {

// The PNG from the plugin's pixels file, sized by `size`'s "height" and "width" (the plugin's
// event or its result): the result's "image" object.
Result<nlohmann::json> write_image(const TextPlan& plan, const smoke::SmokeRequest& rq,
                                   const WeightsChoice& weights, const nlohmann::json& size) {
  const auto t0 = std::chrono::steady_clock::now();
  SD35_TRY(int height, dimension(size, "height"));
  SD35_TRY(int width, dimension(size, "width"));
  SD35_TRY(std::string pixels, fs::read_file(rq.text->pixels_out, 512u << 20));
  if (pixels.size() != static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3)
    return make_error(Errc::internal,
                      fmt::format("the plugin wrote {} bytes of pixels for a {}x{} RGB image",
                                  pixels.size(), height, width),
                      rq.text->pixels_out, "report this with the --json document");
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(pixels.data()),
                                            pixels.size());
  const nlohmann::json params = image_params(rq, weights);
  SD35_TRY(std::string png, image::encode_png({width, height, bytes}, text_chunks(params)));
  const std::chrono::duration<double, std::milli> encoded = std::chrono::steady_clock::now() - t0;
  SD35_TRY_STATUS(fs::write_file_atomic(plan.image, png));
  const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - t0;
  return nlohmann::json{{"path", plan.image.string()},
                        {"fingerprint", image::pixel_fingerprint(bytes)},
                        {"width", width},
                        {"height", height},
                        {"write_ms", took.count()},      // pixels file -> PNG on disk
                        {"encode_ms", encoded.count()},  // of which: read, filter, deflate
                        {"params", params}};
}

}  // namespace

EarlyImage::EarlyImage(Reporter& inner, const TextPlan* plan, const smoke::SmokeRequest& rq,
                       const WeightsChoice& weights)
    : inner_(inner), plan_(plan), rq_(rq), weights_(weights) {}

void EarlyImage::event(Level level, std::string_view message, const nlohmann::json& fields) {
  // Every run of --repeat publishes its pixels: each one's PNG is written (the same file), so each
  // run's prompt -> PNG time is the plugin's and this one together.
  if (plan_ != nullptr && fields.is_object() && fields.contains("pixels_ready")) {
    written_ = write_image(*plan_, rq_, weights_, fields);
    if (*written_)
      inner_.info(
          fmt::format("image written: {} (the checks are still running)", plan_->image.string()));
    return;
  }
  inner_.event(level, message, fields);
}

Status finish_text(const TextPlan& plan, const smoke::SmokeRequest& rq,
                   const WeightsChoice& weights, nlohmann::json& doc,
                   std::optional<Result<nlohmann::json>> written) {
  if (!doc.contains("image") || !doc["image"].is_object())
    return make_error(Errc::unavailable,
                      "this smoke plugin does not run the prompt -> image pipeline", "result.image",
                      "rebuild sd35-setup (or the environment's plugin) from sources with the text "
                      "encoders and the VAE");
  // A plugin that writes its pixels only at the end.
  if (!written) written = write_image(plan, rq, weights, doc["image"]);
  SD35_TRY(nlohmann::json image, std::move(*written));
  doc["image"] = image;
  if (doc.contains("summary") && doc["summary"].is_array())
    doc["summary"].push_back(fmt::format("image: {} ({}x{}, pixels sha256 {})", plan.image.string(),
                                         image["width"].get<int>(), image["height"].get<int>(),
                                         image["fingerprint"].get<std::string>().substr(0, 16)));
  return {};
}

}  // namespace sd35::app
