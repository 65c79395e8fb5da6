// Prompt -> PNG through the command line on the built-in plugin, as issue 13's fixture protocol
// runs it: sd35-setup tokenizes (src/text), the plugin runs CLIP-L/G, the FP8 T5, the MMDiT and
// the VAE, sd35-setup writes the PNG (src/image). An independent reader (tests/data/png/
// png_decode.py, Python's zlib) then compares the PNG with the reference's 8-bit picture.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

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

TEST(PipelineCli, TheFixtureProtocolEndsInTheReferencePicture) {
  if (test::cli_binary().empty()) GTEST_SKIP() << "needs SD35_BIN";
  const stdfs::path set = test::pipeline_fixture_dir();
  const auto ref = nlohmann::json::parse(*fs::read_file(set / "reference.json"));
  test::TempDir dir;
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
  const auto run = test::run_cli(args, {}, std::chrono::minutes(8));
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

}  // namespace
}  // namespace sd35
