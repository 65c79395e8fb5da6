// The embedded MMDiT against diffusers' reference outputs (tests/data/sd3-reference/README.md):
// every set x every layout, forward and CFG sample within relative L2 1e-4 on the CPU in fp32.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "smoke/smoke.hpp"
#include "support/sd3_fixture.hpp"

namespace smoke = sd35::smoke;

namespace {

struct Case {
  std::string set;
  std::string layout;  // "diffusers", "sai_bf16", "fp8_scaled"
};

std::string checkpoint_path(const Case& c) {
  std::string dir = sd35::test::fixture_dir(c.set);
  if (c.layout == "diffusers") return dir;  // folder with transformer/
  return dir + "/" + c.set + "_" + c.layout + ".safetensors";
}

class FixtureTest : public ::testing::TestWithParam<Case> {};

TEST_P(FixtureTest, ForwardAndSampleMatchDiffusers) {
  const Case c = GetParam();
  const auto ref = sd35::test::fixture_reference(c.set);
  const smoke::SamplingSpec spec = sd35::test::fixture_spec(c.set);
  const std::string dir = sd35::test::fixture_dir(c.set);
  auto run = smoke::run_fixture(checkpoint_path(c), dir + "/inputs.safetensors",
                                smoke::Precision::fp32, "cpu", spec);
  ASSERT_TRUE(run) << run.error().describe();
  const bool fp8 = c.layout == "fp8_scaled";
  const std::string suffix = fp8 ? "_fp8_weights" : "";
  auto want_fwd = smoke::read_f32_tensor(dir + "/reference.safetensors", "forward" + suffix);
  auto want_smp = smoke::read_f32_tensor(dir + "/reference.safetensors", "sample" + suffix);
  ASSERT_TRUE(want_fwd && want_smp);
  EXPECT_EQ(run->forward.shape, want_fwd->shape);
  const double e_fwd = smoke::rel_l2(run->forward.data, want_fwd->data);
  const double e_smp = smoke::rel_l2(run->sample.data, want_smp->data);
  EXPECT_LE(e_fwd, 1e-4) << c.set << "/" << c.layout;
  EXPECT_LE(e_smp, 1e-4) << c.set << "/" << c.layout;
  // The schedule must be diffusers' one.
  auto sig = smoke::read_f32_tensor(dir + "/reference.safetensors", "sigmas");
  ASSERT_TRUE(sig);
  ASSERT_EQ(sig->data.size(), run->sigmas.size());
  for (std::size_t i = 0; i < sig->data.size(); ++i)
    EXPECT_NEAR(run->sigmas[i], sig->data[i], 1e-6);
  if (fp8) {
    EXPECT_GT(run->checkpoint.fp8_tensors, 0);
    // The FP8 file must be far from the BF16 reference (the scales matter), as reference.json says.
    auto bf16_fwd = smoke::read_f32_tensor(dir + "/reference.safetensors", "forward");
    ASSERT_TRUE(bf16_fwd);
    EXPECT_GT(smoke::rel_l2(run->forward.data, bf16_fwd->data), 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllSetsAllLayouts, FixtureTest,
    ::testing::Values(Case{"tiny-large", "diffusers"}, Case{"tiny-large", "sai_bf16"},
                      Case{"tiny-large", "fp8_scaled"}, Case{"tiny-mmditx", "diffusers"},
                      Case{"tiny-mmditx", "sai_bf16"}, Case{"tiny-mmditx", "fp8_scaled"}),
    [](const auto& info) {
      std::string n = info.param.set + "_" + info.param.layout;
      for (auto& ch : n)
        if (ch == '-') ch = '_';
      return n;
    });

}  // namespace

// The sampler computes the adaLN modulation of a group of steps in one call (denoise.cpp): one
// step per group (the smallest group) must give the sample the whole-run table gives, and both
// diffusers' sample.
TEST(FixtureSampling, ModulationComputedPerGroupOfStepsGivesTheSameSample) {
  const std::string set = "tiny-large";
  const std::string dir = sd35::test::fixture_dir(set);
  const std::string ckpt = dir + "/" + set + "_fp8_scaled.safetensors";
  smoke::SamplingSpec whole = sd35::test::fixture_spec(set);
  ASSERT_GE(whole.steps, 2);
  smoke::SamplingSpec per_step = whole;
  per_step.modulation_rows = 1;
  auto a =
      smoke::run_fixture(ckpt, dir + "/inputs.safetensors", smoke::Precision::fp32, "cpu", whole);
  auto b = smoke::run_fixture(ckpt, dir + "/inputs.safetensors", smoke::Precision::fp32, "cpu",
                              per_step);
  ASSERT_TRUE(a) << a.error().describe();
  ASSERT_TRUE(b) << b.error().describe();
  auto want = smoke::read_f32_tensor(dir + "/reference.safetensors", "sample_fp8_weights");
  ASSERT_TRUE(want);
  EXPECT_LE(smoke::rel_l2(a->sample.data, want->data), 1e-4);
  EXPECT_LE(smoke::rel_l2(b->sample.data, want->data), 1e-4);
  EXPECT_LE(smoke::rel_l2(b->sample.data, a->sample.data), 1e-6);
  EXPECT_GT(smoke::rel_l2(b->sample.data,
                          smoke::read_f32_tensor(dir + "/inputs.safetensors", "noise")->data),
            0.1);  // the loop ran
}
