// Each doctor check against the facts of real machines (tests/data/hosts/*.json).
#include <gtest/gtest.h>

#include "checks/check.hpp"
#include "support/test_env.hpp"
#include "util/strings.hpp"

namespace sd35 {
namespace {

struct Verdicts {
  std::map<std::string, Finding> by_id;
  const Finding& operator[](const std::string& id) const { return by_id.at(id); }
};

Verdicts run_for(const std::string& host_file,
                 const std::string& manifest_file = "sd35-large-fp8.json") {
  auto host = load_host_facts((test::data_dir() / "hosts" / host_file).string());
  EXPECT_TRUE(host) << (host ? "" : host.error().describe());
  auto manifest = load_manifest((test::source_dir() / "manifests" / manifest_file).string());
  EXPECT_TRUE(manifest);
  Verdicts v;
  for (auto& f : checks::run_all({*manifest, *host})) v.by_id[f.id] = f;
  return v;
}

TEST(Checks, RegistryHasEveryNamedCheckWithDocs) {
  for (const char* id : {"gpu.present", "gpu.fp8-compute", "driver.cuda-compat", "python.version",
                         "torch.float8", "torch.cuda-arch", "xformers.torch-pin", "disk.free",
                         "cache.writable", "cache.env", "cache.rotational", "auth.token"}) {
    const auto* c = checks::find_check(id);
    ASSERT_NE(c, nullptr) << id;
    EXPECT_FALSE(c->info.title.empty());
    EXPECT_FALSE(c->info.proves.empty());
    EXPECT_FALSE(c->info.fix.empty());
  }
}

TEST(Checks, H100BoxIsReady) {
  auto v = run_for("h100.json");
  for (const auto& [id, f] : v.by_id) EXPECT_NE(f.verdict, Verdict::fail) << id << ": " << f.detail;
  EXPECT_EQ(v["gpu.fp8-compute"].verdict, Verdict::pass);
  EXPECT_EQ(v["torch.cuda-arch"].verdict, Verdict::pass);
  EXPECT_NE(v["torch.cuda-arch"].detail.find("sm_90 (exact)"), std::string::npos);
  EXPECT_EQ(v["xformers.torch-pin"].verdict, Verdict::pass);
  // 550 runs cu128/cu126 but not cu130 (needs 580).
  EXPECT_EQ(v["driver.cuda-compat"].verdict, Verdict::pass);
  EXPECT_NE(v["driver.cuda-compat"].detail.find("cu130 (CUDA 13.x needs driver >= 580)"),
            std::string::npos);
}

TEST(Checks, Rtx4090OnDriver535RunsCu12xWithFp8ThroughBinaryCompatibility) {
  auto v = run_for("rtx4090-driver535.json");
  EXPECT_EQ(v["driver.cuda-compat"].verdict, Verdict::pass);
  EXPECT_NE(v["driver.cuda-compat"].detail.find("runs cu129, cu128, cu126, cu124, cu121, cu118"),
            std::string::npos)
      << v["driver.cuda-compat"].detail;
  EXPECT_EQ(v["gpu.fp8-compute"].verdict, Verdict::pass);
  EXPECT_EQ(v["torch.cuda-arch"].verdict, Verdict::pass);
  EXPECT_NE(v["torch.cuda-arch"].detail.find("sm_86 SASS (binary compatible with 8.9)"),
            std::string::npos);
  EXPECT_EQ(v["gpu.memory"].verdict, Verdict::pass);
}

TEST(Checks, A100IsFp8StorageOnlyAndXformersMismatchFails) {
  auto v = run_for("a100.json");
  EXPECT_EQ(v["gpu.fp8-compute"].verdict, Verdict::warn);
  EXPECT_NE(v["gpu.fp8-compute"].detail.find("FP8 is storage only"), std::string::npos);
  EXPECT_FALSE(v["gpu.fp8-compute"].required);
  EXPECT_EQ(v["xformers.torch-pin"].verdict, Verdict::fail);
  EXPECT_NE(
      v["xformers.torch-pin"].detail.find("built for torch 2.8.0+cu128 but torch 2.9.1+cu128"),
      std::string::npos);
}

TEST(Checks, V100WithCu130TorchIsNotInTheArchList) {
  auto v = run_for("v100.json");
  EXPECT_EQ(v["torch.cuda-arch"].verdict, Verdict::fail);
  EXPECT_NE(v["torch.cuda-arch"].detail.find(
                "Tesla V100-SXM2-32GB (sm_7.0) is not in torch 2.11.0+cu130"),
            std::string::npos)
      << v["torch.cuda-arch"].detail;
  EXPECT_EQ(v["gpu.fp8-compute"].verdict, Verdict::warn);
  EXPECT_EQ(v["driver.cuda-compat"].verdict, Verdict::pass);  // 580 runs every CUDA major
}

TEST(Checks, Driver470RejectsCu12xNamingTheFloorAndPython38Fails) {
  auto v = run_for("driver470.json");
  const auto& d = v["driver.cuda-compat"];
  EXPECT_EQ(d.verdict, Verdict::pass);  // the default manifest's 2.7.1 candidate offers cu118
  EXPECT_NE(d.detail.find("runs cu118"), std::string::npos) << d.detail;
  EXPECT_NE(d.detail.find("cu128 (CUDA 12.x needs driver >= 525.60.13)"), std::string::npos)
      << d.detail;
  EXPECT_EQ(v["python.version"].verdict, Verdict::fail);
  EXPECT_NE(v["python.version"].detail.find("Python 3.8.10, outside >=3.10,<3.14"),
            std::string::npos);
}

TEST(Checks, Driver470WithOnlyCu12xCandidatesFails) {
  auto host = *load_host_facts((test::data_dir() / "hosts/driver470.json").string());
  auto manifest = *load_manifest((test::source_dir() / "manifests/sd35-large-fp8.json").string());
  manifest.environment.candidates.resize(1);  // torch 2.9.1: cu128, cu126, cu130, cpu
  auto f = checks::find_check("driver.cuda-compat")
               ->run(checks::find_check("driver.cuda-compat")->info, {manifest, host});
  EXPECT_EQ(f.verdict, Verdict::fail);
  EXPECT_NE(f.detail.find("470.239.06"), std::string::npos);
  EXPECT_NE(f.fix.find(">= 525.60.13"), std::string::npos) << f.fix;
}

TEST(Checks, GpuLessCiMachine) {
  auto v = run_for("ci-no-gpu.json");
  EXPECT_EQ(v["gpu.present"].verdict, Verdict::fail);
  EXPECT_TRUE(v["gpu.present"].required);
  EXPECT_NE(v["gpu.present"].detail.find("FP8 checks cannot pass"), std::string::npos);
  EXPECT_EQ(v["gpu.fp8-compute"].verdict, Verdict::skip);
  EXPECT_EQ(v["driver.cuda-compat"].verdict, Verdict::skip);
  EXPECT_EQ(v["torch.float8"].verdict, Verdict::warn);
  EXPECT_EQ(v["python.version"].verdict, Verdict::pass);
  // 8 GiB free for a 14.6 GiB need: exact numbers, and how much is missing.
  EXPECT_EQ(v["disk.free"].verdict, Verdict::fail);
  EXPECT_NE(v["disk.free"].detail.find("8589934592 bytes"), std::string::npos);
  EXPECT_NE(v["disk.free"].detail.find("15681669009 bytes"), std::string::npos);
  EXPECT_NE(v["disk.free"].detail.find("7091734417 bytes) short"), std::string::npos)
      << v["disk.free"].detail;
  EXPECT_EQ(v["cache.rotational"].verdict, Verdict::warn);
  const auto model_bytes =
      load_manifest((test::source_dir() / "manifests/sd35-large-fp8.json").string())
          ->model.known_bytes();
  EXPECT_NE(v["cache.rotational"].detail.find(str::human_bytes(model_bytes)), std::string::npos)
      << "the manifest's size, not a fixed one: " << v["cache.rotational"].detail;
  EXPECT_EQ(v["cache.env"].verdict, Verdict::warn);
  EXPECT_NE(v["cache.env"].detail.find("TRANSFORMERS_CACHE"), std::string::npos);
}

TEST(Checks, GatedManifestNeedsAToken) {
  auto v = run_for("ci-no-gpu.json", "sd35-large.json");
  EXPECT_EQ(v["auth.token"].verdict, Verdict::fail);
  EXPECT_NE(
      v["auth.token"].fix.find("https://huggingface.co/stabilityai/stable-diffusion-3.5-large"),
      std::string::npos);
  auto w = run_for("h100.json", "sd35-large.json");  // h100.json has no token either
  EXPECT_EQ(w["auth.token"].verdict, Verdict::fail);
  auto host = *load_host_facts((test::data_dir() / "hosts/h100.json").string());
  host.env["HF_TOKEN"] = "<set>";
  auto manifest = *load_manifest((test::source_dir() / "manifests/sd35-large.json").string());
  const auto* c = checks::find_check("auth.token");
  EXPECT_EQ(c->run(c->info, {manifest, host}).verdict, Verdict::pass);
}

TEST(Checks, TorchWithoutFloat8AndOldScaledMm) {
  auto host = *load_host_facts((test::data_dir() / "hosts/h100.json").string());
  auto manifest = *load_manifest((test::source_dir() / "manifests/sd35-large-fp8.json").string());
  const auto* c = checks::find_check("torch.float8");
  host.python[0].torch->scaled_mm = "tuple";
  EXPECT_EQ(c->run(c->info, {manifest, host}).verdict, Verdict::warn);
  host.python[0].torch->float8 = false;
  host.python[0].torch->version = "2.0.1+cu118";
  auto f = c->run(c->info, {manifest, host});
  EXPECT_EQ(f.verdict, Verdict::fail);
  EXPECT_NE(f.detail.find("2.0.1+cu118"), std::string::npos);
}

TEST(Checks, DiskFreeCountsBytesAlreadyPresent) {
  auto host = *load_host_facts((test::data_dir() / "hosts/ci-no-gpu.json").string());
  auto manifest = *load_manifest((test::source_dir() / "manifests/sd35-large-fp8.json").string());
  const auto* c = checks::find_check("disk.free");
  checks::CheckContext ctx{manifest, host, 14'000'000'000ull};
  EXPECT_EQ(c->run(c->info, ctx).verdict, Verdict::pass);
}

}  // namespace
}  // namespace sd35
