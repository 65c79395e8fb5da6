// Result<T> misuse is a bug that must stop the process with a message naming the call and the
// error it held, in every build type (Release included): never a dereference of an empty
// alternative that happens to "work".
#include "util/result.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sd35 {
namespace {

Result<std::string> failing() {
  return make_error(Errc::not_found, "no such manifest", "/nope.json", "pass --manifest FILE");
}
Result<std::string> succeeding() {
  return std::string("fine");
}

TEST(ResultDeathTest, ValueOnErrorAbortsWithTheError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto r = failing();
  ASSERT_FALSE(r);
  EXPECT_DEATH((void)r.value(),
               "Result::value\\(\\) called on an error: \\[not_found\\] no such manifest "
               "\\(/nope.json\\)");
  const auto& cr = r;
  EXPECT_DEATH((void)cr.value(), "Result::value\\(\\) called on an error");
  EXPECT_DEATH((void)failing().value(), "Result::value\\(\\) called on an error");
  EXPECT_DEATH((void)*r, "Result::value\\(\\) called on an error");
  EXPECT_DEATH((void)r->size(), "Result::value\\(\\) called on an error");
}

TEST(ResultDeathTest, ErrorOnValueAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto r = succeeding();
  ASSERT_TRUE(r);
  EXPECT_DEATH((void)r.error(), "Result::error\\(\\) called on a value");
  EXPECT_DEATH((void)succeeding().error(), "Result::error\\(\\) called on a value");
}

TEST(Result, ValueAndErrorWhenUsedRight) {
  auto good = succeeding();
  ASSERT_TRUE(good);
  EXPECT_EQ(good.value(), "fine");
  EXPECT_EQ(good->size(), 4u);
  EXPECT_EQ(failing().value_or("fallback"), "fallback");
  auto bad = failing();
  EXPECT_EQ(bad.error().code, Errc::not_found);
  // Result<void> on success keeps answering a default error (code internal, empty message).
  Status st = ok();
  EXPECT_TRUE(st);
  EXPECT_TRUE(st.error().message.empty());
}

}  // namespace
}  // namespace sd35
