// The prompt -> image pipeline from a diffusers pipeline folder (text_encoder/, text_encoder_2/,
// text_encoder_3/ sharded, vae/ with config.json) gives the all-in-one file's picture. The folder
// is the fixture's all-in-one file re-spelled here: the CLIP/T5 prefixes stripped, the VAE renamed
// to diffusers' AutoencoderKL names by this test's own table (up blocks reversed, 1x1 attention
// convs as Linear weights), the MMDiT left in SAI names in transformer/.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "safetensors/safetensors.hpp"
#include "smoke/smoke.hpp"
#include "support/safetensors_writer.hpp"
#include "support/sd3_pipeline.hpp"
#include "support/test_env.hpp"
#include "util/fs.hpp"
#include "util/reporter.hpp"

namespace smoke = sd35::smoke;
namespace stdfs = std::filesystem;
using sd35::testing::StTensor;

namespace {

// An LDM VAE decoder name (after first_stage_model.) in diffusers' AutoencoderKL spelling; ""
// for the encoder (not needed to decode).
std::string diffusers_vae(const std::string& ldm, int levels) {
  static const std::vector<std::pair<std::regex, std::string>> kFixed = {
      {std::regex(R"(^decoder\.mid\.attn_1\.q\.(.*)$)"), "decoder.mid_block.attentions.0.to_q.$1"},
      {std::regex(R"(^decoder\.mid\.attn_1\.k\.(.*)$)"), "decoder.mid_block.attentions.0.to_k.$1"},
      {std::regex(R"(^decoder\.mid\.attn_1\.v\.(.*)$)"), "decoder.mid_block.attentions.0.to_v.$1"},
      {std::regex(R"(^decoder\.mid\.attn_1\.proj_out\.(.*)$)"),
       "decoder.mid_block.attentions.0.to_out.0.$1"},
      {std::regex(R"(^decoder\.mid\.attn_1\.norm\.(.*)$)"),
       "decoder.mid_block.attentions.0.group_norm.$1"},
      {std::regex(R"(^decoder\.norm_out\.(.*)$)"), "decoder.conv_norm_out.$1"},
      {std::regex(R"(^(decoder\.conv_(in|out)\..*|post_quant_conv\..*)$)"), "$1"},
  };
  for (const auto& [re, out] : kFixed)
    if (std::regex_match(ldm, re)) return std::regex_replace(ldm, re, out);
  std::smatch m;
  static const std::regex kMid(R"(^decoder\.mid\.block_(\d)\.(.*)$)");
  if (std::regex_match(ldm, m, kMid))
    return "decoder.mid_block.resnets." + std::to_string(std::stoi(m[1]) - 1) + "." +
           std::regex_replace(m[2].str(), std::regex("^nin_shortcut"), "conv_shortcut");
  static const std::regex kUp(R"(^decoder\.up\.(\d+)\.(block\.(\d+)\.(.*)|upsample\.conv\.(.*))$)");
  if (!std::regex_match(ldm, m, kUp)) return "";
  const std::string level = std::to_string(levels - 1 - std::stoi(m[1]));
  if (m[5].matched) return "decoder.up_blocks." + level + ".upsamplers.0.conv." + m[5].str();
  return "decoder.up_blocks." + level + ".resnets." + m[3].str() + "." +
         std::regex_replace(m[4].str(), std::regex("^nin_shortcut"), "conv_shortcut");
}

// The all-in-one file as a diffusers pipeline folder under `root`.
void write_diffusers_folder(const stdfs::path& root) {
  auto file = sd35::st::File::open(sd35::test::all_in_one());
  ASSERT_TRUE(file) << file.error().describe();
  int levels = 0;
  while (file->header().find("first_stage_model.decoder.up." + std::to_string(levels) +
                             ".block.0.conv1.weight"))
    ++levels;
  std::map<std::string, std::vector<StTensor>> files;  // folder/file -> tensors
  const std::vector<std::pair<std::string, std::string>> kEncoders = {
      {"text_encoders.clip_l.transformer.", "text_encoder/model.safetensors"},
      {"text_encoders.clip_g.transformer.", "text_encoder_2/model.safetensors"},
      {"text_encoders.t5xxl.transformer.", "text_encoder_3/"}};
  for (const auto& t : file->header().tensors) {
    StTensor out{t.name, std::string(sd35::st::dtype_name(t.dtype)), t.shape,
                 std::string(file->bytes(t))};
    std::string dest = "transformer/diffusion_pytorch_model.safetensors";
    for (const auto& [prefix, where] : kEncoders)
      if (t.name.rfind(prefix, 0) == 0) {
        out.name = t.name.substr(prefix.size());
        dest = where;
      }
    if (dest == "text_encoder_3/")  // two shards, as transformers saves a large T5
      dest = std::string("text_encoder_3/model-0000") +
             (out.name.find("block.0.") != std::string::npos ? "1" : "2") + "-of-00002.safetensors";
    if (t.name.rfind("first_stage_model.", 0) == 0) {
      out.name = diffusers_vae(t.name.substr(18), levels);
      if (out.name.empty()) continue;
      if (out.name.find("attentions.0.to_") != std::string::npos && out.shape.size() == 4)
        out.shape.resize(2);  // [C, C, 1, 1] conv -> [C, C] Linear: the same bytes
      dest = "vae/diffusion_pytorch_model.safetensors";
    }
    files[dest].push_back(std::move(out));
  }
  nlohmann::json index = {{"metadata", nlohmann::json::object()},
                          {"weight_map", nlohmann::json::object()}};
  for (const auto& [dest, tensors] : files) {
    sd35::testing::write_bytes(root / dest, sd35::testing::st_file(tensors));
    if (dest.rfind("text_encoder_3/", 0) == 0)
      for (const auto& t : tensors) index["weight_map"][t.name] = stdfs::path(dest).filename();
  }
  sd35::testing::write_bytes(root / "text_encoder_3/model.safetensors.index.json", index.dump());
  sd35::testing::write_bytes(root / "vae/config.json",
                             R"({"scaling_factor": 1.5305, "shift_factor": 0.0609})");
  sd35::testing::write_bytes(root / "model_index.json", "{}");
}

// The fixture protocol (support/sd3_pipeline.hpp) with its dump and pixels in `out`.
smoke::SmokeRequest request(const std::string& checkpoint, const stdfs::path& out) {
  return sd35::test::fixture_request(checkpoint, (out / "dump.safetensors").string(),
                                     (out / "pixels.rgb").string());
}

TEST(PipelineDiffusers, AFolderGivesTheAllInOnePicture) {
  sd35::test::TempDir dir;
  write_diffusers_folder(dir / "pipe");
  stdfs::create_directories(dir / "aio");
  stdfs::create_directories(dir / "diff");
  sd35::NullReporter quiet;
  auto aio = smoke::run_smoke(request(sd35::test::all_in_one(), dir / "aio"), quiet);
  ASSERT_TRUE(aio) << aio.error().describe();
  auto diff = smoke::run_smoke(request((dir / "pipe").string(), dir / "diff"), quiet);
  ASSERT_TRUE(diff) << diff.error().describe();
  EXPECT_TRUE((*diff)["ok"].get<bool>()) << diff->dump();
  EXPECT_EQ((*diff)["fingerprint"], (*aio)["fingerprint"]);
  EXPECT_EQ(*sd35::fs::read_file(dir / "diff/pixels.rgb"),
            *sd35::fs::read_file(dir / "aio/pixels.rgb"));
  for (const char* key : {"prompt_embeds", "pooled_prompt_embeds", "image"}) {
    auto a = smoke::read_f32_tensor((dir / "aio/dump.safetensors").string(), key);
    auto d = smoke::read_f32_tensor((dir / "diff/dump.safetensors").string(), key);
    ASSERT_TRUE(a && d) << key;
    EXPECT_LE(smoke::rel_l2(d->data, a->data), 1e-6) << key;
  }
}

// A diffusers folder whose text_encoder_3/ shards keep the scaled-FP8 T5 gets the same scale check
// as the all-in-one file: it passes on the folder, and fails when the scales are ignored or
// doubled.
TEST(PipelineDiffusers, TheT5ScaleCheckRunsOnAFolder) {
  sd35::test::TempDir dir;
  write_diffusers_folder(dir / "pipe");
  const std::string folder = (dir / "pipe").string();
  sd35::test::expect_t5_scale_check_catches_faults(folder);
  // And the pipeline run on the folder reports it among its checks.
  sd35::NullReporter quiet;
  stdfs::create_directories(dir / "out");
  auto run = smoke::run_smoke(request(folder, dir / "out"), quiet);
  ASSERT_TRUE(run) << run.error().describe();
  bool checked = false;
  for (const auto& c : (*run)["checks"])
    if (c["id"] == "pipeline.t5-fp8-scale") checked = c["ok"].get<bool>();
  EXPECT_TRUE(checked) << (*run)["checks"].dump();
}

TEST(PipelineDiffusers, AMissingComponentFolderIsNamed) {
  sd35::test::TempDir dir;
  write_diffusers_folder(dir / "pipe");
  stdfs::remove_all(dir / "pipe/text_encoder_3");
  stdfs::create_directories(dir / "out");
  sd35::NullReporter quiet;
  auto run = smoke::run_smoke(request((dir / "pipe").string(), dir / "out"), quiet);
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code, sd35::Errc::missing_file);
  EXPECT_NE(run.error().message.find("text_encoder_3/"), std::string::npos)
      << run.error().describe();
  EXPECT_NE(run.error().hint.find("diffusers"), std::string::npos);
}

}  // namespace
