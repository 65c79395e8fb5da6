// `fetch --json` progress events through the real binary: per-file updates with a rate and an ETA
// while a (throttled) object downloads, a per-file completion, and the total.
#include <sstream>

#include "net/fetch_fixture.hpp"

namespace sd35::testing {
namespace {

constexpr std::uint64_t kSize = 6ull << 20;

class FetchProgress : public FetchTest {
 protected:
  static void SetUpTestSuite() {
    FetchTest::SetUpTestSuite();
    repo_ = new json(hub_->make_repo(
        {{"name", "progress"},
         {"files",
          {{{"path", "weights/model.bin"}, {"lfs", true}, {"size", kSize}, {"seed", 11}}}}}));
  }
  static void TearDownTestSuite() {
    delete repo_;
    FetchTest::TearDownTestSuite();
  }
  static inline json* repo_ = nullptr;
};

std::vector<json> progress_events(const std::string& stderr_text) {
  std::vector<json> out;
  std::istringstream lines(stderr_text);
  for (std::string l; std::getline(lines, l);) {
    auto j = json::parse(l, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not a JSON line on stderr: " << l;
    if (j.is_object() && j.value("type", "") == "progress") out.push_back(j);
  }
  return out;
}

TEST_F(FetchProgress, JsonStreamHasPerFileRateEtaAndCompletion) {
  // 6 MiB at 2 MiB/s: about 3 s, so the 1 s JSON throttle lets through updates in flight.
  hub_->set_faults({{{"kind", "slow_bytes_per_s"}, {"bytes_per_s", 2 << 20}, {"count", -1}}});
  auto r = run_bin({"--cache", cache_.string(), "--json", "fetch", "--repo",
                    hub_->repo_url("acme", "progress"), "--revision", "main"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto events = progress_events(r.err);

  std::vector<json> file, total;
  for (const auto& e : events) {
    for (const char* key : {"task", "item", "done", "total", "rate_per_s", "eta_s", "finished"})
      EXPECT_TRUE(e.contains(key)) << key << " missing in " << e.dump();
    EXPECT_EQ(e.at("task"), "fetch");
    (e.at("item") == "weights/model.bin" ? file : total).push_back(e);
  }
  ASSERT_FALSE(file.empty()) << r.err;
  ASSERT_FALSE(total.empty()) << r.err;

  // In flight: a measured rate and the ETA that follows from it.
  bool in_flight_with_rate = false;
  for (const auto& e : file) {
    if (e.at("finished").get<bool>() || e.at("rate_per_s").get<double>() <= 0) continue;
    in_flight_with_rate = true;
    EXPECT_LT(e.at("done").get<std::uint64_t>(), kSize);
    EXPECT_EQ(e.at("total").get<std::uint64_t>(), kSize);
    ASSERT_TRUE(e.at("eta_s").is_number()) << e.dump();
    const double expected = static_cast<double>(kSize - e.at("done").get<std::uint64_t>()) /
                            e.at("rate_per_s").get<double>();
    EXPECT_NEAR(e.at("eta_s").get<double>(), expected, 1e-6 * expected + 1e-9);
  }
  EXPECT_TRUE(in_flight_with_rate) << r.err;

  // The last per-file event is its completion, after the in-flight ones.
  const json& last = file.back();
  EXPECT_TRUE(last.at("finished").get<bool>()) << last.dump();
  EXPECT_EQ(last.at("done").get<std::uint64_t>(), kSize);
  EXPECT_EQ(last.at("total").get<std::uint64_t>(), kSize);
  EXPECT_EQ(last.at("eta_s").get<double>(), 0.0);
  EXPECT_GT(last.at("rate_per_s").get<double>(), 0.0) << "the file's average rate in this run";
  EXPECT_EQ(std::count_if(file.begin(), file.end(),
                          [](const json& e) { return e.at("finished").get<bool>(); }),
            1);

  // The total ends finished, with the same field names.
  EXPECT_TRUE(total.back().at("finished").get<bool>());
  EXPECT_EQ(total.back().at("done").get<std::uint64_t>(), kSize);
}

}  // namespace
}  // namespace sd35::testing
