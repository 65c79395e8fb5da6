// GPU and native-float8 checks; skipped cleanly without CUDA (or without float8 in libtorch).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "smoke/smoke.hpp"
#include "smoke/torch_info.hpp"

namespace smoke = sd35::smoke;

namespace {
std::string ref_dir(const std::string& set) {
  const char* d = std::getenv("SD35_TEST_DATA");
  return std::string(d ? d : "tests/data") + "/sd3-reference/" + set;
}
}  // namespace

TEST(SmokeTorch, CodecAgreesWithTorchFloat8OnCpu) {
  auto r = smoke::compare_codec_with_torch("cpu");
  if (!r && r.error().code == sd35::Errc::unavailable) GTEST_SKIP() << r.error().describe();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_GT(r->checked, 1000);
  EXPECT_EQ(r->mismatches, 0) << r->first_mismatch;
}

TEST(SmokeTorch, CodecAgreesWithTorchFloat8OnCuda) {
  if (!sd35::smoke::torch_build_info().cuda_available) GTEST_SKIP() << "no CUDA device";
  auto r = smoke::compare_codec_with_torch("cuda");
  if (!r && r.error().code == sd35::Errc::unavailable) GTEST_SKIP() << r.error().describe();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->mismatches, 0) << r->first_mismatch;
}

TEST(SmokeTorch, NativeFp8NearDequantisedReferenceOnCuda) {
  if (!sd35::smoke::torch_build_info().cuda_available) GTEST_SKIP() << "no CUDA device";
  for (const std::string set : {"tiny-large", "tiny-mmditx"}) {
    std::ifstream in(ref_dir(set) + "/reference.json");
    auto j = nlohmann::json::parse(in);
    smoke::SamplingSpec spec{j["steps"].get<int>(), j["guidance"].get<double>(),
                             j["shift"].get<double>()};
    auto run = smoke::run_fixture(ref_dir(set) + "/" + set + "_fp8_scaled.safetensors",
                                  ref_dir(set) + "/inputs.safetensors", smoke::Precision::fp8,
                                  "cuda", spec);
    ASSERT_TRUE(run) << run.error().describe();
    if (run->path_taken.find("_scaled_mm") == std::string::npos) GTEST_SKIP() << run->path_taken;
    auto want =
        smoke::read_f32_tensor(ref_dir(set) + "/reference.safetensors", "forward_fp8_weights");
    ASSERT_TRUE(want);
    const double err = smoke::rel_l2(run->forward.data, want->data);
    std::printf("%s native FP8 forward rel L2 vs forward_fp8_weights: %.4f\n", set.c_str(), err);
    EXPECT_LE(err, 5e-2) << set;
  }
}

TEST(SmokeTorch, EmbeddedDefaultRunsAndAgrees) {
  smoke::SmokeRequest rq;
  rq.latent_h = 32;
  rq.latent_w = 32;
  rq.sampling.steps = 2;
  rq.gemm_probe = false;
  sd35::NullReporter quiet;
  auto doc = smoke::run_smoke(rq, quiet);
  ASSERT_TRUE(doc) << doc.error().describe();
  EXPECT_TRUE((*doc)["ok"].get<bool>()) << doc->dump(2);
  EXPECT_LT((*doc)["rel_l2_vs_reference"].get<double>(), 0.15);
  EXPECT_GT((*doc)["rel_l2_vs_reference"].get<double>(), 0.0);  // FP8 really ran
  EXPECT_EQ((*doc)["fingerprint"]["sha256_grid_1e-2"].get<std::string>().size(), 64U);
}
