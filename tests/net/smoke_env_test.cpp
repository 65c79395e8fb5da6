// `smoke --python/--venv`: the smoke plugin built on demand against a Python environment's torch.
// The real plugin is built once against Debian's python3-torch (libtorch-dev gives its headers);
// the cache key, the lock that makes concurrent runs build once, and the failure paths use a
// torch-free stub plugin (tests/data/stub-plugin) so they take seconds. A described GPU host with
// a CPU-only environment must fail, never pass on the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>

#include "net/local_index.hpp"
#include "support/test_env.hpp"
#include "util/fs.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;

constexpr const char* kDebianPython = "/usr/bin/python3";

bool debian_torch_present() {
  proc::Command cmd;
  cmd.argv = {kDebianPython, "-c", "import torch"};
  cmd.timeout = std::chrono::seconds(60);
  auto r = proc::run(cmd);
  return r && r->success();
}

nlohmann::json parse_doc(const proc::Outcome& run) {
  auto doc = nlohmann::json::parse(run.out, nullptr, false);
  return doc.is_discarded() ? nlohmann::json::object() : doc;
}

class SmokeEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::cli_binary().empty()) GTEST_SKIP() << "needs SD35_BIN";
    // CI installs python3-torch (.ci/debian-packages-test.txt); elsewhere say what is missing.
    if (!debian_torch_present())
      GTEST_SKIP() << "needs Debian's python3-torch at " << kDebianPython;
    // A copy of the stub plugin's sources whose plugin-sources.json finds the real ABI header.
    const auto stub = stdfs::path(test::data_dir()) / "stub-plugin";
    stdfs::create_directories(dir / "stub/src");
    stdfs::copy_file(stub / "src/stub_plugin.cpp", dir / "stub/src/stub_plugin.cpp");
    auto spec = nlohmann::json::parse(*fs::read_file(stub / "plugin-sources.json"));
    spec["include_dirs"] = {(stdfs::path(test::source_dir()) / "src").string()};
    dir.write("stub/plugin-sources.json", spec.dump());
    // A fake interpreter: Debian's python3 whose torch reports another version when TORCH_AS is
    // set (the gate's "another torch" case).
    dir.write(
        "python",
        "#!/bin/sh\nif [ -n \"$TORCH_AS\" ]; then\n  /usr/bin/python3 \"$@\" | sed "
        "\"s/\\\"full_version\\\": \\\"[^\\\"]*\\\"/\\\"full_version\\\": \\\"$TORCH_AS\\\"/\"\n"
        "else\n  exec /usr/bin/python3 \"$@\"\nfi\n",
        true);
  }

  std::map<std::string, std::string> env(bool stub = true) const {
    std::map<std::string, std::string> e{{"SD35_PLUGIN_CACHE", (dir / "plugins").string()},
                                         {"XDG_CACHE_HOME", (dir / "xdg").string()}};
    if (stub) e["SD35_PLUGIN_SRC"] = (dir / "stub").string();
    return e;
  }

  // A pinned resolution (the fixture index's torch 2.9.1+cpu) for a GPU-less host: what
  // `lock --from` reads.
  std::string resolution() {
    index = std::make_unique<sd35::testing::LocalIndex>(dir / "index");
    const std::string url = "http://127.0.0.1:" + std::to_string(index->port()) + "/simple";
    dir.write("manifest.json",
              nlohmann::json{{"schema_version", 1},
                             {"name", "cpu-env"},
                             {"model",
                              {{"repo", "org/tiny"},
                               {"revision", "main"},
                               {"format", "sai-single-file"},
                               {"architecture", "sd35-large"},
                               {"files", {{{"path", "model.safetensors"}, {"size", 1}}}}}},
                             {"environment",
                              {{"python", ">=3.8"},
                               {"candidates", {{{"torch", "2.9.1"}, {"cuda", {"cpu"}}}}}}},
                             {"requirements", nlohmann::json::object()},
                             {"smoke", nlohmann::json::object()}}
                  .dump());
    auto out = (dir / "resolve.json").string();
    const auto host = (stdfs::path(test::data_dir()) / "hosts/resolve-nogpu.json").string();
    const auto run = test::run_cli({"--manifest", (dir / "manifest.json").string(), "resolve",
                                    "--host", host, "--index", url, "--out", out},
                                   env());
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
    return out;
  }

  std::unique_ptr<sd35::testing::LocalIndex> index;

  proc::Outcome smoke(std::vector<std::string> extra, std::map<std::string, std::string> e) const {
    std::vector<std::string> args{"--json", "smoke",           "--synthetic", "--device",
                                  "cpu",    "--no-gemm-probe", "--require",   "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_cli(args, std::move(e), std::chrono::minutes(9));
  }

  test::TempDir dir;
};

TEST_F(SmokeEnv, BuildsTheRealPluginForDebianTorchOnceThenReusesIt) {
  auto first = smoke({"--python", kDebianPython}, env(false));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto doc = parse_doc(first);
  EXPECT_FALSE(doc["plugin"]["cached"].get<bool>());
  EXPECT_GT(doc["plugin"]["build_seconds"].get<double>(), 0.0);
  EXPECT_TRUE(stdfs::exists(doc["plugin"]["library"].get<std::string>()));
  EXPECT_TRUE(stdfs::exists(doc["plugin"]["log"].get<std::string>()));
  const auto& e = doc["environment"];
  EXPECT_EQ(e["kind"], "python");
  EXPECT_EQ(e["interpreter"], kDebianPython);
  // The plugin reports the libtorch it was built against: the environment's, not the tool's.
  EXPECT_EQ(e["libtorch"].get<std::string>().substr(0, 4),
            e["torch"].get<std::string>().substr(0, 4));
  EXPECT_EQ(e["device"], "cpu");
  EXPECT_TRUE(doc["proven"].get<bool>());
  EXPECT_TRUE(doc["python_side"]["ok"].get<bool>());
  EXPECT_EQ(doc["python_side"]["checks"][0]["id"], "torch.import");

  auto second = smoke({"--python", kDebianPython}, env(false));
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const auto again = parse_doc(second);
  EXPECT_TRUE(again["plugin"]["cached"].get<bool>());
  EXPECT_EQ(again["plugin"]["key"], doc["plugin"]["key"]);
  EXPECT_EQ(again["fingerprint"], doc["fingerprint"]);
}

TEST_F(SmokeEnv, StubPluginIsCachedAndAChangedKeyRebuilds) {
  const std::vector<std::string> python{"--python", (dir / "python").string()};
  const auto a = parse_doc(smoke(python, env()));
  ASSERT_TRUE(a.contains("plugin")) << a.dump();
  EXPECT_FALSE(a["plugin"]["cached"].get<bool>());
  const auto b = parse_doc(smoke(python, env()));
  EXPECT_TRUE(b["plugin"]["cached"].get<bool>());
  EXPECT_EQ(a["plugin"]["key"], b["plugin"]["key"]);
  // A changed source is a changed key: rebuilt, not reused.
  dir.write("stub/src/stub_plugin.cpp",
            *fs::read_file(dir / "stub/src/stub_plugin.cpp") + "\n// changed\n");
  const auto c = parse_doc(smoke(python, env()));
  EXPECT_FALSE(c["plugin"]["cached"].get<bool>());
  EXPECT_NE(c["plugin"]["key"], a["plugin"]["key"]);
  // So are other compiler flags.
  auto flags = env();
  flags["SD35_PLUGIN_CXXFLAGS"] = "-O1";
  const auto d = parse_doc(smoke(python, flags));
  EXPECT_FALSE(d["plugin"]["cached"].get<bool>());
  EXPECT_NE(d["plugin"]["key"], c["plugin"]["key"]);
}

// A second run knows the environment's torch (pyenv/probe_cache): its Python side runs beside the
// native smoke, and is still run and reported in full. Bytecode goes to sd35-setup's cache, never
// into the environment.
TEST_F(SmokeEnv, ACachedRunChecksThePythonSideBesideTheSmoke) {
  const std::vector<std::string> python{"--python", (dir / "python").string()};
  const auto first = parse_doc(smoke(python, env()));
  ASSERT_TRUE(first.contains("timings")) << first.dump();
  EXPECT_FALSE(first["timings"]["python_side_concurrent"].get<bool>());
  const auto second = parse_doc(smoke(python, env()));
  ASSERT_TRUE(second.contains("timings")) << second.dump();
  EXPECT_TRUE(second["timings"]["python_side_concurrent"].get<bool>());
  EXPECT_GT(second["timings"]["inspect_seconds"].get<double>(), 0.0);
  EXPECT_TRUE(second["proven"].get<bool>());
  const auto ids_of = [](const nlohmann::json& doc) {
    std::vector<std::string> ids;
    for (const auto& c : doc["python_side"]["checks"]) ids.push_back(c["id"]);
    return ids;
  };
  const auto ids = ids_of(second);
  EXPECT_EQ(ids, ids_of(first));
  EXPECT_NE(std::find(ids.begin(), ids.end(), "torch.import"), ids.end()) << second.dump();
  EXPECT_NE(std::find(ids.begin(), ids.end(), "import.json"), ids.end()) << second.dump();
  bool pyc = false;
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(dir / "xdg/sd35-setup/pycache", ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec))
    pyc |= it->path().extension() == ".pyc";
  EXPECT_TRUE(pyc) << "no bytecode under the tool's pycache";
  // A missing companion still fails a cached run, with its own message.
  auto missing = smoke({"--python", (dir / "python").string(), "--require", "nosuchpkg"}, env());
  EXPECT_EQ(missing.exit_code, 3) << missing.out << missing.err;
  EXPECT_NE(missing.out.find("No module named 'nosuchpkg'"), std::string::npos) << missing.out;
}

// The rare case no stamp catches: the same interpreter, files and variables, yet another torch
// answers (here a fake interpreter that lies). The native part ran on the remembered torch's
// plugin, so the run proves nothing and says so; the record is forgotten and the next run is right.
TEST_F(SmokeEnv, AnotherTorchBehindUnchangedStampsIsNotProven) {
  const std::vector<std::string> python{"--python", (dir / "python").string()};
  ASSERT_EQ(smoke(python, env()).exit_code, 0);
  auto lying = env();
  lying["TORCH_AS"] = "2.99.0+cu999";
  const auto caught = smoke(python, lying);
  EXPECT_EQ(caught.exit_code, 3) << caught.out << caught.err;
  EXPECT_NE(caught.out.find("2.99.0+cu999"), std::string::npos) << caught.out;
  EXPECT_NE(caught.out.find("run the smoke again"), std::string::npos) << caught.out;
  const auto again = smoke(python, lying);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  const auto doc = parse_doc(again);
  EXPECT_EQ(doc["environment"]["torch"], "2.99.0+cu999");
  EXPECT_FALSE(doc["timings"]["python_side_concurrent"].get<bool>());
}

TEST_F(SmokeEnv, TwoConcurrentRunsBuildOnce) {
  const std::vector<std::string> python{"--python", (dir / "python").string()};
  auto launch = [&] {
    return std::async(std::launch::async, [&] { return smoke(python, env()); });
  };
  auto f1 = launch();
  auto f2 = launch();
  const auto r1 = f1.get(), r2 = f2.get();
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  const auto d1 = parse_doc(r1), d2 = parse_doc(r2);
  EXPECT_EQ(d1["plugin"]["key"], d2["plugin"]["key"]);
  const int built = !d1["plugin"]["cached"].get<bool>() + !d2["plugin"]["cached"].get<bool>();
  EXPECT_EQ(built, 1) << d1["plugin"].dump() << d2["plugin"].dump();
  int libraries = 0;
  for (const auto& entry : stdfs::directory_iterator(dir / "plugins"))
    libraries += stdfs::exists(entry.path() / "libsd35smoke.so");
  EXPECT_EQ(libraries, 1);
}

TEST_F(SmokeEnv, ABrokenCompilerIsExit3NamingTheBuildLog) {
  auto e = env();
  e["CXX"] = dir.write("broken-cxx",
                       "#!/bin/sh\n[ \"$1\" = --version ] && { echo broken-cxx 1.0; exit 0; }\n"
                       "echo 'stub.cpp:1:1: error: this compiler is broken' >&2\nexit 1\n",
                       true)
                 .string();
  const auto run = smoke({"--python", (dir / "python").string()}, e);
  EXPECT_EQ(run.exit_code, 3) << run.out << run.err;
  const auto doc = parse_doc(run);
  const std::string where = doc["error"]["where"].get<std::string>();
  EXPECT_NE(where.find("build.log"), std::string::npos) << doc.dump();
  EXPECT_TRUE(stdfs::exists(where));
  EXPECT_NE(doc["error"]["message"].get<std::string>().find("this compiler is broken"),
            std::string::npos);
  EXPECT_NE(fs::read_file(where)->find("this compiler is broken"), std::string::npos);
}

TEST_F(SmokeEnv, AnInterpreterWithoutTorchIsExit3NamingTorch) {
  // -S: no site-packages, so no torch; the interpreter itself runs fine.
  const auto bare = dir.write("bare-python", "#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n", true);
  const auto run = smoke({"--python", bare.string()}, env());
  EXPECT_EQ(run.exit_code, 3) << run.out << run.err;
  const auto doc = parse_doc(run);
  EXPECT_NE(doc["error"]["message"].get<std::string>().find("torch"), std::string::npos)
      << doc.dump();
  EXPECT_NE(doc["error"]["message"].get<std::string>().find("No module named 'torch'"),
            std::string::npos);
}

TEST_F(SmokeEnv, AMissingInterpreterIsAUsageError) {
  const auto run = smoke({"--python", (dir / "nope/python3").string()}, env());
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
}

TEST_F(SmokeEnv, AMissingPinnedCompanionFailsWithItsImportMessage) {
  const auto run = smoke(
      {"--python", (dir / "python").string(), "--require", "sd35_no_such_package>=1.0"}, env());
  EXPECT_EQ(run.exit_code, 3) << run.out << run.err;
  const auto doc = parse_doc(run);
  EXPECT_FALSE(doc["proven"].get<bool>());
  bool named = false;
  for (const auto& c : doc["python_side"]["checks"])
    named |= c["id"] == "import.sd35_no_such_package" && !c["ok"].get<bool>() &&
             c["error"].get<std::string>().find("No module named 'sd35_no_such_package'") !=
                 std::string::npos;
  EXPECT_TRUE(named) << doc["python_side"].dump();
}

TEST_F(SmokeEnv, AGpuHostWithACpuOnlyEnvironmentFailsInsteadOfPassingOnTheCpu) {
  const auto host = (stdfs::path(test::data_dir()) / "hosts/h100.json").string();
  auto run = test::run_cli({"--json", "smoke", "--synthetic", "--no-gemm-probe", "--python",
                            (dir / "python").string(), "--host", host, "--require", "json"},
                           env(), std::chrono::minutes(5));
  EXPECT_EQ(run.exit_code, 3) << run.out << run.err;
  auto doc = parse_doc(run);
  const std::string msg = doc["error"]["message"].get<std::string>();
  EXPECT_NE(msg.find("NVIDIA H100"), std::string::npos) << msg;
  EXPECT_NE(msg.find("CPU build"), std::string::npos) << msg;
  EXPECT_NE(doc["error"]["hint"].get<std::string>().find("install --venv"), std::string::npos);
  // The built-in plugin (Debian's CPU libtorch) is no proof on a GPU host either.
  run = test::run_cli({"--json", "smoke", "--synthetic", "--no-gemm-probe", "--host", host}, env(),
                      std::chrono::minutes(5));
  EXPECT_EQ(run.exit_code, 3) << run.out << run.err;
  doc = parse_doc(run);
  EXPECT_NE(doc["error"]["message"].get<std::string>().find("built-in libtorch"), std::string::npos)
      << doc.dump();
}

TEST_F(SmokeEnv, TheLockRecordsTheEnvironmentAndTheGateFailsOnAnotherTorch) {
  const std::vector<std::string> python{"--python", (dir / "python").string()};
  const auto run = smoke(python, env());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  dir.write("smoke.json", run.out);
  const auto lock = (dir / "sd35.lock.json").string();
  const std::string from = resolution();
  const auto locked = test::run_cli(
      {"--manifest", (dir / "manifest.json").string(), "--cache", (dir / "cache").string(), "lock",
       "--from", from, "--smoke-result", (dir / "smoke.json").string(), "--out", lock},
      env());
  ASSERT_EQ(locked.exit_code, 0) << locked.out << locked.err;
  const auto doc = nlohmann::json::parse(*fs::read_file(lock));
  const auto& e = doc["smoke"]["environment"];
  EXPECT_EQ(e["kind"], "python");
  EXPECT_EQ(e["interpreter"], (dir / "python").string());
  EXPECT_FALSE(e["torch"].get<std::string>().empty());
  EXPECT_EQ(e["device"], "cpu");
  EXPECT_EQ(e["native_fp8"], false);
  EXPECT_TRUE(doc["smoke"]["python_side"]["companions"].contains("json"));

  const std::vector<std::string> gate{
      "--cache", (dir / "cache").string(), "--json", "verify", "--lock", lock, "--smoke"};
  auto same = test::run_cli(gate, env(), std::chrono::minutes(5));
  auto findings = parse_doc(same)["findings"];
  ASSERT_TRUE(findings.is_array()) << same.out << same.err;
  bool env_pass = false;
  for (const auto& f : findings)
    env_pass |= f["id"] == "smoke:environment" && f["verdict"] == "pass";
  EXPECT_TRUE(env_pass) << findings.dump();

  // The same interpreter path now imports another torch: the gate re-runs the smoke there and
  // fails on the environment, not only on a fingerprint.
  auto other = env();
  other["TORCH_AS"] = "2.99.0+cu999";
  // As another torch really arrives on an unchanged interpreter path: through PYTHONPATH (which
  // the remembered torch facts are stamped with, so this run asks the interpreter first).
  other["PYTHONPATH"] = (dir / "other-site").string();
  auto changed = test::run_cli(gate, other, std::chrono::minutes(5));
  ASSERT_TRUE(parse_doc(changed).contains("findings")) << changed.out << changed.err;
  EXPECT_EQ(changed.exit_code, 4) << changed.out << changed.err;
  bool env_fail = false;
  const auto changed_doc = parse_doc(changed);
  for (const auto& f : changed_doc["findings"])
    env_fail |= f["id"] == "smoke:environment" && f["verdict"] == "fail" &&
                f["detail"].get<std::string>().find("2.99.0+cu999") != std::string::npos;
  EXPECT_TRUE(env_fail) << changed.out;

  // lock diff names the environment fields that moved: a second lock made in the other torch.
  const auto other_run = smoke(python, other);
  ASSERT_EQ(other_run.exit_code, 0) << other_run.err;
  dir.write("smoke2.json", other_run.out);
  const auto lock2 = (dir / "other.lock.json").string();
  ASSERT_EQ(test::run_cli({"--manifest", (dir / "manifest.json").string(), "--cache",
                           (dir / "cache").string(), "lock", "--from", from, "--smoke-result",
                           (dir / "smoke2.json").string(), "--out", lock2},
                          other)
                .exit_code,
            0);
  const auto diff = test::run_cli({"lock", "diff", lock, lock2}, env());
  EXPECT_NE(diff.out.find("environment.torch"), std::string::npos) << diff.out << diff.err;
  EXPECT_NE(diff.out.find("2.99.0+cu999"), std::string::npos) << diff.out;
}

TEST_F(SmokeEnv, ALockRefusesASmokeResultThatProvedNothing) {
  auto failed = nlohmann::json::parse(R"({"ok": false, "proven": false, "fingerprint": {}})");
  dir.write("smoke.json", failed.dump());
  const std::string from = resolution();
  const auto run =
      test::run_cli({"--manifest", (dir / "manifest.json").string(), "--cache",
                     (dir / "cache").string(), "lock", "--from", from, "--smoke-result",
                     (dir / "smoke.json").string(), "--out", (dir / "sd35.lock.json").string()},
                    env());
  EXPECT_EQ(run.exit_code, 3) << run.out << run.err;
  EXPECT_FALSE(stdfs::exists(dir / "sd35.lock.json"));
}

// On a GPU machine (tests/tools/gpu_env_e2e.sh sets SD35_TEST_GPU_PYTHON to the interpreter of a
// CUDA torch): the environment's plugin runs native FP8 with the fused kernels. A silent fallback
// to the ATen block or to fp8-weights fails here; it does not skip.
TEST(SmokeEnvGpu, NativeFp8WithFusedKernelsOnTheEnvironmentsGpu) {
  const char* python = std::getenv("SD35_TEST_GPU_PYTHON");
  if (python == nullptr || *python == '\0' || test::cli_binary().empty())
    GTEST_SKIP() << "no GPU environment (SD35_TEST_GPU_PYTHON unset)";
  test::TempDir dir;
  const auto run =
      test::run_cli({"--json", "smoke", "--synthetic", "--python", python, "--require", "json"},
                    {{"SD35_PLUGIN_CACHE", (dir / "plugins").string()}}, std::chrono::minutes(9));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto doc = parse_doc(run);
  const auto& e = doc["environment"];
  EXPECT_NE(e["device"], "cpu") << e.dump();
  EXPECT_TRUE(e["native_fp8"].get<bool>()) << doc["fallback_reason"];
  EXPECT_TRUE(e["fused_kernels"].get<bool>()) << doc["summary"].dump();
  EXPECT_NE(e["fused_kernels_built"], "none");
  EXPECT_TRUE(doc["fused_kernels"]["ok"].get<bool>()) << doc["fused_kernels"].dump();
  bool scaled_mm = false;
  for (const auto& c : doc["python_side"]["checks"])
    scaled_mm |= c["id"] == "torch._scaled_mm" && c["ok"].get<bool>();
  EXPECT_TRUE(scaled_mm) << doc["python_side"].dump();
}

}  // namespace
}  // namespace sd35
