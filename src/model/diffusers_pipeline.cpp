#include "model/diffusers_pipeline.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <utility>

namespace sd35::model {
namespace {

namespace stdfs = std::filesystem;

bool present(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::exists(p, ec);
}

// Reads the number at the front of `s` and drops it with the dot after it ("3.block" -> 3).
std::optional<int> take_index(std::string_view& s) {
  int n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end == s.data() || end == s.data() + s.size() || *end != '.')
    return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()) + 1);
  return n;
}

// A resnet's inner names: LDM's nin_shortcut is diffusers' conv_shortcut.
std::string resnet_inner(std::string_view rest) {
  constexpr std::string_view kNin = "nin_shortcut.";
  if (rest.starts_with(kNin)) return "conv_shortcut." + std::string(rest.substr(kNin.size()));
  return std::string(rest);
}

// decoder.mid.*: the two resnets and the attention (q/k/v/proj_out/norm).
std::optional<std::string> mid_name(std::string_view rest) {
  constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kAttn{{
      {"attn_1.q.", "attentions.0.to_q."},
      {"attn_1.k.", "attentions.0.to_k."},
      {"attn_1.v.", "attentions.0.to_v."},
      {"attn_1.proj_out.", "attentions.0.to_out.0."},
      {"attn_1.norm.", "attentions.0.group_norm."},
  }};
  for (const auto& [ldm, diff] : kAttn)
    if (rest.starts_with(ldm))
      return fmt::format("decoder.mid_block.{}{}", diff, rest.substr(ldm.size()));
  for (const auto& [ldm, index] :
       {std::pair{std::string_view("block_1."), 0}, std::pair{std::string_view("block_2."), 1}})
    if (rest.starts_with(ldm))
      return fmt::format("decoder.mid_block.resnets.{}.{}", index,
                         resnet_inner(rest.substr(ldm.size())));
  return std::nullopt;
}

// decoder.up.I.{block.J.*, upsample.conv.*} in reverse level order.
std::optional<std::string> up_name(std::string_view rest, int levels) {
  const auto i = take_index(rest);
  if (!i || *i >= levels) return std::nullopt;
  const int level = levels - 1 - *i;
  constexpr std::string_view kBlock = "block.", kUpsample = "upsample.conv.";
  if (rest.starts_with(kUpsample))
    return fmt::format("decoder.up_blocks.{}.upsamplers.0.conv.{}", level,
                       rest.substr(kUpsample.size()));
  if (!rest.starts_with(kBlock)) return std::nullopt;
  rest.remove_prefix(kBlock.size());
  const auto j = take_index(rest);
  if (!j) return std::nullopt;
  return fmt::format("decoder.up_blocks.{}.resnets.{}.{}", level, *j, resnet_inner(rest));
}

}  // namespace

std::string_view diffusers_folder(std::string_view component) {
  if (component == "clip_l") return "text_encoder";
  if (component == "clip_g") return "text_encoder_2";
  if (component == "t5xxl") return "text_encoder_3";
  return "vae";
}

std::optional<stdfs::path> diffusers_pipeline_root(const stdfs::path& checkpoint) {
  std::error_code ec;
  if (!stdfs::is_directory(checkpoint, ec)) return std::nullopt;
  const stdfs::path dir = checkpoint.filename().empty() ? checkpoint.parent_path() : checkpoint;
  if (dir.filename() == "transformer") return dir.parent_path();
  if (present(dir / "model_index.json") || present(dir / "vae") || present(dir / "text_encoder"))
    return dir;
  return std::nullopt;
}

std::optional<std::string> diffusers_vae_name(std::string_view ldm, int levels) {
  if (ldm.starts_with("post_quant_conv.")) return std::string(ldm);
  constexpr std::string_view kDecoder = "decoder.";
  if (!ldm.starts_with(kDecoder)) return std::nullopt;
  std::string_view rest = ldm.substr(kDecoder.size());
  for (const std::string_view same : {"conv_in.", "conv_out."})
    if (rest.starts_with(same)) return std::string(ldm);
  if (rest.starts_with("norm_out.")) return fmt::format("decoder.conv_norm_out.{}", rest.substr(9));
  if (rest.starts_with("mid.")) return mid_name(rest.substr(4));
  if (rest.starts_with("up.")) return up_name(rest.substr(3), levels);
  return std::nullopt;
}

int diffusers_vae_levels(const st::Header& header) {
  int n = 0;
  while (header.find(fmt::format("decoder.up_blocks.{}.resnets.0.conv1.weight", n)) != nullptr) ++n;
  return n;
}

}  // namespace sd35::model
