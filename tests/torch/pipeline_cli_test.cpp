// Prompt -> PNG through the command line on the built-in plugin, as issue 13's fixture protocol
// runs it: sd35-setup tokenizes (src/text), the plugin runs CLIP-L/G, the FP8 T5, the MMDiT and
// the VAE, sd35-setup writes the PNG (src/image). An independent reader (tests/data/png/
// png_decode.py, Python's zlib) then compares the PNG with the reference's 8-bit picture.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "smoke/torch_info.hpp"
#include "support/pipeline_fixture_dir.hpp"
#include "support/test_env.hpp"
#include "util/fs.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;

// The PNG's raw RGB pixels, read by the independent decoder.
std::string decoded_pixels(const stdfs::path& png, const stdfs::path& raw) {
  proc::Command cmd;
  cmd.argv = {"/usr/bin/python3", (test::data_dir() / "png/png_decode.py").string(), png.string(),
              raw.string()};
  cmd.timeout = std::chrono::seconds(60);
  auto r = proc::run(cmd);
  EXPECT_TRUE(r && r->success()) << (r ? r->err : r.error().describe());
  auto bytes = fs::read_file(raw, 64u << 20);
  return bytes ? *bytes : std::string();
}

std::string fmt_size(const nlohmann::json& ref) {
  return std::to_string(ref["height"].get<int>()) + "x" + std::to_string(ref["width"].get<int>());
}

// The fixture protocol's command line for `ref`, writing into `dir`.
std::vector<std::string> fixture_args(const stdfs::path& set, const nlohmann::json& ref,
                                      const test::TempDir& dir) {
  std::vector<std::string> args{
      "--json",       "smoke",
      "--checkpoint", (set / "pipe-large_all_in_one_fp8.safetensors").string(),
      "--tokenizers", set.string(),
      "--size",       fmt_size(ref),
      "--steps",      std::to_string(ref["steps"].get<int>()),
      "--guidance",   std::to_string(ref["guidance"].get<double>()),
      "--shift",      std::to_string(ref["shift"].get<double>()),
      "--inputs",     (set / "reference.safetensors").string(),
      "--dump",       (dir / "dump.safetensors").string(),
      "--image",      (dir / "first.png").string(),
      "--precision",  "fp32",
      "--device",     "cpu"};
  for (const auto& p : ref["prompts"]) args.insert(args.end(), {"--prompt", p.get<std::string>()});
  for (const auto& n : ref["negative_prompts"])
    args.insert(args.end(), {"--negative", n.get<std::string>()});
  return args;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(PipelineCli, TheFixtureProtocolEndsInTheReferencePicture) {
  if (test::cli_binary().empty()) GTEST_SKIP() << "needs SD35_BIN";
  const stdfs::path set = test::pipeline_fixture_dir();
  const auto ref = nlohmann::json::parse(*fs::read_file(set / "reference.json"));
  test::TempDir dir;
  const auto run = test::run_cli(fixture_args(set, ref, dir), {}, std::chrono::minutes(8));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto doc = nlohmann::json::parse(run.out);
  EXPECT_TRUE(doc.contains("image")) << run.out;
  EXPECT_EQ(doc["image"]["fingerprint"].get<std::string>().size(), 64u) << run.out;
  // The PNG was written when the plugin's pixels were ready, before its checks ran (the host
  // says so as it happens); the plugin's own event is not passed on.
  EXPECT_NE(run.err.find("image written: " + (dir / "first.png").string() +
                         " (the checks are still running)"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("pixels_ready"), std::string::npos) << run.err;

  const std::string got = decoded_pixels(dir / "first.png", dir / "got.rgb");
  const std::string want = decoded_pixels(set / "reference_fp8_weights.png", dir / "want.rgb");
  ASSERT_EQ(got.size(), want.size());
  ASSERT_FALSE(got.empty());
  int worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(static_cast<int>(static_cast<unsigned char>(got[i])) -
                                     static_cast<int>(static_cast<unsigned char>(want[i]))));
  EXPECT_LE(worst, 1) << "8-bit pixels differ from the reference by up to " << worst << " levels";
}

// --repeat: the pipeline runs three times in one process. Runs 2 and 3 load nothing (the memory
// plan is resident on the CPU), each run's PNG is written as its pixels are ready, and every run
// gives the picture a fresh process gives.
TEST(PipelineCli, RepeatKeepsTheWeightsLoadedAndGivesTheSamePictureEachRun) {
  if (test::cli_binary().empty()) GTEST_SKIP() << "needs SD35_BIN";
  const stdfs::path set = test::pipeline_fixture_dir();
  const auto ref = nlohmann::json::parse(*fs::read_file(set / "reference.json"));
  test::TempDir dir;
  const auto once = test::run_cli(fixture_args(set, ref, dir), {}, std::chrono::minutes(8));
  ASSERT_EQ(once.exit_code, 0) << once.out << once.err;
  auto args = fixture_args(set, ref, dir);
  args.insert(args.end(), {"--repeat", "3"});
  const auto run = test::run_cli(args, {}, std::chrono::minutes(8));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto doc = nlohmann::json::parse(run.out);
  EXPECT_EQ(doc["image"]["fingerprint"], nlohmann::json::parse(once.out)["image"]["fingerprint"]);
  const auto& runs = doc["runs"];
  ASSERT_EQ(runs.size(), 3u) << doc.dump();
  EXPECT_GT(runs[0]["load_ms"].get<double>(), 0.0);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    EXPECT_EQ(r["run"], i + 1);
    if (i > 0) {
      EXPECT_EQ(r["load_ms"].get<double>(), 0.0) << r.dump();
    }
    EXPECT_EQ(r["fingerprint"], runs[0]["fingerprint"]) << r.dump();
    // Prompt -> PNG covers the stages it ran (and, in run 1, the loads).
    EXPECT_GE(r["prompt_to_png_ms"].get<double>(),
              r["encode_ms"].get<double>() + r["denoise_ms"].get<double>() +
                  r["decode_ms"].get<double>() + r["load_ms"].get<double>())
        << r.dump();
  }
  bool checked = false;
  for (const auto& c : doc["checks"])
    if (c["id"] == "pipeline.repeat-identical") checked = c["ok"].get<bool>();
  EXPECT_TRUE(checked) << doc["checks"].dump();
  // Each run's PNG was written as its pixels were ready.
  EXPECT_EQ(count_of(run.err, "image written: " + (dir / "first.png").string()), 3u) << run.err;
  bool said = false;
  for (const auto& line : doc["summary"])
    said = said || line.get<std::string>().rfind("repeat: prompt -> PNG ", 0) == 0;
  EXPECT_TRUE(said) << doc["summary"].dump();
}

// On CUDA, runs 2 and 3 replay the kept graphs (encoders, modulation table, denoising step,
// decode) and give run 1's picture; a run that fell back to eager fails here rather than skipping.
TEST(PipelineCli, RepeatOnCudaReplaysTheKeptGraphs) {
  if (test::cli_binary().empty()) GTEST_SKIP() << "needs SD35_BIN";
  if (!smoke::torch_build_info().cuda_available) GTEST_SKIP() << "no CUDA device";
  const stdfs::path set = test::pipeline_fixture_dir();
  const auto ref = nlohmann::json::parse(*fs::read_file(set / "reference.json"));
  test::TempDir dir;
  const auto run = test::run_cli(
      {"--json", "smoke", "--checkpoint", (set / "pipe-large_all_in_one_fp8.safetensors").string(),
       "--tokenizers", set.string(), "--size", fmt_size(ref), "--steps", "4", "--prompt",
       "a photo of a cat", "--image", (dir / "cat.png").string(), "--device", "cuda", "--repeat",
       "3"},
      {}, std::chrono::minutes(8));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto doc = nlohmann::json::parse(run.out);
  const auto& runs = doc["runs"];
  ASSERT_EQ(runs.size(), 3u) << doc.dump();
  for (std::size_t i = 1; i < runs.size(); ++i) {
    const auto& r = runs[i];
    const std::string denoise_mode = r["denoise_mode"];
    EXPECT_NE(denoise_mode.find("kept from the last run"), std::string::npos) << r.dump();
    EXPECT_NE(denoise_mode.find("modulation table replayed"), std::string::npos) << r.dump();
    EXPECT_EQ(r["encode_mode"], "cuda graph (kept)") << r.dump();
    EXPECT_EQ(r["decode_mode"], "cuda graph (kept)") << r.dump();
    EXPECT_EQ(r["fingerprint"], runs[0]["fingerprint"]) << r.dump();
  }
}

}  // namespace
}  // namespace sd35
