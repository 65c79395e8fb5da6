// `sd35-setup up` end to end, and honest: doctor -> resolve -> verify (a real SD3.5-Large-shaped
// scaled-FP8 checkpoint in an HF cache) -> install (real pip) -> smoke -> lock. On a described GPU
// host whose installed environment cannot use the GPU, up stops at the smoke and writes no lock;
// on a GPU-less host whose manifest allows CPU, it proves the CPU environment, re-runs from state,
// and the gate passes. The fetch stage is covered by fetch_test.cpp against the local hub; here it
// is skipped.
#include "app/up.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lock/lockfile.hpp"
#include "net/local_index.hpp"
#include "support/test_env.hpp"
#include "support/tiny_model_cache.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;
constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

nlohmann::json stage(const nlohmann::json& doc, const std::string& name) {
  for (const auto& s : doc["stages"])
    if (s["stage"] == name) return s;
  return {};
}

// Writes the tiny checkpoint into the cache and a manifest for it with the given candidates.
std::string setup_model(test::TempDir& dir, const nlohmann::json& environment) {
  auto model = *fs::read_file(test::data_dir() /
                              "sd3-reference/tiny-large/tiny-large_fp8_scaled.safetensors");
  std::string oid = sha256_hex(model);
  testing::place_in_cache(dir, kCommit, "model.safetensors", oid, model);
  dir.write("manifest.json",
            testing::tiny_manifest(
                {{"path", "model.safetensors"}, {"size", model.size()}, {"sha256", oid}},
                environment, {{"steps", 2}})
                .dump());
  return oid;
}

// A described host whose Python is this machine's python3 (the venv is created with it).
void write_host(test::TempDir& dir, const std::string& base) {
  auto host = nlohmann::json::parse(*fs::read_file(test::data_dir() / ("hosts/" + base)));
  proc::Command py;
  py.argv = {"python3", "-c",
             "import sys,platform;print(sys.executable);print(platform.python_version())"};
  auto pyout = proc::run(py);
  ASSERT_TRUE(pyout && pyout->success());
  auto nl = pyout->out.find('\n');
  host["python"] = {{{"path", pyout->out.substr(0, nl)},
                     {"version", pyout->out.substr(nl + 1, pyout->out.size() - nl - 2)}}};
  dir.write("host.json", host.dump());
}

// `--json up` on the test's manifest, cache, state dir, index and host, without fetching.
std::vector<std::string> up_args(const test::TempDir& dir, const std::string& index_url,
                                 const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--manifest",  (dir / "manifest.json").string(),
                                   "--cache",     (dir / "cache").string(),
                                   "--json",      "up",
                                   "--dir",       (dir / "state").string(),
                                   "--index",     index_url,
                                   "--host",      (dir / "host.json").string(),
                                   "--skip-fetch"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

const std::map<std::string, std::string> kPipEnv = {{"PIP_NO_CACHE_DIR", "1"},
                                                    {"PIP_DISABLE_PIP_VERSION_CHECK", "1"},
                                                    {"PIP_CONFIG_FILE", "/dev/null"}};

// The issue this guards: `up` installed a CUDA torch into a venv, then smoked with the tool's own
// CPU libtorch and printed "environment proven". Now the smoke runs the venv it installed; the
// fixture index's torch is not a working torch, so nothing is proven and no lock is written.
TEST(Up, RefusesToProveAGpuHostWhoseInstalledEnvironmentCannotUseIt) {
  if (test::cli_binary().empty() || !proc::which("python3"))
    GTEST_SKIP() << "needs SD35_BIN and python3";
  test::TempDir dir;
  sd35::testing::LocalIndex index(dir / "index");
  ASSERT_GT(index.port(), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(index.port()) + "/simple";
  setup_model(
      dir, {{"python", ">=3.8"},
            {"candidates", {{{"torch", "2.9.1"}, {"cuda", {"cu128"}}, {"torchvision", "0.24.1"}}}},
            {"packages", {{"fixture-dep", ">=1.0"}}}});
  write_host(dir, "resolve-h100-driver535.json");
  const auto args = up_args(dir, url, {"--venv", (dir / "venv").string()});
  auto env = kPipEnv;
  env["SD35_PLUGIN_CACHE"] = (dir / "plugins").string();
  auto run = test::run_cli(args, env, std::chrono::minutes(5));
  EXPECT_EQ(run.exit_code, 3) << run.out << run.err;
  // The up document comes first (the failing stage's error document follows it).
  std::istringstream out(run.out);
  nlohmann::json doc;
  out >> doc;
  for (const char* s : {"doctor", "resolve", "verify", "install"})
    EXPECT_EQ(stage(doc, s)["status"], "ok") << s << ": " << stage(doc, s).dump();
  EXPECT_EQ(stage(doc, "smoke")["status"], "failed");
  EXPECT_NE(stage(doc, "smoke")["detail"].get<std::string>().find("torch"), std::string::npos)
      << stage(doc, "smoke").dump();
  EXPECT_NE(stage(doc, "smoke")["detail"].get<std::string>().find((dir / "venv").string()),
            std::string::npos);
  EXPECT_EQ(stage(doc, "lock")["status"], "skipped");
  EXPECT_FALSE(stdfs::exists(dir / "state/sd35.lock.json"));
  EXPECT_NE(doc["summary"].back().get<std::string>().find("NOT proven"), std::string::npos);
  EXPECT_FALSE(doc["ok"].get<bool>());
}

TEST(Up, ProvesACpuOnlyHostWhoseManifestAllowsCpuAndReRunsFromState) {
  if (test::cli_binary().empty() || !proc::which("python3"))
    GTEST_SKIP() << "needs SD35_BIN and python3";
  test::TempDir dir;
  sd35::testing::LocalIndex index(dir / "index");
  ASSERT_GT(index.port(), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(index.port()) + "/simple";
  const std::string oid = setup_model(
      dir, {{"python", ">=3.8"}, {"candidates", {{{"torch", "2.9.1"}, {"cuda", {"cpu"}}}}}});
  write_host(dir, "resolve-nogpu.json");
  const auto args = up_args(dir, url, {});
  auto first = test::run_cli(args, kPipEnv, std::chrono::minutes(5));
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  auto doc = nlohmann::json::parse(first.out);
  for (const char* s : {"doctor", "resolve", "verify", "smoke", "lock"})
    EXPECT_EQ(stage(doc, s)["status"], "ok") << s << ": " << stage(doc, s).dump();
  EXPECT_EQ(stage(doc, "fetch")["status"], "skipped");
  // The doctor's GPU checks fail on this host, and the manifest accepts that: it allows CPU.
  EXPECT_NE(stage(doc, "doctor")["detail"].get<std::string>().find("allows CPU"), std::string::npos)
      << stage(doc, "doctor").dump();
  const std::string last = doc["summary"].back().get<std::string>();
  EXPECT_NE(last.find("proven: the built-in libtorch"), std::string::npos) << last;
  EXPECT_NE(last.find("on the CPU"), std::string::npos) << last;
  // The lockfile ties it together: the model's oid, the smoke fingerprint and its environment.
  auto lock = nlohmann::json::parse(*fs::read_file(dir / "state/sd35.lock.json"));
  EXPECT_NE(lock.dump().find(oid), std::string::npos);
  EXPECT_EQ(lock["smoke"]["environment"]["kind"], "builtin");
  EXPECT_EQ(lock["smoke"]["environment"]["device"], "cpu");
  // The smoke stage ran the fetched tiny checkpoint (small enough for the CPU), not the embedded
  // model, and the lock says so.
  EXPECT_EQ(lock["smoke"]["source"], "cache") << lock["smoke"].dump();
  EXPECT_EQ(lock["smoke"]["cache"]["commit"], kCommit);
  EXPECT_EQ(lock["smoke"]["cache"]["files"][0]["oid"], oid);
  // This MMDiT-only file has no text encoders, VAE or tokenizers: no first image, `up` says why
  // and carries on.
  EXPECT_FALSE(lock["smoke"].contains("image")) << lock["smoke"].dump();
  EXPECT_FALSE(stdfs::exists(dir / "state/sd35-first-image.png"));
  EXPECT_NE(doc["documents"]["smoke"].value("image_note", "").find("has no"), std::string::npos)
      << doc["documents"]["smoke"].dump();
  EXPECT_NE(doc.dump().find("no first image: "), std::string::npos) << doc["summary"].dump();
  // Asked for explicitly, the image is required: no tokenizers is then a failure of `up`.
  auto asked = up_args(dir, url, {"--prompt", "a fox"});
  *(std::find(asked.begin(), asked.end(), "--dir") + 1) = (dir / "asked").string();
  const auto no_tokenizers = test::run_cli(asked, kPipEnv, std::chrono::minutes(5));
  EXPECT_EQ(no_tokenizers.exit_code, 2) << no_tokenizers.out << no_tokenizers.err;
  EXPECT_NE(no_tokenizers.out.find("tokenizer"), std::string::npos) << no_tokenizers.out;
  EXPECT_FALSE(stdfs::exists(dir / "asked/sd35.lock.json"));

  // Re-run: verify answers from its state file (nothing rehashed); the lock is the same but for the
  // smoke timings (a fresh measurement), and the smoke fingerprint is identical.
  auto without_timings = [](nlohmann::json l) {
    nlohmann::json fp = l["smoke"]["fingerprint"];
    l.erase("lock_digest");
    l["smoke"] = fp;
    return l;
  };
  const auto lock_before =
      without_timings(nlohmann::json::parse(*fs::read_file(dir / "state/sd35.lock.json")));
  auto second = test::run_cli(args, kPipEnv, std::chrono::minutes(5));
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  auto doc2 = nlohmann::json::parse(second.out);
  EXPECT_EQ(doc2["documents"]["verify"]["content"]["hashed"], 0)
      << doc2["documents"]["verify"].dump();
  EXPECT_EQ(without_timings(nlohmann::json::parse(*fs::read_file(dir / "state/sd35.lock.json"))),
            lock_before);

  // The gate passes on this machine, and fails (exit 4) once the model's bytes change.
  std::vector<std::string> gate = {"--cache",
                                   (dir / "cache").string(),
                                   "verify",
                                   "--lock",
                                   (dir / "state/sd35.lock.json").string(),
                                   "--host",
                                   (dir / "host.json").string()};
  EXPECT_EQ(test::run_cli(gate, kPipEnv).exit_code, 0);
  // --smoke re-runs the smoke test through the plugin and compares its fingerprint with the lock's.
  auto with_smoke = gate;
  with_smoke.emplace_back("--smoke");
  auto smoked = test::run_cli(with_smoke, kPipEnv, std::chrono::minutes(3));
  EXPECT_EQ(smoked.exit_code, 0) << smoked.out << smoked.err;
  // The cache moved (another mount point, another machine): the gate finds the locked weights by
  // their commit in the cache it is given, not by the locked absolute path.
  stdfs::rename(dir / "cache", dir / "moved");
  auto moved = with_smoke;
  moved[1] = (dir / "moved").string();
  auto moved_run = test::run_cli(moved, kPipEnv, std::chrono::minutes(3));
  EXPECT_EQ(moved_run.exit_code, 0) << moved_run.out << moved_run.err;
  EXPECT_NE(moved_run.out.find("reproduces the locked fingerprint"), std::string::npos)
      << moved_run.out;
  stdfs::rename(dir / "moved", dir / "cache");
  const stdfs::path blob = dir / testing::kTinyRepo / "blobs" / oid;
  std::string corrupt = *fs::read_file(blob);
  corrupt[corrupt.size() / 2] ^= 0x01;
  stdfs::remove(blob);
  dir.write("cache/models--org--tiny/blobs/" + oid, corrupt);
  EXPECT_EQ(test::run_cli(gate, kPipEnv).exit_code, 4);
}

// An all-in-one file with its text encoders and VAE, and the tokenizers in the model's snapshot
// (as a diffusers repository carries them): `up` writes the first image next to the lock, and the
// lock records its fingerprint and parameters.
void setup_pipeline_model(test::TempDir& dir) {
  const stdfs::path set = test::data_dir() / "sd3-pipeline/pipe-large";
  auto model = *fs::read_file(set / "pipe-large_all_in_one_fp8.safetensors");
  const std::string oid = sha256_hex(model);
  testing::place_in_cache(dir, kCommit, "model.safetensors", oid, model);
  for (const char* rel :
       {"tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer_3/spiece.model"}) {
    auto bytes = *fs::read_file(set / rel, 64u << 20);
    testing::place_in_cache(dir, kCommit, rel, sha256_hex(bytes), bytes);
  }
  dir.write("manifest.json",
            testing::tiny_manifest(
                {{"path", "model.safetensors"}, {"size", model.size()}, {"sha256", oid}},
                {{"python", ">=3.8"}, {"candidates", {{{"torch", "2.9.1"}, {"cuda", {"cpu"}}}}}},
                {{"steps", 2}, {"latent", {16, 16}}})
                .dump());
}

// What the first-image tests start from: the pipeline fixture as the cached model, a host without
// a GPU and a local package index.
struct PipelineCase {
  test::TempDir dir;
  sd35::testing::LocalIndex index{dir / "index"};
  std::string url = "http://127.0.0.1:" + std::to_string(index.port()) + "/simple";
  PipelineCase() {
    setup_pipeline_model(dir);
    write_host(dir, "resolve-nogpu.json");
  }
};

TEST(Up, WritesTheFirstImageNextToTheLock) {
  if (test::cli_binary().empty() || !proc::which("python3"))
    GTEST_SKIP() << "needs SD35_BIN and python3";
  PipelineCase c;
  ASSERT_GT(c.index.port(), 0);
  test::TempDir& dir = c.dir;
  const std::string& url = c.url;
  auto run = test::run_cli(up_args(dir, url, {}), kPipEnv, std::chrono::minutes(5));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto doc = nlohmann::json::parse(run.out);
  const stdfs::path png = dir / "state/sd35-first-image.png";
  ASSERT_TRUE(stdfs::exists(png)) << doc["documents"]["smoke"].dump();
  const auto lock = nlohmann::json::parse(*fs::read_file(dir / "state/sd35.lock.json"));
  const auto& image = lock["smoke"]["image"];
  EXPECT_EQ(image["fingerprint"], doc["documents"]["smoke"]["image"]["fingerprint"]);
  EXPECT_EQ(image["params"]["prompt"], app::kFirstImagePrompt);
  EXPECT_EQ(image["params"]["seed"], app::kFirstImageSeed);
  EXPECT_EQ(image["params"]["size"], "128x128");
  EXPECT_EQ(image["width"], 128);
  EXPECT_FALSE(image.contains("path")) << "the lock holds no path of this machine";
  EXPECT_NE(doc.dump().find("first image: " + png.string()), std::string::npos)
      << doc["summary"].dump();

  // The gate re-runs the locked prompt and compares the picture as well as the MMDiT fingerprint.
  const std::string lock_path = (dir / "state/sd35.lock.json").string();
  const std::vector<std::string> gate = {
      "--cache", (dir / "cache").string(),     "--json", "verify", "--lock", lock_path,
      "--host",  (dir / "host.json").string(), "--smoke"};
  const auto passed = test::run_cli(gate, kPipEnv, std::chrono::minutes(3));
  ASSERT_EQ(passed.exit_code, 0) << passed.out << passed.err;
  EXPECT_NE(passed.out.find("the locked prompt makes the locked image again"), std::string::npos)
      << passed.out;
  // A lock whose image differs (re-digested, so only the picture is wrong) fails: exit 4, naming
  // the check and both fingerprints.
  auto edited = *lock::load(lock_path);
  (*edited.smoke)["image"]["fingerprint"] = std::string(64, 'e');
  ASSERT_TRUE(fs::write_file_atomic(lock_path, lock::serialize(edited)).has_value());
  const auto failed = test::run_cli(gate, kPipEnv, std::chrono::minutes(3));
  EXPECT_EQ(failed.exit_code, 4) << failed.out << failed.err;
  EXPECT_NE(failed.out.find("smoke:image"), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find(std::string(64, 'e')), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find(image["fingerprint"].get<std::string>()), std::string::npos);

  // --no-image: the MMDiT-only smoke, no picture, no image in the lock.
  auto plain_args = up_args(dir, url, {"--no-image"});
  *(std::find(plain_args.begin(), plain_args.end(), "--dir") + 1) = (dir / "plain").string();
  auto skipped = test::run_cli(plain_args, kPipEnv, std::chrono::minutes(5));
  ASSERT_EQ(skipped.exit_code, 0) << skipped.out << skipped.err;
  EXPECT_FALSE(stdfs::exists(dir / "plain/sd35-first-image.png"));
  const auto plain = nlohmann::json::parse(*fs::read_file(dir / "plain/sd35.lock.json"));
  EXPECT_FALSE(plain["smoke"].contains("image"));
  // --no-image with --prompt is a usage error.
  EXPECT_EQ(test::run_cli(up_args(dir, url, {"--no-image", "--prompt", "x"}), kPipEnv).exit_code,
            2);
}

// A lock of the pipeline model's smoke with the given text flags (`--prompt`, `--negative`), seed
// 7, on the described host: the `smoke --json` result locked with the resolution.
nlohmann::json lock_prompt_run(const test::TempDir& dir, const std::string& name,
                               const std::vector<std::string>& text) {
  std::vector<std::string> smoke = {"--manifest", (dir / "manifest.json").string(),
                                    "--cache",    (dir / "cache").string(),
                                    "--json",     "smoke",
                                    "--host",     (dir / "host.json").string(),
                                    "--seed",     "7",
                                    "--image",    (dir / (name + ".png")).string()};
  smoke.insert(smoke.end(), text.begin(), text.end());
  const auto ran = test::run_cli(smoke, kPipEnv, std::chrono::minutes(3));
  EXPECT_EQ(ran.exit_code, 0) << ran.out << ran.err;
  dir.write(name + ".smoke.json", ran.out);
  const std::string lock = (dir / (name + ".lock.json")).string();
  const auto locked = test::run_cli(
      {"--manifest", (dir / "manifest.json").string(), "--cache", (dir / "cache").string(), "lock",
       "--from", (dir / "resolve.json").string(), "--host", (dir / "host.json").string(),
       "--smoke-result", (dir / (name + ".smoke.json")).string(), "--out", lock},
      kPipEnv);
  EXPECT_EQ(locked.exit_code, 0) << locked.out << locked.err;
  auto l = fs::read_file(lock);
  return l ? nlohmann::json::parse(*l) : nlohmann::json::object();
}

// `verify --lock --smoke` on a lock, as CI runs it.
proc::Outcome gate_smoke(const test::TempDir& dir, const std::string& name) {
  return test::run_cli(
      {"--cache", (dir / "cache").string(), "--json", "verify", "--lock",
       (dir / (name + ".lock.json")).string(), "--host", (dir / "host.json").string(), "--smoke"},
      kPipEnv, std::chrono::minutes(3));
}

// The smoke:image finding of a `--json verify --lock` run (null when there is none).
nlohmann::json image_finding(const proc::Outcome& run) {
  std::istringstream out(run.out);
  nlohmann::json doc;
  out >> doc;
  for (const auto& f : doc.value("findings", nlohmann::json::array()))
    if (f["id"] == "smoke:image") return f;
  return nullptr;
}

// Issue 13: a lock made from a batch of prompts records the whole batch, and the gate re-runs
// that batch (the fixture's two prompts and negatives, in order) and compares its first picture;
// a lock of one prompt keeps the single-prompt form and is gated as before.
TEST(VerifyLockImage, ABatchLockIsReRunAsItsBatchAndItsFirstImageCompared) {
  if (test::cli_binary().empty() || !proc::which("python3"))
    GTEST_SKIP() << "needs SD35_BIN and python3";
  PipelineCase c;
  ASSERT_GT(c.index.port(), 0);
  test::TempDir& dir = c.dir;
  const std::string& url = c.url;
  ASSERT_EQ(test::run_cli({"--manifest", (dir / "manifest.json").string(), "resolve", "--host",
                           (dir / "host.json").string(), "--index", url, "--out",
                           (dir / "resolve.json").string()},
                          kPipEnv)
                .exit_code,
            0);
  const auto ref = nlohmann::json::parse(
      *fs::read_file(test::data_dir() / "sd3-pipeline/pipe-large/reference.json"));
  const auto prompts = ref["prompts"].get<std::vector<std::string>>();
  const auto negatives = ref["negative_prompts"].get<std::vector<std::string>>();
  ASSERT_EQ(prompts.size(), 2u);

  const auto batch = lock_prompt_run(dir, "batch",
                                     {"--prompt", prompts[0], "--prompt", prompts[1], "--negative",
                                      negatives[0], "--negative", negatives[1]});
  const auto& params = batch["smoke"]["image"]["params"];
  EXPECT_EQ(params["batch"], 2);
  EXPECT_EQ(params["prompts"], ref["prompts"]) << params.dump();
  EXPECT_EQ(params["negative_prompts"], ref["negative_prompts"]);
  EXPECT_EQ(params["prompt"], prompts[0]) << "the first picture's own prompt stays readable";
  const std::string fingerprint = batch["smoke"]["image"]["fingerprint"].get<std::string>();
  ASSERT_EQ(fingerprint.size(), 64u);

  const auto passed = gate_smoke(dir, "batch");
  EXPECT_EQ(passed.exit_code, 0) << passed.out << passed.err;
  const auto pass = image_finding(passed);
  ASSERT_TRUE(pass.is_object()) << passed.out;
  EXPECT_EQ(pass["verdict"], "pass") << pass.dump();
  EXPECT_NE(pass["detail"].get<std::string>().find("the locked batch of 2 prompts makes the "
                                                   "locked first image again"),
            std::string::npos)
      << pass.dump();

  // The same lock with another image fingerprint (re-digested, so only the picture is wrong).
  auto edited = *lock::load((dir / "batch.lock.json").string());
  (*edited.smoke)["image"]["fingerprint"] = std::string(64, 'e');
  ASSERT_TRUE(fs::write_file_atomic(dir / "batch.lock.json", lock::serialize(edited)).has_value());
  const auto failed = gate_smoke(dir, "batch");
  EXPECT_EQ(failed.exit_code, 4) << failed.out << failed.err;
  const auto fail = image_finding(failed);
  ASSERT_TRUE(fail.is_object()) << failed.out;
  EXPECT_EQ(fail["verdict"], "fail");
  EXPECT_NE(fail["detail"].get<std::string>().find(std::string(64, 'e')), std::string::npos);
  EXPECT_NE(fail["detail"].get<std::string>().find(fingerprint), std::string::npos)
      << "the batch re-run makes the originally locked picture: " << fail.dump();
  EXPECT_NE(fail["fix"].get<std::string>().find("image.params.prompts"), std::string::npos);

  // One prompt: the single-prompt form of every earlier lock (no batch arrays), gated as before.
  const auto single = lock_prompt_run(dir, "single", {"--prompt", prompts[0]});
  const auto& one = single["smoke"]["image"]["params"];
  EXPECT_EQ(one["prompt"], prompts[0]);
  EXPECT_EQ(one["batch"], 1);
  EXPECT_FALSE(one.contains("prompts")) << one.dump();
  EXPECT_FALSE(one.contains("negative_prompts"));
  const auto single_gate = gate_smoke(dir, "single");
  EXPECT_EQ(single_gate.exit_code, 0) << single_gate.out << single_gate.err;
  const auto single_pass = image_finding(single_gate);
  ASSERT_TRUE(single_pass.is_object()) << single_gate.out;
  EXPECT_EQ(single_pass["verdict"], "pass");
  EXPECT_NE(single_pass["detail"].get<std::string>().find("the locked prompt makes the locked "
                                                          "image again"),
            std::string::npos)
      << single_pass.dump();
}

}  // namespace
}  // namespace sd35
