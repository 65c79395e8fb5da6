// `verify --lock --prometheus FILE` through the CLI: the textfile of a passing gate, of a broken
// model and of an unreadable lock, each parsed by python3-prometheus-client
// (tests/tools/prom_parse.py).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "net/fleet_fixture.hpp"
#include "util/process.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;

// name{check} -> value, from the parser's JSON lines; empty when the parser is missing.
std::map<std::string, double> parse_textfile(const stdfs::path& file, bool& skipped) {
  proc::Command c;
  c.argv = {stdfs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3",
            (test::source_dir() / "tests/tools/prom_parse.py").string(), file.string()};
  c.timeout = std::chrono::seconds(30);
  auto r = proc::run(c);
  EXPECT_TRUE(r.has_value());
  std::map<std::string, double> out;
  skipped = r && r->exit_code == 77;
  if (!r || skipped) return out;
  EXPECT_EQ(r->exit_code, 0) << r->out << fs::read_file(file).value_or("");
  std::size_t start = 0;
  for (auto nl = r->out.find('\n'); nl != std::string::npos; nl = r->out.find('\n', start)) {
    auto s = nlohmann::json::parse(r->out.substr(start, nl - start));
    start = nl + 1;
    std::string key = s["name"].get<std::string>();
    if (s["labels"].contains("check")) key += "{" + s["labels"]["check"].get<std::string>() + "}";
    out[key] = s["value"].get<double>();
  }
  return out;
}

TEST(VerifyPrometheus, WritesTheGateResultForAPassingABrokenAndAnUnreadableLock) {
  if (test::cli_binary().empty()) GTEST_SKIP() << "needs SD35_BIN";
  test::TempDir dir;
  const auto fx = testing::make_gate_fixture(dir);
  ASSERT_TRUE(stdfs::exists(fx.lock));
  const auto prom = dir / "textfile/sd35_gate.prom";
  stdfs::create_directories(prom.parent_path());
  const auto gate =
      fx.with_globals({"verify", "--lock", fx.lock.string(), "--prometheus", prom.string()});

  auto ok = test::run_cli(gate);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  bool skipped = false;
  auto m = parse_textfile(prom, skipped);
  if (skipped) GTEST_SKIP() << "python3-prometheus-client is missing";
  EXPECT_EQ(m["sd35_gate_ready"], 1);
  EXPECT_EQ(m["sd35_gate_check_ok{model:model.safetensors}"], 1);
  EXPECT_EQ(m["sd35_gate_check_ok{host:gpu-arch}"], 1);
  EXPECT_EQ(m.count("sd35_gate_check_ok{host:driver}"), 0u);  // skipped: a CPU lock
  EXPECT_EQ(m["sd35_gate_error"], 0);
  EXPECT_GT(m["sd35_gate_last_run_timestamp_seconds"], 1.7e9);
  // Only the textfile is left: the temporary file was renamed over it.
  EXPECT_EQ(std::distance(stdfs::directory_iterator(prom.parent_path()), {}), 1);

  fx.break_model();
  auto bad = test::run_cli(gate);
  EXPECT_EQ(bad.exit_code, 4) << bad.out << bad.err;
  m = parse_textfile(prom, skipped);
  EXPECT_EQ(m["sd35_gate_ready"], 0);
  EXPECT_EQ(m["sd35_gate_check_ok{model:model.safetensors}"], 0);
  fx.fix_model();

  // A hand-edited lock: exit 2 as always, and the textfile says the gate could not run.
  auto text = *fs::read_file(fx.lock);
  text.replace(text.find("\"revision\": \"main\""), 18, "\"revision\": \"dev\" ");
  const auto edited = dir.write("edited.lock.json", text);
  auto unreadable = test::run_cli(
      fx.with_globals({"verify", "--lock", edited.string(), "--prometheus", prom.string()}));
  EXPECT_EQ(unreadable.exit_code, 2) << unreadable.out << unreadable.err;
  m = parse_textfile(prom, skipped);
  EXPECT_EQ(m["sd35_gate_ready"], 0);
  EXPECT_EQ(m["sd35_gate_error"], 1);

  // --prometheus without --lock is a usage error.
  EXPECT_EQ(test::run_cli(fx.with_globals({"verify", "--prometheus", prom.string()})).exit_code, 2);
}

}  // namespace
}  // namespace sd35
