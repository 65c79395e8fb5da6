// `sd35-setup smoke --prompt …` end to end on the stub plugin (tests/data/stub-plugin, loaded
// with SD35_SMOKE_PLUGIN): the flags fill SmokeRequest::text (token ids equal to the fixture's),
// the plugin's pixels become a PNG an independent decoder reads back, the result and the lock carry
// its fingerprint, and every wrong combination of flags is a usage error (exit 2).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lock/lockfile.hpp"
#include "support/pipeline_fixture_dir.hpp"
#include "support/test_env.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;
using Ids = std::vector<std::int64_t>;

nlohmann::json decode_png(const stdfs::path& png) {
  proc::Command cmd;
  cmd.argv = {"/usr/bin/python3", (test::data_dir() / "png/png_decode.py").string(), png.string()};
  cmd.timeout = std::chrono::seconds(120);
  auto r = proc::run(cmd);
  EXPECT_TRUE(r && r->success()) << (r ? r->err : r.error().describe());
  return r && r->success() ? nlohmann::json::parse(r->out) : nlohmann::json::object();
}

// The stub's picture: pixel (x, y, c) = (x * 7 + y * 13 + c * 50 + seed) mod 256.
std::string stub_pixels(int h, int w, std::int64_t seed) {
  std::string px;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        px.push_back(static_cast<char>((x * 7 + y * 13 + c * 50 + seed) & 0xFF));
  return px;
}

class SmokeText : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::cli_binary().empty() || test::env_path("SD35_STUB_PLUGIN").empty())
      GTEST_SKIP() << "needs SD35_BIN and SD35_STUB_PLUGIN";
    if (!stdfs::exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3";
  }

  proc::Outcome smoke(std::vector<std::string> extra, std::map<std::string, std::string> env = {},
                      const stdfs::path& cwd = {}) const {
    proc::Command cmd;
    cmd.argv = {test::cli_binary(), "--json", "smoke",           "--synthetic", "--device", "cpu",
                "--host",           host(),   "--no-gemm-probe", "--precision", "fp32"};
    cmd.argv.insert(cmd.argv.end(), extra.begin(), extra.end());
    env.emplace("SD35_SMOKE_PLUGIN", test::env_path("SD35_STUB_PLUGIN"));
    env["XDG_CACHE_HOME"] = (dir / "xdg").string();
    env["HF_HUB_CACHE"] = (dir / "hub").string();
    cmd.env_overrides = std::move(env);
    cmd.cwd = cwd.string();
    cmd.timeout = std::chrono::seconds(120);
    auto r = proc::run(cmd);
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : proc::Outcome{};
  }

  static std::string host() { return (test::data_dir() / "hosts/ci-no-gpu.json").string(); }

  test::TempDir dir;
};

TEST_F(SmokeText, PromptsBecomeTokenIdsAndTheStubsPixelsAPng) {
  const auto ref =
      nlohmann::json::parse(*fs::read_file(test::pipeline_fixture_dir() / "reference.json"));
  const auto prompts = ref["prompts"].get<std::vector<std::string>>();
  const auto negatives = ref["negative_prompts"].get<std::vector<std::string>>();
  const auto png = dir / "out/first.png";
  stdfs::create_directories(png.parent_path());
  const auto run = smoke({"--tokenizers", test::pipeline_fixture_dir().string(),
                          "--prompt",     prompts[0],
                          "--prompt",     prompts[1],
                          "--negative",   negatives[0],
                          "--negative",   negatives[1],
                          "--size",       "128x96",
                          "--steps",      "3",
                          "--guidance",   "5.5",
                          "--shift",      "2.5",
                          "--seed",       "7",
                          "--image",      png.string()});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto doc = nlohmann::json::parse(run.out);
  // The request the plugin got.
  const auto& rq = doc["stub_request"];
  EXPECT_EQ(rq["latent"], (nlohmann::json{16, 12}));
  EXPECT_EQ(rq["steps"], 3);
  EXPECT_EQ(rq["guidance"], 5.5);
  EXPECT_EQ(rq["shift"], 2.5);
  EXPECT_EQ(rq["precision"], "fp32");
  const auto& text = rq["text"];
  EXPECT_EQ(text["prompts"], ref["prompts"]);
  EXPECT_EQ(text["negatives"], ref["negative_prompts"]);
  EXPECT_EQ(text["seed"], 7);
  for (std::size_t i = 0; i < 2; ++i) {
    for (const char* enc : {"clip_l", "clip_g", "t5xxl"}) {
      EXPECT_EQ(text["prompt_ids"][enc][i], ref["token_ids"][fmt::format("{}/{}", enc, i)]) << enc;
      EXPECT_EQ(text["negative_ids"][enc][i], ref["token_ids"][fmt::format("{}/{}", enc, i + 2)])
          << enc;
    }
  }
  // The pixels file is gone; the PNG holds the stub's pixels and every parameter.
  EXPECT_FALSE(stdfs::exists(text["pixels_out"].get<std::string>()));
  const std::string expect = stub_pixels(128, 96, 7);
  const auto& image = doc["image"];
  EXPECT_EQ(image["path"], png.string());
  EXPECT_EQ(image["width"], 96);
  EXPECT_EQ(image["height"], 128);
  EXPECT_EQ(image["fingerprint"], sha256_hex(expect));
  const auto decoded = decode_png(png);
  EXPECT_TRUE(decoded["crc_ok"].get<bool>());
  EXPECT_EQ(decoded["sha256"], sha256_hex(expect));
  const auto& chunks = decoded["text"];
  EXPECT_EQ(chunks["prompt"], prompts[0]);
  EXPECT_EQ(chunks["negative_prompt"], negatives[0]);
  EXPECT_EQ(chunks["seed"], "7");
  EXPECT_EQ(chunks["steps"], "3");
  EXPECT_EQ(chunks["guidance"], "5.5");
  EXPECT_EQ(chunks["shift"], "2.5");
  EXPECT_EQ(chunks["size"], "128x96");
  EXPECT_EQ(chunks["precision"], "fp32");
  EXPECT_EQ(chunks["batch"], "2");
  EXPECT_EQ(chunks["model"], "embedded synthetic model");
  EXPECT_EQ(chunks["Software"].get<std::string>().rfind("sd35-setup ", 0), 0u);
  EXPECT_EQ(image["params"]["prompt"], prompts[0]);
  // The whole batch, in order: the gate re-runs it (its first picture is the one compared).
  EXPECT_EQ(image["params"]["prompts"], ref["prompts"]);
  EXPECT_EQ(image["params"]["negative_prompts"], ref["negative_prompts"]);
  EXPECT_EQ(nlohmann::json::parse(chunks["prompts"].get<std::string>()), ref["prompts"]);
  bool said = false;
  for (const auto& line : doc["summary"])
    said = said || line.get<std::string>().find(png.string()) != std::string::npos;
  EXPECT_TRUE(said) << doc["summary"].dump();

  // The lock keeps what identifies the picture, not where it is.
  const auto record = lock::smoke_record(doc);
  EXPECT_FALSE(record.contains("summary"));
  EXPECT_EQ(record["image"]["fingerprint"], sha256_hex(expect));
  EXPECT_EQ(record["image"]["width"], 96);
  EXPECT_EQ(record["image"]["params"]["seed"], 7);
  EXPECT_EQ(record["image"]["params"]["prompts"], ref["prompts"]);
  EXPECT_EQ(record["image"]["params"]["negative_prompts"], ref["negative_prompts"]);
  EXPECT_FALSE(record["image"].contains("path"));
  lock::Lockfile a;
  a.smoke = record;
  auto parsed = lock::parse(lock::serialize(a), "a.lock");
  ASSERT_TRUE(parsed) << parsed.error().describe();
  EXPECT_EQ(parsed->smoke->at("image"), record["image"]);
  lock::Lockfile b = a;
  (*b.smoke)["image"]["fingerprint"] = "00";
  const auto lines = lock::diff(a, b);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].section, "smoke");
  EXPECT_EQ(lines[0].key, "image");
}

TEST_F(SmokeText, DefaultImageIsSd35SmokePngInTheCurrentFolder) {
  const auto run = smoke({"--tokenizers", test::pipeline_fixture_dir().string(), "--prompt",
                          "a cat", "--size", "32x48"},
                         {}, dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  ASSERT_TRUE(stdfs::exists(dir / "sd35-smoke.png"));
  const auto decoded = decode_png(dir / "sd35-smoke.png");
  EXPECT_EQ(decoded["width"], 48);
  EXPECT_EQ(decoded["height"], 32);
  EXPECT_EQ(decoded["text"]["negative_prompt"], "");
  EXPECT_EQ(decoded["text"]["batch"], "1");
  // One prompt keeps the single-prompt form every earlier lock has: no batch arrays.
  EXPECT_FALSE(decoded["text"].contains("prompts")) << decoded["text"].dump();
  EXPECT_FALSE(decoded["text"].contains("negative_prompts"));
  EXPECT_EQ(decoded["sha256"], sha256_hex(stub_pixels(32, 48, 0)));
}

TEST_F(SmokeText, WrongFlagsAreUsageErrors) {
  const std::string tok = test::pipeline_fixture_dir().string();
  const std::vector<std::vector<std::string>> cases{
      {"--tokenizers", tok, "--prompt", "a", "--prompt", "b", "--negative", "c"},
      {"--tokenizers", tok, "--prompt", "a", "--size", "100x100"},
      {"--tokenizers", tok, "--prompt", "a", "--size", "128"},
      {"--tokenizers", tok, "--prompt", "a", "--size", "64x64", "--latent", "8x8"},
      {"--image", (dir / "x.png").string()},
      {"--negative", "n"},
      {"--prompt", "a"},  // no tokenizers anywhere
      {"--tokenizers", tok, "--prompt", "a", "--image", (dir / "missing/x.png").string()},
      {"--tokenizers", dir.path().string(), "--prompt", "a"},  // a folder without the files
      {"--repeat", "3"}};                                      // repeats the prompt pipeline only
  for (const auto& c : cases) {
    const auto run = smoke(c);
    EXPECT_EQ(run.exit_code, 2) << nlohmann::json(c).dump() << "\n" << run.out << run.err;
    const auto doc = nlohmann::json::parse(run.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << run.out;
    EXPECT_FALSE(doc["error"]["hint"].get<std::string>().empty()) << doc.dump();
  }
  // Checked before any plugin is loaded.
  EXPECT_EQ(smoke(cases[0], {{"SD35_SMOKE_PLUGIN", (dir / "none.so").string()}}).exit_code, 2);
  EXPECT_EQ(smoke(cases[1], {{"SD35_SMOKE_PLUGIN", (dir / "none.so").string()}}).exit_code, 2);
  const auto size = nlohmann::json::parse(smoke(cases[1]).out);
  EXPECT_NE(size["error"]["hint"].get<std::string>().find("multiples of 16"), std::string::npos);
  const auto none = nlohmann::json::parse(smoke(cases[6]).out);
  EXPECT_NE(none["error"]["hint"].get<std::string>().find("tokenizer_3/spiece.model"),
            std::string::npos);
}

TEST_F(SmokeText, APluginWithoutThePipelineOrWithBrokenPixelsFails) {
  const auto run = smoke({"--tokenizers", test::pipeline_fixture_dir().string(), "--prompt", "a",
                          "--image", (dir / "x.png").string()},
                         {{"STUB_NO_IMAGE", "1"}});
  EXPECT_EQ(run.exit_code, 3) << run.out << run.err;
  EXPECT_FALSE(stdfs::exists(dir / "x.png"));
  const auto broken = smoke({"--tokenizers", test::pipeline_fixture_dir().string(), "--prompt", "a",
                             "--image", (dir / "x.png").string()},
                            {{"STUB_SHORT_PIXELS", "1"}});
  EXPECT_EQ(broken.exit_code, 1) << broken.out << broken.err;
  EXPECT_NE(broken.out.find("bytes of pixels"), std::string::npos) << broken.out;
  EXPECT_FALSE(stdfs::exists(dir / "x.png"));
  for (const auto& e : stdfs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".pixels."), std::string::npos) << e.path();
}

}  // namespace
}  // namespace sd35
