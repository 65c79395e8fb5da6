#include <gtest/gtest.h>

#include "host/probe.hpp"
#include "support/test_env.hpp"

namespace sd35 {
namespace {

// A fake machine root: /sys, /proc and /etc files as a real H100 box has them.
struct FakeRoot {
  test::TempDir dir;
  FakeRoot() {
    dir.write("etc/os-release",
              "PRETTY_NAME=\"Ubuntu 24.04 LTS\"\nID=ubuntu\nVERSION_ID=\"24.04\"\n");
    dir.write("proc/sys/kernel/osrelease", "6.8.0-45-generic\n");
    dir.write("proc/cpuinfo",
              "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu sse "
              "avx2 avx512f sha_ni\n\n"
              "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu sse "
              "avx2 avx512f sha_ni\n");
    dir.write("proc/meminfo", "MemTotal:       2113406112 kB\nMemFree:        1000 kB\n");
    dir.write("glibc-version", "2.39\n");
  }
  ProbeOptions options() const {
    ProbeOptions o;
    o.root = dir.path();
    o.probe_path_python = false;
    o.nvml_library.clear();
    o.cuda_library.clear();
    o.probe_tools = false;
    return o;
  }
};

TEST(HostProbe, ParsesProcDriverVersionForBothModuleFlavours) {
  EXPECT_EQ(parse_proc_driver_version("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  "
                                      "580.159.04  Release Build  (nixbld@)  \n"
                                      "GCC version:  gcc version 15.3.0 (GCC) \n"),
            "580.159.04");
  EXPECT_EQ(parse_proc_driver_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  "
                                      "Sat Aug 19 01:15:15 UTC 2023\n"),
            "535.104.05");
  EXPECT_FALSE(parse_proc_driver_version("garbage\n"));
}

TEST(HostProbe, NoDriverMeansNullNvidia) {
  FakeRoot root;
  auto facts = probe_host(root.options());
  ASSERT_TRUE(facts);
  EXPECT_FALSE(facts->nvidia.has_value());
  EXPECT_EQ(facts->os.id, "ubuntu");
  EXPECT_EQ(facts->os.version, "24.04");
  EXPECT_EQ(facts->os.kernel, "6.8.0-45-generic");
  EXPECT_EQ(facts->glibc, "2.39");
  EXPECT_EQ(facts->cpu.cores, 2);
  EXPECT_EQ(facts->cpu.model, "Intel(R) Xeon(R) Platinum 8480+");
  EXPECT_EQ(facts->cpu.flags, (std::vector<std::string>{"avx2", "avx512f", "sha_ni"}));
  EXPECT_EQ(facts->memory_bytes, 2113406112ull * 1024);
}

TEST(HostProbe, DriverFromSysAndGpusThroughNvml) {
  FakeRoot root;
  root.dir.write("sys/module/nvidia/version", "550.54.14\n");
  ::setenv("FAKE_NVML_SPEC",
           "driver=550.54.14;cuda=12040;gpu=NVIDIA H100 80GB HBM3,9,0,85520809984,84000000000;"
           "gpu=NVIDIA L4,8,9,24152899584,24000000000",
           1);
  auto o = root.options();
  o.nvml_library = test::env_path("SD35_FAKE_NVML");
  o.cuda_library = test::env_path("SD35_FAKE_NVML");
  auto facts = probe_host(o);
  ::unsetenv("FAKE_NVML_SPEC");
  ASSERT_TRUE(facts);
  ASSERT_TRUE(facts->nvidia);
  EXPECT_EQ(facts->nvidia->driver_version, "550.54.14");
  EXPECT_EQ(facts->nvidia->source, "/sys/module/nvidia/version");
  EXPECT_EQ(facts->nvidia->cuda_driver_version, 12040);
  ASSERT_EQ(facts->nvidia->gpus.size(), 2u);
  EXPECT_EQ(facts->nvidia->gpus[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(facts->nvidia->gpus[0].compute_capability, "9.0");
  EXPECT_EQ(facts->nvidia->gpus[0].memory_total_mib, 81559u);
  EXPECT_EQ(facts->nvidia->gpus[1].compute_capability, "8.9");
}

TEST(HostProbe, ProcFallbackAndNvmlMismatchIsANote) {
  FakeRoot root;
  root.dir.write(
      "proc/driver/nvidia/version",
      "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n");
  ::setenv("FAKE_NVML_INIT_RC", "18", 1);
  auto o = root.options();
  o.nvml_library = test::env_path("SD35_FAKE_NVML");
  auto facts = probe_host(o);
  ::unsetenv("FAKE_NVML_INIT_RC");
  ASSERT_TRUE(facts && facts->nvidia);
  EXPECT_EQ(facts->nvidia->driver_version, "535.104.05");
  EXPECT_EQ(facts->nvidia->source, "/proc/driver/nvidia/version");
  EXPECT_TRUE(facts->nvidia->gpus.empty());
  ASSERT_FALSE(facts->notes.empty());
  EXPECT_NE(facts->notes[0].find("reboot"), std::string::npos);
}

TEST(HostProbe, MissingNvmlLibraryIsANoteNotAFailure) {
  FakeRoot root;
  root.dir.write("sys/module/nvidia/version", "580.65.06\n");
  auto o = root.options();
  o.nvml_library = "/nonexistent/libnvidia-ml.so.1";
  auto facts = probe_host(o);
  ASSERT_TRUE(facts && facts->nvidia);
  EXPECT_EQ(facts->nvidia->driver_version, "580.65.06");
  ASSERT_EQ(facts->notes.size(), 1u);
  EXPECT_NE(facts->notes[0].find("NVML"), std::string::npos);
}

TEST(HostProbe, FakeInterpretersWithTorchXformersAndFailures) {
  FakeRoot root;
  auto good = root.dir.write(
      "bin/python-torch",
      "#!/bin/sh\necho 'some import warning'\n"
      "echo '{\"version\": \"3.12.3\", \"diffusers\": \"0.31.0\", \"transformers\": null, "
      "\"torch\": {\"version\": \"2.11.0+cu130\", \"cuda\": \"13.0\", \"float8\": true, "
      "\"scaled_mm\": \"tensor\", \"arch_list\": [\"sm_75\", \"sm_90\"], \"cxx11_abi\": true}, "
      "\"xformers\": {\"version\": \"0.0.35\", \"built_for_torch\": null}}'\n",
      true);
  auto broken = root.dir.write("bin/python-broken", "#!/bin/sh\necho boom >&2\nexit 1\n", true);
  auto slow = root.dir.write("bin/python-slow", "#!/bin/sh\nsleep 10\n", true);
  auto o = root.options();
  o.pythons = {good.string(), broken.string(), slow.string()};
  o.python_timeout = std::chrono::milliseconds(500);
  auto facts = probe_host(o);
  ASSERT_TRUE(facts);
  ASSERT_EQ(facts->python.size(), 3u);
  const auto& p = facts->python[0];
  EXPECT_EQ(p.version, "3.12.3");
  ASSERT_TRUE(p.torch);
  EXPECT_EQ(p.torch->version, "2.11.0+cu130");
  EXPECT_EQ(p.torch->cuda, "13.0");
  EXPECT_TRUE(p.torch->float8);
  EXPECT_EQ(p.torch->arch_list.size(), 2u);
  ASSERT_TRUE(p.xformers);
  EXPECT_EQ(p.xformers->version, "0.0.35");
  EXPECT_EQ(p.diffusers, "0.31.0");
  EXPECT_FALSE(p.transformers);
  ASSERT_TRUE(facts->python[1].error);
  EXPECT_NE(facts->python[1].error->find("boom"), std::string::npos);
  ASSERT_TRUE(facts->python[2].error);
  EXPECT_NE(facts->python[2].error->find("timed out"), std::string::npos);
  EXPECT_EQ(facts->primary_python(), &facts->python[0]);
}

TEST(HostProbe, RealPythonOnThisMachine) {
  auto py = proc::which("python3");
  if (!py) GTEST_SKIP() << "no python3 on PATH";
  PythonFacts p = probe_python(*py, std::chrono::milliseconds(30000));
  ASSERT_FALSE(p.error) << *p.error;
  EXPECT_TRUE(p.version.starts_with("3."));
}

TEST(HostProbe, DiskFactsForExistingAndNotYetCreatedPaths) {
  test::TempDir dir;
  DiskFacts d = probe_disk(dir / "not/created/yet", "cache", "/");
  EXPECT_EQ(d.role, "cache");
  EXPECT_GT(d.total_bytes, 0u);
  EXPECT_TRUE(d.writable);
  EXPECT_FALSE(d.fs_type.empty());
}

TEST(HostProbe, EnvReportsTokenPresenceOnly) {
  ::setenv("HF_TOKEN", "hf_supersecretvalue", 1);
  ::setenv("TRANSFORMERS_CACHE", "/x/y", 1);
  auto env = probe_env();
  ::unsetenv("HF_TOKEN");
  ::unsetenv("TRANSFORMERS_CACHE");
  EXPECT_EQ(env.at("HF_TOKEN"), "<set>");
  EXPECT_EQ(env.at("TRANSFORMERS_CACHE"), "/x/y");
  for (const auto& [k, v] : env) EXPECT_EQ(v.find("supersecret"), std::string::npos) << k;
}

TEST(HostFacts, JsonRoundTripAndStrictErrors) {
  auto facts = load_host_facts((test::data_dir() / "hosts/h100.json").string());
  ASSERT_TRUE(facts) << facts.error().describe();
  auto again = host_facts_from_json(to_json(*facts), "roundtrip");
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(to_json(*again), to_json(*facts));
  auto j = to_json(*facts);
  j["nvidia"]["gpus"][0]["compute_capability"] = 9.0;
  auto bad = host_facts_from_json(j, "h.json");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().where, "h.json: /nvidia/gpus/0/compute_capability");
  j = to_json(*facts);
  j["schema_version"] = 7;
  EXPECT_EQ(host_facts_from_json(j, "h.json").error().code, Errc::unsupported_version);
}

}  // namespace
}  // namespace sd35
