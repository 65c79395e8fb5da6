// The torch-free model module (src/model): layout, prefix, family and dims inference, and the
// smoke's config inference through it, on the diffusers-computed reference fixtures
// (tests/data/sd3-reference) in both layouts, and on hand-made headers for SD3 Medium.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "model/architecture.hpp"
#include "model/layout.hpp"
#include "model/mmdit_config.hpp"
#include "safetensors/safetensors.hpp"
#include "support/safetensors_writer.hpp"
#include "util/fs.hpp"

namespace sd35::model {
namespace {

namespace stdfs = std::filesystem;

stdfs::path fixture(const std::string& rel) {
  const char* data = std::getenv("SD35_TEST_DATA");
  return stdfs::path(data ? data : "tests/data") / "sd3-reference" / rel;
}

st::Header header_of(const std::string& rel) {
  auto h = st::read_header(fixture(rel));
  EXPECT_TRUE(h.has_value()) << rel;
  return h ? std::move(h).value() : st::Header{};
}

std::vector<std::string_view> names_of_header(const st::Header& h) {
  std::vector<std::string_view> out;
  for (const auto& t : h.tensors) out.emplace_back(t.name);
  return out;
}

// Layout, blocks and dims of one header, the way verify's audit asks for them.
struct Inferred {
  Layout layout = Layout::diffusers;
  std::string prefix;
  BlockScan blocks;
  Dims dims;
};
Inferred infer(const st::Header& h) {
  LayoutScan scan;
  scan.add(h);
  Inferred r;
  r.layout = scan.layout();
  r.prefix = std::string(scan.prefix());
  r.blocks = scan_blocks(names_of_header(h), r.layout, r.prefix);
  r.dims = infer_dims(r.layout, [&](std::string_view key) {
    for (const auto& t : h.tensors)
      if (t.name == r.prefix + std::string(key)) return std::optional(t.shape);
    return std::optional<std::vector<std::uint64_t>>();
  });
  return r;
}

nlohmann::json config_json(const std::string& set) {
  return nlohmann::json::parse(*fs::read_file(fixture(set + "/transformer/config.json")));
}

// The dims of the weights are the ones diffusers wrote into config.json.
void expect_dims_match_config(const Inferred& r, const nlohmann::json& cfg) {
  EXPECT_TRUE(r.dims.missing.empty());
  const nlohmann::json d = r.dims.to_json(r.blocks);
  for (const char* key :
       {"attention_head_dim", "num_attention_heads", "joint_attention_dim", "pooled_projection_dim",
        "patch_size", "pos_embed_max_size", "in_channels", "out_channels"})
    EXPECT_EQ(d.at(key), cfg.at(key)) << key;
  EXPECT_EQ(d.at("depth"), cfg.at("num_layers"));
  EXPECT_EQ(d.value("dual_attention_layers", nlohmann::json::array()),
            cfg.at("dual_attention_layers"));
  EXPECT_EQ(d.at("qk_norm"), cfg.at("qk_norm"));
}

TEST(ModelLayout, SaiAllInOneFilesAreRecognisedWithTheirPrefix) {
  for (const std::string set : {"tiny-large", "tiny-mmditx"}) {
    for (const std::string kind : {"_sai_bf16", "_fp8_scaled"}) {
      const auto h =
          header_of(std::string(set).append("/").append(set).append(kind).append(".safetensors"));
      const Inferred r = infer(h);
      EXPECT_TRUE(holds_mmdit(h));
      EXPECT_EQ(r.layout, Layout::sai) << set << kind;
      EXPECT_EQ(layout_name(r.layout), "sai-single-file");
      EXPECT_EQ(r.prefix, kSaiPrefix);
      expect_dims_match_config(r, config_json(set));
    }
  }
}

TEST(ModelLayout, DiffusersFoldersAreRecognisedWithoutPrefix) {
  for (const std::string set : {"tiny-large", "tiny-mmditx"}) {
    const auto h = header_of(set + "/transformer/diffusion_pytorch_model.safetensors");
    const Inferred r = infer(h);
    EXPECT_TRUE(holds_mmdit(h));
    EXPECT_EQ(r.layout, Layout::diffusers);
    EXPECT_EQ(layout_name(r.layout), "diffusers");
    EXPECT_EQ(r.prefix, "");
    expect_dims_match_config(r, config_json(set));
  }
}

TEST(ModelLayout, FamilyFromTheKeys) {
  EXPECT_EQ(infer(header_of("tiny-large/tiny-large_sai_bf16.safetensors")).blocks.family(),
            Family::sd35_large);
  const Inferred x = infer(header_of("tiny-mmditx/tiny-mmditx_sai_bf16.safetensors"));
  EXPECT_EQ(x.blocks.family(), Family::sd35_medium);
  EXPECT_EQ(x.blocks.dual, (std::set<std::uint64_t>{0}));
  EXPECT_NE(x.blocks.why().find("MMDiT-X"), std::string::npos);
  // SD3 Medium: neither qk-norm nor attn2; its heads are 64 wide.
  const std::vector<std::string_view> sd3{"joint_blocks.0.x_block.attn.qkv.weight",
                                          "joint_blocks.23.x_block.mlp.fc1.weight"};
  const BlockScan b = scan_blocks(sd3, Layout::sai, "");
  EXPECT_EQ(b.family(), Family::sd3_medium);
  EXPECT_EQ(family_name(b.family()), "sd3-medium");
  EXPECT_EQ(b.depth, 24u);
  const Dims d = infer_dims(Layout::sai, [](std::string_view key) {
    if (key == "x_embedder.proj.weight")
      return std::optional(std::vector<std::uint64_t>{1536, 16, 2, 2});
    return std::optional<std::vector<std::uint64_t>>();
  });
  EXPECT_EQ(d.head_dim, 64u);
  EXPECT_EQ(d.num_heads, 24u);
  EXPECT_EQ(d.missing.size(), 4u);  // pos_embed, context, pooled, final layer
}

TEST(ModelLayout, SaiKeysOfTheMmditOnlyAndComponents) {
  EXPECT_EQ(sai_mmdit_key("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"),
            "joint_blocks.0.x_block.attn.qkv.weight");
  EXPECT_EQ(sai_mmdit_key("joint_blocks.0.x_block.attn.qkv.weight"),
            "joint_blocks.0.x_block.attn.qkv.weight");
  EXPECT_EQ(sai_mmdit_key("pos_embed"), "pos_embed");
  EXPECT_EQ(sai_mmdit_key("scaled_fp8"), "scaled_fp8");
  EXPECT_FALSE(
      sai_mmdit_key("text_encoders.clip_l.transformer.text_model.final_layer_norm.weight"));
  EXPECT_FALSE(sai_mmdit_key("first_stage_model.decoder.conv_in.weight"));
  EXPECT_EQ(component_of("text_encoders.t5xxl.x.weight", Layout::sai, kSaiPrefix),
            "text_encoders.t5xxl");
  EXPECT_EQ(component_of("first_stage_model.decoder.conv_in.weight", Layout::sai, kSaiPrefix),
            "first_stage_model");
  EXPECT_EQ(component_of("model.diffusion_model.pos_embed", Layout::sai, kSaiPrefix),
            "diffusion_model");
  EXPECT_EQ(component_of("joint_blocks.0.x", Layout::sai, ""), "diffusion_model");
  EXPECT_EQ(component_of("pos_embed.proj.weight", Layout::diffusers, ""), "diffusion_model");
}

TEST(ModelLayout, MmditBytesLeaveOutBundledEncodersAndVae) {
  using sd35::testing::filled;
  using sd35::testing::st_file;
  const std::string all_in_one = st_file({
      {"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", "BF16", {6, 4}, filled(48)},
      {"text_encoders.clip_l.w", "BF16", {10}, filled(20)},
      {"first_stage_model.w", "F32", {2}, filled(8)},
  });
  sd35::testing::TempDir dir;
  sd35::testing::write_bytes(dir.path() / "a.safetensors", all_in_one);
  const auto h = st::read_header(dir.path() / "a.safetensors");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(mmdit_tensor_bytes(*h), 48u);
  EXPECT_FALSE(holds_mmdit(st::Header{}));
  // What the prompt -> image pipeline would miss in it: CLIP-G, T5 (CLIP-L and the VAE are there).
  EXPECT_EQ(missing_components(*h),
            (std::vector<std::string_view>{"CLIP-G text encoder", "T5-XXL text encoder"}));
}

// The smoke's config inference (internal names, fused qkv) goes through the same dims inference
// and gives the config diffusers wrote.
TEST(ModelLayout, SmokeConfigInferenceAgreesWithConfigJson) {
  for (const std::string set : {"tiny-large", "tiny-mmditx"}) {
    const auto h = header_of(set + "/transformer/diffusion_pytorch_model.safetensors");
    std::map<std::string, std::vector<std::int64_t>> shapes;
    for (const auto& t : h.tensors) {
      const auto mapped = map_diffusers_name(t.name);
      if (!mapped || mapped->role != MappedName::Role::tensor) continue;
      shapes[mapped->internal] = std::vector<std::int64_t>(t.shape.begin(), t.shape.end());
    }
    const auto inferred = infer_config(shapes, set);
    ASSERT_TRUE(inferred.has_value()) << inferred.error().describe();
    const auto cfg_text = fs::read_file(fixture(set + "/transformer/config.json"));
    const auto parsed = parse_diffusers_config(*cfg_text, set);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().describe();
    nlohmann::json a = to_json(*inferred), b = to_json(*parsed);
    a.erase("sample_size");  // not in the weights
    b.erase("sample_size");
    EXPECT_EQ(a, b) << set;
  }
  const auto none = infer_config({}, "empty");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, Errc::bad_input);
  EXPECT_NE(none.error().message.find("pos_embed"), std::string::npos) << none.error().message;
}

}  // namespace
}  // namespace sd35::model
