// Resolution cases from real hardware (fake host facts in tests/data/hosts/resolve-*.json).
#include "resolve/resolve.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "host/host_facts.hpp"
#include "manifest/manifest.hpp"

using namespace sd35;

namespace {

std::string data_dir() {
  const char* d = std::getenv("SD35_TEST_DATA");
  return d ? d : "tests/data";
}

HostFacts host(const std::string& name) {
  auto h = load_host_facts(data_dir() + "/hosts/resolve-" + name + ".json");
  EXPECT_TRUE(h.has_value()) << (h ? "" : h.error().describe());
  return h ? *h : HostFacts{};
}

Manifest manifest(const std::string& name = "") {
  auto m = name.empty() ? default_manifest()
                        : load_manifest(data_dir() + "/manifests/" + name + ".json");
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().describe());
  return *m;
}

std::string all(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

const resolve::Rejection* rejected(const resolve::Resolution& r, const std::string& torch,
                                   const std::string& cuda) {
  for (const auto& x : r.rejected)
    if (x.torch == torch && x.cuda == cuda) return &x;
  return nullptr;
}

}  // namespace

TEST(Resolve, H100Driver535PicksCuda12AndRejectsCu130) {
  Manifest m = manifest();
  m.environment.candidates.front().cuda = {"cu130", "cu128", "cu126", "cpu"};
  auto r = resolve::resolve(m, host("h100-driver535"));
  ASSERT_TRUE(r.selected);
  EXPECT_EQ(r.selected->torch, "2.9.1");
  EXPECT_EQ(r.selected->cuda, "cu128");
  EXPECT_EQ(r.selected->index_url, "https://download.pytorch.org/whl/cu128");
  const auto* cu130 = rejected(r, "2.9.1", "cu130");
  ASSERT_NE(cu130, nullptr);
  EXPECT_NE(all(cu130->reasons).find("driver 535.104.05 < 580"), std::string::npos)
      << all(cu130->reasons);
  EXPECT_EQ(r.selected->packages.front().name, "torch");
  EXPECT_EQ(r.selected->packages.front().specifier, "==2.9.1+cu128");
  EXPECT_FALSE(r.hash_notes.empty());  // offline: hashes are missing and it says so
}

TEST(Resolve, Rtx5090NeedsTorch27WithCu128) {
  Manifest m = manifest();
  // Put an old release first: it must be rejected for lack of sm_120.
  m.environment.candidates.insert(
      m.environment.candidates.begin(),
      TorchCandidate{"2.6.0", {"cu126", "cu124"}, std::nullopt, std::nullopt});
  m.environment.candidates[1].cuda = {"cu126", "cu128"};
  auto r = resolve::resolve(m, host("rtx5090-driver575"));
  ASSERT_TRUE(r.selected);
  EXPECT_EQ(r.selected->cuda, "cu128");
  EXPECT_EQ(r.selected->torch, "2.9.1");
  for (const auto* x : {rejected(r, "2.6.0", "cu126"), rejected(r, "2.6.0", "cu124"),
                        rejected(r, "2.9.1", "cu126")}) {
    ASSERT_NE(x, nullptr);
    EXPECT_NE(all(x->reasons).find("sm_120"), std::string::npos) << all(x->reasons);
  }
}

TEST(Resolve, V100Driver580Torch211FallsBackToCu126) {
  auto r = resolve::resolve(manifest("resolve-torch211"), host("v100-driver580"));
  ASSERT_TRUE(r.selected);
  EXPECT_EQ(r.selected->cuda, "cu126");
  for (const char* v : {"cu130", "cu128"}) {
    const auto* x = rejected(r, "2.11.0", v);
    ASSERT_NE(x, nullptr) << v;
    EXPECT_NE(all(x->reasons).find("cc 7.0"), std::string::npos) << all(x->reasons);
  }
  EXPECT_NE(all(r.selected->notes).find("FP8 compute unavailable"), std::string::npos)
      << all(r.selected->notes);
}

TEST(Resolve, A100Driver470OnlyCu118) {
  auto r = resolve::resolve(manifest(), host("a100-driver470"));
  ASSERT_TRUE(r.selected);
  EXPECT_EQ(r.selected->torch, "2.7.1");
  EXPECT_EQ(r.selected->cuda, "cu118");
  const auto* cpu = rejected(r, "2.9.1", "cpu");
  ASSERT_NE(cpu, nullptr);  // a GPU host never silently gets a CPU build
  const auto* cu128 = rejected(r, "2.9.1", "cu128");
  ASSERT_NE(cu128, nullptr);
  EXPECT_NE(all(cu128->reasons).find("525.60.13"), std::string::npos);
}

TEST(Resolve, NoGpuTakesCpuOrNothing) {
  auto r = resolve::resolve(manifest(), host("nogpu"));
  ASSERT_TRUE(r.selected);
  EXPECT_EQ(r.selected->cuda, "cpu");
  EXPECT_EQ(r.selected->index_url, "https://download.pytorch.org/whl/cpu");
  for (const auto& p : r.selected->packages) EXPECT_NE(p.name, "xformers");

  auto none = resolve::resolve(manifest("resolve-gpu-only"), host("nogpu"));
  EXPECT_FALSE(none.selected);
  ASSERT_FALSE(none.would_need.empty());
  EXPECT_NE(all(none.would_need).find("NVIDIA GPU"), std::string::npos) << all(none.would_need);
}

TEST(Resolve, Python38WithOnlyNewTorchIsNotResolvable) {
  const Manifest m = manifest();
  auto r = resolve::resolve(m, host("h100-py38"));
  EXPECT_FALSE(r.selected);
  // Every (torch, CUDA variant) pair the manifest offers is rejected, not only some.
  std::size_t pairs = 0;
  for (const auto& c : m.environment.candidates) pairs += c.cuda.size();
  EXPECT_EQ(r.rejected.size(), pairs) << "every candidate variant is rejected";
  EXPECT_NE(all(r.would_need).find("Python"), std::string::npos) << all(r.would_need);
  // A driver upgrade alone would not help: every suggestion carries the Python change too.
  for (const auto& w : r.would_need) EXPECT_NE(w.find("Python"), std::string::npos) << w;
  EXPECT_NE(all(rejected(r, "2.5.1", "cu124")->reasons).find("Python 3.8.18"), std::string::npos);
}

TEST(Resolve, Rtx4090AcceptedThroughBinaryCompatibleSass) {
  auto r = resolve::resolve(manifest(), host("rtx4090-driver550"));
  ASSERT_TRUE(r.selected);
  EXPECT_EQ(r.selected->cuda, "cu128");
  // 2.9 cu128 lists sm_86 but not sm_89.
  EXPECT_NE(all(r.selected->why).find("sm_86 SASS (binary compatible with 8.9)"), std::string::npos)
      << all(r.selected->why);
  EXPECT_EQ(all(r.selected->notes).find("FP8 compute unavailable"), std::string::npos);
}

TEST(Resolve, XformersPinMismatchRejects) {
  Manifest m = manifest("resolve-gpu-only");
  m.environment.candidates.front().xformers = "0.0.32.post2";  // built for torch 2.8.0
  auto r = resolve::resolve(m, host("h100-driver535"));
  EXPECT_FALSE(r.selected);
  EXPECT_NE(all(r.rejected.front().reasons).find("requires torch ==2.8.0"), std::string::npos);
}

TEST(Resolve, JsonHasTheDocumentedKeys) {
  auto j = resolve::to_json(resolve::resolve(manifest(), host("a100-driver470")));
  EXPECT_EQ(j["selected"]["torch"], "2.7.1");
  EXPECT_EQ(j["selected"]["cuda"], "cu118");
  EXPECT_EQ(j["selected"]["index_url"], "https://download.pytorch.org/whl/cu118");
  EXPECT_TRUE(j["selected"]["packages"].is_array());
  EXPECT_TRUE(j["rejected"][0]["reasons"].is_array());
  EXPECT_TRUE(j["rejected"][0].contains("torch") && j["rejected"][0].contains("cuda"));
}
