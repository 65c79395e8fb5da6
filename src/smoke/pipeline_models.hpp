// The text encoders (CLIP-L, CLIP-G, T5-XXL) and the VAE decoder of the SD3.5 pipeline, read from
// a ComfyUI all-in-one file (text_encoders.*, first_stage_model.*) or a diffusers pipeline folder.
// TORCH HEADER: include it only from src/smoke/*.cpp; the host reaches all of this through
// run_smoke (smoke/smoke.hpp).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "smoke/mmdit_model.hpp"

namespace sd35::smoke {

// The tensors of one component under a name prefix ("text_encoders.t5xxl.transformer." in an
// all-in-one file; "" in a diffusers component folder, whose tensors may be in several shards).
// FP8 weights keep one byte per element with their per-tensor scale, in either spelling:
// `scale_weight` (+ the prefix's `scaled_fp8` marker) or `weight_scale` (+ `comfy_quant` JSON).
struct WeightSet {
  std::vector<std::shared_ptr<st::File>> files;
  std::string prefix;
  std::string component;  // what the user knows it as: "CLIP-L text encoder", "VAE decoder"
  // The stored name (after the prefix) of a name the loader asks for: a diffusers VAE's names for
  // the LDM names (model::diffusers_vae_name). Unset: the same name; nullopt: not stored.
  std::function<std::optional<std::string>(const std::string&)> rename;

  struct Found {
    const st::File* file = nullptr;
    const st::TensorInfo* info = nullptr;
  };
  [[nodiscard]] std::optional<Found> find(const std::string& name) const;
  [[nodiscard]] std::string where() const;  // the (first) file, for messages
  [[nodiscard]] bool has(const std::string& name) const;
  [[nodiscard]] std::vector<std::int64_t> shape(const std::string& name) const;  // {} if absent
  // Counts name_prefix + "N" + name_suffix for N = 0, 1, ... (layers, blocks).
  [[nodiscard]] int count(const std::string& name_prefix, const std::string& name_suffix) const;
  Result<at::Tensor> tensor(const std::string& name) const;
  // `base`.weight (+ `base`.bias when present), FP8 with its scale.
  Result<Linear> linear(const std::string& base) const;
  [[nodiscard]] std::string spelling() const;  // FP8 spelling seen ("" when none)
};

// Opens `component` under `prefix` in the file; not_found naming the component when none of its
// tensors is there.
Result<WeightSet> open_weights(const std::shared_ptr<st::File>& file, const std::string& prefix,
                               const std::string& component);

// Where the text encoders and the VAE are read from: an all-in-one file (text_encoders.*,
// first_stage_model.*) or a diffusers pipeline folder (text_encoder/, text_encoder_2/,
// text_encoder_3/, vae/ beside transformer/; model::diffusers_pipeline_root).
class PipelineSource {
 public:
  static Result<PipelineSource> open(const std::string& checkpoint);
  // "clip_l", "clip_g", "t5xxl" or "vae" (label: what messages call it).
  [[nodiscard]] Result<WeightSet> weights(const std::string& component,
                                          const std::string& label) const;
  // The all-in-one file; nullptr for a diffusers folder.
  [[nodiscard]] const std::shared_ptr<st::File>& all_in_one() const { return file_; }
  // Stored bytes of "text_encoders", "mmdit" or "vae" (the decoder), for the memory plan.
  [[nodiscard]] std::uint64_t stored_bytes(std::string_view part) const;
  // vae/config.json's scaling_factor and shift_factor when the folder has them.
  std::optional<double> scaling_factor, shift_factor;

 private:
  std::shared_ptr<st::File> file_;
  std::filesystem::path root_;
  // The component files opened so far: CPU tensors are views of their mappings, so the mappings
  // live as long as the source (the run), not only as long as one WeightSet.
  mutable std::vector<std::shared_ptr<st::File>> opened_;
};

struct ClipLayer {
  Linear q, k, v, out, fc1, fc2;
  at::Tensor ln1_w, ln1_b, ln2_w, ln2_b;
};

// transformers CLIPTextModelWithProjection.
struct ClipText {
  std::string name;  // "clip_l" / "clip_g"
  at::Tensor token_embedding, position_embedding, final_ln_w, final_ln_b;
  Linear projection;  // no bias; identity when the file has none
  std::vector<ClipLayer> layers;
  int heads = 0;
  bool quick_gelu = true;  // CLIP-L: quick_gelu; CLIP-G (OpenCLIP bigG): gelu
};

struct ClipOutput {
  at::Tensor penultimate;  // [B, 77, D] hidden state before the last layer, not normed
  at::Tensor pooled;       // [B, P] final-normed state at the end token, projected
};

struct T5Layer {
  Linear q, k, v, o, wi0, wi1, wo;
  at::Tensor attn_norm, ffn_norm;
};

// transformers T5EncoderModel (v1.1: gated-GELU FFN, no attention scaling, RMS norm).
struct T5Encoder {
  at::Tensor embedding, relative_bias, final_norm;  // relative_bias [buckets, heads] (block 0)
  std::vector<T5Layer> layers;
  int heads = 0;
  std::string fp8_spelling;
};

struct VaeResnet {
  at::Tensor norm1_w, norm1_b, norm2_w, norm2_b;
  Linear conv1, conv2, shortcut;  // shortcut: 1x1 when channels change
};

// LDM decoder (first_stage_model.decoder.*), levels in LDM order (up.0 = highest resolution).
struct VaeDecoder {
  Linear conv_in, conv_out, attn_q, attn_k, attn_v, attn_out, post_quant_conv;
  VaeResnet mid1, mid2;
  at::Tensor attn_norm_w, attn_norm_b, norm_out_w, norm_out_b;
  struct Level {
    std::vector<VaeResnet> blocks;
    Linear upsample;  // undefined weight at level 0
  };
  std::vector<Level> levels;
  double scaling_factor = 1.5305;
  double shift_factor = 0.0609;
};

Result<ClipText> load_clip(const PipelineSource& source, const std::string& name);
// The T5 encoder's tensors in `source` (all-in-one prefix or text_encoder_3/ shards).
Result<WeightSet> t5_weights(const PipelineSource& source);
Result<T5Encoder> load_t5(const PipelineSource& source);
Result<VaeDecoder> load_vae(const PipelineSource& source);

// Moves weights to the exec's device (FP8 stays FP8).
void to_device(ClipText& m, const Exec& e);
void to_device(T5Encoder& m, const Exec& e);
void to_device(VaeDecoder& m, const Exec& e);

ClipOutput encode_clip(const ClipText& m, const at::Tensor& ids, const Exec& e);
at::Tensor encode_t5(const T5Encoder& m, const at::Tensor& ids, const Exec& e);  // [B, L, D]
// What block 0 adds to the embeddings (its attention + FFN residual updates): the numbers that
// scale with the FP8 weights, which the scale check recomputes.
at::Tensor t5_first_block(const T5Encoder& m, const at::Tensor& ids, const Exec& e);
// Latents (scaled, as the sampler returns them) -> image in [-1, 1] before clamping, float32.
at::Tensor decode_latents(const VaeDecoder& m, const at::Tensor& latents, const Exec& e);
// Raw decoder on already unscaled latents (vae.decode(z)), float32.
at::Tensor vae_decode(const VaeDecoder& m, const at::Tensor& z, const Exec& e);
// The same over overlapping latent tiles blended linearly: bounded memory for large images.
at::Tensor vae_decode_tiled(const VaeDecoder& m, const at::Tensor& z, const Exec& e,
                            std::int64_t tile, std::int64_t overlap);

// pipeline_checks.cpp
// {"mean", "std", "min", "max", "finite"} of a tensor (float64 sums).
nlohmann::json tensor_stats(const at::Tensor& t);
// The T5 FP8 scale check of smoke.hpp on a loaded (and possibly already moved) T5.
// The reference is read from `source`'s files: an all-in-one file or a diffusers folder.
Result<nlohmann::json> t5_scale_check(const T5Encoder& m, const PipelineSource& source,
                                      const at::Tensor& ids, const Exec& e);
// Image [B, 3, H, W] in [0, 1] -> image 0 as 8-bit RGB, row-major H*W*3 (round(x * 255)).
std::string rgb8_pixels(const at::Tensor& image);
// smoke --repeat, over the result's "runs": the check that every run gave run 1's picture, and
// the summary line with the kept runs' prompt -> PNG times.
nlohmann::json repeat_check(const nlohmann::json& runs);
std::string repeat_line(const nlohmann::json& runs);

std::uint64_t weight_bytes(const ClipText& m);
std::uint64_t weight_bytes(const T5Encoder& m);
std::uint64_t weight_bytes(const VaeDecoder& m);

}  // namespace sd35::smoke
