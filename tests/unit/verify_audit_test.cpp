// Structure audit (headers, index files) and model audit (layout, family, dims, FP8 scales,
// bundled components) on the reference fixtures and on files built to be wrong.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>

#include "model/layout.hpp"
#include "support/safetensors_writer.hpp"
#include "verify/model_audit.hpp"
#include "verify/structure.hpp"

namespace sd35::verify {
namespace {

using sd35::testing::f32_bytes;
using sd35::testing::filled;
using sd35::testing::st_file;
using sd35::testing::st_file_raw;
using sd35::testing::StTensor;
using sd35::testing::TempDir;
using sd35::testing::write_bytes;

std::vector<const Finding*> with_id(const CollectingReporter& r, std::string_view id) {
  std::vector<const Finding*> out;
  for (const auto& f : r.findings) {
    if (f.id == id) out.push_back(&f);
  }
  return out;
}

std::filesystem::path fixtures() {
  const char* data = std::getenv("SD35_TEST_DATA");
  return std::filesystem::path(data ? data : "tests/data") / "sd3-reference";
}

// Runs structure + model audit over every file under root (one unit per file or index).
struct Audit {
  CollectingReporter r;
  StructureReport structure;
  std::vector<ModelAudit> models;
};
std::unique_ptr<Audit> audit_dir(const std::filesystem::path& root,
                                 const std::vector<std::string>& files,
                                 const AuditExpectations& expect = {}) {
  auto a = std::make_unique<Audit>();
  a->structure = audit_structure(root, files, a->r);
  for (const auto& [rel, h] : a->structure.headers) {
    if (model::holds_mmdit(h))
      a->models.push_back(audit_model(root, rel, {{rel, &h}}, expect, a->r));
  }
  return a;
}

std::string bf16(std::size_t n) {
  return filled(n * 2, '\0');
}

// A minimal SAI single file: enough keys for layout, family and dims.
std::vector<StTensor> tiny_sai(bool qk, bool dual) {
  const std::string p = "model.diffusion_model.";
  std::vector<StTensor> t = {
      {p + "x_embedder.proj.weight", "BF16", {8, 16, 2, 2}, bf16(std::size_t{8} * 16 * 4)},
      {p + "pos_embed", "BF16", {1, 16, 8}, bf16(std::size_t{16} * 8)},
      {p + "context_embedder.weight", "BF16", {8, 12}, bf16(96)},
      {p + "y_embedder.mlp.0.weight", "BF16", {8, 10}, bf16(80)},
      {p + "joint_blocks.0.x_block.attn.qkv.weight", "BF16", {24, 8}, bf16(192)},
      {p + "joint_blocks.1.x_block.attn.qkv.weight", "BF16", {24, 8}, bf16(192)},
      {p + "final_layer.linear.weight", "BF16", {64, 8}, bf16(512)},
  };
  if (qk) t.push_back({p + "joint_blocks.0.x_block.attn.ln_q.weight", "BF16", {4}, bf16(4)});
  if (dual)
    t.push_back({p + "joint_blocks.1.x_block.attn2.qkv.weight", "BF16", {24, 8}, bf16(192)});
  return t;
}

TEST(ModelAudit, FixturesRecogniseFamilyLayoutAndScales) {
  const auto root = fixtures();
  auto a = audit_dir(root, {"tiny-large/tiny-large_fp8_scaled.safetensors",
                            "tiny-large/transformer/diffusion_pytorch_model.safetensors",
                            "tiny-mmditx/tiny-mmditx_fp8_scaled.safetensors",
                            "tiny-mmditx/transformer/diffusion_pytorch_model.safetensors"});
  ASSERT_EQ(a->models.size(), 4u);
  for (const auto& f : a->r.findings)
    EXPECT_NE(f.verdict, Verdict::fail) << f.id << ": " << f.detail;
  std::map<std::string, const ModelAudit*> by;
  for (const auto& m : a->models) by[m.unit] = &m;
  const auto& large = *by.at("tiny-large/tiny-large_fp8_scaled.safetensors");
  EXPECT_EQ(large.layout, "sai-single-file");
  EXPECT_EQ(large.family, "sd35-large");
  EXPECT_EQ(large.document["dims"]["depth"], 3);
  EXPECT_EQ(large.document["dims"]["hidden_size"], 64);
  EXPECT_EQ(large.document["dims"]["pos_embed_max_size"], 48);
  EXPECT_EQ(large.document["fp8"]["weights"], 27);
  EXPECT_EQ(large.document["fp8"]["spellings"]["scale_weight"], 27);
  const auto& mx = *by.at("tiny-mmditx/tiny-mmditx_fp8_scaled.safetensors");
  EXPECT_EQ(mx.family, "sd35-medium");
  EXPECT_EQ(mx.document["dims"]["dual_attention_layers"], nlohmann::json::array({0}));
  EXPECT_EQ(mx.document["fp8"]["spellings"]["weight_scale"], mx.document["fp8"]["weights"]);
  EXPECT_EQ(mx.document["fp8"]["conventions"], nlohmann::json::array({"comfy_quant"}));
  const auto& mxd = *by.at("tiny-mmditx/transformer/diffusion_pytorch_model.safetensors");
  EXPECT_EQ(mxd.layout, "diffusers");
  EXPECT_EQ(mxd.family, "sd35-medium");
  EXPECT_EQ(mxd.document["dims"]["num_attention_heads"], 4);
  EXPECT_EQ(mxd.document["dims"]["attention_head_dim"], 8);
  ASSERT_FALSE(with_id(a->r, "model.config").empty());  // config.json compared with the weights
  ASSERT_FALSE(with_id(a->r, "fp8.scales").empty());
}

TEST(ModelAudit, FamilyFromKeysAndMismatchWithManifest) {
  TempDir dir;
  write_bytes(dir.path() / "sd3.safetensors", st_file(tiny_sai(false, false)));
  write_bytes(dir.path() / "large.safetensors", st_file(tiny_sai(true, false)));
  write_bytes(dir.path() / "medium.safetensors", st_file(tiny_sai(true, true)));
  auto a = audit_dir(dir.path(), {"sd3.safetensors", "large.safetensors", "medium.safetensors"},
                     {"sd35-large", "sai-single-file"});
  ASSERT_EQ(a->models.size(), 3u);
  std::map<std::string, std::string> fam;
  for (const auto& m : a->models) fam[m.unit] = m.family;
  EXPECT_EQ(fam["sd3.safetensors"], "sd3-medium");
  EXPECT_EQ(fam["large.safetensors"], "sd35-large");
  EXPECT_EQ(fam["medium.safetensors"], "sd35-medium");
  std::size_t failed = 0;
  for (const auto* f : with_id(a->r, "model.family")) {
    if (f->verdict == Verdict::fail) {
      ++failed;
      EXPECT_NE(f->detail.find("sd35-large"), std::string::npos);
    }
  }
  EXPECT_EQ(failed, 2u);
  EXPECT_EQ(a->models[0].document["dims"]["depth"], 2);
}

TEST(ModelAudit, LayoutMismatchAndMissingDims) {
  TempDir dir;
  write_bytes(dir.path() / "d.safetensors",
              st_file({{"transformer_blocks.0.attn.to_q.weight", "BF16", {4, 4}, bf16(16)}}));
  auto a = audit_dir(dir.path(), {"d.safetensors"}, {"", "sai-single-file"});
  ASSERT_EQ(a->models.size(), 1u);
  EXPECT_EQ(a->models[0].layout, "diffusers");
  ASSERT_EQ(with_id(a->r, "model.layout").size(), 1u);
  EXPECT_EQ(with_id(a->r, "model.layout")[0]->verdict, Verdict::fail);
  ASSERT_EQ(with_id(a->r, "model.dims").size(), 1u);
  EXPECT_EQ(with_id(a->r, "model.dims")[0]->verdict, Verdict::fail);
}

std::vector<StTensor> fp8_model(const std::vector<StTensor>& extra) {
  auto t = tiny_sai(true, false);
  t.push_back({"model.diffusion_model.joint_blocks.0.x_block.mlp.fc1.weight",
               "F8_E4M3",
               {16, 8},
               filled(128, '\x38')});
  for (const auto& e : extra) t.push_back(e);
  return t;
}

TEST(ModelAudit, Fp8WeightWithoutScale) {
  TempDir dir;
  write_bytes(dir.path() / "m.safetensors", st_file(fp8_model({})));
  auto a = audit_dir(dir.path(), {"m.safetensors"});
  const auto missing = with_id(a->r, "fp8.scale-missing");
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0]->verdict, Verdict::fail);
  EXPECT_EQ(missing[0]->tensor, "model.diffusion_model.joint_blocks.0.x_block.mlp.fc1.weight");
  EXPECT_EQ(missing[0]->file, "m.safetensors");
  EXPECT_EQ(a->models[0].failed, 1u);
}

// A missing or bad FP8 scale in the second shard of a model: a finding naming that shard, never an
// exception (the file was looked up from a moved-from tensor name: under clang the lookup threw and
// `verify` ended in "unexpected exception", exit 1).
TEST(ModelAudit, MissingFp8ScaleInAShardIsAFindingOnThatShard) {
  TempDir dir;
  const std::string fc1 = "model.diffusion_model.joint_blocks.0.x_block.mlp.fc1.";
  const std::string fc2 = "model.diffusion_model.joint_blocks.0.x_block.mlp.fc2.";
  write_bytes(dir.path() / "a.safetensors", st_file(tiny_sai(true, false)));
  write_bytes(dir.path() / "b.safetensors",
              st_file({{fc1 + "weight", "F8_E4M3", {16, 8}, filled(128, '\x38')},
                       {fc2 + "weight", "F8_E4M3", {8, 16}, filled(128, '\x38')},
                       {fc2 + "scale_weight", "F32", {}, f32_bytes({0.0f})}}));
  auto sa = st::read_header(dir.path() / "a.safetensors");
  auto sb = st::read_header(dir.path() / "b.safetensors");
  ASSERT_TRUE(sa.has_value() && sb.has_value());
  CollectingReporter r;
  ModelAudit audit = audit_model(dir.path(), "index.json",
                                 {{"a.safetensors", &*sa}, {"b.safetensors", &*sb}}, {}, r);
  const auto missing = with_id(r, "fp8.scale-missing");
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0]->verdict, Verdict::fail);
  EXPECT_EQ(missing[0]->tensor, fc1 + "weight");
  EXPECT_EQ(missing[0]->file, "b.safetensors");
  const auto invalid = with_id(r, "fp8.scale-invalid");
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_EQ(invalid[0]->tensor, fc2 + "scale_weight");
  EXPECT_EQ(invalid[0]->file, "b.safetensors");
  EXPECT_EQ(audit.failed, 2u);
}

TEST(ModelAudit, ZeroNegativeNanAndInfScalesAreInvalid) {
  const std::string scale = "model.diffusion_model.joint_blocks.0.x_block.mlp.fc1.scale_weight";
  for (const float bad : {0.0f, -0.5f, std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity()}) {
    TempDir dir;
    write_bytes(dir.path() / "m.safetensors",
                st_file(fp8_model({{scale, "F32", {}, f32_bytes({bad})}})));
    auto a = audit_dir(dir.path(), {"m.safetensors"});
    const auto invalid = with_id(a->r, "fp8.scale-invalid");
    ASSERT_EQ(invalid.size(), 1u) << bad;
    EXPECT_EQ(invalid[0]->tensor, scale);
    EXPECT_TRUE(with_id(a->r, "fp8.scales").empty());
  }
}

TEST(ModelAudit, NewSpellingWithInputScaleAndBf16ScalePasses) {
  TempDir dir;
  const std::string layer = "model.diffusion_model.joint_blocks.0.x_block.mlp.fc1.";
  const std::string one_bf16("\x80\x3f", 2);  // 1.0 in bfloat16, little-endian
  write_bytes(
      dir.path() / "m.safetensors",
      st_file(fp8_model({{layer + "weight_scale", "BF16", {}, one_bf16},
                         {layer + "input_scale", "F32", {1}, f32_bytes({0.25f})},
                         {layer + "comfy_quant", "U8", {27}, R"({"format": "float8_e4m3fn"})"}}),
              {{"_quantization_metadata", "{}"}}));
  auto a = audit_dir(dir.path(), {"m.safetensors"});
  for (const auto& f : a->r.findings)
    EXPECT_NE(f.verdict, Verdict::fail) << f.id << ": " << f.detail;
  ASSERT_EQ(with_id(a->r, "fp8.scales").size(), 1u);
  EXPECT_EQ(a->models[0].document["fp8"]["spellings"]["input_scale"], 1);
}

TEST(ModelAudit, ComfyQuantFormatMustMatchDtype) {
  TempDir dir;
  const std::string layer = "model.diffusion_model.joint_blocks.0.x_block.mlp.fc1.";
  write_bytes(
      dir.path() / "m.safetensors",
      st_file(fp8_model({{layer + "weight_scale", "F32", {}, f32_bytes({0.01f})},
                         {layer + "comfy_quant", "U8", {25}, R"({"format": "float8_e5m2"})"}})));
  auto a = audit_dir(dir.path(), {"m.safetensors"});
  ASSERT_EQ(with_id(a->r, "fp8.comfy-quant").size(), 1u);
}

TEST(ModelAudit, BundledTextEncodersAndVaeAreListed) {
  TempDir dir;
  auto t = tiny_sai(true, false);
  t.push_back({"text_encoders.clip_l.transformer.text_model.final_layer_norm.weight",
               "F16",
               {4},
               filled(8)});
  t.push_back({"text_encoders.clip_g.transformer.text_model.final_layer_norm.weight",
               "F16",
               {4},
               filled(8)});
  t.push_back({"text_encoders.t5xxl.transformer.shared.weight", "F8_E4M3", {4, 2}, filled(8)});
  t.push_back(
      {"text_encoders.t5xxl.transformer.shared.scale_weight", "F32", {}, f32_bytes({1.0f})});
  t.push_back({"first_stage_model.decoder.conv_in.weight", "BF16", {2}, bf16(2)});
  write_bytes(dir.path() / "all.safetensors", st_file(t));
  auto a = audit_dir(dir.path(), {"all.safetensors"});
  ASSERT_EQ(a->models.size(), 1u);
  const auto& comps = a->models[0].document["components"];
  ASSERT_EQ(comps.size(), 4u);
  EXPECT_EQ(comps[2]["prefix"], "text_encoders.t5xxl.");
  EXPECT_EQ(comps[3]["name"], "VAE");
  EXPECT_EQ(a->models[0].document["parameters"]["text_encoders.t5xxl"]["F8_E4M3"], 8);
  ASSERT_EQ(with_id(a->r, "model.components").size(), 1u);
}

TEST(DecodeFloats, HalfAndBfloat) {
  auto h = decode_floats(st::Dtype::F16, std::string("\x00\x3c\x00\xc0\x01\x00", 6));
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ((*h)[0], 1.0);
  EXPECT_EQ((*h)[1], -2.0);
  EXPECT_NEAR((*h)[2], 5.96e-8, 1e-9);  // smallest subnormal
  EXPECT_FALSE(decode_floats(st::Dtype::U8, "x").has_value());
}

// ---- structure ----------------------------------------------------------------------------------

TEST(Structure, EachBrokenFileIsAFindingNamingRuleFileAndTensor) {
  TempDir dir;
  const std::string good = st_file({{"w", "F32", {2}, f32_bytes({1, 2})}});
  std::string huge(16, '\0');
  huge[7] = '\x80';
  write_bytes(dir.path() / "ok.safetensors", good);
  write_bytes(dir.path() / "huge.safetensors", huge);
  write_bytes(dir.path() / "trail.safetensors", good + "zz");
  write_bytes(dir.path() / "dtype.safetensors",
              st_file_raw(R"({"bad":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}})", "x"));
  write_bytes(dir.path() / "notes.txt", "not audited");
  CollectingReporter r;
  auto rep = audit_structure(
      dir.path(),
      {"ok.safetensors", "huge.safetensors", "trail.safetensors", "dtype.safetensors", "notes.txt"},
      r);
  EXPECT_EQ(rep.failed, 3u);
  EXPECT_EQ(rep.headers.size(), 1u);
  ASSERT_EQ(with_id(r, "safetensors.header-too-large").size(), 1u);
  EXPECT_EQ(with_id(r, "safetensors.header-too-large")[0]->file, "huge.safetensors");
  ASSERT_EQ(with_id(r, "safetensors.coverage").size(), 1u);
  const auto dt = with_id(r, "safetensors.dtype");
  ASSERT_EQ(dt.size(), 1u);
  EXPECT_EQ(dt[0]->tensor, "bad");
  EXPECT_EQ(dt[0]->rule, "safetensors.dtype");
  ASSERT_EQ(with_id(r, "safetensors.header").size(), 1u);
}

class IndexTest : public ::testing::Test {
 protected:
  TempDir dir;
  void shard(const std::string& name, const std::vector<std::string>& tensors) {
    std::vector<StTensor> t;
    t.reserve(tensors.size());
    for (const auto& n : tensors) t.push_back({n, "F32", {1}, f32_bytes({1})});
    write_bytes(dir.path() / "transformer" / name, st_file(t));
  }
  void index(const nlohmann::json& map) {
    write_bytes(dir.path() / "transformer/m.safetensors.index.json",
                nlohmann::json{{"metadata", {{"total_size", 12}}}, {"weight_map", map}}.dump());
  }
  void run(CollectingReporter& r, StructureReport* out = nullptr) {
    auto rep = audit_structure(
        dir.path(),
        {"transformer/m-00001-of-00002.safetensors", "transformer/m-00002-of-00002.safetensors",
         "transformer/m.safetensors.index.json"},
        r);
    if (out) *out = rep;
  }
};

TEST_F(IndexTest, CompleteShardSetPasses) {
  shard("m-00001-of-00002.safetensors", {"a", "b"});
  shard("m-00002-of-00002.safetensors", {"c"});
  index({{"a", "m-00001-of-00002.safetensors"},
         {"b", "m-00001-of-00002.safetensors"},
         {"c", "m-00002-of-00002.safetensors"}});
  StructureReport rep;
  CollectingReporter r;
  run(r, &rep);
  EXPECT_EQ(rep.failed, 0u);
  ASSERT_EQ(with_id(r, "index.shards").size(), 1u);
  EXPECT_EQ(rep.index_shards.at("transformer/m.safetensors.index.json").size(), 2u);
}

TEST_F(IndexTest, IndexNamingAMissingShard) {
  shard("m-00001-of-00002.safetensors", {"a", "b"});
  index({{"a", "m-00001-of-00002.safetensors"},
         {"b", "m-00001-of-00002.safetensors"},
         {"c", "m-00002-of-00002.safetensors"}});
  CollectingReporter r;
  run(r);
  const auto miss = with_id(r, "index.missing-shard");
  ASSERT_EQ(miss.size(), 1u);
  EXPECT_EQ(miss[0]->tensor, "c");
  EXPECT_NE(miss[0]->detail.find("m-00002-of-00002"), std::string::npos);
}

TEST_F(IndexTest, IncompleteNumberedSetAndTensorMismatch) {
  shard("m-00001-of-00002.safetensors", {"a", "b", "extra"});
  index({{"a", "m-00001-of-00002.safetensors"},
         {"b", "m-00001-of-00002.safetensors"},
         {"gone", "m-00001-of-00002.safetensors"}});
  CollectingReporter r;
  run(r);
  ASSERT_EQ(with_id(r, "index.incomplete").size(), 1u);
  const auto mism = with_id(r, "index.shard-tensors");
  ASSERT_EQ(mism.size(), 2u);  // one tensor only in the index, one only in the header
}

TEST_F(IndexTest, MalformedIndex) {
  write_bytes(dir.path() / "transformer/m.safetensors.index.json", R"({"weight_map": 3})");
  CollectingReporter r;
  run(r);
  ASSERT_EQ(with_id(r, "index.json").size(), 1u);
}

}  // namespace
}  // namespace sd35::verify
