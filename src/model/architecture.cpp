#include "model/architecture.hpp"

#include <cmath>

namespace sd35::model {

std::optional<std::uint64_t> parse_index(std::string_view digits) {
  if (digits.empty() || digits.size() > 9) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

std::string_view family_name(Family family) {
  switch (family) {
    case Family::sd35_medium:
      return "sd35-medium";
    case Family::sd35_large:
      return "sd35-large";
    case Family::sd3_medium:
      break;
  }
  return "sd3-medium";
}

Family BlockScan::family() const {
  return !dual.empty() ? Family::sd35_medium : qk_norm ? Family::sd35_large : Family::sd3_medium;
}

std::string BlockScan::why() const {
  return !dual.empty() ? "dual attention (attn2) blocks: MMDiT-X"
         : qk_norm     ? "RMS qk-norm without dual attention"
                       : "no qk-norm and no dual attention";
}

BlockScan scan_blocks(const std::vector<std::string_view>& names, Layout layout,
                      std::string_view prefix) {
  const LayoutNames& n = names_of(layout);
  BlockScan b;
  std::set<std::uint64_t> blocks;
  for (const std::string_view name : names) {
    if (!name.starts_with(prefix)) continue;
    const std::string_view key = name.substr(prefix.size());
    if (!key.starts_with(n.block_prefix)) continue;
    const std::string_view rest = key.substr(n.block_prefix.size());
    const auto index = parse_index(rest.substr(0, rest.find('.')));
    if (!index) continue;
    blocks.insert(*index);
    if (key.find(n.dual_marker) != std::string_view::npos) b.dual.insert(*index);
    if (key.find(".ln_q.") != std::string_view::npos ||
        key.find(".norm_q.") != std::string_view::npos)
      b.qk_norm = true;
  }
  b.depth = blocks.empty() ? 0 : *blocks.rbegin() + 1;
  return b;
}

Dims infer_dims(Layout layout, const ShapeOf& shape_of) {
  const LayoutNames& n = names_of(layout);
  Dims d;
  auto shape = [&](std::string_view key, std::size_t rank) {
    auto s = shape_of(key);
    if (!s || s->size() != rank) {
      d.missing.emplace_back(key);
      return std::optional<std::vector<std::uint64_t>>();
    }
    return s;
  };
  if (const auto s = shape(n.patch, 4)) {
    d.hidden = (*s)[0];
    d.in_channels = (*s)[1];
    d.patch_size = (*s)[2];
  }
  if (const auto s = shape(n.pos, 3)) {
    d.pos_embed_positions = (*s)[1];
    const auto m =
        static_cast<std::uint64_t>(std::llround(std::sqrt(static_cast<double>((*s)[1]))));
    if (m * m == (*s)[1]) d.pos_embed_max_size = m;
  }
  if (const auto s = shape(n.context, 2)) d.joint_attention_dim = (*s)[1];
  if (const auto s = shape(n.pooled, 2)) d.pooled_projection_dim = (*s)[1];
  if (const auto q = shape_of(n.qnorm0); q && q->size() == 1) d.head_dim = (*q)[0];
  if (d.hidden && *d.hidden > 0 && d.head_dim > 0) d.num_heads = *d.hidden / d.head_dim;
  if (const auto s = shape(n.final_linear, 2); s && d.patch_size && *d.patch_size > 0)
    d.out_channels = (*s)[0] / (*d.patch_size * *d.patch_size);
  return d;
}

nlohmann::json Dims::to_json(const BlockScan& blocks) const {
  nlohmann::json j = {{"depth", blocks.depth}};
  if (!blocks.dual.empty()) j["dual_attention_layers"] = blocks.dual;
  auto put = [&j](const char* key, const std::optional<std::uint64_t>& v) {
    if (v) j[key] = *v;
  };
  put("hidden_size", hidden);
  put("in_channels", in_channels);
  put("patch_size", patch_size);
  if (pos_embed_positions) {
    j["pos_embed_max_size"] =
        pos_embed_max_size ? nlohmann::json(*pos_embed_max_size) : nlohmann::json(nullptr);
    j["pos_embed_positions"] = *pos_embed_positions;
  }
  put("joint_attention_dim", joint_attention_dim);
  put("pooled_projection_dim", pooled_projection_dim);
  j["qk_norm"] = blocks.qk_norm ? "rms_norm" : "none";
  if (num_heads) {
    j["attention_head_dim"] = head_dim;
    j["num_attention_heads"] = *num_heads;
  }
  put("out_channels", out_channels);
  return j;
}

}  // namespace sd35::model
