// resolve --index --closure, install, lock and verify --lock end to end through the real pip,
// against a PEP 503 index on 127.0.0.1 with fixture wheels built by
// tests/tools/lock_pep503_index.py.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "net/local_index.hpp"
#include "support/write_file.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/sha256.hpp"

using namespace sd35;
namespace stdfs = std::filesystem;

namespace {

const char* kCommit = "89abcdef0123456789abcdef0123456789abcdef";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

using test::write_file;

proc::Outcome run_tool(std::vector<std::string> argv,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  proc::Command cmd;
  cmd.argv = std::move(argv);
  cmd.timeout = timeout;
  cmd.env_overrides = {{"PIP_NO_CACHE_DIR", "1"},
                       {"PIP_DISABLE_PIP_VERSION_CHECK", "1"},
                       {"PIP_CONFIG_FILE", "/dev/null"}};
  auto r = proc::run(cmd);
  EXPECT_TRUE(r.has_value());
  return r ? *r : proc::Outcome{};
}

proc::Outcome run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {env("SD35_BIN")};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_tool(std::move(argv), std::chrono::minutes(4));
}

}  // namespace

TEST(LockInstall, ResolveInstallLockVerifyThroughRealPip) {
  if (env("SD35_BIN").empty() || !proc::which("python3"))
    GTEST_SKIP() << "needs SD35_BIN and python3";
  const stdfs::path dir =
      stdfs::temp_directory_path() / ("sd35-lock-install-" + std::to_string(::getpid()));
  stdfs::remove_all(dir);
  sd35::testing::LocalIndex index(dir / "index");
  ASSERT_GT(index.port(), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(index.port()) + "/simple";

  // A tiny fetched model, so the gate has files to check.
  const std::string content(1000, 'm');
  const std::string sha = sha256_hex(content);
  auto repo = dir / "cache" / "models--org--tiny";
  write_file(repo / "blobs" / sha, content);
  write_file(repo / "refs" / "main", kCommit);
  stdfs::create_directories(repo / "snapshots" / kCommit);
  stdfs::create_symlink("../../blobs/" + sha, repo / "snapshots" / kCommit / "m.safetensors");
  write_file(dir / "manifest.json",
             R"({"schema_version":1,"name":"fixture","model":{"repo":"org/tiny","revision":"main",
    "format":"sai-single-file","architecture":"sd35-large","files":[{"path":"m.safetensors","size":1000,"sha256":")" +
                 sha + R"("}]},
    "environment":{"python":">=3.8","candidates":[{"torch":"2.9.1","cuda":["cu128"],"torchvision":"0.24.1"}],
    "packages":{"fixture-dep":">=1.0"}},"requirements":{},"smoke":{}})");
  nlohmann::json host = nlohmann::json::parse(
      *fs::read_file(env("SD35_TEST_DATA") + "/hosts/resolve-h100-driver535.json"));
  auto py =
      run_tool({"python3", "-c",
                "import sys,platform;print(sys.executable);print(platform.python_version())"});
  ASSERT_TRUE(py.success());
  auto nl = py.out.find('\n');
  host["python"] = {
      {{"path", py.out.substr(0, nl)}, {"version", py.out.substr(nl + 1, py.out.size() - nl - 2)}}};
  write_file(dir / "host.json", host.dump());
  const std::vector<std::string> common = {"--manifest", (dir / "manifest.json").string(),
                                           "--cache", (dir / "cache").string(), "--json"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), common.begin(), common.end());
    return run_cli(args);
  };

  auto resolved = with({"resolve", "--host", (dir / "host.json").string(), "--index", url,
                        "--closure", "--out", (dir / "resolve.json").string()});
  ASSERT_EQ(resolved.exit_code, 0) << resolved.out << resolved.err;
  auto doc = nlohmann::json::parse(*fs::read_file(dir / "resolve.json"));
  EXPECT_EQ(doc["selected"]["cuda"], "cu128");
  EXPECT_EQ(doc["selected"]["index_url"], url);
  ASSERT_EQ(doc["selected"]["packages"].size(), 3u)
      << doc.dump(1);  // torch, torchvision + fixture-dep from pip's resolver
  for (const auto& p : doc["selected"]["packages"]) {
    EXPECT_EQ(p["sha256"].get<std::string>().size(), 64u) << p.dump();
    EXPECT_NE(p["url"].get<std::string>().find("127.0.0.1"), std::string::npos);
  }

  auto installed = with({"install", "--venv", (dir / "venv").string(), "--from",
                         (dir / "resolve.json").string(), "--host", (dir / "host.json").string()});
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
  auto inst = nlohmann::json::parse(installed.out);
  bool float8_pass = false;
  for (const auto& c : inst["checks"])
    if (c["id"] == "torch.float8") float8_pass = c["verdict"] == "pass";
  EXPECT_TRUE(float8_pass) << installed.out;

  auto locked =
      with({"lock", "--from", (dir / "resolve.json").string(), "--venv", (dir / "venv").string(),
            "--host", (dir / "host.json").string(), "--out", (dir / "sd35.lock.json").string()});
  ASSERT_EQ(locked.exit_code, 0) << locked.out << locked.err;

  auto gate = with({"verify", "--lock", (dir / "sd35.lock.json").string(), "--venv",
                    (dir / "venv").string(), "--host", (dir / "host.json").string(), "--junit",
                    (dir / "junit.xml").string()});
  EXPECT_EQ(gate.exit_code, 0) << gate.out << gate.err;

  // A wheel swapped behind the lock's back: pip reinstalls torchvision without a recorded hash.
  auto swap =
      run_tool({(dir / "venv" / "bin" / "python").string(), "-m", "pip", "install", "--no-deps",
                "--force-reinstall", "--index-url", url, "torchvision==0.24.1+cu128"},
               std::chrono::minutes(2));
  ASSERT_TRUE(swap.success()) << swap.err;
  gate = with({"verify", "--lock", (dir / "sd35.lock.json").string(), "--venv",
               (dir / "venv").string(), "--host", (dir / "host.json").string()});
  EXPECT_EQ(gate.exit_code, 4) << gate.out;

  auto exported = with(
      {"lock", "export", "--lock", (dir / "sd35.lock.json").string(), "--format", "requirements"});
  EXPECT_EQ(exported.exit_code, 0);
  EXPECT_NE(exported.out.find("--hash=sha256:"), std::string::npos);

  // The requirements export installs through plain pip from the index, hash-checked.
  exported = with({"lock", "export", "--lock", (dir / "sd35.lock.json").string(), "--format",
                   "requirements", "--out", (dir / "requirements.txt").string()});
  ASSERT_EQ(exported.exit_code, 0);
  ASSERT_TRUE(run_tool({"python3", "-m", "venv", (dir / "venv2").string()}, std::chrono::minutes(2))
                  .success());
  auto plain =
      run_tool({(dir / "venv2" / "bin" / "python").string(), "-m", "pip", "install",
                "--require-hashes", "--no-deps", "-r", (dir / "requirements.txt").string()},
               std::chrono::minutes(2));
  EXPECT_TRUE(plain.success()) << plain.err;

  const std::string lockfile = (dir / "sd35.lock.json").string();
  EXPECT_EQ(with({"lock", "diff", lockfile, lockfile}).exit_code, 0);
  std::string text = *fs::read_file(lockfile);
  text.replace(text.find("\"glibc\": \"2.36\""), 17, "\"glibc\": \"2.35\"");
  write_file(dir / "edited.lock.json", text);
  EXPECT_EQ(with({"lock", "diff", lockfile, (dir / "edited.lock.json").string()}).exit_code, 2);
  EXPECT_EQ(with({"verify", "--lock", (dir / "edited.lock.json").string()}).exit_code, 2);

  // An --index that cannot be reached is a network error (5) naming the index, with a hint;
  // an offline plan is `resolve` without --index.
  auto offline = with(
      {"resolve", "--host", (dir / "host.json").string(), "--index", "http://127.0.0.1:1/simple"});
  EXPECT_EQ(offline.exit_code, 5) << offline.err;
  EXPECT_NE(offline.err.find("127.0.0.1:1"), std::string::npos) << offline.err;
  EXPECT_NE(offline.err.find("hint:"), std::string::npos) << offline.err;
  stdfs::remove_all(dir);
}

TEST(LockInstall, ResolveCliExitCodes) {
  if (env("SD35_BIN").empty()) GTEST_SKIP() << "needs SD35_BIN";
  const std::string hosts = env("SD35_TEST_DATA") + "/hosts/";
  auto ok = run_cli({"--json", "resolve", "--host", hosts + "resolve-a100-driver470.json"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  auto j = nlohmann::json::parse(ok.out);
  EXPECT_EQ(j["selected"]["cuda"], "cu118");
  EXPECT_FALSE(j["hash_notes"].empty());
  auto none = run_cli({"--json", "resolve", "--host", hosts + "resolve-h100-py38.json"});
  EXPECT_EQ(none.exit_code, 3);
  EXPECT_NE(none.out.find("would_need"), std::string::npos);
  auto bad = run_cli({"verify", "--lock", hosts + "resolve-nogpu.json"});  // not a lockfile
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

TEST(LockInstall, PinsFromPep691JsonPages) {
  if (env("SD35_BIN").empty() || !proc::which("python3"))
    GTEST_SKIP() << "needs SD35_BIN and python3";
  const stdfs::path dir =
      stdfs::temp_directory_path() / ("sd35-lock-json-" + std::to_string(::getpid()));
  stdfs::remove_all(dir);
  sd35::testing::LocalIndex index(dir / "index", /*json=*/true);
  ASSERT_GT(index.port(), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(index.port()) + "/simple";
  write_file(dir / "manifest.json",
             R"({"schema_version":1,"name":"fixture","model":{"repo":"org/tiny","revision":"main",
    "format":"sai-single-file","architecture":"sd35-large","files":[{"path":"m.safetensors"}]},
    "environment":{"python":">=3.8","candidates":[{"torch":"2.9.1","cuda":["cu128"],"torchvision":"0.24.1"}]},
    "requirements":{},"smoke":{}})");
  auto r = run_cli({"--manifest", (dir / "manifest.json").string(), "--json", "resolve", "--host",
                    env("SD35_TEST_DATA") + "/hosts/resolve-h100-driver535.json", "--index", url});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["selected"]["packages"].size(), 2u);
  for (const auto& p : doc["selected"]["packages"]) {
    EXPECT_EQ(p["sha256"].get<std::string>().size(), 64u) << p.dump();
    EXPECT_NE(p["url"].get<std::string>().find("/files/"), std::string::npos) << p.dump();
    EXPECT_NE(p["url"].get<std::string>().find("via=pep691"), std::string::npos)
        << "parsed as JSON: " << p.dump();
  }
  stdfs::remove_all(dir);
}
