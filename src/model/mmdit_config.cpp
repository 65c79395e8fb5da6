#include "model/mmdit_config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "model/architecture.hpp"
#include "util/json_reader.hpp"

namespace sd35::model {
namespace {

// Splits "joint_blocks.12.rest" into (12, "rest").
std::optional<std::pair<int, std::string_view>> block_index(std::string_view key,
                                                            std::string_view prefix) {
  if (!key.starts_with(prefix)) return std::nullopt;
  key.remove_prefix(prefix.size());
  const auto dot = key.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  const auto idx = parse_index(key.substr(0, dot));
  if (!idx) return std::nullopt;
  return std::pair{static_cast<int>(*idx), key.substr(dot + 1)};
}

// SAI names inside a joint block -> internal names inside transformer_blocks.i.
constexpr std::array<std::pair<std::string_view, std::string_view>, 19> kSaiBlock{{
    {"x_block.attn.qkv", "attn.qkv"},
    {"context_block.attn.qkv", "attn.add_qkv"},
    {"x_block.attn.ln_q", "attn.norm_q"},
    {"x_block.attn.ln_k", "attn.norm_k"},
    {"context_block.attn.ln_q", "attn.norm_added_q"},
    {"context_block.attn.ln_k", "attn.norm_added_k"},
    {"x_block.attn.proj", "attn.to_out.0"},
    {"context_block.attn.proj", "attn.to_add_out"},
    {"x_block.attn2.qkv", "attn2.qkv"},
    {"x_block.attn2.ln_q", "attn2.norm_q"},
    {"x_block.attn2.ln_k", "attn2.norm_k"},
    {"x_block.attn2.proj", "attn2.to_out.0"},
    {"x_block.adaLN_modulation.1", "norm1.linear"},
    {"context_block.adaLN_modulation.1", "norm1_context.linear"},
    {"x_block.mlp.fc1", "ff.net.0.proj"},
    {"x_block.mlp.fc2", "ff.net.2"},
    {"context_block.mlp.fc1", "ff_context.net.0.proj"},
    {"context_block.mlp.fc2", "ff_context.net.2"},
    {"", ""},
}};

constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kSaiTop{{
    {"x_embedder.proj", "pos_embed.proj"},
    {"t_embedder.mlp.0", "time_text_embed.timestep_embedder.linear_1"},
    {"t_embedder.mlp.2", "time_text_embed.timestep_embedder.linear_2"},
    {"y_embedder.mlp.0", "time_text_embed.text_embedder.linear_1"},
    {"y_embedder.mlp.2", "time_text_embed.text_embedder.linear_2"},
    {"context_embedder", "context_embedder"},
    {"final_layer.linear", "proj_out"},
    {"final_layer.adaLN_modulation.1", "norm_out.linear"},
    {"", ""},
}};

// Splits "<base>.<leaf>" at the last dot.
std::pair<std::string_view, std::string_view> split_leaf(std::string_view key) {
  const auto dot = key.rfind('.');
  if (dot == std::string_view::npos) return {key, {}};
  return {key.substr(0, dot), key.substr(dot + 1)};
}

}  // namespace

bool MmditConfig::dual(int layer) const {
  return std::find(dual_attention_layers.begin(), dual_attention_layers.end(), layer) !=
         dual_attention_layers.end();
}

std::uint64_t MmditConfig::parameter_count() const {
  const std::uint64_t d = static_cast<std::uint64_t>(inner_dim());
  const std::uint64_t p2 =
      static_cast<std::uint64_t>(patch_size) * static_cast<std::uint64_t>(patch_size);
  std::uint64_t n = d * static_cast<std::uint64_t>(in_channels) * p2 + d;  // patch conv
  n += static_cast<std::uint64_t>(pos_embed_max_size) *
       static_cast<std::uint64_t>(pos_embed_max_size) * d;
  n += (256 * d + d) + (d * d + d) + (static_cast<std::uint64_t>(pooled_projection_dim) * d + d) +
       (d * d + d);
  n += static_cast<std::uint64_t>(joint_attention_dim) * d + d;
  for (int i = 0; i < num_layers; ++i) {
    const bool last = i == num_layers - 1;
    const std::uint64_t mods = dual(i) ? 9 : 6;
    n += d * d * mods + d * mods;                           // norm1
    n += last ? (2 * d * d + 2 * d) : (6 * d * d + 6 * d);  // norm1_context
    n += 2 * (3 * d * d + 3 * d) + (d * d + d);             // qkv, add_qkv, to_out
    if (!last) n += d * d + d;                              // to_add_out
    n += 2 * (4 * d * d + 4 * d) + 0;                       // ff fc1+fc2 weights
    n += 4 * d + d;                                         // ff biases
    if (!last) n += 8 * d * d + 5 * d;                      // ff_context
    if (dual(i)) n += 4 * d * d + 4 * d;                    // attn2 qkv + out
    if (qk_norm) n += static_cast<std::uint64_t>(head_dim) * (dual(i) ? 6 : 4);
  }
  n += 2 * d * d + 2 * d;  // norm_out
  n += d * p2 * static_cast<std::uint64_t>(out_channels) +
       p2 * static_cast<std::uint64_t>(out_channels);
  return n;
}

MmditConfig sd35_large_config() {
  MmditConfig c;
  c.num_layers = 38;
  c.num_heads = 38;
  c.caption_projection_dim = 2432;
  c.pos_embed_max_size = 192;
  return c;
}

MmditConfig sd35_medium_config() {
  MmditConfig c;
  c.num_layers = 24;
  c.num_heads = 24;
  c.caption_projection_dim = 1536;
  c.pos_embed_max_size = 384;
  for (int i = 0; i <= 12; ++i) c.dual_attention_layers.push_back(i);
  return c;
}

MmditConfig embedded_config() {
  MmditConfig c;
  c.num_layers = 3;
  c.num_heads = 2;
  c.head_dim = 64;
  c.caption_projection_dim = 128;
  c.joint_attention_dim = 256;
  c.pooled_projection_dim = 128;
  c.pos_embed_max_size = 48;
  c.sample_size = 64;
  c.dual_attention_layers = {0};
  return c;
}

nlohmann::json to_json(const MmditConfig& c) {
  return {{"patch_size", c.patch_size},
          {"in_channels", c.in_channels},
          {"out_channels", c.out_channels},
          {"num_layers", c.num_layers},
          {"num_attention_heads", c.num_heads},
          {"attention_head_dim", c.head_dim},
          {"joint_attention_dim", c.joint_attention_dim},
          {"caption_projection_dim", c.caption_projection_dim},
          {"pooled_projection_dim", c.pooled_projection_dim},
          {"pos_embed_max_size", c.pos_embed_max_size},
          {"sample_size", c.sample_size},
          {"qk_norm", c.qk_norm ? "rms_norm" : "none"},
          {"dual_attention_layers", c.dual_attention_layers},
          {"parameters", c.parameter_count()}};
}

Result<MmditConfig> parse_diffusers_config(std::string_view text, std::string_view where) {
  SD35_TRY(auto doc, jsonio::parse(text, where));
  if (!doc.is_object())
    return Error{
        Errc::bad_input, "transformer config is not a JSON object", std::string(where),
        "point --checkpoint at a diffusers transformer folder (config.json + *.safetensors)"};
  MmditConfig c;
  auto get_int = [&](const char* key, int& out, bool required) -> Status {
    auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) {
      if (!required) return ok();
      return Error{Errc::bad_input, fmt::format("transformer config lacks \"{}\"", key),
                   std::string(where), "this does not look like an SD3Transformer2DModel config"};
    }
    if (!it->is_number_integer() || it->get<long long>() <= 0 || it->get<long long>() > 1'000'000)
      return Error{Errc::bad_input, fmt::format("\"{}\" must be a positive integer", key),
                   std::string(where), ""};
    out = it->get<int>();
    return ok();
  };
  SD35_TRY_STATUS(get_int("num_layers", c.num_layers, true));
  SD35_TRY_STATUS(get_int("num_attention_heads", c.num_heads, true));
  SD35_TRY_STATUS(get_int("attention_head_dim", c.head_dim, true));
  SD35_TRY_STATUS(get_int("patch_size", c.patch_size, false));
  SD35_TRY_STATUS(get_int("in_channels", c.in_channels, false));
  SD35_TRY_STATUS(get_int("out_channels", c.out_channels, false));
  SD35_TRY_STATUS(get_int("joint_attention_dim", c.joint_attention_dim, false));
  SD35_TRY_STATUS(get_int("pooled_projection_dim", c.pooled_projection_dim, false));
  SD35_TRY_STATUS(get_int("sample_size", c.sample_size, false));
  SD35_TRY_STATUS(get_int("pos_embed_max_size", c.pos_embed_max_size, true));
  c.caption_projection_dim = c.inner_dim();
  SD35_TRY_STATUS(get_int("caption_projection_dim", c.caption_projection_dim, false));
  if (c.caption_projection_dim != c.inner_dim())
    return Error{Errc::bad_input,
                 fmt::format("caption_projection_dim {} differs from heads x head_dim = {}",
                             c.caption_projection_dim, c.inner_dim()),
                 std::string(where), "SD3 MMDiT requires them equal"};
  auto qk = doc.find("qk_norm");
  c.qk_norm = qk != doc.end() && qk->is_string() && qk->get<std::string>() == "rms_norm";
  if (qk != doc.end() && qk->is_string() && !c.qk_norm)
    return Error{Errc::unsupported_version,
                 fmt::format("qk_norm \"{}\" is not supported", qk->get<std::string>()),
                 std::string(where), "only \"rms_norm\" or null are used by SD3/SD3.5"};
  if (auto d = doc.find("dual_attention_layers"); d != doc.end() && d->is_array()) {
    for (const auto& v : *d) {
      if (!v.is_number_integer() || v.get<int>() < 0 || v.get<int>() >= c.num_layers)
        return Error{Errc::bad_input,
                     "dual_attention_layers holds an index outside 0..num_layers-1",
                     std::string(where), ""};
      c.dual_attention_layers.push_back(v.get<int>());
    }
  }
  return c;
}

Result<MmditConfig> infer_config(const std::map<std::string, std::vector<std::int64_t>>& shapes,
                                 std::string_view where) {
  std::vector<std::string_view> names;
  names.reserve(shapes.size());
  for (const auto& [name, shape] : shapes) names.emplace_back(name);
  const BlockScan blocks = scan_blocks(names, Layout::diffusers, "");
  const Dims dims = infer_dims(Layout::diffusers, [&](std::string_view key) {
    const auto it = shapes.find(std::string(key));
    if (it == shapes.end()) return std::optional<std::vector<std::uint64_t>>();
    return std::optional(std::vector<std::uint64_t>(it->second.begin(), it->second.end()));
  });
  if (!dims.missing.empty())
    return Error{Errc::bad_input,
                 fmt::format("cannot infer the MMDiT architecture: {} missing or misshapen",
                             fmt::join(dims.missing, ", ")),
                 std::string(where), "is this an SD3/SD3.5 transformer checkpoint?"};
  if (!dims.pos_embed_max_size)
    return Error{
        Errc::bad_input,
        fmt::format("pos_embed holds {} positions, not a square grid", *dims.pos_embed_positions),
        std::string(where), ""};
  if (blocks.depth == 0)
    return Error{Errc::bad_input, "no transformer blocks found", std::string(where), ""};
  const std::uint64_t hidden = *dims.hidden;
  if (dims.head_dim == 0 || hidden % dims.head_dim != 0)
    return Error{
        Errc::bad_input,
        fmt::format("inner dim {} is not a multiple of head dim {}", hidden, dims.head_dim),
        std::string(where), ""};
  MmditConfig c;
  c.in_channels = static_cast<int>(*dims.in_channels);
  c.patch_size = static_cast<int>(*dims.patch_size);
  c.joint_attention_dim = static_cast<int>(*dims.joint_attention_dim);
  c.pooled_projection_dim = static_cast<int>(*dims.pooled_projection_dim);
  c.out_channels = static_cast<int>(dims.out_channels.value_or(0));
  c.pos_embed_max_size = static_cast<int>(*dims.pos_embed_max_size);
  c.num_layers = static_cast<int>(blocks.depth);
  c.head_dim = static_cast<int>(dims.head_dim);  // 64 for SD3 Medium (no qk-norm)
  c.qk_norm = blocks.qk_norm;
  c.num_heads = static_cast<int>(hidden / dims.head_dim);
  c.caption_projection_dim = static_cast<int>(hidden);
  for (const auto layer : blocks.dual) c.dual_attention_layers.push_back(static_cast<int>(layer));
  return c;
}

std::optional<MappedName::Role> scale_role(std::string_view key, std::string* base) {
  auto [b, leaf] = split_leaf(key);
  std::optional<MappedName::Role> role;
  if (leaf == "scale_weight" || leaf == "weight_scale")
    role = MappedName::Role::weight_scale;
  else if (leaf == "scale_input" || leaf == "input_scale")
    role = MappedName::Role::input_scale;
  else if (leaf == "comfy_quant")
    role = MappedName::Role::quant_config;
  if (role && base) *base = std::string(b);
  return role;
}

std::optional<MappedName> map_sai_name(std::string_view key) {
  if (key == "pos_embed") return MappedName{"pos_embed.pos_embed"};
  if (key == "scaled_fp8") return MappedName{"", MappedName::Role::marker};
  std::string base_s;
  auto role = scale_role(key, &base_s);
  std::string_view base;
  std::string_view leaf;
  if (role) {
    base = base_s;
  } else {
    std::tie(base, leaf) = split_leaf(key);
  }
  std::string mapped;
  if (auto blk = block_index(base, "joint_blocks.")) {
    for (const auto& [from, to] : kSaiBlock) {
      if (!from.empty() && blk->second == from)
        mapped = fmt::format("transformer_blocks.{}.{}", blk->first, to);
    }
  } else {
    for (const auto& [from, to] : kSaiTop)
      if (!from.empty() && base == from) mapped = std::string(to);
  }
  if (mapped.empty()) return std::nullopt;
  if (role) return MappedName{mapped, *role};
  return MappedName{mapped + "." + std::string(leaf)};
}

std::optional<MappedName> map_diffusers_name(std::string_view key) {
  std::string base_s;
  auto role = scale_role(key, &base_s);
  std::string_view base;
  std::string_view leaf;
  if (role)
    base = base_s;
  else
    std::tie(base, leaf) = split_leaf(key);
  if (key == "scaled_fp8") return MappedName{"", MappedName::Role::marker};
  std::string mapped(base);
  int part = -1;
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kFuse{{
      {"attn.to_q", "attn.qkv"},
      {"attn.to_k", "attn.qkv"},
      {"attn.to_v", "attn.qkv"},
      {"attn.add_q_proj", "attn.add_qkv"},
      {"attn.add_k_proj", "attn.add_qkv"},
      {"attn.add_v_proj", "attn.add_qkv"},
      {"attn2.to_q", "attn2.qkv"},
      {"attn2.to_k", "attn2.qkv"},
      {"attn2.to_v", "attn2.qkv"},
  }};
  if (auto blk = block_index(base, "transformer_blocks.")) {
    for (std::size_t i = 0; i < kFuse.size(); ++i)
      if (blk->second == kFuse[i].first) {
        mapped = fmt::format("transformer_blocks.{}.{}", blk->first, kFuse[i].second);
        part = static_cast<int>(i % 3);
      }
  } else if (!(base.starts_with("pos_embed") || base.starts_with("time_text_embed.") ||
               base.starts_with("context_embedder") || base.starts_with("norm_out.") ||
               base.starts_with("proj_out"))) {
    return std::nullopt;
  }
  if (role) return MappedName{mapped, *role, part};
  return MappedName{mapped + "." + std::string(leaf), MappedName::Role::tensor, part};
}

}  // namespace sd35::model
