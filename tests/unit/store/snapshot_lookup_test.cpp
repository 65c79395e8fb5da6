// store/snapshot_lookup: refs -> commit -> snapshot, the one lookup fetch, verify, smoke and lock
// use.
#include "store/snapshot_lookup.hpp"

#include <gtest/gtest.h>

#include "support/test_env.hpp"

namespace sd35::store {
namespace {

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

TEST(SnapshotLookup, RefLeadsToTheSnapshotFolder) {
  test::TempDir dir;
  dir.write("models--org--name/refs/main", std::string(kCommit) + "\n");
  std::filesystem::create_directories(dir /
                                      ("models--org--name/snapshots/" + std::string(kCommit)));
  auto s = find_snapshot(dir.path(), "org/name", "main");
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->repo_id, "org/name");
  EXPECT_EQ(s->commit, kCommit);
  EXPECT_TRUE(s->exists);
  EXPECT_EQ(s->path, dir.path() / "models--org--name" / "snapshots" / kCommit);
  EXPECT_EQ(s->problem(), "");
  // A URL names the same cache folder; a commit revision needs no ref.
  auto by_url = find_snapshot(dir.path(), "https://mirror.example/org/name", kCommit);
  ASSERT_TRUE(by_url);
  EXPECT_TRUE(by_url->exists);
}

TEST(SnapshotLookup, MissingRefOrSnapshotSaysWhich) {
  test::TempDir dir;
  auto none = find_snapshot(dir.path(), "org/name", "main");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->commit);
  EXPECT_FALSE(none->exists);
  EXPECT_NE(none->problem().find("no refs/main"), std::string::npos) << none->problem();
  dir.write("models--org--name/refs/main", kCommit);
  auto no_snap = find_snapshot(dir.path(), "org/name", "main");
  ASSERT_TRUE(no_snap);
  EXPECT_EQ(no_snap->commit, kCommit);
  EXPECT_FALSE(no_snap->exists);
  EXPECT_NE(no_snap->problem().find("has no snapshot"), std::string::npos);
  // A ref that is not a commit is no commit.
  dir.write("models--org--name/refs/v1", "not-a-commit\n");
  EXPECT_FALSE(find_snapshot(dir.path(), "org/name", "v1")->commit);
}

TEST(SnapshotLookup, RepoThatNamesNoRepositoryIsBadInput) {
  auto bad = find_snapshot("/c", "just-a-name", "main");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::bad_input);
}

}  // namespace
}  // namespace sd35::store
