#include "smoke_api/request.hpp"

#include <fmt/format.h>

namespace sd35::smoke {

std::optional<Precision> parse_precision(std::string_view text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "bf16") return Precision::bf16;
  if (text == "fp8-weights") return Precision::fp8_weights;
  if (text == "fp8") return Precision::fp8;
  return std::nullopt;
}

std::string_view to_string(Precision p) noexcept {
  switch (p) {
    case Precision::fp32:
      return "fp32";
    case Precision::bf16:
      return "bf16";
    case Precision::fp8_weights:
      return "fp8-weights";
    case Precision::fp8:
      return "fp8";
  }
  return "?";
}

namespace {

nlohmann::json ids_json(const TokenIds& ids) {
  return {{"clip_l", ids.clip_l}, {"clip_g", ids.clip_g}, {"t5xxl", ids.t5xxl}};
}

TokenIds ids_from_json(const nlohmann::json& doc) {
  TokenIds ids;
  doc.at("clip_l").get_to(ids.clip_l);
  doc.at("clip_g").get_to(ids.clip_g);
  doc.at("t5xxl").get_to(ids.t5xxl);
  return ids;
}

nlohmann::json text_json(const TextToImage& text) {
  return {{"prompts", text.prompts},
          {"negatives", text.negatives},
          {"prompt_ids", ids_json(text.prompt_ids)},
          {"negative_ids", ids_json(text.negative_ids)},
          {"seed", text.seed},
          {"pixels_out", text.pixels_out}};
}

TextToImage text_from_json(const nlohmann::json& doc) {
  TextToImage text;
  doc.at("prompts").get_to(text.prompts);
  doc.at("negatives").get_to(text.negatives);
  text.prompt_ids = ids_from_json(doc.at("prompt_ids"));
  text.negative_ids = ids_from_json(doc.at("negative_ids"));
  text.seed = doc.at("seed").get<std::int64_t>();
  text.pixels_out = doc.at("pixels_out").get<std::string>();
  return text;
}

}  // namespace

nlohmann::json to_json(const SmokeRequest& rq) {
  nlohmann::json doc = {{"checkpoint", rq.checkpoint},
                        {"device", rq.device},
                        {"precision", to_string(rq.precision)},
                        {"latent", {rq.latent_h, rq.latent_w}},
                        {"steps", rq.sampling.steps},
                        {"guidance", rq.sampling.guidance},
                        {"shift", rq.sampling.shift},
                        {"modulation_rows", rq.sampling.modulation_rows},
                        {"inputs", rq.inputs},
                        {"dump", rq.dump},
                        {"gemm_probe", rq.gemm_probe},
                        {"repeat", rq.repeat}};
  if (rq.text) doc["text"] = text_json(*rq.text);
  return doc;
}

Result<SmokeRequest> request_from_json(const nlohmann::json& doc) {
  try {
    SmokeRequest rq;
    rq.checkpoint = doc.at("checkpoint").get<std::string>();
    rq.device = doc.at("device").get<std::string>();
    const auto precision = parse_precision(doc.at("precision").get<std::string>());
    if (!precision)
      return make_error(Errc::bad_input, "unknown precision in the smoke request", "precision");
    rq.precision = *precision;
    rq.latent_h = doc.at("latent").at(0).get<int>();
    rq.latent_w = doc.at("latent").at(1).get<int>();
    rq.sampling.steps = doc.at("steps").get<int>();
    rq.sampling.guidance = doc.at("guidance").get<double>();
    rq.sampling.shift = doc.at("shift").get<double>();
    rq.sampling.modulation_rows = doc.value("modulation_rows", 0);
    rq.inputs = doc.at("inputs").get<std::string>();
    rq.dump = doc.at("dump").get<std::string>();
    rq.gemm_probe = doc.at("gemm_probe").get<bool>();
    rq.repeat = doc.value("repeat", 1);
    if (doc.contains("text")) rq.text = text_from_json(doc.at("text"));
    return rq;
  } catch (const nlohmann::json::exception& ex) {
    return make_error(Errc::bad_input, fmt::format("malformed smoke request: {}", ex.what()),
                      "smoke plugin request",
                      "the plugin and sd35-setup come from different versions: rebuild the plugin");
  }
}

}  // namespace sd35::smoke
