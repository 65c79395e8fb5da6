// GPU and native-float8 checks; skipped cleanly without CUDA (or without float8 in libtorch).
// Where the GPU, the libtorch and this build can run a path, the test fails when the run took
// another one: a silent fallback is a bug, never a skip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "smoke/smoke.hpp"
#include "smoke/torch_info.hpp"
#include "support/sd3_fixture.hpp"

namespace smoke = sd35::smoke;

using sd35::test::fixture_dir;
using sd35::test::fixture_spec;

namespace {

// Native FP8 GEMM (at::_scaled_mm) runs on compute capability >= 8.9 with libtorch >= 2.5.
bool native_fp8_expected(const smoke::TorchBuildInfo& info) {
  return info.cuda_available && info.scaled_mm && info.cuda_capability >= 89;
}

}  // namespace

TEST(SmokeTorch, CodecAgreesWithTorchFloat8OnCpu) {
  auto r = smoke::compare_codec_with_torch("cpu");
  if (!r && r.error().code == sd35::Errc::unavailable &&
      !sd35::smoke::torch_build_info().native_float8)
    GTEST_SKIP() << r.error().describe();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_GT(r->checked, 1000);
  EXPECT_EQ(r->mismatches, 0) << r->first_mismatch;
}

TEST(SmokeTorch, CodecAgreesWithTorchFloat8OnCuda) {
  const auto info = sd35::smoke::torch_build_info();
  if (!info.cuda_available) GTEST_SKIP() << "no CUDA device";
  auto r = smoke::compare_codec_with_torch("cuda");
  // A libtorch without float8 cannot compare; one with float8 and a device must.
  if (!r && r.error().code == sd35::Errc::unavailable && !info.native_float8)
    GTEST_SKIP() << r.error().describe();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->mismatches, 0) << r->first_mismatch;
}

TEST(SmokeTorch, NativeFp8NearDequantisedReferenceOnCuda) {
  const auto info = sd35::smoke::torch_build_info();
  if (!info.cuda_available) GTEST_SKIP() << "no CUDA device";
  if (!native_fp8_expected(info))
    GTEST_SKIP() << "native FP8 needs libtorch >= 2.5 and cc >= 8.9 (libtorch " << info.version
                 << ", cc " << info.cuda_capability << ")";
  for (const std::string set : {"tiny-large", "tiny-mmditx"}) {
    const smoke::SamplingSpec spec = fixture_spec(set);
    auto run = smoke::run_fixture(fixture_dir(set) + "/" + set + "_fp8_scaled.safetensors",
                                  fixture_dir(set) + "/inputs.safetensors", smoke::Precision::fp8,
                                  "cuda", spec);
    ASSERT_TRUE(run) << run.error().describe();
    ASSERT_NE(run->path_taken.find("_scaled_mm"), std::string::npos)
        << "fell back on a GPU that runs native FP8: " << run->path_taken;
    auto want =
        smoke::read_f32_tensor(fixture_dir(set) + "/reference.safetensors", "forward_fp8_weights");
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

TEST(SmokeTorch, FusedKernelsAgreeWithAten) {
  const auto info = sd35::smoke::torch_build_info();
  auto r = smoke::check_fused_kernels();
  // Unavailable is a skip only where it is true: no kernels built in, or no CUDA device.
  if (!r && r.error().code == sd35::Errc::unavailable &&
      (!info.fused_kernels || !info.cuda_available))
    GTEST_SKIP() << r.error().describe();
  ASSERT_TRUE(r) << r.error().describe();
  ASSERT_GE((*r)["kernels"].size(), 20U);
  for (const auto& k : (*r)["kernels"]) {
    std::printf("fused %-55s error %.4f (limit %.4f)\n", k["name"].get<std::string>().c_str(),
                k["error"].get<double>(), k["limit"].get<double>());
    EXPECT_TRUE(k["ok"].get<bool>()) << k.dump();
  }
  EXPECT_TRUE((*r)["ok"].get<bool>());
}

// The fused block and the ATen block (SD35_FUSED=0) against the dequantised-weight references of
// the fixtures' real layouts. They differ only in row-wise instead of tensor-wise activation
// scales, so the fused block must meet the same bound and be no less accurate.
TEST(SmokeTorch, FusedBlockAsAccurateAsAtenBlockOnCuda) {
  const auto info = sd35::smoke::torch_build_info();
  if (!info.cuda_available) GTEST_SKIP() << "no CUDA device";
  if (!info.fused_kernels || !native_fp8_expected(info))
    GTEST_SKIP() << "the fused block needs its kernels built in and native FP8 (kernels "
                 << info.fused_kernels << ", cc " << info.cuda_capability << ")";
  for (const std::string set : {"tiny-large", "tiny-mmditx"}) {
    const smoke::SamplingSpec spec = fixture_spec(set);
    const std::string ckpt = fixture_dir(set) + "/" + set + "_fp8_scaled.safetensors";
    const std::string inputs = fixture_dir(set) + "/inputs.safetensors";
    const std::string refs = fixture_dir(set) + "/reference.safetensors";
    auto want_fwd = smoke::read_f32_tensor(refs, "forward_fp8_weights");
    auto want_smp = smoke::read_f32_tensor(refs, "sample_fp8_weights");
    ASSERT_TRUE(want_fwd && want_smp);
    auto fused = smoke::run_fixture(ckpt, inputs, smoke::Precision::fp8, "cuda", spec);
    ASSERT_TRUE(fused) << fused.error().describe();
    ASSERT_NE(fused->path_taken.find("fused"), std::string::npos)
        << "the fused kernels are built and the GPU runs native FP8, yet: " << fused->path_taken;
    ::setenv("SD35_FUSED", "0", 1);
    auto aten = smoke::run_fixture(ckpt, inputs, smoke::Precision::fp8, "cuda", spec);
    ::unsetenv("SD35_FUSED");
    ASSERT_TRUE(aten) << aten.error().describe();
    EXPECT_EQ(aten->path_taken.find("fused CUDA"), std::string::npos) << aten->path_taken;
    const double fused_fwd = smoke::rel_l2(fused->forward.data, want_fwd->data);
    const double fused_smp = smoke::rel_l2(fused->sample.data, want_smp->data);
    const double aten_fwd = smoke::rel_l2(aten->forward.data, want_fwd->data);
    const double aten_smp = smoke::rel_l2(aten->sample.data, want_smp->data);
    std::printf(
        "%s rel L2 vs fp8_weights reference: fused forward %.4f sample %.4f | ATen forward %.4f "
        "sample %.4f\n",
        set.c_str(), fused_fwd, fused_smp, aten_fwd, aten_smp);
    EXPECT_LE(fused_fwd, 5e-2) << set;
    EXPECT_LE(fused_smp, 5e-2) << set;
    EXPECT_LE(fused_fwd, 1.25 * aten_fwd + 5e-3) << set;
    EXPECT_LE(fused_smp, 1.25 * aten_smp + 5e-3) << set;
  }
}
