// The exit-code contract of docs/cli.md#exit-codes, one row per command and failure class: the
// real sd35-setup binary runs each row twice. Plain: the exit code, the message naming the file,
// host or check, and a `hint:` on stderr. --json: stdout is exactly one {"ok": false, ...}
// document with that exit code (and, for an error, its hint). Servers are local: a port nothing
// listens on (connection refused), a `.invalid` host (DNS), a TLS front whose certificate no
// system CA signed (tests/tools/make_test_ca.sh + lfs_hub.py --tls-cert), and a port that accepts
// connections and never answers (timeouts: fetch's --stall-timeout, pip's PIP_TIMEOUT).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "net/local_hub.hpp"
#include "net/loopback_port.hpp"
#include "support/test_env.hpp"
#include "support/tiny_model_cache.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;

struct Row {
  std::string name;               // the test's name: command_class_detail
  std::vector<std::string> args;  // {tmp}, {data}, {refused}, {silent}, {tls} are replaced
  int code;                       // the exit code docs/cli.md promises
  std::string names;              // what the output must name (file, host, check); may be empty
  std::map<std::string, std::string> env = {};  // more environment (placeholders replaced)
};

using testing::refused_port;
using testing::silent_port;

class ExitContract : public ::testing::TestWithParam<Row> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    dir_->write("bad.json", "{ \"schema_version\": 1, oops");
    dir_->write("empty/.keep", "");
    const json environment = {{"python", ">=3.8"},
                              {"candidates", {{{"torch", "2.5.1"}, {"cuda", {"cpu"}}}}}};
    dir_->write("cpu-manifest.json", testing::tiny_manifest({{"path", "model.safetensors"},
                                                             {"size", 4096},
                                                             {"sha256", std::string(64, 'a')}},
                                                            environment, json::object())
                                         .dump());
    dir_->write("model/model.safetensors", std::string(4096, 'x'));  // not the manifest's sha256
    // A fake venv on the system interpreter: pip installs into it (it fails first, here).
    dir_->write("venv/pyvenv.cfg", "home = /usr/bin\ninclude-system-site-packages = true\n");
    stdfs::create_directories(*dir_ / "venv/bin");
    stdfs::create_symlink("/usr/bin/python3", *dir_ / "venv/bin/python");
    refused_ = "http://127.0.0.1:" + std::to_string(refused_port());
    write_resolution("refused-resolve.json", refused_);
    write_resolution("dns-resolve.json", "http://sd35-contract.invalid");
    silent_ = "http://127.0.0.1:" + std::to_string(silent_port());
    write_resolution("silent-resolve.json", silent_);
    write_resolution("tls-resolve.json", tls_url());
    // A host whose Python is the fake venv: pip runs there (no externally-managed refusal).
    auto host = json::parse(*fs::read_file(test::data_dir() / "hosts/ci-no-gpu.json"));
    host["python"][0]["path"] = (*dir_ / "venv/bin/python").string();
    dir_->write("venv-host.json", host.dump());
    // Two valid lockfiles of two hosts.
    for (const auto& [lock, host] :
         {std::pair{"a.lock.json", "ci-no-gpu.json"}, std::pair{"b.lock.json", "h100.json"}}) {
      auto r = run({"lock", "--from", (*dir_ / "refused-resolve.json").string(), "--host",
                    (test::data_dir() / "hosts" / host).string(), "--out", (*dir_ / lock).string()},
                   false);
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
  static void TearDownTestSuite() {
    tls_.reset();
    delete dir_;
    dir_ = nullptr;
  }

  static void write_resolution(const std::string& file, const std::string& base) {
    const std::string whl = "torch-2.5.1+cpu-cp311-cp311-manylinux_2_28_x86_64.whl";
    json pkg = {{"name", "torch"},
                {"specifier", "==2.5.1+cpu"},
                {"version", "2.5.1+cpu"},
                {"file", whl},
                {"url", base + "/whl/cpu/" + whl},
                {"sha256", std::string(64, 'a')},
                {"index_url", base + "/whl/cpu"}};
    dir_->write(file, json({{"selected",
                             {{"torch", "2.5.1"},
                              {"cuda", "cpu"},
                              {"python", "3.11.2"},
                              {"index_url", base + "/whl/cpu"},
                              {"packages", {pkg}}}}})
                          .dump());
  }

  // The TLS front, started by the first row that needs it.
  static std::string tls_url() {
    if (!tls_) {
      const auto ca = *dir_ / "ca";
      proc::Command c;
      c.argv = {"/bin/sh", (testing::hub_detail::tools_dir() / "make_test_ca.sh").string(),
                ca.string()};
      auto r = proc::run(c);
      if (!r || !r->success()) throw std::runtime_error("make_test_ca.sh failed");
      tls_ = std::make_unique<testing::LocalHub>(
          json::object(), std::vector<std::string>{"--tls-cert", (ca / "server.pem").string(),
                                                   "--tls-key", (ca / "server.key").string()});
    }
    return tls_->git_url();
  }

  static std::string expand(std::string arg) {
    const std::pair<std::string, std::string> vars[] = {
        {"{tmp}", dir_->path().string()},
        {"{data}", test::data_dir().string()},
        {"{refused}", refused_},
        {"{silent}", silent_},
    };
    for (const auto& [k, v] : vars)
      for (auto at = arg.find(k); at != std::string::npos; at = arg.find(k))
        arg.replace(at, k.size(), v);
    if (auto at = arg.find("{tls}"); at != std::string::npos) arg.replace(at, 5, tls_url());
    return arg;
  }

  // The binary in {tmp}/empty (no sd35.lock.json, no sd35-resolve.json there), with a cache,
  // HOME and pip of its own and no proxy.
  static proc::Outcome run(const std::vector<std::string>& args, bool json_mode,
                           const std::map<std::string, std::string>& env = {}) {
    proc::Command c;
    c.argv = {test::cli_binary()};
    if (json_mode) c.argv.emplace_back("--json");
    for (const auto& a : args) c.argv.push_back(expand(a));
    c.cwd = (*dir_ / "empty").string();
    c.env_overrides = {{"HF_HUB_CACHE", (*dir_ / "cache").string()},
                       {"HOME", dir_->path().string()},
                       {"PIP_RETRIES", "1"},  // one retry: pip then names its network error
                       {"PIP_TIMEOUT", "5"},
                       {"PIP_CONFIG_FILE", "/dev/null"},
                       {"NO_COLOR", "1"}};
    for (const auto& [k, v] : env) c.env_overrides[k] = expand(v);
    c.env_remove = {"PIP_FIND_LINKS", "PIP_INDEX_URL",      "PIP_EXTRA_INDEX_URL",
                    "PIP_NO_INDEX",   "http_proxy",         "HTTP_PROXY",
                    "https_proxy",    "HTTPS_PROXY",        "all_proxy",
                    "ALL_PROXY",      "HF_TOKEN",           "HF_ENDPOINT",
                    "HF_HUB_OFFLINE", "SSL_CERT_FILE",      "SSL_CERT_DIR",
                    "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "GIT_SSL_CAINFO"};
    std::erase_if(c.env_remove, [&](const std::string& k) { return env.count(k) != 0; });
    c.timeout = std::chrono::seconds(60);
    auto r = proc::run(c);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().describe());
    return r ? *r : proc::Outcome{};
  }

  static inline test::TempDir* dir_ = nullptr;
  static inline std::string refused_;
  static inline std::string silent_;
  static inline std::unique_ptr<testing::LocalHub> tls_;
};

TEST_P(ExitContract, ExitCodeHintAndOneJsonDocument) {
  const Row& row = GetParam();
  auto plain = run(row.args, false, row.env);
  EXPECT_EQ(plain.exit_code, row.code) << plain.err;
  EXPECT_NE(plain.err.find("hint:"), std::string::npos) << plain.err;
  if (!row.names.empty()) {
    EXPECT_NE((plain.out + plain.err).find(expand(row.names)), std::string::npos)
        << "the message should name " << row.names << ":\n"
        << plain.out << plain.err;
  }

  auto js = run(row.args, true, row.env);
  EXPECT_EQ(js.exit_code, row.code) << js.err;
  json doc = json::parse(js.out, nullptr, false);  // exactly one document: a second one fails
  ASSERT_FALSE(doc.is_discarded()) << "stdout is not one JSON document:\n" << js.out;
  ASSERT_TRUE(doc.is_object()) << js.out;
  EXPECT_EQ(doc.value("ok", true), false) << js.out;
  EXPECT_EQ(doc.value("exit_code", -1), row.code) << js.out;
  if (row.code != 3 && row.code != 4) {  // an error, not a finding: its hint is in the document
    ASSERT_TRUE(doc.contains("error")) << js.out;
    EXPECT_FALSE(doc["error"].value("hint", "").empty()) << js.out;
  }
  EXPECT_NE(js.err.find("hint"), std::string::npos) << js.err;
}

// clang-format off
const Row kRows[] = {
    // usage (2)
    {"top_usage_unknown_command", {"foo"}, 2, "unknown command 'foo'"},
    {"top_usage_no_command", {}, 2, "verify"},
    {"top_usage_unknown_option", {"--bogus"}, 2, "--bogus"},
    {"doctor_usage", {"doctor", "--bogus"}, 2, "--bogus"},
    {"probe_usage", {"probe", "--bogus"}, 2, "--bogus"},
    {"resolve_usage", {"resolve", "--bogus"}, 2, "--bogus"},
    {"fetch_usage", {"fetch", "--jobs", "0"}, 2, "--jobs"},
    {"verify_usage", {"verify", "--bogus"}, 2, "--bogus"},
    {"verify_usage_junit_without_lock", {"verify", "--junit", "x.xml"}, 2, "--lock"},
    {"verify_usage_smoke_without_lock", {"verify", "--smoke"}, 2, "--lock"},
    {"verify_usage_venv_without_lock", {"verify", "--venv", "{tmp}/venv"}, 2, "--lock"},
    {"smoke_usage", {"smoke", "--precision", "fp4"}, 2, "fp4"},
    {"install_usage", {"install"}, 2, "--venv"},
    {"lock_usage", {"lock", "--bogus"}, 2, "--bogus"},
    {"lock_diff_usage", {"lock", "diff"}, 2, "a"},
    {"lock_export_usage", {"lock", "export", "--format", "conda"}, 2, "conda"},
    {"up_usage", {"up", "--jobs", "0"}, 2, "--jobs"},
    {"up_usage_no_image_with_prompt", {"up", "--no-image", "--prompt", "x"}, 2, "--no-image"},
    {"first_run_usage", {"first-run", "--bogus"}, 2, "--bogus"},
    // missing local file (2)
    {"doctor_missing_manifest", {"--manifest", "{tmp}/nope.json", "doctor"}, 2, "{tmp}/nope.json"},
    {"doctor_missing_host", {"doctor", "--host", "/nope.json"}, 2, "/nope.json"},
    {"doctor_missing_python", {"doctor", "--python", "/nonexistent"}, 2, "/nonexistent"},
    {"probe_missing_python", {"probe", "--python", "/nonexistent"}, 2, "/nonexistent"},
    {"resolve_missing_host", {"resolve", "--host", "/nope.json"}, 2, "/nope.json"},
    {"fetch_missing_ca_file", {"fetch", "--ca-file", "/nope.pem"}, 2, "/nope.pem"},
    {"verify_missing_lock", {"verify", "--lock", "nope.json"}, 2, "nope.json"},
    {"smoke_missing_checkpoint", {"smoke", "--checkpoint", "/nope"}, 2, "/nope"},
    {"smoke_missing_venv", {"smoke", "--venv", "/nonexistent"}, 2, "/nonexistent"},
    {"install_missing_from", {"install", "--venv", "{tmp}/v", "--from", "/nope.json"}, 2, "/nope.json"},
    {"install_missing_resolution", {"install", "--venv", "{tmp}/v"}, 2, "sd35-resolve.json"},
    {"lock_missing_venv", {"lock", "--venv", "/nonexistent"}, 2, "/nonexistent"},
    {"lock_missing_from", {"lock", "--from", "/nope.json"}, 2, "/nope.json"},
    {"lock_export_missing_default", {"lock", "export"}, 2, "sd35.lock.json"},
    {"lock_export_missing_lock", {"lock", "export", "--lock", "/x"}, 2, "/x"},
    {"lock_diff_missing", {"lock", "diff", "a", "b"}, 2, "a"},
    {"up_missing_host", {"up", "--host", "/nope.json"}, 2, "/nope.json"},
    {"first_run_missing_host", {"first-run", "--host", "/nope.json"}, 2, "/nope.json"},
    // malformed input (2)
    {"doctor_bad_manifest", {"--manifest", "{tmp}/bad.json", "doctor"}, 2, "{tmp}/bad.json"},
    {"doctor_bad_host", {"doctor", "--host", "{tmp}/bad.json"}, 2, "{tmp}/bad.json"},
    {"resolve_bad_host", {"resolve", "--host", "{tmp}/bad.json"}, 2, "{tmp}/bad.json"},
    {"verify_bad_lock", {"verify", "--lock", "{tmp}/bad.json"}, 2, "{tmp}/bad.json"},
    {"smoke_bad_host", {"smoke", "--host", "{tmp}/bad.json", "--synthetic"}, 2, "{tmp}/bad.json"},
    {"install_bad_from", {"install", "--venv", "{tmp}/v", "--from", "{tmp}/bad.json"}, 2, "{tmp}/bad.json"},
    {"lock_bad_host", {"lock", "--from", "{tmp}/refused-resolve.json", "--host", "{tmp}/bad.json"}, 2, "{tmp}/bad.json"},
    {"lock_export_bad_lock", {"lock", "export", "--lock", "{tmp}/bad.json"}, 2, "{tmp}/bad.json"},
    {"lock_diff_bad", {"lock", "diff", "{tmp}/bad.json", "{tmp}/a.lock.json"}, 2, "{tmp}/bad.json"},
    {"up_bad_host", {"up", "--host", "{tmp}/bad.json", "--dir", "{tmp}/up-bad"}, 2, "{tmp}/bad.json"},
    {"first_run_bad_host", {"first-run", "--host", "{tmp}/bad.json"}, 2, "{tmp}/bad.json"},
    // not ready (3)
    {"doctor_not_ready", {"doctor", "--host", "{data}/hosts/ci-no-gpu.json"}, 3, "gpu."},
    {"resolve_not_ready",
     {"--manifest", "{data}/manifests/resolve-gpu-only.json", "resolve", "--host",
      "{data}/hosts/resolve-nogpu.json"}, 3, ""},
    {"up_not_ready",
     {"--manifest", "{data}/manifests/resolve-gpu-only.json", "up", "--host",
      "{data}/hosts/resolve-nogpu.json", "--dir", "{tmp}/up-3"}, 3, "gpu."},
    {"smoke_not_ready", {"smoke", "--host", "{data}/hosts/h100.json", "--synthetic"}, 3, ""},
    // verification failed (4)
    {"verify_failed",
     {"--manifest", "{tmp}/cpu-manifest.json", "verify", "--path", "{tmp}/model"}, 4, "model.safetensors"},
    {"lock_diff_differs", {"lock", "diff", "{tmp}/a.lock.json", "{tmp}/b.lock.json"}, 4, ""},
    {"verify_lock_failed",
     {"verify", "--lock", "{tmp}/a.lock.json", "--host", "{data}/hosts/ci-no-gpu.json"}, 4, ""},
    // connection refused (5)
    {"fetch_refused", {"fetch", "--repo", "{refused}/acme/tiny"}, 5, "127.0.0.1"},
    {"resolve_index_refused",
     {"resolve", "--host", "{data}/hosts/ci-no-gpu.json", "--index", "{refused}/simple"}, 5, "{refused}"},
    {"resolve_closure_proxy_refused",  // pip's own network error, through a proxy that refuses
     {"--manifest", "{tmp}/cpu-manifest.json", "resolve", "--host", "{tmp}/venv-host.json", "--closure"},
     5, "Cannot connect to proxy", {{"https_proxy", "{refused}"}, {"HTTPS_PROXY", "{refused}"}}},
    {"install_refused", {"install", "--venv", "{tmp}/venv", "--from", "{tmp}/refused-resolve.json"}, 5, "127.0.0.1"},
    {"up_refused",
     {"--manifest", "{tmp}/cpu-manifest.json", "up", "--host", "{data}/hosts/ci-no-gpu.json",
      "--index", "{refused}/simple", "--dir", "{tmp}/up-5", "--skip-fetch"}, 5, "{refused}"},
    // DNS failure (5)
    {"fetch_dns", {"fetch", "--repo", "http://sd35-contract.invalid/acme/tiny"}, 5, "sd35-contract.invalid"},
    {"resolve_index_dns",
     {"resolve", "--host", "{data}/hosts/ci-no-gpu.json", "--index", "http://sd35-contract.invalid/simple"},
     5, "sd35-contract.invalid"},
    {"install_dns", {"install", "--venv", "{tmp}/venv", "--from", "{tmp}/dns-resolve.json"}, 5, "sd35-contract.invalid"},
    // TLS failure (5): a certificate no system CA signed
    {"fetch_tls", {"fetch", "--repo", "{tls}/acme/tiny"}, 5, "certificate"},
    {"resolve_index_tls",
     {"resolve", "--host", "{data}/hosts/ci-no-gpu.json", "--index", "{tls}/simple"}, 5, "certificate"},
    {"install_pip_tls", {"install", "--venv", "{tmp}/venv", "--from", "{tmp}/tls-resolve.json"}, 5, "SSL"},
    // timeouts (5): a server that accepts and never answers
    {"fetch_timeout", {"fetch", "--repo", "{silent}/acme/tiny", "--stall-timeout", "2"}, 5, "timed out"},
    {"install_pip_timeout", {"install", "--venv", "{tmp}/venv", "--from", "{tmp}/silent-resolve.json"}, 5, "timed out",
     {{"PIP_TIMEOUT", "2"}}},
    {"resolve_closure_proxy_timeout",  // pip's own timeout, through a proxy that never answers
     {"--manifest", "{tmp}/cpu-manifest.json", "resolve", "--host", "{tmp}/venv-host.json", "--closure"},
     5, "timed out", {{"https_proxy", "{silent}"}, {"HTTPS_PROXY", "{silent}"}, {"PIP_TIMEOUT", "2"}}},
};
// clang-format on

INSTANTIATE_TEST_SUITE_P(Rows, ExitContract, ::testing::ValuesIn(kRows),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

// doctor's torch.float8 fix is commands that work as written: run against an index that refuses
// (and a described host), each gets as far as the network (exit 5), never a usage error.
TEST_F(ExitContract, Float8FixCommandsWork) {
  auto doctor = run({"doctor", "--host", "{data}/hosts/ci-no-gpu.json"}, true);
  std::string fix;
  for (const auto& line : str::split(doctor.err, '\n')) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("id", "") == "torch.float8") fix = j.value("fix", "");
  }
  ASSERT_NE(fix.find("`sd35-setup resolve"), std::string::npos) << fix;
  std::vector<std::vector<std::string>> steps;  // each `sd35-setup ...` between backticks
  for (std::size_t at = fix.find('`'); at != std::string::npos; at = fix.find('`', at + 1)) {
    const auto end = fix.find('`', at + 1);
    const std::string quoted = fix.substr(at + 1, end - at - 1);
    for (auto cmd : str::split(quoted, '&')) {
      std::vector<std::string> words;
      for (auto w : str::split(str::trim(cmd), ' '))
        if (!w.empty())
          words.emplace_back(w == "'https://download.pytorch.org/whl/{variant}'"
                                 ? "{refused}/whl/{variant}"
                                 : std::string(w));
      if (words.size() > 1 && words[0] == "sd35-setup")
        steps.emplace_back(words.begin() + 1, words.end());
    }
    at = end;
  }
  ASSERT_EQ(steps.size(), 3u) << fix;  // resolve, install, doctor
  steps[0].insert(steps[0].end(), {"--host", "{data}/hosts/ci-no-gpu.json"});
  EXPECT_EQ(run(steps[0], false).exit_code, 5);
  stdfs::copy_file(*dir_ / "refused-resolve.json", *dir_ / "empty/sd35-resolve.json",
                   stdfs::copy_options::overwrite_existing);
  for (auto& w : steps[1])
    if (w == ".venv") w = (*dir_ / "venv").string();  // the fake venv: no `python -m venv`
  EXPECT_EQ(run(steps[1], false).exit_code, 5);
  stdfs::remove(*dir_ / "empty/sd35-resolve.json");
  for (auto& w : steps[2])
    if (w == ".venv/bin/python3") w = (*dir_ / "venv/bin/python").string();
  steps[2].insert(steps[2].end(), {"--host", "{data}/hosts/ci-no-gpu.json"});
  EXPECT_EQ(run(steps[2], false).exit_code, 3);  // parsed and ran: the GPU-less host is not ready
}

// What is not a failure: help and version answer on stdout with exit 0.
TEST(ExitContractAnswers, HelpAndVersion) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"help"}, {"--help"}, {"help", "verify"}, {"-V"}, {"--version"}}) {
    auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << args.front() << ": " << r.err;
    EXPECT_FALSE(r.out.empty()) << args.front();
  }
  EXPECT_NE(test::run_cli({"help"}).out.find("verify"), std::string::npos);
  EXPECT_NE(test::run_cli({"-V"}).out.find("sd35-setup "), std::string::npos);
}

// -v adds debug lines for every command; -vv adds their fields and times.
TEST(ExitContractAnswers, VerbosityChangesOutput) {
  test::TempDir dir;
  const std::string host = (test::data_dir() / "hosts/ci-no-gpu.json").string();
  const std::vector<std::vector<std::string>> commands = {
      {"doctor", "--host", host},
      {"probe"},
      {"resolve", "--host", host},
      {"verify", "--path", dir.path().string()},
      {"lock", "--host", host, "--out", (dir / "v.lock.json").string()}};
  for (const auto& base : commands) {
    auto with = [&](const char* flag) {
      auto args = base;
      if (*flag) args.insert(args.begin(), flag);
      return test::run_cli(args);
    };
    auto v0 = with(""), v1 = with("-v"), v2 = with("-vv");
    EXPECT_EQ(v0.err.find("debug: "), std::string::npos) << base.front() << ": " << v0.err;
    EXPECT_NE(v1.err.find("debug: "), std::string::npos) << base.front() << ": " << v1.err;
    EXPECT_EQ(v1.err.find("\"HF_ENDPOINT\""), std::string::npos) << base.front() << ": " << v1.err;
    EXPECT_NE(v2.err.find("\"HF_ENDPOINT\""), std::string::npos) << base.front() << ": " << v2.err;
  }
}

}  // namespace
}  // namespace sd35
