// The prompt pipeline's loaders and silent-failure checks on re-written copies of the fixture
// (tests/data/sd3-pipeline): a missing text encoder, an FP8 T5 weight without its scale, the
// weight_scale + comfy_quant spelling, a T5 whose scales a broken loader ignores, FP8 vs bf16.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "safetensors/safetensors.hpp"
#include "smoke/smoke.hpp"
#include "support/safetensors_writer.hpp"
#include "support/sd3_pipeline.hpp"
#include "support/test_env.hpp"
#include "util/reporter.hpp"

namespace smoke = sd35::smoke;
using sd35::testing::StTensor;

namespace {

using sd35::test::all_in_one;
using sd35::test::fixture_request;
using sd35::test::reference;
using sd35::test::reference_file;

// A copy of the fixture file with every tensor passed through `edit` (which may rename it, drop
// it by clearing its name, or add tensors to `extra`).
std::string rewrite_fixture(const sd35::test::TempDir& dir, const std::string& name,
                            const std::function<void(StTensor&, std::vector<StTensor>&)>& edit) {
  auto file = sd35::st::File::open(all_in_one());
  EXPECT_TRUE(file);
  std::vector<StTensor> out;
  for (const auto& info : file->header().tensors) {
    StTensor t{info.name, std::string(sd35::st::dtype_name(info.dtype)), info.shape,
               std::string(file->bytes(info))};
    std::vector<StTensor> extra;
    edit(t, extra);
    if (!t.name.empty()) out.push_back(std::move(t));
    for (auto& e : extra) out.push_back(std::move(e));
  }
  const auto path = dir / name;
  sd35::testing::write_bytes(path, sd35::testing::st_file(out));
  return path.string();
}

TEST(PipelineLoader, MissingTextEncoderIsNamed) {
  sd35::test::TempDir dir;
  const auto path = rewrite_fixture(dir, "no_clip_g.safetensors", [](StTensor& t, auto&) {
    if (t.name.rfind("text_encoders.clip_g.", 0) == 0) t.name.clear();
  });
  sd35::NullReporter quiet;
  auto r = smoke::run_smoke(fixture_request(path, ""), quiet);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("CLIP-G text encoder (clip_g)"), std::string::npos)
      << r.error().describe();
  EXPECT_EQ(r.error().code, sd35::Errc::not_found);
}

TEST(PipelineLoader, T5Fp8WeightWithoutScaleIsNamed) {
  sd35::test::TempDir dir;
  const std::string base =
      "text_encoders.t5xxl.transformer.encoder.block.0.layer.1.DenseReluDense.wo";
  const auto path = rewrite_fixture(dir, "no_scale.safetensors", [&](StTensor& t, auto&) {
    if (t.name == base + ".scale_weight") t.name.clear();
  });
  sd35::NullReporter quiet;
  auto r = smoke::run_smoke(fixture_request(path, ""), quiet);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(base + ".weight"), std::string::npos) << r.error().describe();
  EXPECT_NE(r.error().message.find("no scale_weight / weight_scale"), std::string::npos);
}

// weight_scale + comfy_quant instead of scale_weight + scaled_fp8, for the MMDiT and the T5.
TEST(PipelineLoader, WeightScaleComfyQuantSpellingGivesTheSameNumbers) {
  sd35::test::TempDir dir;
  const auto path = rewrite_fixture(dir, "comfy.safetensors", [](StTensor& t, auto& extra) {
    if (t.name.ends_with(".scaled_fp8")) {
      t.name.clear();
    } else if (t.name.ends_with(".scale_weight")) {
      const std::string base = t.name.substr(0, t.name.size() - 13);
      t.name = base + ".weight_scale";
      const std::string json = R"({"format":"float8_e4m3fn"})";
      extra.push_back({base + ".comfy_quant", "U8", {json.size()}, json});
    }
  });
  sd35::NullReporter quiet;
  const auto dump = (dir / "dump.safetensors").string();
  auto r = smoke::run_smoke(fixture_request(path, dump), quiet);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)["t5_fp8_spelling"], "weight_scale+comfy_quant");
  for (const char* key : {"prompt_embeds", "latents_out", "image"}) {
    auto got = smoke::read_f32_tensor(dump, key);
    auto want = smoke::read_f32_tensor(reference_file(), std::string(key) + "_fp8_weights");
    ASSERT_TRUE(got && want);
    EXPECT_LE(smoke::rel_l2(got->data, want->data), 1e-4) << key;
  }
}

TEST(PipelineChecks, T5ScaleCheckNamesIgnoredOrDoubledScales) {
  sd35::test::expect_t5_scale_check_catches_faults(all_in_one());
}

// --precision fp8 on the CPU runs the FP8 weights dequantised (fp32) and compares the picture
// with bf16 compute on the same weights.
TEST(PipelineChecks, Fp8PictureAgreesWithBf16FromTheSameWeights) {
  sd35::NullReporter quiet;
  auto rq = fixture_request(all_in_one(), "");
  rq.precision = smoke::Precision::fp8;
  auto r = smoke::run_smoke(rq, quiet);
  ASSERT_TRUE(r) << r.error().describe();
  bool found = false;
  for (const auto& c : (*r)["checks"])
    if (c["id"] == "pipeline.fp8-vs-bf16") {
      found = true;
      EXPECT_TRUE(c["ok"].get<bool>()) << c.dump();
      EXPECT_GT(c["rel_l2"].get<double>(), 0.0);  // bf16 really ran
      std::cout << "  fp8 vs bf16 image rel L2 " << c["rel_l2"].get<double>() << "\n";
    }
  EXPECT_TRUE(found);
}

// Without latents_in the noise is randn from a CPU generator seeded with the request's seed: the
// same seed gives the same pixels, another seed other pixels.
TEST(PipelineChecks, SeedMakesTheNoise) {
  sd35::test::TempDir dir;
  sd35::NullReporter quiet;
  auto pixels_for = [&](std::int64_t seed, const std::string& name) {
    auto rq = fixture_request(all_in_one(), "");
    rq.inputs.clear();
    rq.sampling.steps = 2;
    rq.text->seed = seed;
    rq.text->pixels_out = (dir / name).string();
    auto r = smoke::run_smoke(rq, quiet);
    EXPECT_TRUE(r) << r.error().describe();
    if (r) {
      EXPECT_EQ((*r)["noise"], "seeded randn (CPU generator)");
    }
    std::ifstream in(rq.text->pixels_out, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string a = pixels_for(42, "a.rgb"), b = pixels_for(42, "b.rgb"),
                    c = pixels_for(43, "c.rgb");
  const auto ref = reference();
  EXPECT_EQ(a.size(), ref["height"].get<std::size_t>() * ref["width"].get<std::size_t>() * 3);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

}  // namespace
