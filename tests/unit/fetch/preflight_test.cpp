// fetch/preflight: bytes still missing (partial downloads count) against the cache's free space.
#include "fetch/preflight.hpp"

#include <gtest/gtest.h>

#include "support/test_env.hpp"

namespace sd35::fetch {
namespace {

TEST(FetchPreflight, CachedBlobsAndPartialDownloadsCountAsPresent) {
  test::TempDir dir;
  const auto cache = store::repo_cache(dir.path(), "acme/model");
  const std::string a(64, 'a'), b(64, 'b'), c(64, 'c');
  dir.write("models--acme--model/blobs/" + b + ".incomplete", std::string(300, 'x'));
  dir.write("models--acme--model/blobs/" + c + ".incomplete", std::string(5000, 'x'));
  std::vector<Item> items = {{"a", 1000, a, "", true, true},
                             {"b", 1000, b, "", true, false},
                             {"c", 2000, c, "", true, false}};
  auto t = tally(items, cache);
  EXPECT_EQ(t.total, 4000u);
  EXPECT_EQ(t.present, 1000u + 300u + 2000u);  // a partial file never counts above its size
  EXPECT_EQ(still_needed(items), 3000u);
  SpaceTally sum;
  sum += t;
  sum += t;
  EXPECT_EQ(sum.total, 8000u);
}

TEST(FetchPreflight, RefusesWhenTheCacheFilesystemIsShort) {
  store::SpaceFn small = [](const std::filesystem::path&) -> Result<fs::SpaceInfo> {
    return fs::SpaceInfo{500, 1u << 30};
  };
  auto st = preflight("/tmp", {4000, 3000}, small);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::disk_full);
  EXPECT_NE(st.error().message.find("(500 bytes) short"), std::string::npos) << st.error().message;
  EXPECT_TRUE(preflight("/tmp", {4000, 3500}, small));
}

}  // namespace
}  // namespace sd35::fetch
