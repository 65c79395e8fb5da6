// Loader tests: every FP8 spelling, shards, architecture inference, and clear errors for a
// missing scale, a wrong shape and an unknown layout. Files are rewritten from the fixtures.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "safetensors/safetensors.hpp"
#include "smoke/smoke.hpp"
#include "support/safetensors_writer.hpp"
#include "support/sd3_fixture.hpp"

namespace smoke = sd35::smoke;
namespace fs = std::filesystem;
using sd35::testing::StTensor;

namespace {

std::string ref_dir(const std::string& set) {
  return sd35::test::fixture_dir(set);
}

fs::path temp_dir() {
  auto dir = fs::temp_directory_path() / ("sd35_smoke_loader_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// Rewrites a safetensors file: drop tensors, edit them, add header metadata.
void rewrite(const std::string& src, const fs::path& dst,
             const std::function<bool(StTensor&)>& keep,
             const std::map<std::string, std::string>& metadata = {}) {
  auto file = sd35::st::File::open(src);
  ASSERT_TRUE(file) << file.error().describe();
  std::vector<StTensor> out;
  for (const auto& t : file->header().tensors) {
    StTensor s{t.name, std::string(sd35::st::dtype_name(t.dtype)), t.shape,
               std::string(file->bytes(t))};
    if (keep(s)) out.push_back(std::move(s));
  }
  std::ofstream(dst, std::ios::binary) << sd35::testing::st_file(out, metadata);
}

double forward_error(const std::string& set, const std::string& ckpt, const std::string& ref_name) {
  auto run = smoke::run_fixture(ckpt, ref_dir(set) + "/inputs.safetensors", smoke::Precision::fp32,
                                "cpu", sd35::test::fixture_spec(set));
  EXPECT_TRUE(run) << (run ? "" : run.error().describe());
  if (!run) return 1.0;
  auto want = smoke::read_f32_tensor(ref_dir(set) + "/reference.safetensors", ref_name);
  return smoke::rel_l2(run->forward.data, want->data);
}

}  // namespace

TEST(MmditLoader, DescribesEachFixtureLayout) {
  auto d = smoke::inspect_checkpoint(ref_dir("tiny-large"));
  ASSERT_TRUE(d) << d.error().describe();
  EXPECT_EQ(d->layout, "diffusers");
  EXPECT_EQ(d->config_source, "config.json");
  auto legacy =
      smoke::inspect_checkpoint(ref_dir("tiny-large") + "/tiny-large_fp8_scaled.safetensors");
  ASSERT_TRUE(legacy) << legacy.error().describe();
  EXPECT_EQ(legacy->layout, "sai-scaled-fp8");
  EXPECT_EQ(legacy->fp8_spelling, "scale_weight+scaled_fp8");
  EXPECT_EQ(legacy->fp8_tensors, 27);  // 10 + 10 + 7 (last block: no context out/MLP)
  auto newer =
      smoke::inspect_checkpoint(ref_dir("tiny-mmditx") + "/tiny-mmditx_fp8_scaled.safetensors");
  ASSERT_TRUE(newer) << newer.error().describe();
  EXPECT_EQ(newer->fp8_spelling, "weight_scale+comfy_quant");
}

TEST(MmditLoader, InfersArchitectureFromSaiKeys) {
  for (const std::string set : {"tiny-large", "tiny-mmditx"}) {
    auto sai = smoke::inspect_checkpoint(ref_dir(set) + "/" + set + "_sai_bf16.safetensors");
    ASSERT_TRUE(sai) << sai.error().describe();
    EXPECT_EQ(sai->config_source, "inferred");
    std::ifstream in(ref_dir(set) + "/transformer/config.json");
    auto cfg = nlohmann::json::parse(in);
    const auto& c = sai->config;
    EXPECT_EQ(c.num_layers, cfg["num_layers"].get<int>());
    EXPECT_EQ(c.num_heads, cfg["num_attention_heads"].get<int>());
    EXPECT_EQ(c.head_dim, cfg["attention_head_dim"].get<int>());
    EXPECT_EQ(c.joint_attention_dim, cfg["joint_attention_dim"].get<int>());
    EXPECT_EQ(c.pooled_projection_dim, cfg["pooled_projection_dim"].get<int>());
    EXPECT_EQ(c.pos_embed_max_size, cfg["pos_embed_max_size"].get<int>());
    EXPECT_EQ(c.dual_attention_layers, cfg["dual_attention_layers"].get<std::vector<int>>());
    EXPECT_TRUE(c.qk_norm);
  }
}

TEST(MmditLoader, HeaderQuantizationMetadataSpelling) {
  // comfy_quant tensors -> one __metadata__._quantization_metadata entry, same numbers.
  const std::string set = "tiny-mmditx";
  nlohmann::json layers = nlohmann::json::object();
  const auto dst = temp_dir() / "header_quant.safetensors";
  rewrite(ref_dir(set) + "/" + set + "_fp8_scaled.safetensors", dst, [&](StTensor& t) {
    const std::string suffix = ".comfy_quant";
    if (t.name.size() > suffix.size() && t.name.ends_with(suffix)) {
      layers[t.name.substr(0, t.name.size() - suffix.size())] = nlohmann::json::parse(t.bytes);
      return false;
    }
    return true;
  });
  rewrite(dst.string(), dst, [](StTensor&) { return true; },
          {{"_quantization_metadata", nlohmann::json{{"layers", layers}}.dump()}});
  auto info = smoke::inspect_checkpoint(dst.string());
  ASSERT_TRUE(info) << info.error().describe();
  EXPECT_EQ(info->fp8_spelling, "weight_scale+_quantization_metadata");
  EXPECT_LE(forward_error(set, dst.string(), "forward_fp8_weights"), 1e-4);
}

TEST(MmditLoader, LegacyScaleInputIsAccepted) {
  const std::string set = "tiny-large";
  const auto dst = temp_dir() / "scale_input.safetensors";
  auto src = sd35::st::File::open(ref_dir(set) + "/" + set + "_fp8_scaled.safetensors");
  ASSERT_TRUE(src);
  rewrite(src->path().string(), dst, [](StTensor&) { return true; });
  // Add one scale_input (used only by the native FP8 path; the dequantised math is unchanged).
  std::vector<StTensor> extra;
  auto f = sd35::st::File::open(dst);
  ASSERT_TRUE(f);
  for (const auto& t : f->header().tensors)
    extra.push_back(
        {t.name, std::string(sd35::st::dtype_name(t.dtype)), t.shape, std::string(f->bytes(t))});
  extra.push_back({"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.scale_input",
                   "F32",
                   {},
                   sd35::testing::f32_bytes({0.05F})});
  std::ofstream(temp_dir() / "scale_input2.safetensors", std::ios::binary)
      << sd35::testing::st_file(extra);
  EXPECT_LE(
      forward_error(set, (temp_dir() / "scale_input2.safetensors").string(), "forward_fp8_weights"),
      1e-4);
}

TEST(MmditLoader, DiffusersShardsWithIndex) {
  const std::string set = "tiny-large";
  const auto dir = temp_dir() / "sharded";
  fs::create_directories(dir);
  const std::string src = ref_dir(set) + "/transformer/diffusion_pytorch_model.safetensors";
  nlohmann::json map = nlohmann::json::object();
  auto first = [](const StTensor& t) { return t.name.find("transformer_blocks.") != 0; };
  rewrite(src, dir / "diffusion_pytorch_model-00001-of-00002.safetensors",
          [&](StTensor& t) { return first(t); });
  rewrite(src, dir / "diffusion_pytorch_model-00002-of-00002.safetensors",
          [&](StTensor& t) { return !first(t); });
  auto f = sd35::st::File::open(src);
  ASSERT_TRUE(f);
  for (const auto& t : f->header().tensors)
    map[t.name] = std::string("diffusion_pytorch_model-0000") +
                  (first({t.name, "", {}, ""}) ? "1" : "2") + "-of-00002.safetensors";
  std::ofstream(dir / "diffusion_pytorch_model.safetensors.index.json")
      << nlohmann::json{{"weight_map", map}}.dump();
  fs::copy_file(ref_dir(set) + "/transformer/config.json", dir / "config.json",
                fs::copy_options::overwrite_existing);
  auto info = smoke::inspect_checkpoint(dir.string());
  ASSERT_TRUE(info) << info.error().describe();
  EXPECT_EQ(info->layout, "diffusers-sharded");
  EXPECT_LE(forward_error(set, dir.string(), "forward"), 1e-4);
}

TEST(MmditLoader, MissingScaleIsAClearError) {
  const std::string set = "tiny-large";
  const auto dst = temp_dir() / "missing_scale.safetensors";
  rewrite(ref_dir(set) + "/" + set + "_fp8_scaled.safetensors", dst, [](StTensor& t) {
    return t.name != "model.diffusion_model.joint_blocks.1.x_block.mlp.fc1.scale_weight";
  });
  auto r = smoke::inspect_checkpoint(dst.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, sd35::Errc::bad_input);
  EXPECT_NE(r.error().message.find("transformer_blocks.1.ff.net.0.proj"), std::string::npos)
      << r.error().describe();
  EXPECT_NE(r.error().message.find("scale"), std::string::npos);
}

TEST(MmditLoader, WrongShapeIsAClearError) {
  const std::string set = "tiny-large";
  const auto dst = temp_dir() / "wrong_shape.safetensors";
  rewrite(ref_dir(set) + "/" + set + "_sai_bf16.safetensors", dst, [](StTensor& t) {
    if (t.name == "model.diffusion_model.joint_blocks.0.x_block.mlp.fc2.weight") {
      t.shape = {64, 255};
      t.bytes.resize(std::size_t{64} * 255 * 2);
    }
    return true;
  });
  auto r = smoke::inspect_checkpoint(dst.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, sd35::Errc::bad_input);
  EXPECT_NE(r.error().message.find("transformer_blocks.0.ff.net.2.weight"), std::string::npos)
      << r.error().describe();
  EXPECT_NE(r.error().message.find("[64, 256]"), std::string::npos) << r.error().describe();
}

TEST(MmditLoader, UnknownLayoutIsAClearError) {
  const auto dst = temp_dir() / "unknown.safetensors";
  std::ofstream(dst, std::ios::binary) << sd35::testing::st_file(
      {{"encoder.layers.0.weight", "F32", {2}, sd35::testing::f32_bytes({1, 2})}});
  auto r = smoke::inspect_checkpoint(dst.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, sd35::Errc::bad_input);
  EXPECT_NE(r.error().message.find("unknown checkpoint layout"), std::string::npos);
  auto missing = smoke::inspect_checkpoint((temp_dir() / "nope.safetensors").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, sd35::Errc::missing_file);
}
