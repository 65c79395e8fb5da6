// fleet/: quoting, the exports on the example lock (tests/data/fleet/example.lock.json) and the
// Prometheus textfile. The Kubernetes manifests are validated against the API's models with
// Debian's python3-kubernetes (tests/tools/k8s_validate.py), the textfile with
// python3-prometheus-client's parser (tests/tools/prom_parse.py).
#include "fleet/fleet.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "lock/lockfile.hpp"
#include "support/test_env.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;

stdfs::path example_lock() {
  return test::data_dir() / "fleet/example.lock.json";
}

// Debian's python3 (the packaged libraries live there), else the PATH one.
std::string debian_python() {
  return stdfs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

proc::Outcome run(std::vector<std::string> argv) {
  proc::Command c;
  c.argv = std::move(argv);
  c.timeout = std::chrono::seconds(60);
  auto r = proc::run(c);
  EXPECT_TRUE(r.has_value());
  return r ? *r : proc::Outcome{};
}

std::string tool(const char* name) {
  return (test::source_dir() / "tests/tools" / name).string();
}

std::string read(const stdfs::path& p) {
  auto r = fs::read_file(p);
  EXPECT_TRUE(r.has_value()) << p;
  return r ? *r : std::string();
}

std::vector<std::string> str_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    if (nl > start) out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

TEST(FleetText, ShellQuoteGivesOneWordWhateverTheBytes) {
  for (std::string s :
       {"plain", "with space", "it's", "$(rm -rf /)", "a\"b\\c`d`", "new\nline", ""}) {
    auto r = run({"/bin/bash", "-c", "printf %s " + fleet::shell_quote(s)});
    EXPECT_EQ(r.out, s);
  }
}

TEST(FleetText, SlurmReasonIsOnePrefixedPrintableLine) {
  const std::string r = fleet::slurm_reason("model:a.safetensors: sha256 \"x\"\n'y' `z` \\ é " +
                                            std::string(400, 'w'));
  EXPECT_TRUE(r.starts_with("sd35-setup: model:a.safetensors: sha256 x y z")) << r;
  EXPECT_LE(r.size(), fleet::kMaxSlurmReason);
  for (char c : r) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f && c != '"' && c != '\'' && c != '\\' && c != '`') << r;
  }
  EXPECT_EQ(fleet::short_digest("sha256:0123456789abcdef0123"), "0123456789abcdef");
}

TEST(FleetText, YamlScalarsAreQuotedWhenYamlWouldReadThemOtherwise) {
  nlohmann::ordered_json j = {{"kind", "DaemonSet"},
                              {"t", "true"},
                              {"n", "300"},
                              {"list", nlohmann::ordered_json::array({"a", 1})},
                              {"script", "line1\n  line2\n"}};
  EXPECT_EQ(
      fleet::to_yaml(j),
      "kind: DaemonSet\nt: \"true\"\n\"n\": \"300\"\nlist:\n- a\n- 1\nscript: |\n  line1\n    "
      "line2\n");
}

class FleetExport : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::cli_binary().empty()) GTEST_SKIP() << "needs SD35_BIN";
    auto l = lock::load(example_lock().string());
    ASSERT_TRUE(l) << l.error().describe();
    digest_ = lock::digest_of(lock::to_json_unsigned(*l));
  }
  proc::Outcome export_to(const std::string& target, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--cache", (dir_ / "hub").string(), "export", target,
        "--lock",  example_lock().string(), "--out",  (dir_ / target).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_cli(args);
  }
  test::TempDir dir_;
  std::string digest_;
};

TEST_F(FleetExport, SlurmScriptsEmbedTheBinaryTheLockCopyAndItsDigest) {
  auto r = export_to("slurm", {"--venv", "/opt/sd35 venv", "--prolog-smoke"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto d = dir_ / "slurm";
  for (const char* f : {"sd35-healthcheck.sh", "sd35-prolog.sh"}) {
    struct stat st {};
    ASSERT_EQ(::stat((d / f).c_str(), &st), 0) << f;
    EXPECT_TRUE(st.st_mode & S_IXUSR) << f;
    const std::string text = read(d / f);
    EXPECT_NE(text.find("readonly SD35_BIN='" + test::cli_binary()), std::string::npos) << f;
    EXPECT_NE(text.find("readonly SD35_LOCK='" + (d / "sd35.lock.json").string() + "'"),
              std::string::npos);
    EXPECT_NE(text.find("readonly SD35_LOCK_DIGEST='" + digest_ + "'"), std::string::npos);
    EXPECT_NE(text.find("readonly SD35_VENV='/opt/sd35 venv'"), std::string::npos);
    EXPECT_NE(text.find("set -euo pipefail"), std::string::npos);
    EXPECT_FALSE(std::regex_search(text, std::regex("@[A-Z_]+@"))) << "a placeholder left in " << f;
    EXPECT_EQ(run({"/bin/bash", "-n", (d / f).string()}).exit_code, 0) << f;
    if (auto sc = proc::which("shellcheck")) {
      auto c = run({*sc, "-s", "bash", (d / f).string()});
      EXPECT_EQ(c.exit_code, 0) << c.out;
    }
  }
  EXPECT_NE(read(d / "sd35-healthcheck.sh").find("mode=\"${SD35_GATE_MODE:-fast}\""),
            std::string::npos);
  EXPECT_NE(read(d / "sd35-prolog.sh").find("mode=\"${SD35_GATE_MODE:-full}\""), std::string::npos);
  EXPECT_EQ(read(d / "sd35.lock.json"), read(example_lock()));
  const std::string conf = read(d / "slurm.conf.snippet");
  EXPECT_NE(conf.find("HealthCheckProgram=" + (d / "sd35-healthcheck.sh").string()),
            std::string::npos);
  EXPECT_NE(conf.find("Prolog=" + (d / "sd35-prolog.sh").string()), std::string::npos);
  EXPECT_TRUE(stdfs::exists(d / "README.md"));
}

TEST_F(FleetExport, K8sManifestsValidateAgainstTheApiSchema) {
  auto r = export_to("k8s", {"--venv", "/opt/venv", "--nodes", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto d = dir_ / "k8s";
  const std::string ds = read(d / "daemonset.yaml");
  EXPECT_NE(ds.find("kind: DaemonSet"), std::string::npos);
  EXPECT_NE(ds.find("nvidia.com/gpu.present"), std::string::npos);
  EXPECT_NE(ds.find("fieldPath: spec.nodeName"), std::string::npos);
  const std::string short_lock = fleet::short_digest(digest_);
  ASSERT_EQ(short_lock.size(), 16u);
  EXPECT_NE(ds.find("sd35-setup/lock: " + short_lock), std::string::npos) << ds;
  const std::string rbac = read(d / "rbac.yaml");
  EXPECT_NE(rbac.find("- get\n  - patch\n"), std::string::npos) << rbac;

  std::vector<std::string> argv = {debian_python(), tool("k8s_validate.py")};
  for (const char* f : {"rbac.yaml", "lock-configmap.yaml", "daemonset.yaml", "job.yaml"})
    argv.push_back((d / f).string());
  auto v = run(argv);
  if (v.exit_code == 77) GTEST_SKIP() << v.out;
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("7 document(s) valid"), std::string::npos) << v.out;

  // The lock round-trips byte for byte through the ConfigMap's YAML.
  auto cm = run({debian_python(), "-c",
                 "import sys,yaml;sys.stdout.write(yaml.safe_load(open(sys.argv[1]))['data']"
                 "['sd35.lock.json'])",
                 (d / "lock-configmap.yaml").string()});
  EXPECT_EQ(cm.out, read(example_lock()));

  // The validator is strict: an unknown field is refused.
  const auto bad = dir_.write("bad.yaml",
                              "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n"
                              "  name: x\nspec:\n  selector: {}\n  templat: {}\n");
  auto b = run({debian_python(), tool("k8s_validate.py"), bad.string()});
  EXPECT_EQ(b.exit_code, 1) << b.out;
  EXPECT_NE(b.out.find("unknown field 'templat'"), std::string::npos) << b.out;
}

TEST_F(FleetExport, DockerfileFromTheLock) {
  auto r = export_to("docker");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto d = dir_ / "docker";
  const std::string df = read(d / "Dockerfile");
  EXPECT_NE(df.find("FROM nvidia/cuda:12.8.1-runtime-ubuntu22.04\n"), std::string::npos) << df;
  EXPECT_NE(df.find("python3.11 -m venv /opt/venv"), std::string::npos) << df;
  EXPECT_NE(df.find("pip install --no-cache-dir --require-hashes"), std::string::npos);
  EXPECT_NE(df.find("HEALTHCHECK"), std::string::npos);
  const std::string req = read(d / "requirements.txt");
  auto l = lock::load(example_lock().string());
  ASSERT_TRUE(l);
  for (const auto& p : l->packages)
    EXPECT_NE(
        req.find(p.name + " @ " + p.url + "#sha256=" + p.sha256 + " --hash=sha256:" + p.sha256),
        std::string::npos)
        << req;
  EXPECT_EQ(fleet::cuda_base_image("cpu", "3.11.2"), "");
  EXPECT_EQ(fleet::cuda_base_image("cu126", "3.12.1"), "nvidia/cuda:12.6.3-runtime-ubuntu24.04");
}

TEST(FleetPrometheus, TextfileParsesWithTheExpositionParser) {
  test::TempDir dir;
  const nlohmann::json doc = {
      {"ok", false},
      {"lock", "/x/sd35.lock.json"},
      {"lock_digest", "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
      {"seconds", 0.25},
      {"findings",
       {{{"id", "model:we\"ird\\na\nme"}, {"verdict", "fail"}},
        {{"id", "host:driver"}, {"verdict", "pass"}},
        {{"id", "package:*"}, {"verdict", "skip"}},
        {{"id", "smoke:fingerprint"},
         {"verdict", "pass"},
         {"data",
          {{"paths", {{{"precision", "fp8"}, {"ms_per_step", 125.0}}}},
           {"gemm_probe", {{"rows", {{{"shape", "square_8192"}, {"fp8_tflops", 1210.5}}}}}}}}}}}};
  const auto file = dir / "sd35_gate.prom";
  ASSERT_TRUE(fleet::write_prometheus_textfile(file, doc, 1764600000.0));
  auto r = run({debian_python(), tool("prom_parse.py"), file.string()});
  if (r.exit_code == 77) GTEST_SKIP() << r.out;
  ASSERT_EQ(r.exit_code, 0) << r.out << read(file);
  std::map<std::string, double> v;
  for (const auto& line : str_lines(r.out)) {
    auto s = nlohmann::json::parse(line);
    std::string key = s["name"].get<std::string>();
    if (s["labels"].contains("check")) key += "/" + s["labels"]["check"].get<std::string>();
    v[key] = s["value"].get<double>();
    EXPECT_EQ(s["labels"]["lock"], "0011223344556677") << line;
  }
  EXPECT_EQ(v["sd35_gate_ready"], 0);
  EXPECT_EQ(v["sd35_gate_check_ok/model:we\"ird\\na\nme"], 0);  // unescaped back exactly
  EXPECT_EQ(v["sd35_gate_check_ok/host:driver"], 1);
  EXPECT_EQ(v.count("sd35_gate_check_ok/package:*"), 0u);
  EXPECT_EQ(v["sd35_gate_checks_skipped"], 1);
  EXPECT_DOUBLE_EQ(v["sd35_gate_smoke_step_seconds"], 0.125);
  EXPECT_DOUBLE_EQ(v["sd35_gate_smoke_fp8_tflops"], 1210.5);
  EXPECT_EQ(v["sd35_gate_last_run_timestamp_seconds"], 1764600000.0);
}

}  // namespace
}  // namespace sd35
