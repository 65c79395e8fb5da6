// The disk filling up while `fetch` writes into the cache, for real and without root: the real
// binary runs with tests/tools/enospc_shim.c preloaded, which fails writes under blobs/ with
// ENOSPC after N bytes. Then space is "freed" (the shim is left out) and the same command must
// finish with a byte-correct blob, resuming what the first run kept.
#include "net/fetch_fixture.hpp"

namespace sd35::testing {
namespace {

constexpr std::uint64_t kSize = 4ull << 20;
constexpr std::uint64_t kFullAfter = 2ull << 20;

class FetchDiskFull : public FetchTest {
 protected:
  static void SetUpTestSuite() {
    FetchTest::SetUpTestSuite();
    repo_ = new json(
        hub_->make_repo({{"name", "diskfull"},
                         {"files",
                          {{{"path", "weights.bin"}, {"lfs", true}, {"size", kSize}, {"seed", 13}},
                           {{"path", "README.md"}, {"content", "disk full\n"}}}}}));
  }
  static void TearDownTestSuite() {
    delete repo_;
    FetchTest::TearDownTestSuite();
  }
  void SetUp() override {
    FetchTest::SetUp();
    shim_ = test::env_path("SD35_ENOSPC_SHIM");
    if (shim_.empty() || !sfs::exists(shim_))
      GTEST_SKIP() << "the ENOSPC shim is not built (sanitizer build?)";
  }
  sfs::path folder() const { return cache_ / "models--acme--diskfull"; }
  sfs::path blobs() const { return folder() / "blobs"; }
  std::map<std::string, std::string> full_disk_env(std::uint64_t after) const {
    return {{"LD_PRELOAD", shim_},
            {"SD35_TEST_ENOSPC_DIR", blobs().string()},
            {"SD35_TEST_ENOSPC_AFTER_BYTES", std::to_string(after)}};
  }
  std::vector<std::string> fetch_args(bool json_output = false) const {
    std::vector<std::string> a = {"--cache", cache_.string()};
    if (json_output) a.emplace_back("--json");
    for (const char* s : {"fetch", "--repo"}) a.emplace_back(s);
    a.push_back(hub_->repo_url("acme", "diskfull"));
    a.emplace_back("--revision");
    a.emplace_back("main");
    return a;
  }
  // No partial file in the snapshot, and no ref naming it.
  void expect_no_snapshot_of_failed_run() const {
    const std::string head = repo_->at("head");
    EXPECT_FALSE(sfs::exists(snapshot("models--acme--diskfull", head) / "weights.bin"));
    EXPECT_FALSE(sfs::is_symlink(snapshot("models--acme--diskfull", head) / "weights.bin"));
    EXPECT_FALSE(sfs::exists(folder() / "refs" / "main")) << "a ref to an incomplete snapshot";
  }

  std::string shim_;
  static inline json* repo_ = nullptr;
};

TEST_F(FetchDiskFull, EnospcMidObjectStopsWithExit4ThenARerunResumes) {
  const std::string oid = file_of(*repo_, "weights.bin").at("oid");
  // 2 MiB/s, so resume state is saved (every 250 ms) before the disk fills at 2 MiB.
  hub_->set_faults({{{"kind", "slow_bytes_per_s"}, {"bytes_per_s", 2 << 20}, {"count", -1}}});
  auto full = run_bin(fetch_args(), full_disk_env(kFullAfter));
  ASSERT_EQ(full.exit_code, 4) << full.err;
  // What happened, which file and object, which directory, how much is needed, what to do.
  for (const std::string& needle :
       {std::string("disk full while writing weights.bin"), oid, blobs().string(),
        std::string("No space left on device"), std::string("still needs"),
        std::string("is free there"), std::string("hint: "), std::string("HF_HUB_CACHE"),
        std::string("run the same command again: it resumes")})
    EXPECT_NE(full.err.find(needle), std::string::npos) << "'" << needle << "' in:\n" << full.err;
  EXPECT_EQ(hub_->stats().value("object_requests", 0), 1) << "a full disk is not retried";
  expect_no_snapshot_of_failed_run();
  EXPECT_FALSE(sfs::exists(blobs() / oid));
  // The partial download stays in blobs/ as resume state, and nothing else is left there.
  EXPECT_TRUE(sfs::exists(blobs() / (oid + ".incomplete")));
  EXPECT_TRUE(sfs::exists(blobs() / (oid + ".incomplete.json")));
  for (const auto& e : sfs::directory_iterator(blobs()))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();

  // Space is back: the same command finishes, from where the first run stopped.
  hub_->control({{"faults", json::array()}, {"reset_stats", true}});
  auto again = run_bin(fetch_args(true));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto doc = json::parse(again.out);
  EXPECT_LT(doc.at("bytes_downloaded").get<std::uint64_t>(), kSize) << "resumed, not restarted";
  EXPECT_EQ(*sha256_file(blobs() / oid), oid);
  const std::string head = repo_->at("head");
  EXPECT_EQ(*sha256_file(snapshot("models--acme--diskfull", head) / "weights.bin"), oid);
  EXPECT_EQ(fs::read_first_line(folder() / "refs" / "main"), head);
  for (const auto& e : sfs::directory_iterator(blobs()))
    EXPECT_EQ(e.path().extension(), "") << "left over: " << e.path();
}

TEST_F(FetchDiskFull, EnospcWritingARegularFileNamesIt) {
  auto args = fetch_args();
  for (const char* s : {"--include", "README.md"}) args.emplace_back(s);
  auto full = run_bin(args, full_disk_env(0));
  ASSERT_EQ(full.exit_code, 4) << full.err;
  const std::string blob = file_of(*repo_, "README.md").at("blob_sha1");
  EXPECT_NE(full.err.find("disk full while writing README.md (oid " + blob + ") into " +
                          blobs().string()),
            std::string::npos)
      << full.err;
  EXPECT_FALSE(sfs::exists(blobs() / blob));
  EXPECT_FALSE(sfs::exists(snapshot("models--acme--diskfull", repo_->at("head")) / "README.md"));
  EXPECT_FALSE(sfs::exists(folder() / "refs" / "main"));
  ASSERT_EQ(run_bin(args).exit_code, 0);
  EXPECT_EQ(fs::read_file(snapshot("models--acme--diskfull", repo_->at("head")) / "README.md")
                .value_or(""),
            "disk full\n");
}

TEST_F(FetchDiskFull, EnospcInTheBareRepositoryIsDiskFullToo) {
  std::map<std::string, std::string> env = full_disk_env(0);
  env["SD35_TEST_ENOSPC_DIR"] = (cache_ / ".sd35-git").string();
  auto full = run_bin(fetch_args(), env);
  ASSERT_EQ(full.exit_code, 4) << full.err;
  EXPECT_NE(full.err.find("No space left on device"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("HF_HUB_CACHE"), std::string::npos) << full.err;
  EXPECT_FALSE(sfs::exists(folder() / "snapshots"));
  EXPECT_FALSE(sfs::exists(folder() / "refs" / "main"));
  ASSERT_EQ(run_bin(fetch_args()).exit_code, 0);
}

}  // namespace
}  // namespace sd35::testing
