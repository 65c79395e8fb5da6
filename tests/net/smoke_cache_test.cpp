// `sd35-setup smoke` end to end through the libtorch plugin, choosing its weights: the manifest's
// model fetched into a Hugging Face cache (the tiny scaled-FP8 fixture) runs for real on the CPU;
// --synthetic forces the embedded model; an incomplete cache or a model too large for the CPU falls
// back to the embedded model and says why.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/test_env.hpp"
#include "support/tiny_model_cache.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;
constexpr const char* kCommit = "fedcba9876543210fedcba9876543210fedcba98";

class SmokeCache : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::cli_binary().empty()) GTEST_SKIP() << "needs SD35_BIN";
    std::error_code ec;
    const char* plugin = std::getenv("SD35_SMOKE_PLUGIN");
    if (!stdfs::exists(plugin && *plugin
                           ? stdfs::path(plugin)
                           : stdfs::path(test::cli_binary()).parent_path() / "libsd35smoke.so",
                       ec))
      GTEST_SKIP() << "built without libtorch: no smoke plugin";
  }

  stdfs::path snapshot() const { return dir / testing::kTinyRepo / "snapshots" / kCommit; }

  void write_manifest(std::uint64_t size, const std::string& sha256) {
    nlohmann::json file = {{"path", "model.safetensors"}, {"size", size}};
    if (!sha256.empty()) file["sha256"] = sha256;
    const nlohmann::json environment = {{"python", ">=3.8"},
                                        {"candidates", {{{"torch", "2.9.1"}, {"cuda", {"cpu"}}}}}};
    dir.write(
        "manifest.json",
        testing::tiny_manifest(file, environment, {{"steps", 2}, {"latent", {24, 24}}}).dump());
  }

  // `sd35-setup --json smoke --device cpu ARGS...`: exit code and document.
  std::pair<int, nlohmann::json> smoke(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--manifest",     (dir / "manifest.json").string(),
                                     "--cache",        (dir / "cache").string(),
                                     "--json",         "smoke",
                                     "--device",       "cpu",
                                     "--no-gemm-probe"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto run = test::run_cli(args, {}, std::chrono::minutes(2));
    auto doc = nlohmann::json::parse(run.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << run.out << run.err;
    return {run.exit_code, doc.is_discarded() ? nlohmann::json::object() : doc};
  }

  static bool summary_has(const nlohmann::json& doc, const std::string& text) {
    for (const auto& line : doc.value("summary", nlohmann::json::array()))
      if (line.get<std::string>().find(text) != std::string::npos) return true;
    return false;
  }

  test::TempDir dir;
};

TEST_F(SmokeCache, FetchedCheckpointRunsForRealOnTheCpu) {
  const auto model = *fs::read_file(test::data_dir() /
                                    "sd3-reference/tiny-large/tiny-large_fp8_scaled.safetensors");
  const std::string oid = sha256_hex(model);
  testing::place_in_cache(dir, kCommit, "model.safetensors", oid, model);
  write_manifest(model.size(), oid);

  auto [code, doc] = smoke();
  EXPECT_EQ(code, 0) << doc.dump(2);
  EXPECT_EQ(doc["source"], "cache");
  EXPECT_EQ(doc["mode"], "checkpoint");
  EXPECT_EQ(doc["checkpoint"], (snapshot() / "model.safetensors").string());
  EXPECT_EQ(doc["layout"], "sai-scaled-fp8");
  EXPECT_EQ(doc["cache"]["repo"], "org/tiny");
  EXPECT_EQ(doc["cache"]["commit"], kCommit);
  EXPECT_EQ(doc["cache"]["checkpoint"], "model.safetensors");
  EXPECT_EQ(doc["cache"]["files"][0]["oid"], oid);
  EXPECT_EQ(doc["cache"]["files"][0]["size"], model.size());
  EXPECT_EQ(doc["latent"], nlohmann::json({24, 24}));  // the manifest's, not the embedded cap
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["paths"][0]["finite"], true);
  EXPECT_EQ(doc["fingerprint"]["sha256_grid_1e-2"].get<std::string>().size(), 64u);
  EXPECT_TRUE(summary_has(doc, "from the cache")) << doc["summary"].dump();

  auto [scode, synthetic] = smoke({"--synthetic", "--latent", "8x8", "--steps", "1"});
  EXPECT_EQ(scode, 0) << synthetic.dump(2);
  EXPECT_EQ(synthetic["source"], "embedded");
  EXPECT_EQ(synthetic["mode"], "embedded");
  EXPECT_FALSE(synthetic.contains("cache"));

  auto both = test::run_cli({"--manifest", (dir / "manifest.json").string(), "smoke", "--synthetic",
                             "--checkpoint", (snapshot() / "model.safetensors").string()});
  EXPECT_EQ(both.exit_code, 2) << both.out << both.err;
}

TEST_F(SmokeCache, IncompleteOrTooLargeFallsBackToTheEmbeddedModelAndSaysWhy) {
  // A clone without LFS: the snapshot holds the pointer, not the weights.
  const std::string oid(64, 'a');
  testing::place_in_cache(
      dir, kCommit, "model.safetensors", oid,
      "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 814276\n");
  write_manifest(814276, oid);
  auto [code, doc] = smoke({"--latent", "8x8", "--steps", "1"});
  EXPECT_EQ(code, 0) << doc.dump(2);
  EXPECT_EQ(doc["source"], "embedded");
  EXPECT_EQ(doc["mode"], "embedded");
  EXPECT_NE(doc.value("source_note", "").find("Git LFS pointer"), std::string::npos) << doc.dump(2);
  EXPECT_TRUE(summary_has(doc, "Git LFS pointer")) << doc["summary"].dump();

  // A complete checkpoint whose MMDiT is above the CPU limit (a sparse file: 300 MiB on paper).
  const std::uint64_t big = 300ull << 20;
  nlohmann::json header = {{"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight",
                            {{"dtype", "F8_E4M3"}, {"shape", {big}}, {"data_offsets", {0, big}}}}};
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i)
    prefix[static_cast<std::size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  const std::string big_id(64, 'b');
  stdfs::remove(snapshot() / "model.safetensors");
  testing::place_in_cache(dir, kCommit, "model.safetensors", big_id, prefix + text);
  stdfs::resize_file(dir / testing::kTinyRepo / "blobs" / big_id,
                     prefix.size() + text.size() + big);
  write_manifest(prefix.size() + text.size() + big, "");
  auto [bcode, bdoc] = smoke({"--latent", "8x8", "--steps", "1"});
  EXPECT_EQ(bcode, 0) << bdoc.dump(2);
  EXPECT_EQ(bdoc["source"], "embedded");
  const std::string note = bdoc.value("source_note", "");
  EXPECT_NE(note.find("but the device is CPU"), std::string::npos) << note;
  EXPECT_NE(note.find("pass --checkpoint " + (snapshot() / "model.safetensors").string()),
            std::string::npos)
      << note;
}

}  // namespace
}  // namespace sd35
