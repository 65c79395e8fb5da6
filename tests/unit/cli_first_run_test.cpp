// README's command 1 ends in `first-run`: exit 0 whenever the tool works, what the machine can and
// cannot do, and the one next command — on a ready GPU box, a GPU box whose Python is wrong, one
// whose driver is, and a machine without a GPU (described hosts, so every case runs anywhere).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_env.hpp"

namespace sd35 {
namespace {

nlohmann::json first_run(const char* host_name) {
  const auto host = (test::data_dir() / "hosts" / host_name).string();
  auto r = test::run_cli({"--json", "first-run", "--host", host});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << r.out;
  return doc;
}

bool mentions(const nlohmann::json& lines, const std::string& text) {
  for (const auto& l : lines)
    if (l.get<std::string>().find(text) != std::string::npos) return true;
  return false;
}

TEST(CliFirstRun, AReadyGpuHostIsToldToRunUp) {
  const auto doc = first_run("h100.json");
  EXPECT_TRUE(doc["ready"].get<bool>());
  EXPECT_EQ(doc["next"].get<std::string>().rfind("sd35-setup up ", 0), 0u) << doc.dump();
  EXPECT_TRUE(mentions(doc["can"], "native FP8")) << doc.dump();
  EXPECT_TRUE(doc["failed_required"].empty());
}

TEST(CliFirstRun, AGpuHostWithTheWrongTorchIsToldToRunUpAndWhatFails) {
  // The probed Python's torch lacks sm_70: up installs a wheel that has it.
  const auto doc = first_run("v100.json");
  EXPECT_FALSE(doc["ready"].get<bool>());
  EXPECT_EQ(doc["next"].get<std::string>().rfind("sd35-setup up ", 0), 0u) << doc.dump();
  EXPECT_TRUE(mentions(doc["cannot"], "torch.cuda-arch")) << doc.dump();
  EXPECT_TRUE(mentions(doc["cannot"], "native FP8")) << doc.dump();
}

TEST(CliFirstRun, APythonOutsideTheManifestsRangeIsNamedInTheNextCommand) {
  const auto doc = first_run("driver470.json");
  EXPECT_NE(doc["next"].get<std::string>().find("--python"), std::string::npos) << doc.dump();
  EXPECT_TRUE(mentions(doc["cannot"], "python.version")) << doc.dump();
}

TEST(CliFirstRun, AMachineWithoutAGpuIsHealthyAndPlansForOne) {
  const auto doc = first_run("ci-no-gpu.json");
  EXPECT_TRUE(doc["ok"].get<bool>());
  EXPECT_FALSE(doc["ready"].get<bool>());
  EXPECT_NE(doc["next"].get<std::string>().find("resolve --host"), std::string::npos) << doc.dump();
  EXPECT_TRUE(mentions(doc["cannot"], "gpu.present")) << doc.dump();
  EXPECT_TRUE(mentions(doc["can"], "fetch, verify and lock")) << doc.dump();
  // One screen: the summary is short and ends with the next command and why.
  const auto& summary = doc["summary"];
  ASSERT_GE(summary.size(), 3u);
  EXPECT_LE(summary.size(), 20u);
  EXPECT_EQ(summary[summary.size() - 2].get<std::string>().rfind("next: ", 0), 0u);
}

TEST(CliFirstRun, DoctorStillFailsWhereFirstRunSucceeds) {
  const auto host = (test::data_dir() / "hosts" / "ci-no-gpu.json").string();
  EXPECT_EQ(test::run_cli({"doctor", "--host", host}).exit_code, 3);
}

}  // namespace
}  // namespace sd35
