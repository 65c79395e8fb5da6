// Which SD3-family MMDiT a checkpoint holds and its dimensions, from tensor names and shapes
// (torch-free). The keys decide the family:
//   dual-attention (attn2) blocks          -> SD3.5 Medium (MMDiT-X)
//   RMS qk-norm without dual attention     -> SD3.5 Large
//   neither                                -> SD3 Medium
// and the shapes the dimensions (hidden size, patch, pos-embed grid, context and pooled widths,
// head size from the qk-norm weight, else 64).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "model/layout.hpp"

namespace sd35::model {

enum class Family { sd3_medium, sd35_large, sd35_medium };

// A block index in a tensor name ("12" of "joint_blocks.12.x"): 1 to 9 decimal digits, nothing
// else.
std::optional<std::uint64_t> parse_index(std::string_view digits);

// "sd3-medium" | "sd35-large" | "sd35-medium": the manifest's `architecture` values.
std::string_view family_name(Family family);

// What the transformer blocks' keys say.
struct BlockScan {
  std::uint64_t depth = 0;       // highest block index + 1 (0: no blocks)
  std::set<std::uint64_t> dual;  // MMDiT-X blocks (attn2)
  bool qk_norm = false;          // RMS qk-norm weights present
  [[nodiscard]] Family family() const;
  [[nodiscard]] std::string why() const;  // the keys that decided the family
};

// names: the tensor names of the model (any order); those outside `prefix` are ignored.
BlockScan scan_blocks(const std::vector<std::string_view>& names, Layout layout,
                      std::string_view prefix);

// A tensor's shape by its name relative to the layout's prefix; nullopt when absent.
using ShapeOf = std::function<std::optional<std::vector<std::uint64_t>>(std::string_view)>;

struct Dims {
  std::optional<std::uint64_t> hidden, in_channels, patch_size;
  std::optional<std::uint64_t> pos_embed_positions;
  std::optional<std::uint64_t> pos_embed_max_size;  // set when the positions are a square grid
  std::optional<std::uint64_t> joint_attention_dim, pooled_projection_dim;
  std::uint64_t head_dim = 64;  // from the qk-norm weight when present
  std::optional<std::uint64_t> num_heads, out_channels;
  std::vector<std::string> missing;  // expected tensors that are missing or misshapen

  // {"depth", "dual_attention_layers"?, "hidden_size", "in_channels", "patch_size",
  //  "pos_embed_max_size" (null when not square), "pos_embed_positions", "joint_attention_dim",
  //  "pooled_projection_dim", "qk_norm", "attention_head_dim", "num_attention_heads",
  //  "out_channels"}: the names of diffusers' config.json where there is one.
  [[nodiscard]] nlohmann::json to_json(const BlockScan& blocks) const;
};

Dims infer_dims(Layout layout, const ShapeOf& shape_of);

}  // namespace sd35::model
