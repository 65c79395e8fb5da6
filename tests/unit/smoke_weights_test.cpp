// Which weights `smoke` runs (app/smoke_weights.hpp): the manifest's model found in a fake Hugging
// Face cache (SAI single file, diffusers folder), refused when incomplete (missing, LFS pointer,
// wrong size, wrong blob, no MMDiT), and the device/size policy. Torch-free: headers only.
#include "app/smoke_weights.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "model/layout.hpp"
#include "support/safetensors_writer.hpp"
#include "support/test_env.hpp"
#include "support/tiny_model_cache.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;
using testing::StTensor;

constexpr const char* kCommit = "89abcdef0123456789abcdef0123456789abcdef";

std::string fixture(const std::string& rel) {
  auto bytes = fs::read_file(test::data_dir() / "sd3-reference" / rel);
  EXPECT_TRUE(bytes) << rel;
  return bytes ? *bytes : std::string();
}

// A cache holding org/tiny at kCommit (refs/main), files placed as fetch places them.
class SmokeWeights : public ::testing::Test {
 protected:
  stdfs::path cache() const { return dir / "cache"; }
  stdfs::path snapshot() const { return dir / testing::kTinyRepo / "snapshots" / kCommit; }

  // Blob named after its sha256, linked from the snapshot; returns the sha256.
  std::string place(const std::string& rel, const std::string& bytes) {
    std::string oid = sha256_hex(bytes);
    testing::place_in_cache(dir, kCommit, rel, oid, bytes);
    return oid;
  }

  Manifest manifest(const std::string& format, std::vector<ModelFile> files) const {
    Manifest m;
    m.model.repo = "org/tiny";
    m.model.revision = "main";
    m.model.format = format;
    m.model.architecture = "sd35-large";
    m.model.files = std::move(files);
    return m;
  }

  test::TempDir dir;
};

TEST_F(SmokeWeights, FindsTheFetchedSaiSingleFile) {
  const std::string model = fixture("tiny-large/tiny-large_fp8_scaled.safetensors");
  const std::string oid = place("tiny_fp8.safetensors", model);
  auto m = manifest("sai-single-file", {{"tiny_fp8.safetensors", model.size(), oid}});
  const auto lookup = app::find_cached_checkpoint(m, cache());
  ASSERT_TRUE(lookup.found) << lookup.problem;
  const auto& c = *lookup.found;
  EXPECT_EQ(c.repo, "org/tiny");
  EXPECT_EQ(c.commit, kCommit);
  EXPECT_EQ(c.checkpoint, snapshot() / "tiny_fp8.safetensors");
  EXPECT_EQ(c.checkpoint_rel, "tiny_fp8.safetensors");
  ASSERT_EQ(c.files.size(), 1u);
  EXPECT_EQ(c.files[0].oid, oid);
  EXPECT_EQ(c.files[0].size, model.size());
  auto header = st::read_header(c.checkpoint);
  ASSERT_TRUE(header);
  EXPECT_EQ(c.mmdit_bytes, header->data_size);  // every tensor is model.diffusion_model.*

  // Small: runs on the CPU, without asking whether there is a GPU.
  bool asked = false;
  auto w = app::choose_weights("", false, lookup, [&] { return asked = true; });
  EXPECT_FALSE(asked);
  EXPECT_EQ(w.source, "cache");
  EXPECT_EQ(w.checkpoint, c.checkpoint.string());
  nlohmann::json doc;
  app::describe_weights(w, doc);
  EXPECT_EQ(doc["source"], "cache");
  EXPECT_EQ(doc["cache"]["commit"], kCommit);
  EXPECT_EQ(doc["cache"]["checkpoint"], "tiny_fp8.safetensors");
  EXPECT_EQ(doc["cache"]["files"][0]["oid"], oid);
  EXPECT_FALSE(doc.contains("source_note"));

  // --checkpoint and --synthetic win over the cache.
  EXPECT_EQ(app::choose_weights("/x.safetensors", false, lookup, [] { return false; }).source,
            "argument");
  auto synthetic = app::choose_weights("", true, lookup, [] { return false; });
  EXPECT_EQ(synthetic.source, "embedded");
  EXPECT_TRUE(synthetic.checkpoint.empty());
}

TEST_F(SmokeWeights, FindsTheDiffusersTransformerFolder) {
  const std::string weights = fixture("tiny-large/transformer/diffusion_pytorch_model.safetensors");
  const std::string config = fixture("tiny-large/transformer/config.json");
  std::vector<ModelFile> files = {
      {"transformer/config.json", config.size(), std::nullopt},
      {"transformer/diffusion_pytorch_model.safetensors", weights.size(), std::nullopt}};
  place("transformer/diffusion_pytorch_model.safetensors", weights);
  auto m = manifest("diffusers", files);
  auto missing_config = app::find_cached_checkpoint(m, cache());
  EXPECT_FALSE(missing_config.found);
  EXPECT_NE(missing_config.problem.find("config.json is missing"), std::string::npos)
      << missing_config.problem;
  place("transformer/config.json", config);
  const auto lookup = app::find_cached_checkpoint(m, cache());
  ASSERT_TRUE(lookup.found) << lookup.problem;
  EXPECT_EQ(lookup.found->checkpoint, snapshot() / "transformer");
  EXPECT_EQ(lookup.found->checkpoint_rel, "transformer");
  ASSERT_EQ(lookup.found->files.size(), 1u);
  EXPECT_EQ(lookup.found->files[0].oid, sha256_hex(weights));  // from the blob name
}

TEST_F(SmokeWeights, RefusesAnIncompleteSnapshotAndSaysWhy) {
  auto problem = [&](const Manifest& m) {
    auto lookup = app::find_cached_checkpoint(m, cache());
    EXPECT_FALSE(lookup.found);
    return lookup.problem;
  };
  const std::string model = fixture("tiny-large/tiny-large_fp8_scaled.safetensors");
  const std::string oid = sha256_hex(model);
  auto m = manifest("sai-single-file", {{"m.safetensors", model.size(), oid}});
  EXPECT_NE(problem(m).find("is not fetched into"), std::string::npos) << problem(m);

  // An LFS pointer where the weights should be (a clone without LFS).
  place("m.safetensors", "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid +
                             "\nsize " + std::to_string(model.size()) + "\n");
  EXPECT_NE(problem(m).find("Git LFS pointer"), std::string::npos) << problem(m);
  stdfs::remove(snapshot() / "m.safetensors");

  // A truncated download.
  place("m.safetensors", model.substr(0, model.size() / 2));
  EXPECT_NE(problem(m).find("incomplete download"), std::string::npos) << problem(m);
  stdfs::remove(snapshot() / "m.safetensors");

  // Another file than the manifest's (the blob name is its sha256).
  std::string other = model;
  other[other.size() - 1] ^= 1;
  place("m.safetensors", other);
  EXPECT_NE(problem(m).find("the manifest's sha256 is"), std::string::npos) << problem(m);
  stdfs::remove(snapshot() / "m.safetensors");

  // Missing from the snapshot.
  EXPECT_NE(problem(m).find("is missing from the snapshot"), std::string::npos) << problem(m);

  // Not an MMDiT.
  const std::string vae =
      testing::st_file({{"decoder.conv_in.weight", "F32", {4}, testing::filled(16)}});
  place("vae.safetensors", vae);
  auto only_vae = manifest("sai-single-file", {{"vae.safetensors", vae.size(), std::nullopt}});
  EXPECT_NE(problem(only_vae).find("holds an SD3 MMDiT"), std::string::npos) << problem(only_vae);

  // Not found: the embedded model runs and the note says why.
  auto w =
      app::choose_weights("", false, app::find_cached_checkpoint(m, cache()), [] { return true; });
  EXPECT_EQ(w.source, "embedded");
  EXPECT_NE(w.note.find("is missing from the snapshot"), std::string::npos) << w.note;
  nlohmann::json doc;
  app::describe_weights(w, doc);
  EXPECT_EQ(doc["source"], "embedded");
  EXPECT_EQ(doc["source_note"], w.note);
  EXPECT_FALSE(doc.contains("cache"));
}

TEST_F(SmokeWeights, CountsOnlyDiffusionModelTensorsOfAnAllInOneFile) {
  const std::vector<StTensor> tensors = {
      {"first_stage_model.decoder.conv_in.weight", "F32", {256}, testing::filled(1024)},
      {"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight",
       "F8_E4M3",
       {3, 100},
       testing::filled(300)},
      {"model.diffusion_model.pos_embed", "BF16", {1, 4, 8}, testing::filled(64)},
      {"text_encoders.t5xxl.transformer.shared.weight", "F32", {512}, testing::filled(2048)}};
  auto header = st::parse_header(testing::st_header(tensors).dump(), 1024 + 300 + 64 + 2048);
  ASSERT_TRUE(header) << header.error().describe();
  EXPECT_EQ(model::mmdit_tensor_bytes(*header), 364u);
  // No prefix (a bare MMDiT file): every tensor counts.
  auto bare = st::parse_header(
      testing::st_header(
          {{"joint_blocks.0.x_block.attn.qkv.weight", "F8_E4M3", {3, 100}, testing::filled(300)}})
          .dump(),
      300);
  ASSERT_TRUE(bare);
  EXPECT_EQ(model::mmdit_tensor_bytes(*bare), 300u);
}

TEST_F(SmokeWeights, ALargeCheckpointRunsOnCudaOnly) {
  app::CacheLookup lookup;
  lookup.found = app::CachedCheckpoint{};
  lookup.found->checkpoint = "/cache/snap/sd3.5_large_fp8_scaled.safetensors";
  lookup.found->mmdit_bytes = 8'200'000'000ull;
  auto cpu = app::choose_weights("", false, lookup, [] { return false; });
  EXPECT_EQ(cpu.source, "embedded");
  EXPECT_NE(cpu.note.find("but the device is CPU"), std::string::npos) << cpu.note;
  EXPECT_NE(cpu.note.find("pass --checkpoint /cache/snap/sd3.5_large_fp8_scaled.safetensors"),
            std::string::npos)
      << cpu.note;
  auto cuda = app::choose_weights("", false, lookup, [] { return true; });
  EXPECT_EQ(cuda.source, "cache");
  EXPECT_EQ(cuda.checkpoint, "/cache/snap/sd3.5_large_fp8_scaled.safetensors");
  lookup.found->mmdit_bytes = app::kCpuMmditLimitBytes;
  EXPECT_EQ(app::choose_weights("", false, lookup, [] { return false; }).source, "cache");
}

}  // namespace
}  // namespace sd35
