// The embedded compatibility data parses, every row names its source, and the facts the
// resolver depends on hold.
#include <gtest/gtest.h>

#include <algorithm>

#include "compat/compat.hpp"
#include "compat/pep440.hpp"

using namespace sd35;

namespace {
bool at_least(const std::string& torch, const char* version) {
  return pep440::compare(*pep440::parse_version(torch), *pep440::parse_version(version)) >= 0;
}
bool lists(const compat::TorchVariant& v, const std::string& arch) {
  return std::find(v.arch_list.begin(), v.arch_list.end(), arch) != v.arch_list.end();
}
}  // namespace

TEST(CompatData, EveryRowHasASource) {
  const auto& d = compat::data();
  EXPECT_EQ(d.schema_version, 1);
  ASSERT_FALSE(d.torch_releases.empty());
  ASSERT_FALSE(d.xformers_pins.empty());
  for (const auto& f : d.driver_floors) EXPECT_FALSE(f.source.empty()) << f.cuda_major;
  for (const auto& r : d.torch_releases) {
    EXPECT_FALSE(r.source.empty()) << r.torch;
    EXPECT_FALSE(r.python.empty()) << r.torch;
    for (const auto& v : r.variants)
      EXPECT_FALSE(v.arch_source.empty()) << r.torch << " " << v.variant;
  }
  for (const auto& p : d.xformers_pins) EXPECT_FALSE(p.source.empty()) << p.xformers;
  for (const auto& row : d.raw.at("driver_branch_cuda")) EXPECT_TRUE(row.contains("source"));
  EXPECT_TRUE(d.raw.at("fp8").contains("source"));
}

TEST(CompatData, DriverFloorsUnderMinorVersionCompatibility) {
  EXPECT_EQ(compat::driver_floor_for_variant("cu118")->linux_min_driver, "450.80.02");
  EXPECT_EQ(compat::driver_floor_for_variant("cu128")->linux_min_driver, "525.60.13");
  EXPECT_EQ(compat::driver_floor_for_variant("cu130")->linux_min_driver, "580");
  EXPECT_EQ(compat::driver_floor_for_variant("cpu"), nullptr);
}

TEST(CompatData, ArchitectureFacts) {
  for (const auto& r : compat::data().torch_releases) {
    for (const auto& v : r.variants) {
      if (v.variant == "cu130") {
        EXPECT_FALSE(lists(v, "sm_70")) << r.torch << ": CUDA 13 has no Volta";
      }
      if (lists(v, "sm_120")) {  // Blackwell: cu128+ and torch >= 2.7
        EXPECT_GE(*compat::cuda_major_of_variant(v.variant) * 10 + (v.variant.back() - '0'), 128)
            << r.torch;
        EXPECT_TRUE(at_least(r.torch, "2.7")) << r.torch;
      }
      if (lists(v, "sm_60") && at_least(r.torch, "2.8")) {
        EXPECT_EQ(v.variant, "cu126") << r.torch << ": Pascal only in cu126 builds";
      }
    }
  }
  const auto* r211 = compat::find_torch_release("2.11.0+cu130");
  ASSERT_NE(r211, nullptr);
  EXPECT_FALSE(lists(*r211->find_variant("cu128"), "sm_70"));  // Volta gone from cu128 in 2.11
  EXPECT_TRUE(lists(*compat::find_torch_release("2.10.0")->find_variant("cu128"), "sm_70"));
  EXPECT_EQ(compat::find_torch_release("2.6.1"), compat::find_torch_release("2.6"));
  EXPECT_EQ(compat::find_torch_release("1.13.1"), nullptr);
}

TEST(CompatData, Fp8AndPins) {
  const auto& fp8 = compat::data().fp8;
  EXPECT_EQ(fp8.min_compute_capability, "8.9");
  EXPECT_EQ(fp8.float8_dtypes_from_torch, "2.1");
  EXPECT_EQ(fp8.scaled_mm_stable_from_torch, "2.5");
  EXPECT_EQ(compat::find_xformers_pin("0.0.33.post2")->torch, "==2.9.1");
  EXPECT_EQ(compat::find_xformers_pin("0.0.35")->torch, ">=2.10");
  EXPECT_EQ(compat::pytorch_index_url("cu128"), "https://download.pytorch.org/whl/cu128");
  EXPECT_TRUE(compat::is_pytorch_project("xformers"));
  EXPECT_FALSE(compat::is_pytorch_project("diffusers"));
}
