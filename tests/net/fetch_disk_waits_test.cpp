// The transfer thread never waits for the disk: the real binary runs with tests/tools/enospc_shim.c
// preloaded in its logging mode (SD35_TEST_SYNC_LOG), which records every fsync, fdatasync and
// ftruncate with the thread that made it. The finished blob must still be flushed before it is
// placed — by the placer thread.
#include <sstream>

#include "net/fetch_fixture.hpp"

namespace sd35::testing {
namespace {

class FetchDiskWaits : public FetchTest {};

TEST_F(FetchDiskWaits, NoFlushOrTruncateOnTheTransferThread) {
  const auto shim = test::env_path("SD35_ENOSPC_SHIM");
  ASSERT_TRUE(!shim.empty() && sfs::exists(shim)) << "the test shim is not built";
  const std::uint64_t size = 24u << 20;
  auto repo =
      hub_->make_repo({{"name", "waits"},
                       {"files",
                        {{{"path", "w.bin"}, {"lfs", true}, {"size", size}, {"seed", 21}},
                         {{"path", "x.bin"}, {"lfs", true}, {"size", 5000}, {"seed", 22}}}}});
  const auto log = hub_->scratch() / "sync.log";
  auto r = run_bin({"--cache", cache_.string(), "fetch", "--repo", hub_->repo_url("acme", "waits"),
                    "--revision", "main", "--jobs", "4"},
                   {{"LD_PRELOAD", shim}, {"SD35_TEST_SYNC_LOG", log.string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto blobs = (cache_ / "models--acme--waits" / "blobs").string();
  auto text = fs::read_file(log).value_or("");
  int worker_flushes = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    // LFS downloads only (regular files from git are small and written before any transfer).
    if (line.find(blobs) == std::string::npos || line.find(".incomplete") == std::string::npos)
      continue;
    EXPECT_FALSE(line.starts_with("ftruncate")) << line;
    EXPECT_EQ(line.find(" main "), std::string::npos) << "the transfer thread waited: " << line;
    if (line.starts_with("fdatasync worker")) ++worker_flushes;
  }
  EXPECT_EQ(worker_flushes, 2) << "each blob is flushed once before it is placed:\n" << text;
  for (const char* path : {"w.bin", "x.bin"})
    EXPECT_EQ(*sha256_file(snapshot("models--acme--waits", repo.at("head")) / path),
              file_of(repo, path).at("oid").get<std::string>());
}

}  // namespace
}  // namespace sd35::testing
