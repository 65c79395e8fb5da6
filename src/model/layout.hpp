// Where an SD3-family diffusion transformer sits in a safetensors checkpoint, from tensor names
// alone (torch-free, in sd35base: used by verify's model audit, the smoke's loader and the cache
// lookup that picks the smoke's weights).
//
//   SAI single file   `joint_blocks.N.x_block...`, usually under the all-in-one prefix
//                     `model.diffusion_model.` next to bundled text encoders
//                     (`text_encoders.clip_l.` ...) and the VAE (`first_stage_model.`)
//   diffusers         `transformer_blocks.N.attn...` in
//   transformer/diffusion_pytorch_model*.safetensors
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "safetensors/safetensors.hpp"

namespace sd35::model {

// The prefix of the MMDiT's tensors in an SAI/ComfyUI all-in-one file.
inline constexpr std::string_view kSaiPrefix = "model.diffusion_model.";

enum class Layout { sai, diffusers };

// "sai-single-file" | "diffusers": the manifest's `format` values.
std::string_view layout_name(Layout layout);

// Names that differ between the two layouts (shared/reference/sd3-model-hub-lfs.md §2.3, §3.3),
// relative to the layout's prefix.
struct LayoutNames {
  std::string_view block_prefix;  // "joint_blocks." | "transformer_blocks."
  std::string_view patch;         // patch embedding conv weight [hidden, in, p, p]
  std::string_view pos;           // pos_embed [1, positions, hidden]
  std::string_view context;       // context_embedder.weight [hidden, joint_attention_dim]
  std::string_view pooled;        // text embedder linear_1 [hidden, pooled_projection_dim]
  std::string_view qnorm0;        // block 0's RMS q-norm weight [head_dim]
  std::string_view final_linear;  // final projection [p*p*out, hidden]
  std::string_view dual_marker;   // in the key of an MMDiT-X (attn2) block tensor
};
const LayoutNames& names_of(Layout layout);

// The layout of a set of tensor names: add every name (or header), then ask.
class LayoutScan {
 public:
  void add(std::string_view name);
  void add(const st::Header& header);
  // Any tensor of an SD3-family diffusion transformer, in either layout.
  [[nodiscard]] bool holds_mmdit() const { return sai_prefixed_ || sai_bare_ || diffusers_; }
  // SAI when any SAI key is there (prefixed or bare), else diffusers.
  [[nodiscard]] Layout layout() const {
    return sai_prefixed_ || sai_bare_ ? Layout::sai : Layout::diffusers;
  }
  // kSaiPrefix when the SAI keys carry it, else "".
  [[nodiscard]] std::string_view prefix() const {
    return sai_prefixed_ ? kSaiPrefix : std::string_view();
  }

 private:
  bool sai_prefixed_ = false, sai_bare_ = false, diffusers_ = false;
};

bool holds_mmdit(const st::Header& header);

// Bytes of the diffusion-model tensors in one header: `model.diffusion_model.*` in an all-in-one
// file (text encoders and VAE excluded), every tensor otherwise.
std::uint64_t mmdit_tensor_bytes(const st::Header& header);

// The key of an MMDiT tensor of an SAI file without the all-in-one prefix; nullopt for the
// bundled text encoders, the VAE and anything else outside the MMDiT.
std::optional<std::string_view> sai_mmdit_key(std::string_view name);

// What an all-in-one file may bundle beside the MMDiT.
struct Component {
  std::string_view prefix;  // "text_encoders.clip_l."
  std::string_view label;   // "CLIP-L text encoder"
};
const std::array<Component, 4>& bundled_components();

// The labels of the bundled components (text encoders, VAE) an all-in-one header lacks: what the
// prompt -> image pipeline would miss in it. Empty when the file carries the whole pipeline.
std::vector<std::string_view> missing_components(const st::Header& header);

// The component a tensor belongs to: "diffusion_model", a bundled component's prefix without
// its trailing dot ("text_encoders.clip_l", "first_stage_model"), or "other".
std::string component_of(std::string_view name, Layout layout, std::string_view prefix);

}  // namespace sd35::model
