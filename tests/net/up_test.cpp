// `sd35-setup up` end to end: resolve (pinned through a local PEP 503 index and pip's resolver)
// -> verify (a real SD3.5-Large-shaped scaled-FP8 checkpoint in an HF cache) -> install (real pip)
// -> smoke (the libtorch plugin, on the fetched checkpoint) -> lock; then a re-run that skips
// proven work, and the gate. The fetch stage is covered by fetch_test.cpp against the local hub;
// here it is skipped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

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

TEST(Up, ProvesTheEnvironmentAndReRunsFromState) {
  if (test::cli_binary().empty() || !proc::which("python3"))
    GTEST_SKIP() << "needs SD35_BIN and python3";
  test::TempDir dir;
  sd35::testing::LocalIndex index(dir / "index");
  ASSERT_GT(index.port(), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(index.port()) + "/simple";

  // The model: the tiny SD3.5-Large-like scaled-FP8 fixture, placed as fetch would place it.
  auto model = *fs::read_file(test::data_dir() /
                              "sd3-reference/tiny-large/tiny-large_fp8_scaled.safetensors");
  const std::string oid = sha256_hex(model);
  auto repo = dir / testing::kTinyRepo;
  testing::place_in_cache(dir, kCommit, "model.safetensors", oid, model);
  dir.write(
      "manifest.json",
      testing::tiny_manifest(
          {{"path", "model.safetensors"}, {"size", model.size()}, {"sha256", oid}},
          {{"python", ">=3.8"},
           {"candidates", {{{"torch", "2.9.1"}, {"cuda", {"cu128"}}, {"torchvision", "0.24.1"}}}},
           {"packages", {{"fixture-dep", ">=1.0"}}}},
          {{"steps", 2}})
          .dump());
  // An H100 host whose Python is this machine's (the venv is created with it).
  auto host =
      nlohmann::json::parse(*fs::read_file(test::data_dir() / "hosts/resolve-h100-driver535.json"));
  proc::Command py;
  py.argv = {"python3", "-c",
             "import sys,platform;print(sys.executable);print(platform.python_version())"};
  auto pyout = proc::run(py);
  ASSERT_TRUE(pyout && pyout->success());
  auto nl = pyout->out.find('\n');
  host["python"] = {{{"path", pyout->out.substr(0, nl)},
                     {"version", pyout->out.substr(nl + 1, pyout->out.size() - nl - 2)}}};
  dir.write("host.json", host.dump());

  const std::map<std::string, std::string> env = {{"PIP_NO_CACHE_DIR", "1"},
                                                  {"PIP_DISABLE_PIP_VERSION_CHECK", "1"},
                                                  {"PIP_CONFIG_FILE", "/dev/null"}};
  const std::vector<std::string> args = {"--manifest",  (dir / "manifest.json").string(),
                                         "--cache",     (dir / "cache").string(),
                                         "--json",      "up",
                                         "--dir",       (dir / "state").string(),
                                         "--venv",      (dir / "venv").string(),
                                         "--index",     url,
                                         "--host",      (dir / "host.json").string(),
                                         "--skip-fetch"};
  auto first = test::run_cli(args, env, std::chrono::minutes(5));
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  auto doc = nlohmann::json::parse(first.out);
  for (const char* s : {"resolve", "verify", "install", "smoke", "lock"})
    EXPECT_EQ(stage(doc, s)["status"], "ok") << s << ": " << stage(doc, s).dump();
  EXPECT_EQ(stage(doc, "fetch")["status"], "skipped");
  EXPECT_EQ(doc["documents"]["verify"]["ok"], true);
  // The lockfile ties it together: pinned wheels, the model's oid, the smoke fingerprint.
  auto lock = nlohmann::json::parse(*fs::read_file(dir / "state/sd35.lock.json"));
  EXPECT_NE(lock.dump().find(oid), std::string::npos);
  EXPECT_NE(lock.dump().find("fixture-dep"), std::string::npos);
  EXPECT_FALSE(nlohmann::json::parse(*fs::read_file(dir / "state/sd35-smoke.json"))["fingerprint"]
                   .is_null());
  // The smoke stage ran the fetched tiny checkpoint (small enough for the CPU), not the embedded
  // model, and the lock says so.
  EXPECT_EQ(lock["smoke"]["source"], "cache") << lock["smoke"].dump();
  EXPECT_EQ(lock["smoke"]["cache"]["commit"], kCommit);
  EXPECT_EQ(lock["smoke"]["cache"]["files"][0]["oid"], oid);

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
  auto second = test::run_cli(args, env, std::chrono::minutes(5));
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
                                   "--venv",
                                   (dir / "venv").string(),
                                   "--host",
                                   (dir / "host.json").string()};
  EXPECT_EQ(test::run_cli(gate, env).exit_code, 0);
  // --smoke re-runs the smoke test through the plugin and compares its fingerprint with the lock's.
  auto with_smoke = gate;
  with_smoke.push_back("--smoke");
  auto smoked = test::run_cli(with_smoke, env, std::chrono::minutes(3));
  EXPECT_EQ(smoked.exit_code, 0) << smoked.out << smoked.err;
  // The cache moved (another mount point, another machine): the gate finds the locked weights by
  // their commit in the cache it is given, not by the locked absolute path.
  stdfs::rename(dir / "cache", dir / "moved");
  auto moved = with_smoke;
  moved[1] = (dir / "moved").string();
  auto moved_run = test::run_cli(moved, env, std::chrono::minutes(3));
  EXPECT_EQ(moved_run.exit_code, 0) << moved_run.out << moved_run.err;
  EXPECT_NE(moved_run.out.find("reproduces the locked fingerprint"), std::string::npos)
      << moved_run.out;
  stdfs::rename(dir / "moved", dir / "cache");
  stdfs::path blob = repo / "blobs" / oid;
  std::string corrupt = model;
  corrupt[corrupt.size() / 2] ^= 0x01;
  stdfs::remove(blob);
  dir.write("cache/models--org--tiny/blobs/" + oid, corrupt);
  EXPECT_EQ(test::run_cli(gate, env).exit_code, 4);
}

}  // namespace
}  // namespace sd35
