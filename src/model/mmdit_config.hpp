// SD3/SD3.5 MMDiT architecture (diffusers SD3Transformer2DModel config) and the mapping from
// SAI/ComfyUI single-file tensor names to the internal names the smoke's model uses. Torch-free
// (sd35base, and the on-demand plugin's sources): the smoke's torch code names these through
// smoke/mmdit_config.hpp.
//
// Internal names are diffusers names with the attention projections fused the SAI way:
//   transformer_blocks.i.attn.qkv     (= to_q | to_k | to_v, rows stacked)
//   transformer_blocks.i.attn.add_qkv (= add_q_proj | add_k_proj | add_v_proj)
//   transformer_blocks.i.attn2.qkv    (dual-attention blocks)
// so one GEMM computes q, k and v.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace sd35::model {

struct MmditConfig {
  int patch_size = 2;
  int in_channels = 16;
  int out_channels = 16;
  int num_layers = 0;
  int num_heads = 0;
  int head_dim = 64;
  int joint_attention_dim = 4096;
  int caption_projection_dim = 0;
  int pooled_projection_dim = 2048;
  int pos_embed_max_size = 0;
  int sample_size = 128;
  bool qk_norm = true;                     // "rms_norm"
  std::vector<int> dual_attention_layers;  // MMDiT-X blocks with attn2

  [[nodiscard]] int inner_dim() const { return num_heads * head_dim; }
  [[nodiscard]] bool dual(int layer) const;
  [[nodiscard]] std::uint64_t parameter_count() const;
};

MmditConfig sd35_large_config();
MmditConfig sd35_medium_config();
// A deterministic SD3.5-shaped model small enough to run a few CFG steps in seconds on a CPU:
// RMS qk-norm, one dual-attention block, context_pre_only last block, head_dim 64.
MmditConfig embedded_config();

nlohmann::json to_json(const MmditConfig& c);
// Reads diffusers transformer/config.json text.
Result<MmditConfig> parse_diffusers_config(std::string_view text, std::string_view where);
// Infers the architecture from internal tensor names and shapes (after map_sai_name /
// map_diffusers_name: diffusers names with fused qkv) through model::infer_dims.
Result<MmditConfig> infer_config(const std::map<std::string, std::vector<std::int64_t>>& shapes,
                                 std::string_view where);

// One tensor of a checkpoint, mapped to the internal naming.
struct MappedName {
  std::string
      internal;  // internal tensor name ("...qkv.weight"), or the parameter's base for scales
  enum class Role {
    tensor,
    weight_scale,
    input_scale,
    quant_config,
    marker,
    ignored
  } role = Role::tensor;
  int qkv_part = -1;  // diffusers to_q/to_k/to_v (0/1/2): to be fused into qkv rows
};

// SAI/ComfyUI key (prefix already stripped) -> internal. nullopt: not an MMDiT tensor we know.
std::optional<MappedName> map_sai_name(std::string_view key);
// diffusers key -> internal.
std::optional<MappedName> map_diffusers_name(std::string_view key);

// Suffix helpers shared by both layouts: "<base>.scale_weight" / "<base>.weight_scale" etc.
std::optional<MappedName::Role> scale_role(std::string_view key, std::string* base);

}  // namespace sd35::model
