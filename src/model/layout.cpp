#include "model/layout.hpp"

#include <algorithm>

namespace sd35::model {
namespace {

constexpr LayoutNames kSai{"joint_blocks.",
                           "x_embedder.proj.weight",
                           "pos_embed",
                           "context_embedder.weight",
                           "y_embedder.mlp.0.weight",
                           "joint_blocks.0.x_block.attn.ln_q.weight",
                           "final_layer.linear.weight",
                           ".x_block.attn2."};
constexpr LayoutNames kDiffusers{"transformer_blocks.",
                                 "pos_embed.proj.weight",
                                 "pos_embed.pos_embed",
                                 "context_embedder.weight",
                                 "time_text_embed.text_embedder.linear_1.weight",
                                 "transformer_blocks.0.attn.norm_q.weight",
                                 "proj_out.weight",
                                 ".attn2."};

constexpr std::array<Component, 4> kComponents{{
    {"text_encoders.clip_l.", "CLIP-L text encoder"},
    {"text_encoders.clip_g.", "CLIP-G text encoder"},
    {"text_encoders.t5xxl.", "T5-XXL text encoder"},
    {"first_stage_model.", "VAE"},
}};

// The top-level names of an SAI MMDiT (after the all-in-one prefix).
constexpr std::array<std::string_view, 7> kSaiRoots{
    "joint_blocks.", "final_layer.",      "x_embedder.", "t_embedder.",
    "y_embedder.",   "context_embedder.", "pos_embed"};

}  // namespace

std::string_view layout_name(Layout layout) {
  return layout == Layout::sai ? "sai-single-file" : "diffusers";
}

const LayoutNames& names_of(Layout layout) {
  return layout == Layout::sai ? kSai : kDiffusers;
}

void LayoutScan::add(std::string_view name) {
  if (name.starts_with(kSaiPrefix))
    sai_prefixed_ = true;
  else if (name.starts_with("joint_blocks."))
    sai_bare_ = true;
  else if (name.starts_with("transformer_blocks."))
    diffusers_ = true;
}

void LayoutScan::add(const st::Header& header) {
  for (const auto& t : header.tensors) add(t.name);
}

bool holds_mmdit(const st::Header& header) {
  LayoutScan scan;
  scan.add(header);
  return scan.holds_mmdit();
}

std::uint64_t mmdit_tensor_bytes(const st::Header& header) {
  LayoutScan scan;
  scan.add(header);
  const bool prefixed = !scan.prefix().empty();
  std::uint64_t n = 0;
  for (const auto& t : header.tensors)
    if (!prefixed || t.name.starts_with(kSaiPrefix)) n += t.nbytes();
  return n;
}

std::optional<std::string_view> sai_mmdit_key(std::string_view name) {
  if (name.starts_with(kSaiPrefix)) return name.substr(kSaiPrefix.size());
  if (name == "scaled_fp8") return name;
  for (const auto root : kSaiRoots)
    if (name.starts_with(root)) return name;
  return std::nullopt;
}

const std::array<Component, 4>& bundled_components() {
  return kComponents;
}

std::vector<std::string_view> missing_components(const st::Header& header) {
  std::vector<std::string_view> missing;
  for (const auto& c : kComponents) {
    const bool found = std::any_of(header.tensors.begin(), header.tensors.end(),
                                   [&](const auto& t) { return t.name.starts_with(c.prefix); });
    if (!found) missing.push_back(c.label);
  }
  return missing;
}

std::string component_of(std::string_view name, Layout layout, std::string_view prefix) {
  const bool in_mmdit =
      layout == Layout::diffusers || (!prefix.empty() && name.starts_with(prefix)) ||
      (prefix.empty() && name.find('.') != std::string_view::npos &&
       !name.starts_with("text_encoders.") && !name.starts_with("first_stage_model."));
  if (in_mmdit) return "diffusion_model";
  for (const auto& c : kComponents)
    if (name.starts_with(c.prefix)) return std::string(c.prefix.substr(0, c.prefix.size() - 1));
  return "other";
}

}  // namespace sd35::model
