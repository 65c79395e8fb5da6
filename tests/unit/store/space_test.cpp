// store/space: the one judgement of free space, shared by the disk.free check and fetch's
// preflight.
#include "store/space.hpp"

#include <gtest/gtest.h>

namespace sd35::store {
namespace {

TEST(Space, EnoughSpaceCountsWhatIsAlreadyPresent) {
  auto j = judge_space("/c", 1000, 600, 500);
  EXPECT_TRUE(j.enough);
  EXPECT_EQ(j.need, 400u);
  EXPECT_EQ(j.missing, 0u);
  EXPECT_EQ(j.fix, "");
  EXPECT_NE(j.detail.find("cache /c has"), std::string::npos) << j.detail;
}

TEST(Space, ShortSaysHowMuchAndWhere) {
  auto j = judge_space("/c", 3000, 0, 1000);
  EXPECT_FALSE(j.enough);
  EXPECT_EQ(j.missing, 2000u);
  EXPECT_NE(j.detail.find("(2000 bytes) short"), std::string::npos) << j.detail;
  EXPECT_NE(j.fix.find("/c"), std::string::npos);
}

TEST(Space, RequireSpaceAsksTheFilesystemOfTheNearestExistingFolder) {
  std::filesystem::path asked;
  SpaceFn fake = [&](const std::filesystem::path& p) -> Result<fs::SpaceInfo> {
    asked = p;
    return fs::SpaceInfo{100, 1u << 20};
  };
  auto st = require_space("/tmp/does/not/exist/cache", 1000, 0, fake);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::disk_full);
  EXPECT_NE(st.error().message.find("short"), std::string::npos);
  EXPECT_EQ(st.error().where, "/tmp/does/not/exist/cache");
  EXPECT_EQ(asked, "/tmp");
  EXPECT_TRUE(require_space("/tmp", 1000, 950, fake));
}

}  // namespace
}  // namespace sd35::store
