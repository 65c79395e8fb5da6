// The gate module (src/gate): each step alone (host, packages, model, smoke with a fake runner),
// the fast mode without smoke, the result document and JUnit. The predicates it shares with the
// rest of the tool are tested in compat_driver_floor_test and lock_venv_test.
#include "gate/gate.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "gate/junit.hpp"
#include "host/host_facts.hpp"
#include "support/fake_venv.hpp"
#include "support/test_env.hpp"
#include "support/write_file.hpp"

namespace sd35::gate {
namespace {

namespace stdfs = std::filesystem;

HostFacts host(const std::string& name) {
  const char* d = std::getenv("SD35_TEST_DATA");
  auto h = load_host_facts(std::string(d ? d : "tests/data") + "/hosts/resolve-" + name + ".json");
  EXPECT_TRUE(h.has_value()) << name;
  return h ? *h : HostFacts{};
}

lock::Lockfile h100_lock() {
  lock::Lockfile l;
  l.cuda = "cu128";
  l.torch = "2.9.1";
  l.host.gpus = {{"NVIDIA H100 80GB HBM3", "9.0"}};
  l.host.glibc = "2.36";
  l.host.python = "3.11.7";
  resolve::Package torch;
  torch.name = "torch";
  torch.version = "2.9.1+cu128";
  torch.sha256 = std::string(64, 'a');
  l.packages = {torch};
  l.model.repo = "https://huggingface.co/org/tiny";
  l.model.revision = "main";
  return l;
}

const Finding* find(const std::vector<Finding>& fs, std::string_view id) {
  for (const auto& f : fs)
    if (f.id == id) return &f;
  return nullptr;
}

using test::write_file;

// A venv with torch's dist-info; direct_url.json only when a hash is given.
stdfs::path venv_with_torch(const stdfs::path& root, const std::string& version,
                            const std::string& sha256) {
  write_file(root / "pyvenv.cfg", "home = /usr/bin\nversion = 3.11.7\n");
  test::write_torch_dist_info(root, version, sha256);
  return root;
}

TEST(GateHost, DriverArchAndGlibc) {
  auto ok = check_host(h100_lock(), host("h100-driver535"));
  ASSERT_EQ(ok.size(), 3u);
  for (const auto& f : ok) EXPECT_EQ(f.verdict, Verdict::pass) << f.id << ": " << f.detail;

  auto old = check_host(h100_lock(), host("a100-driver470"));
  EXPECT_EQ(find(old, "host:driver")->verdict, Verdict::fail);
  EXPECT_NE(find(old, "host:driver")->detail.find("470"), std::string::npos);
  EXPECT_EQ(find(old, "host:gpu-arch")->verdict, Verdict::fail);

  auto none = check_host(h100_lock(), host("nogpu"));
  EXPECT_EQ(find(none, "host:driver")->verdict, Verdict::fail);
  EXPECT_NE(find(none, "host:driver")->fix.find("525.60.13"), std::string::npos);

  auto cpu = h100_lock();
  cpu.cuda = "cpu";
  cpu.host.gpus.clear();
  auto c = check_host(cpu, host("nogpu"));
  EXPECT_EQ(find(c, "host:driver")->verdict, Verdict::skip);
  EXPECT_EQ(find(c, "host:gpu-arch")->verdict, Verdict::pass);
}

TEST(GatePackages, OneRuleForAMissingWheelHash) {
  sd35::test::TempDir dir;
  const auto l = h100_lock();
  const std::string sha(64, 'a');
  auto same = check_packages(l, venv_with_torch(dir.path() / "a", "2.9.1+cu128", sha).string());
  EXPECT_EQ(find(same, "package:torch")->verdict, Verdict::pass);
  EXPECT_EQ(find(same, "host:python")->verdict, Verdict::pass);

  // Installed by name from an index: pip recorded no wheel hash. Not the locked wheel, for the
  // gate as for `lock --venv` (both call lock::compare_wheel, lock_venv_test).
  const auto by_name = venv_with_torch(dir.path() / "b", "2.9.1+cu128", "");
  auto nohash = check_packages(l, by_name.string());
  EXPECT_EQ(find(nohash, "package:torch")->verdict, Verdict::fail);
  EXPECT_NE(find(nohash, "package:torch")->detail.find("no recorded wheel hash"),
            std::string::npos);
  // Another hash, another version.
  auto other = check_packages(
      l, venv_with_torch(dir.path() / "c", "2.9.1+cu128", std::string(64, 'b')).string());
  EXPECT_NE(find(other, "package:torch")->detail.find("bbbb"), std::string::npos);
  auto older = check_packages(l, venv_with_torch(dir.path() / "d", "2.9.0+cu128", sha).string());
  EXPECT_NE(find(older, "package:torch")->detail.find("installed torch 2.9.0+cu128"),
            std::string::npos);

  EXPECT_EQ(check_packages(l, "").at(0).verdict, Verdict::skip);
  EXPECT_EQ(check_packages(l, (dir.path() / "nope").string()).at(0).verdict, Verdict::fail);
}

nlohmann::json locked_smoke() {
  return {{"mode", "embedded"},
          {"steps", 2},
          {"latent", {16, 24}},
          {"guidance", 4.5},
          {"shift", 3.0},
          {"requested_precision", "fp8"},
          {"fingerprint", {{"sum", 1.25}}},
          {"environment",
           {{"kind", "python"},
            {"interpreter", "/opt/py/bin/python3"},
            {"torch", "2.9.1"},
            {"device", "cpu"}}},
          {"python_side", {{"companions", {{"diffusers", "0.31.0"}, {"json", ""}}}}}};
}

TEST(GateSmoke, TheLockedRunIsRepeatedWithItsParameters) {
  const auto p = smoke_params(locked_smoke(), "/nonexistent-cache", {"", "host.json"});
  EXPECT_EQ(p.steps, 2);
  EXPECT_EQ(p.latent, (std::pair{16, 24}));
  EXPECT_EQ(p.guidance, 4.5);
  EXPECT_EQ(p.shift, 3.0);
  EXPECT_EQ(p.precision, "fp8");
  EXPECT_TRUE(p.synthetic);
  EXPECT_EQ(p.python, "/opt/py/bin/python3");
  EXPECT_TRUE(p.venv.empty());
  EXPECT_EQ(p.companions.at("diffusers"), "==0.31.0");
  EXPECT_EQ(p.companions.at("json"), "");
  EXPECT_EQ(p.host_file, "host.json");
  // The venv the gate is given wins over the locked interpreter.
  const auto v = smoke_params(locked_smoke(), "/c", {"/ci/venv", ""});
  EXPECT_EQ(v.venv, "/ci/venv");
  EXPECT_TRUE(v.python.empty());
}

TEST(GateSmoke, JudgesTheRunnersResult) {
  const auto locked = locked_smoke();
  auto runner = [](const nlohmann::json& doc, bool passed = true) {
    return [doc, passed](const SmokeParams&) -> Result<SmokeOutcome> {
      return SmokeOutcome{passed, doc};
    };
  };
  const nlohmann::json same{{"fingerprint", locked["fingerprint"]},
                            {"environment", locked["environment"]}};
  auto pass = check_smoke(locked, "/c", {}, runner(same));
  EXPECT_EQ(find(pass, "smoke:fingerprint")->verdict, Verdict::pass);
  EXPECT_EQ(find(pass, "smoke:environment")->verdict, Verdict::pass);

  auto moved = same;
  moved["fingerprint"]["sum"] = 9.0;
  moved["environment"]["torch"] = "2.99.0";
  auto fail = check_smoke(locked, "/c", {}, runner(moved));
  EXPECT_EQ(find(fail, "smoke:fingerprint")->verdict, Verdict::fail);
  EXPECT_NE(find(fail, "smoke:environment")->detail.find("2.99.0"), std::string::npos);

  auto broken = check_smoke(locked, "/c", {}, [](const SmokeParams&) -> Result<SmokeOutcome> {
    return make_error(Errc::host_not_ready, "torch does not import", "/opt/py/bin/python3", "");
  });
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_NE(broken[0].detail.find("torch does not import"), std::string::npos);
  auto not_passed = check_smoke(locked, "/c", {}, runner(same, false));
  EXPECT_EQ(find(not_passed, "smoke:fingerprint")->verdict, Verdict::fail);

  bool ran = false;
  auto none = check_smoke(std::nullopt, "/c", {}, [&ran](const SmokeParams&) {
    ran = true;
    return Result<SmokeOutcome>(SmokeOutcome{});
  });
  EXPECT_FALSE(ran);
  EXPECT_EQ(none.at(0).verdict, Verdict::fail);
}

// A locked smoke with a 128x128 image of fingerprint "aa…a", seed 42, made with `params` (the
// prompt fields and the batch size).
nlohmann::json locked_with_image(nlohmann::json params) {
  auto locked = locked_smoke();
  params["seed"] = 42;
  params["size"] = "128x128";
  locked["image"] = {{"fingerprint", std::string(64, 'a')},
                     {"width", 128},
                     {"height", 128},
                     {"params", std::move(params)}};
  return locked;
}

// A lock made with a prompt: the gate runs the same prompt, seed and size, and compares the
// picture.
TEST(GateSmoke, TheLockedPromptRunsAgainAndItsImageIsCompared) {
  auto locked =
      locked_with_image({{"prompt", "a fox"}, {"negative_prompt", "blurry"}, {"batch", 1}});
  const auto p = smoke_params(locked, "/c", {});
  ASSERT_TRUE(p.image.has_value());
  EXPECT_EQ(p.image->prompts, std::vector<std::string>{"a fox"});
  EXPECT_EQ(p.image->negatives, std::vector<std::string>{"blurry"});
  EXPECT_EQ(p.image->seed, 42);
  EXPECT_EQ(p.image->size, "128x128");
  EXPECT_FALSE(p.latent.has_value()) << "the size sets the latent";

  auto runner = [](const nlohmann::json& doc) {
    return [doc](const SmokeParams&) -> Result<SmokeOutcome> { return SmokeOutcome{true, doc}; };
  };
  nlohmann::json same{{"fingerprint", locked["fingerprint"]},
                      {"environment", locked["environment"]},
                      {"image", {{"fingerprint", std::string(64, 'a')}}}};
  auto pass = check_smoke(locked, "/c", {}, runner(same));
  EXPECT_EQ(find(pass, "smoke:image")->verdict, Verdict::pass);
  EXPECT_EQ(find(pass, "smoke:image")->detail.rfind("the locked prompt makes the locked image", 0),
            0u)
      << find(pass, "smoke:image")->detail;
  EXPECT_EQ(find(pass, "smoke:fingerprint")->verdict, Verdict::pass);
  auto other = same;
  other["image"]["fingerprint"] = std::string(64, 'b');
  auto fail = check_smoke(locked, "/c", {}, runner(other));
  ASSERT_NE(find(fail, "smoke:image"), nullptr);
  EXPECT_EQ(find(fail, "smoke:image")->verdict, Verdict::fail);
  EXPECT_NE(find(fail, "smoke:image")->detail.find(std::string(64, 'b')), std::string::npos);
  EXPECT_NE(find(fail, "smoke:image")->detail.find(std::string(64, 'a')), std::string::npos);
  EXPECT_FALSE(find(fail, "smoke:image")->fix.empty());
  other.erase("image");
  other["image_note"] = "no tokenizer files";
  auto none = check_smoke(locked, "/c", {}, runner(other));
  EXPECT_NE(find(none, "smoke:image")->detail.find("no tokenizer files"), std::string::npos);

  // A lock without an image: no prompt re-run, no smoke:image.
  EXPECT_FALSE(smoke_params(locked_smoke(), "/c", {}).image.has_value());
  EXPECT_EQ(find(check_smoke(locked_smoke(), "/c", {}, runner(same)), "smoke:image"), nullptr);
}

// The image of a batch lock: params of the fixture's two prompts, as `smoke --prompt A --prompt B
// --negative "" --negative N` records them.
nlohmann::json locked_batch_image() {
  return locked_with_image({{"prompt", "a fox"},
                            {"negative_prompt", ""},
                            {"prompts", {"a fox", "a cat"}},
                            {"negative_prompts", {"", "blurry"}},
                            {"batch", 2}});
}

// A lock made from a batch of prompts: the gate re-runs the whole batch, in order, with the locked
// seed and size, and compares the first picture.
TEST(GateSmoke, ABatchLockReRunsTheWholeBatchAndComparesItsFirstImage) {
  const auto locked = locked_batch_image();
  std::vector<SmokeParams> ran;
  auto runner = [&ran](const nlohmann::json& doc) {
    return [&ran, doc](const SmokeParams& p) -> Result<SmokeOutcome> {
      ran.push_back(p);
      return SmokeOutcome{true, doc};
    };
  };
  nlohmann::json same{
      {"fingerprint", locked["fingerprint"]},
      {"environment", locked["environment"]},
      {"image", {{"fingerprint", std::string(64, 'a')}, {"params", {{"batch", 2}}}}}};
  const auto pass = check_smoke(locked, "/c", {}, runner(same));
  ASSERT_EQ(ran.size(), 1u) << "one run: the batch, not a run per prompt";
  ASSERT_TRUE(ran[0].image.has_value());
  EXPECT_EQ(ran[0].image->prompts, (std::vector<std::string>{"a fox", "a cat"}));
  EXPECT_EQ(ran[0].image->negatives, (std::vector<std::string>{"", "blurry"}));
  EXPECT_EQ(ran[0].image->seed, 42);
  EXPECT_EQ(ran[0].image->size, "128x128");
  EXPECT_EQ(ran[0].steps, 2);
  EXPECT_EQ(ran[0].guidance, 4.5);
  EXPECT_EQ(ran[0].precision, "fp8");
  ASSERT_NE(find(pass, "smoke:image"), nullptr);
  EXPECT_EQ(find(pass, "smoke:image")->verdict, Verdict::pass);
  EXPECT_NE(find(pass, "smoke:image")->detail.find("batch of 2 prompts"), std::string::npos)
      << find(pass, "smoke:image")->detail;

  auto other = same;
  other["image"]["fingerprint"] = std::string(64, 'b');
  const auto fail = check_smoke(locked, "/c", {}, runner(other));
  const Finding* image = find(fail, "smoke:image");
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->verdict, Verdict::fail);
  EXPECT_NE(image->detail.find(std::string(64, 'a')), std::string::npos) << image->detail;
  EXPECT_NE(image->detail.find(std::string(64, 'b')), std::string::npos) << image->detail;
  EXPECT_NE(image->detail.find("the locked batch of 2 prompts"), std::string::npos)
      << image->detail;
  EXPECT_NE(image->fix.find("image.params.prompts"), std::string::npos) << image->fix;
  EXPECT_EQ(find(fail, "smoke:fingerprint")->verdict, Verdict::pass) << "only the picture moved";
}

// Batch params the gate cannot re-run as recorded: a lock of a batch from before batches were
// recorded (only `prompt`), or prompts that do not match `batch`. The image is skipped, said so,
// and the run is the MMDiT-only smoke.
TEST(GateSmoke, ABatchLockWithoutItsPromptsIsNotReRunAndSaysSo) {
  auto old = locked_batch_image();
  old["image"]["params"].erase("prompts");
  old["image"]["params"].erase("negative_prompts");
  auto short_batch = locked_batch_image();
  short_batch["image"]["params"]["prompts"] = {"a fox"};
  for (const auto& locked : {old, short_batch}) {
    EXPECT_FALSE(smoke_params(locked, "/c", {}).image.has_value()) << locked.dump();
    bool prompted = true;
    const nlohmann::json doc{{"fingerprint", locked["fingerprint"]},
                             {"environment", locked["environment"]}};
    const auto out =
        check_smoke(locked, "/c", {}, [&](const SmokeParams& p) -> Result<SmokeOutcome> {
          prompted = p.image.has_value();
          return SmokeOutcome{true, doc};
        });
    EXPECT_FALSE(prompted);
    const Finding* image = find(out, "smoke:image");
    ASSERT_NE(image, nullptr);
    EXPECT_EQ(image->verdict, Verdict::skip);
    EXPECT_NE(image->detail.find("batch 2"), std::string::npos) << image->detail;
    EXPECT_FALSE(image->fix.empty());
  }
}

TEST(Gate, FastModeRunsNoSmokeAndTheResultIsAPlainDocument) {
  sd35::test::TempDir dir;
  auto l = h100_lock();
  l.smoke = locked_smoke();
  GateOptions o;
  o.lock_path = "sd35.lock.json";
  o.cache_dir = dir.path();
  o.venv = venv_with_torch(dir.path() / "venv", "2.9.1+cu128", std::string(64, 'a')).string();
  auto fast = run_gate(l, host("h100-driver535"), o);
  ASSERT_TRUE(fast.has_value()) << fast.error().describe();
  EXPECT_TRUE(fast->ok());
  EXPECT_FALSE(fast->smoke_ran);
  EXPECT_EQ(find(fast->findings, "smoke:fingerprint"), nullptr);
  const auto doc = fast->to_json();
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["smoke"], false);
  EXPECT_EQ(doc["lock"], "sd35.lock.json");
  EXPECT_TRUE(doc["lock_digest"].get<std::string>().starts_with("sha256:"));
  EXPECT_TRUE(doc["summary"][0].get<std::string>().starts_with("PASS"));

  // A content difference wins over an incompatible host.
  auto slow = o;
  slow.smoke = [](const SmokeParams&) -> Result<SmokeOutcome> {
    return SmokeOutcome{true, {{"fingerprint", {{"sum", 2.0}}}}};
  };
  auto r = run_gate(l, host("a100-driver470"), slow);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->smoke_ran);
  EXPECT_TRUE(r->host_failed());
  EXPECT_TRUE(r->content_failed());
  EXPECT_FALSE(r->ok());
}

TEST(GateJunit, OneTestcasePerFindingEscaped) {
  std::vector<Finding> fs{gate_finding("model:a<b>.safetensors", "a", Verdict::fail, "x & y", "z"),
                          gate_finding("package:*", "w", Verdict::skip, "no venv"),
                          gate_finding("host:glibc", "g", Verdict::pass, "\"2.36\"")};
  const std::string xml = junit_xml("suite", fs, 0.5);
  EXPECT_NE(xml.find("tests=\"3\" failures=\"1\" skipped=\"1\" time=\"0.500\""), std::string::npos);
  EXPECT_NE(xml.find("classname=\"model\" name=\"model:a&lt;b&gt;.safetensors\""),
            std::string::npos);
  EXPECT_NE(xml.find("<failure message=\"x &amp; y\">x &amp; y\nfix: z</failure>"),
            std::string::npos);
  EXPECT_NE(xml.find("<skipped message=\"no venv\"/>"), std::string::npos);
  EXPECT_NE(xml.find("&quot;2.36&quot;"), std::string::npos);
}

}  // namespace
}  // namespace sd35::gate
