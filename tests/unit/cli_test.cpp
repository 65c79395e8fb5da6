// End-to-end: the built sd35-setup binary, its exit codes and outputs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "checks/check.hpp"
#include "support/test_env.hpp"

namespace sd35 {
namespace {

std::string host(const char* name) {
  return (test::data_dir() / "hosts" / name).string();
}

TEST(Cli, VersionAndHelp) {
  auto v = test::run_cli({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("sd35-setup " SD35_VERSION), std::string::npos);
  auto h = test::run_cli({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("doctor"), std::string::npos);
  EXPECT_NE(h.out.find("probe"), std::string::npos);
}

TEST(Cli, UsageErrorsExit2) {
  EXPECT_EQ(test::run_cli({}).exit_code, 2);
  EXPECT_EQ(test::run_cli({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(test::run_cli({"doctor", "--host", "/nonexistent.json"}).exit_code, 2);
}

TEST(Cli, ProbeJsonHasTheDocumentedKeys) {
  auto r = test::run_cli({"--json", "probe"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"schema_version", "os", "glibc", "cpu", "memory_bytes", "nvidia", "python",
                        "disk", "env", "tools"})
    EXPECT_TRUE(j.contains(k)) << k;
  for (const char* k : {"id", "version", "kernel", "arch"}) EXPECT_TRUE(j["os"].contains(k)) << k;
  for (const char* k : {"model", "cores", "flags"}) EXPECT_TRUE(j["cpu"].contains(k)) << k;
  ASSERT_FALSE(j["disk"].empty());
  for (const char* k : {"path", "free_bytes", "total_bytes", "fs_type", "rotational"})
    EXPECT_TRUE(j["disk"][0].contains(k)) << k;
  for (const char* k : {"git", "git_lfs"}) EXPECT_TRUE(j["tools"].contains(k)) << k;
  ASSERT_FALSE(j["python"].empty());
  for (const char* k : {"path", "version", "torch", "xformers", "diffusers", "transformers"})
    EXPECT_TRUE(j["python"][0].contains(k)) << k;
}

TEST(Cli, ProbeOutRoundTripsIntoDoctorHost) {
  test::TempDir dir;
  auto out = (dir / "facts.json").string();
  auto r = test::run_cli({"probe", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = test::run_cli({"--json", "doctor", "--host", out});
  EXPECT_TRUE(d.exit_code == 0 || d.exit_code == 3) << d.err;
  auto j = nlohmann::json::parse(d.out);
  EXPECT_EQ(j["host_source"], out);
}

struct HostVerdict {
  const char* file;
  int exit_code;
};
class CliDoctorHost : public ::testing::TestWithParam<HostVerdict> {};

TEST_P(CliDoctorHost, ExpectedVerdict) {
  auto r = test::run_cli({"--json", "doctor", "--host", host(GetParam().file)});
  EXPECT_EQ(r.exit_code, GetParam().exit_code) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ready"], GetParam().exit_code == 0);
  // Every registered check reports exactly once (not a hard-coded count that a dropped check
  // and a duplicated one would both keep).
  std::multiset<std::string> reported, registered;
  for (const auto& c : j["checks"]) reported.insert(c.at("id").get<std::string>());
  for (const auto* def : checks::all_checks()) registered.insert(std::string(def->info.id));
  EXPECT_EQ(reported, registered);
}

INSTANTIATE_TEST_SUITE_P(
    Hosts, CliDoctorHost,
    ::testing::Values(HostVerdict{"h100.json", 0}, HostVerdict{"rtx4090-driver535.json", 0},
                      HostVerdict{"a100.json", 3},       // xformers built for another torch
                      HostVerdict{"v100.json", 3},       // sm_70 not in cu130 build
                      HostVerdict{"driver470.json", 3},  // Python 3.8
                      HostVerdict{"ci-no-gpu.json", 3}),
    [](const auto& info) {
      std::string n = info.param.file;
      for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

TEST(Cli, BadManifestExits2NamingFileAndPlace) {
  test::TempDir dir;
  auto bad_json =
      dir.write("bad.json", "{\n  \"schema_version\": 1,\n  \"name\": \"x\"\n  \"model\": {}\n}\n");
  auto r = test::run_cli({"--manifest", bad_json.string(), "doctor", "--host", host("h100.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(bad_json.string() + ":4:"), std::string::npos) << r.err;
  auto bad_version = dir.write("v.json", "{\"schema_version\": 9}");
  r = test::run_cli({"--manifest", bad_version.string(), "doctor", "--host", host("h100.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("schema_version 9"), std::string::npos) << r.err;
  r = test::run_cli({"--manifest", (dir / "missing.json").string(), "doctor"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.json"), std::string::npos) << r.err;
}

TEST(Cli, JsonErrorDocumentOnStdout) {
  test::TempDir dir;
  auto bad = dir.write("bad.json", "{\"schema_version\": 1, \"name\": 5}");
  auto r =
      test::run_cli({"--json", "--manifest", bad.string(), "doctor", "--host", host("h100.json")});
  EXPECT_EQ(r.exit_code, 2);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["error"]["where"], bad.string() + ": /name");
}

TEST(Cli, PlainOutputHasNoEscapesWhenPiped) {
  auto r = test::run_cli({"doctor", "--host", host("ci-no-gpu.json")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_NE(r.out.find("FAIL gpu.present"), std::string::npos);
  EXPECT_NE(r.out.find("NOT READY"), std::string::npos);
}

TEST(Cli, DoctorOnThisMachineRunsWithoutCrashing) {
  auto r = test::run_cli({"doctor"});
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.out << r.err;
  EXPECT_NE(r.out.find("gpu.present"), std::string::npos);
}

}  // namespace
}  // namespace sd35
