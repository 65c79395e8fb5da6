// The whole prompt -> image pipeline against diffusers + transformers (tests/data/sd3-pipeline,
// README.md there): token ids in, every stage within relative L2 1e-4 on the CPU in fp32 from the
// all-in-one FP8 file; loader errors; the second FP8 spelling; the T5 scale check.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "safetensors/safetensors.hpp"
#include "smoke/smoke.hpp"
#include "support/safetensors_writer.hpp"
#include "support/sd3_pipeline.hpp"
#include "support/test_env.hpp"
#include "util/reporter.hpp"

namespace smoke = sd35::smoke;

namespace {

using sd35::test::all_in_one;
using sd35::test::fixture_request;
using sd35::test::reference;
using sd35::test::reference_file;

double rel_l2_to_reference(const std::string& dump, const std::string& key,
                           const std::string& ref_key) {
  auto got = smoke::read_f32_tensor(dump, key);
  auto want = smoke::read_f32_tensor(reference_file(), ref_key);
  EXPECT_TRUE(got && want) << key;
  if (!got || !want) return INFINITY;
  EXPECT_EQ(got->shape, want->shape) << key;
  return smoke::rel_l2(got->data, want->data);
}

std::string read_bytes(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Keeps each "pixels_ready" event with the pixels file's bytes at that moment (the host writes
// the PNG from them while the plugin's checks still run).
class PixelsWatcher final : public sd35::Reporter {
 public:
  using Reporter::event;
  void event(sd35::Level, std::string_view, const nlohmann::json& fields) override {
    if (!fields.is_object() || !fields.contains("pixels_ready")) return;
    seen.push_back(fields);
    bytes_then.push_back(read_bytes(fields["pixels_ready"].get<std::string>()));
  }
  void progress(const sd35::ProgressUpdate&) override {}
  void finding(const sd35::Finding&) override {}
  void result(std::string_view, const nlohmann::json&) override {}
  std::vector<nlohmann::json> seen;
  std::vector<std::string> bytes_then;
};

// One pipeline run of the fixture shared by the tests that look at its outputs.
class PipelineFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new sd35::test::TempDir();
    watcher_ = new PixelsWatcher();
    auto rq = fixture_request(all_in_one(), (*dir_ / "dump.safetensors").string(),
                              (*dir_ / "pixels.rgb").string());
    auto result = smoke::run_smoke(rq, *watcher_);
    ASSERT_TRUE(result) << result.error().describe();
    result_ = new nlohmann::json(*result);
  }
  static void TearDownTestSuite() {
    delete result_;
    delete watcher_;
    delete dir_;
  }
  static std::string dump() { return (*dir_ / "dump.safetensors").string(); }
  static sd35::test::TempDir* dir_;
  static nlohmann::json* result_;
  static PixelsWatcher* watcher_;
};
sd35::test::TempDir* PipelineFixture::dir_ = nullptr;
nlohmann::json* PipelineFixture::result_ = nullptr;
PixelsWatcher* PipelineFixture::watcher_ = nullptr;

TEST_F(PipelineFixture, TextEncodersMatchTransformers) {
  ASSERT_NE(result_, nullptr);
  // CLIP weights are F16 (not FP8): the plain keys; T5 and everything after it: *_fp8_weights.
  const std::pair<const char*, const char*> pairs[] = {
      {"clip_l_penultimate", "clip_l_penultimate"},
      {"clip_l_pooled", "clip_l_pooled"},
      {"clip_g_penultimate", "clip_g_penultimate"},
      {"clip_g_pooled", "clip_g_pooled"},
      {"t5xxl_last", "t5xxl_last_fp8_weights"},
      {"prompt_embeds", "prompt_embeds_fp8_weights"},
      {"pooled_prompt_embeds", "pooled_prompt_embeds_fp8_weights"},
      {"negative_prompt_embeds", "negative_prompt_embeds_fp8_weights"},
      {"negative_pooled_prompt_embeds", "negative_pooled_prompt_embeds_fp8_weights"}};
  for (const auto& [key, ref_key] : pairs) {
    const double e = rel_l2_to_reference(dump(), key, ref_key);
    EXPECT_LE(e, 1e-4) << key;
    std::cout << "  " << key << " rel L2 " << e << "\n";
  }
  // The FP8 T5 must be far from the bf16-weight reference: the scales matter.
  EXPECT_GT(rel_l2_to_reference(dump(), "t5xxl_last", "t5xxl_last"), 1e-3);
}

TEST_F(PipelineFixture, LatentsAndImageMatchDiffusers) {
  ASSERT_NE(result_, nullptr);
  for (const char* key : {"latents_out", "image"}) {
    const double e = rel_l2_to_reference(dump(), key, std::string(key) + "_fp8_weights");
    EXPECT_LE(e, 1e-4) << key;
    std::cout << "  " << key << " rel L2 " << e << "\n";
  }
}

TEST_F(PipelineFixture, DumpCarriesTheRequestsTokenIds) {
  ASSERT_NE(result_, nullptr);
  const auto ref = reference();
  const std::size_t batch = ref["prompts"].size();
  for (const char* enc : {"clip_l", "clip_g", "t5xxl"})
    for (const bool negative : {false, true}) {
      const std::string key = std::string(negative ? "negative_" : "") + "token_ids_" + enc;
      auto ids = smoke::read_i64_tensor(dump(), key);
      ASSERT_TRUE(ids) << ids.error().describe();
      ASSERT_EQ(ids->shape[0], static_cast<std::int64_t>(batch)) << key;
      const auto width = static_cast<std::size_t>(ids->shape[1]);
      for (std::size_t i = 0; i < batch; ++i) {
        const auto want =
            ref["token_ids"][std::string(enc) + "/" + std::to_string(i + (negative ? batch : 0))]
                .get<std::vector<std::int64_t>>();
        const std::vector<std::int64_t> got(ids->data.begin() + static_cast<long>(i * width),
                                            ids->data.begin() + static_cast<long>((i + 1) * width));
        EXPECT_EQ(got, want) << key << " row " << i;
      }
    }
}

TEST_F(PipelineFixture, PixelsAreTheReferenceImageIn8Bits) {
  ASSERT_NE(result_, nullptr);
  const auto& image = (*result_)["image"];
  auto want = smoke::read_f32_tensor(reference_file(), "image_fp8_weights");
  ASSERT_TRUE(want);
  const auto h = want->shape[2], w = want->shape[3];
  EXPECT_EQ(image["height"].get<std::int64_t>(), h);
  EXPECT_EQ(image["width"].get<std::int64_t>(), w);
  std::ifstream in(image["pixels"].get<std::string>(), std::ios::binary);
  const std::string pixels((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(pixels.size(), static_cast<std::size_t>(h * w * 3));
  int worst = 0;
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x)
      for (std::int64_t c = 0; c < 3; ++c) {
        const float v = want->data[static_cast<std::size_t>((c * h + y) * w + x)];
        const int expected = static_cast<int>(std::lround(v * 255.0F));
        const int got =
            static_cast<unsigned char>(pixels[static_cast<std::size_t>((y * w + x) * 3 + c)]);
        worst = std::max(worst, std::abs(got - expected));
      }
  EXPECT_LE(worst, 1);
}

TEST_F(PipelineFixture, ResultReportsStagesAndPassesItsChecks) {
  ASSERT_NE(result_, nullptr);
  const auto& r = *result_;
  EXPECT_TRUE(r["ok"].get<bool>()) << r.dump(2);
  EXPECT_EQ(r["timings_ms"]["denoise_steps"].size(), 4U);
  for (const char* k :
       {"load_text_encoders", "encode", "load_mmdit", "denoise", "load_vae", "decode"})
    EXPECT_GT(r["timings_ms"].value(k, -1.0), 0.0) << k;
  EXPECT_GT(r["memory"]["peak_bytes"].get<std::uint64_t>(), 0U);
  std::set<std::string> ids;
  for (const auto& c : r["checks"]) ids.insert(c["id"].get<std::string>());
  EXPECT_TRUE(ids.count("pipeline.finite"));
  EXPECT_TRUE(ids.count("pipeline.t5-fp8-scale"));
  EXPECT_TRUE(ids.count("pipeline.image-not-flat"));
  EXPECT_EQ(r["t5_fp8_spelling"], "scale_weight+scaled_fp8");
  EXPECT_GT(r["stats"]["t5xxl_last"]["std"].get<double>(), 0.0);
}

// Everything fits (the CPU plan is resident): the picture goes out once, complete, before the
// checks run; the checks still all ran and the result says the order.
TEST_F(PipelineFixture, PixelsGoOutOnceCompleteBeforeTheChecks) {
  ASSERT_NE(result_, nullptr);
  ASSERT_EQ(watcher_->seen.size(), 1U);
  const auto& ev = watcher_->seen[0];
  EXPECT_EQ(ev["pixels_ready"], (*dir_ / "pixels.rgb").string());
  const auto h = ev["height"].get<std::size_t>(), w = ev["width"].get<std::size_t>();
  EXPECT_EQ(h, (*result_)["image"]["height"].get<std::size_t>());
  EXPECT_EQ(w, (*result_)["image"]["width"].get<std::size_t>());
  EXPECT_EQ(watcher_->bytes_then[0].size(), h * w * 3);
  EXPECT_EQ(watcher_->bytes_then[0], read_bytes((*dir_ / "pixels.rgb").string()));
  EXPECT_TRUE((*result_)["checks_after_image"].get<bool>());
  EXPECT_EQ((*result_)["memory"]["plan"], "resident");
  EXPECT_TRUE((*result_)["memory"]["mmdit_loaded_during_encode"].get<bool>());
  EXPECT_GT((*result_)["timings_ms"].value("t5_scale_check", -1.0), 0.0);
}

TEST(PipelineVae, DecodeMatchesDiffusers) {
  auto z = smoke::read_f32_tensor(reference_file(), "vae_in");
  ASSERT_TRUE(z);
  auto out = smoke::decode_with_vae(all_in_one(), *z, smoke::Precision::fp32, "cpu");
  ASSERT_TRUE(out) << out.error().describe();
  auto want = smoke::read_f32_tensor(reference_file(), "vae_out");
  ASSERT_TRUE(want);
  EXPECT_EQ(out->shape, want->shape);
  const double e = smoke::rel_l2(out->data, want->data);
  std::cout << "  vae_out rel L2 " << e << "\n";
  EXPECT_LE(e, 1e-4);
}

// [B, C, H, W] -> [B, C, rows, cols] from the top-left corner.
smoke::Tensor32 top_left(const smoke::Tensor32& t, std::int64_t rows, std::int64_t cols) {
  smoke::Tensor32 out{{t.shape[0], t.shape[1], rows, cols}, {}};
  for (std::int64_t bc = 0; bc < t.shape[0] * t.shape[1]; ++bc)
    for (std::int64_t y = 0; y < rows; ++y)
      for (std::int64_t x = 0; x < cols; ++x)
        out.data.push_back(
            t.data[static_cast<std::size_t>((bc * t.shape[2] + y) * t.shape[3] + x)]);
  return out;
}

// Tiles: one tile over the whole latent is the plain decode (the blending weights sum to one);
// with 8-pixel tiles and 2 of overlap (starts 0, 6, 8 on a 16-pixel side) the pixels of latent
// rows/columns 0-5 come from the first tile alone, so they are that tile decoded on its own.
TEST(PipelineVae, TiledDecodeBlendsTiles) {
  auto z = smoke::read_f32_tensor(reference_file(), "vae_in");
  ASSERT_TRUE(z);
  ASSERT_EQ(z->shape[2], 16);
  auto plain = smoke::decode_with_vae(all_in_one(), *z, smoke::Precision::fp32, "cpu");
  auto whole = smoke::decode_with_vae(all_in_one(), *z, smoke::Precision::fp32, "cpu", 16);
  auto tiled = smoke::decode_with_vae(all_in_one(), *z, smoke::Precision::fp32, "cpu", 8);
  auto first =
      smoke::decode_with_vae(all_in_one(), top_left(*z, 8, 8), smoke::Precision::fp32, "cpu");
  ASSERT_TRUE(plain && whole && tiled && first);
  EXPECT_LE(smoke::rel_l2(whole->data, plain->data), 1e-6);
  ASSERT_EQ(tiled->shape, plain->shape);
  EXPECT_LE(smoke::rel_l2(top_left(*tiled, 48, 48).data, top_left(*first, 48, 48).data), 1e-6);
  // Past the first tile the blend differs from one global decode (GroupNorm sees one tile).
  EXPECT_GT(smoke::rel_l2(tiled->data, plain->data), 1e-3);
  for (float v : tiled->data) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
