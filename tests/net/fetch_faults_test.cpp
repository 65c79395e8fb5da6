// The transfer engine under every fault the hub can inject, plus crash-resume (kill -9 of the
// real binary) and two concurrent fetches into one cache.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "net/fetch_fixture.hpp"

namespace sd35::testing {
namespace {

constexpr std::uint64_t kBigSize = 32ull << 20;

class FetchFaults : public FetchTest {
 protected:
  static void SetUpTestSuite() {
    FetchTest::SetUpTestSuite();
    big_ = new json(
        hub_->make_repo({{"name", "big"},
                         {"files",
                          {{{"path", "big.bin"}, {"lfs", true}, {"size", kBigSize}, {"seed", 5}},
                           {{"path", "README.md"}, {"content", "big\n"}}}}}));
  }
  static void TearDownTestSuite() {
    delete big_;
    FetchTest::TearDownTestSuite();
  }
  std::string model_oid() const { return file_of(*tiny_, "model.safetensors").at("oid"); }
  // Small thresholds so the 1 MiB test object is fetched as parallel ranges.
  static app::FetchOptions ranged() {
    app::FetchOptions o;
    o.range_threshold = 256 << 10;
    o.min_range = 128 << 10;
    return o;
  }
  void expect_model_ok(const Run& run) const {
    ASSERT_TRUE(run.result) << run.result.error().describe();
    auto link = snapshot("models--acme--tiny", tiny_->at("head")) / "model.safetensors";
    auto digest = sha256_file(link);
    ASSERT_TRUE(digest);
    EXPECT_EQ(*digest, model_oid());
  }
  int fired(const std::string& kind) const {
    return hub_->stats().at("faults_fired").value(kind, 0);
  }

  // Output goes to `log` (read it when the test fails).
  static pid_t spawn_bin(const std::vector<std::string>& args, const sfs::path& log = "/dev/null") {
    std::vector<std::string> all = {sd35::test::cli_binary()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    argv.reserve(all.size() + 1);
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      int null = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    return pid;
  }
  static int wait_exit(pid_t pid) {
    int st = 0;
    for (int i = 0; i < 1200; ++i) {  // ≤ 120 s
      if (::waitpid(pid, &st, WNOHANG) == pid)
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
    return -1;
  }
  std::uint64_t sidecar_bytes(const std::string& oid) const {
    auto text = fs::read_file(cache_ / "models--acme--big" / "blobs" / (oid + ".incomplete.json"));
    if (!text) return 0;
    auto j = json::parse(*text, nullptr, false);
    std::uint64_t n = 0;
    if (j.is_object())
      for (const auto& s : j.value("segments", json::array())) n += s.at(2).get<std::uint64_t>();
    return n;
  }
  std::uint64_t served(const std::string& oid) const {
    return hub_->stats().at("bytes_served_per_oid").value(oid, std::uint64_t{0});
  }

  static inline json* big_ = nullptr;
};

TEST_F(FetchFaults, ParallelRangesWhenTheServerHonoursRange) {
  auto run = fetch("acme/tiny", ranged());
  expect_model_ok(*run);
  EXPECT_GE(hub_->stats().at("range_requests_per_oid").value(model_oid(), 0), 2);
}

TEST_F(FetchFaults, ResetMidObjectResumesWithRange) {
  hub_->set_faults({{{"kind", "reset_mid_object"}, {"oid", model_oid()}}});
  auto run = fetch("acme/tiny");
  expect_model_ok(*run);
  EXPECT_EQ(fired("reset_mid_object"), 1);
  EXPECT_GE(hub_->stats().at("range_requests_per_oid").value(model_oid(), 0), 1)
      << "resumed, not restarted";
}

TEST_F(FetchFaults, Batch500IsRetriedThenGivesUp) {
  hub_->set_faults({{{"kind", "batch_500"}}});
  expect_model_ok(*fetch("acme/tiny"));
  EXPECT_EQ(fired("batch_500"), 1);
  hub_->set_faults({{{"kind", "batch_500"}, {"count", -1}}});
  cache_ += "-b";
  auto run = fetch("acme/tiny");
  ASSERT_FALSE(run->result);
  EXPECT_EQ(run->result.error().code, Errc::network);
  EXPECT_EQ(app::exit_code_for(run->result.error().code), 5);
}

TEST_F(FetchFaults, GitServerErrorIsRetriedThenGivesUp) {
  hub_->set_faults({{{"kind", "git_500"}}});
  expect_model_ok(*fetch("acme/tiny"));
  EXPECT_EQ(fired("git_500"), 1);
  hub_->set_faults({{{"kind", "git_500"}, {"count", -1}}});
  cache_ += "-b";
  auto run = fetch("acme/tiny");
  ASSERT_FALSE(run->result);
  EXPECT_EQ(run->result.error().code, Errc::network);
  EXPECT_EQ(app::exit_code_for(run->result.error().code), 5);
}

TEST_F(FetchFaults, RateLimitWaitsForRetryAfterThenGivesUp) {
  hub_->set_faults({{{"kind", "rate_limit_429"}, {"target", "object"}, {"retry_after", 1}}});
  expect_model_ok(*fetch("acme/tiny"));
  EXPECT_EQ(fired("rate_limit_429"), 1);
  hub_->set_faults(
      {{{"kind", "rate_limit_429"}, {"target", "batch"}, {"retry_after", 1}, {"count", -1}}});
  cache_ += "-b";
  auto run = fetch("acme/tiny");
  ASSERT_FALSE(run->result);
  EXPECT_EQ(run->result.error().code, Errc::rate_limited);
  EXPECT_NE(run->result.error().hint.find("wait"), std::string::npos);
}

TEST_F(FetchFaults, FlippedByteIsRetriedOnceThenFailsNamingPathAndOid) {
  hub_->set_faults({{{"kind", "flip_byte"}, {"oid", model_oid()}}});
  expect_model_ok(*fetch("acme/tiny"));
  EXPECT_EQ(fired("flip_byte"), 1);

  hub_->control({{"faults", {{{"kind", "flip_byte"}, {"oid", model_oid()}, {"count", -1}}}},
                 {"reset_stats", true}});
  cache_ += "-b";
  auto run = fetch("acme/tiny");
  ASSERT_FALSE(run->result);
  const auto& e = run->result.error();
  EXPECT_EQ(e.code, Errc::integrity);
  EXPECT_EQ(app::exit_code_for(e.code), 4);
  EXPECT_NE(e.message.find("model.safetensors"), std::string::npos) << e.describe();
  EXPECT_NE(e.message.find(model_oid()), std::string::npos) << e.describe();
  EXPECT_EQ(fired("flip_byte"), 2);
  EXPECT_FALSE(
      sfs::exists(snapshot("models--acme--tiny", tiny_->at("head")) / "model.safetensors"));
  EXPECT_FALSE(sfs::exists(cache_ / "models--acme--tiny" / "blobs" / model_oid()));
  EXPECT_FALSE(
      sfs::exists(cache_ / "models--acme--tiny" / "blobs" / (model_oid() + ".incomplete.json")))
      << "no orphan resume state";
  for (const auto& u : run->reporter.progress_updates)  // the summary is true on failure
    EXPECT_FALSE(u.finished && u.item.empty()) << "a failing run reported the total as done";
}

TEST_F(FetchFaults, ExpiredHrefIsRebatched) {
  hub_->set_faults({{{"kind", "expired_href"}, {"count", 2}}});
  expect_model_ok(*fetch("acme/tiny"));
  EXPECT_GE(fired("expired_href"), 1);
}

TEST_F(FetchFaults, RangeIgnoredFallsBackToOneStream) {
  hub_->set_faults({{{"kind", "ignore_range"}, {"count", -1}}});
  auto run = fetch("acme/tiny", ranged());
  expect_model_ok(*run);
  EXPECT_GE(fired("ignore_range"), 1);
  // One full body, not one per planned range.
  EXPECT_LE(served(model_oid()),
            2u * file_of(*tiny_, "model.safetensors").at("size").get<std::uint64_t>());
}

TEST_F(FetchFaults, StallWatchdogReconnects) {
  hub_->set_faults(
      {{{"kind", "stall"}, {"oid", model_oid()}, {"after_bytes", 65536}, {"seconds", 4}}});
  app::FetchOptions opt;
  opt.stall_timeout_s = 1;
  expect_model_ok(*fetch("acme/tiny", opt));
  EXPECT_EQ(fired("stall"), 1);
}

TEST_F(FetchFaults, Kill9MidDownloadThenRerunResumes) {
  const std::string oid = file_of(*big_, "big.bin").at("oid");
  hub_->set_faults({{{"kind", "slow_bytes_per_s"}, {"bytes_per_s", 4 << 20}, {"count", -1}}});
  pid_t pid = spawn_bin({"--cache", cache_.string(), "fetch", "--repo",
                         hub_->repo_url("acme", "big"), "--revision", "main"});
  for (int i = 0; i < 300 && sidecar_bytes(oid) < (12u << 20); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, SIGKILL);
  wait_exit(pid);
  // The hub counts a response's bytes when its (throttled) handler notices the closed socket.
  std::uint64_t first = 0;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::uint64_t now = served(oid);
    if (now > 0 && now == first) break;
    first = now;
  }
  ASSERT_GE(sidecar_bytes(oid), 8u << 20) << "the download did not get far enough before the kill";
  ASSERT_LT(first, kBigSize);
  hub_->control({{"faults", json::array()}, {"reset_stats", true}});
  auto r = run_bin({"--cache", cache_.string(), "fetch", "--repo", hub_->repo_url("acme", "big"),
                    "--revision", "main"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::uint64_t second = served(oid);
  const std::uint64_t reread = first + second - kBigSize;
  EXPECT_LE(reread * 10, first) << "re-downloaded " << reread << " of " << first << " bytes";
  EXPECT_EQ(*sha256_file(cache_ / "models--acme--big" / "blobs" / oid), oid);
}

// A power cut after kill -9: part of what the sidecar counts as hashed never reached the disk. The
// rerun must not trust the saved progress: it re-downloads, and the blob is the right bytes.
TEST_F(FetchFaults, LostWritesInTheHashedPartAreCaughtOnResume) {
  const std::string oid = file_of(*big_, "big.bin").at("oid");
  hub_->set_faults({{{"kind", "slow_bytes_per_s"}, {"bytes_per_s", 8 << 20}, {"count", -1}}});
  pid_t pid = spawn_bin({"--cache", cache_.string(), "fetch", "--repo",
                         hub_->repo_url("acme", "big"), "--revision", "main"});
  for (int i = 0; i < 300 && sidecar_bytes(oid) < (8u << 20); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, SIGKILL);
  wait_exit(pid);
  const auto blobs = cache_ / "models--acme--big" / "blobs";
  auto sidecar = json::parse(*fs::read_file(blobs / (oid + ".incomplete.json")));
  const std::uint64_t hashed = sidecar.at("hashed").get<std::uint64_t>();
  ASSERT_GE(hashed, 4u << 20) << "the download did not get far enough before the kill";
  {  // the lost write: 64 KiB of zeros in the middle of the hashed part
    std::fstream part(blobs / (oid + ".incomplete"),
                      std::ios::in | std::ios::out | std::ios::binary);
    part.seekp(static_cast<std::streamoff>(hashed / 2));
    std::string zeros(64 << 10, '\0');
    part.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    ASSERT_TRUE(part.good());
  }
  hub_->control({{"faults", json::array()}, {"reset_stats", true}});
  auto r = run_bin({"--cache", cache_.string(), "fetch", "--repo", hub_->repo_url("acme", "big"),
                    "--revision", "main"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("saved progress not used"), std::string::npos) << r.err;
  EXPECT_EQ(*sha256_file(blobs / oid), oid);
  EXPECT_EQ(*sha256_file(snapshot("models--acme--big", big_->at("head")) / "big.bin"), oid);
  EXPECT_EQ(served(oid), kBigSize) << "the object is downloaded again from the start";
}

// Nine resets, each after 2 MB of progress: more than the 8 retries of a budget that never comes
// back, but every request moved the download forward.
TEST_F(FetchFaults, RetryBudgetIsPerRequestAndComesBackAfterProgress) {
  const std::string oid = file_of(*big_, "big.bin").at("oid");
  hub_->set_faults(
      {{{"kind", "reset_mid_object"}, {"oid", oid}, {"after_bytes", 2000000}, {"count", 9}}});
  auto run = fetch("acme/big");
  ASSERT_TRUE(run->result) << run->result.error().describe();
  EXPECT_EQ(fired("reset_mid_object"), 9);
  EXPECT_EQ(*sha256_file(snapshot("models--acme--big", big_->at("head")) / "big.bin"), oid);
  EXPECT_LE(served(oid), kBigSize + (1u << 20)) << "each retry resumed where the last one stopped";
}

TEST_F(FetchFaults, ResumeAgainstAServerThatIgnoresRangeSaysSo) {
  const std::string oid = file_of(*big_, "big.bin").at("oid");
  hub_->set_faults({{{"kind", "slow_bytes_per_s"}, {"bytes_per_s", 8 << 20}, {"count", -1}}});
  pid_t pid = spawn_bin({"--cache", cache_.string(), "fetch", "--repo",
                         hub_->repo_url("acme", "big"), "--revision", "main"});
  for (int i = 0; i < 300 && sidecar_bytes(oid) < (4u << 20); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, SIGKILL);
  wait_exit(pid);
  ASSERT_GE(sidecar_bytes(oid), 4u << 20);
  hub_->control({{"faults", {{{"kind", "ignore_range"}, {"count", -1}}}}});
  auto r = run_bin({"--cache", cache_.string(), "fetch", "--repo", hub_->repo_url("acme", "big"),
                    "--revision", "main"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("does not support resuming"), std::string::npos) << r.err;
  EXPECT_EQ(*sha256_file(cache_ / "models--acme--big" / "blobs" / oid), oid);
}

TEST_F(FetchFaults, InterruptLeavesResumableState) {
  const std::string oid = file_of(*big_, "big.bin").at("oid");
  hub_->set_faults({{{"kind", "slow_bytes_per_s"}, {"bytes_per_s", 4 << 20}, {"count", -1}}});
  pid_t pid = spawn_bin({"--cache", cache_.string(), "fetch", "--repo",
                         hub_->repo_url("acme", "big"), "--revision", "main"});
  for (int i = 0; i < 300 && sidecar_bytes(oid) < (4u << 20); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130);
  EXPECT_GE(sidecar_bytes(oid), 4u << 20);
  EXPECT_FALSE(sfs::exists(snapshot("models--acme--big", big_->at("head")) / "big.bin"));
}

TEST_F(FetchFaults, TwoConcurrentFetchesIntoOneCache) {
  const std::string oid = file_of(*big_, "big.bin").at("oid");
  hub_->set_faults({{{"kind", "slow_bytes_per_s"}, {"bytes_per_s", 32 << 20}, {"count", -1}}});
  std::vector<std::string> args = {
      "--cache",    cache_.string(), "fetch", "--repo", hub_->repo_url("acme", "big"),
      "--revision", "main"};
  pid_t a = spawn_bin(args, hub_->scratch() / "concurrent-a.log");
  pid_t b = spawn_bin(args, hub_->scratch() / "concurrent-b.log");
  EXPECT_EQ(wait_exit(a), 0) << fs::read_file(hub_->scratch() / "concurrent-a.log").value_or("");
  EXPECT_EQ(wait_exit(b), 0) << fs::read_file(hub_->scratch() / "concurrent-b.log").value_or("");
  EXPECT_EQ(*sha256_file(snapshot("models--acme--big", big_->at("head")) / "big.bin"), oid);
  EXPECT_LE(served(oid), kBigSize + kBigSize / 10) << "both processes downloaded the object";
}

}  // namespace
}  // namespace sd35::testing
