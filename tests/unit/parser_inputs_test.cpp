// Inputs the libFuzzer targets (tests/fuzz) found, kept as regression tests: each parser of
// outside input answers them with an error (or a defined value), never an exception, a crash
// or undefined behaviour.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "compat/pep440.hpp"
#include "lfs/batch.hpp"
#include "resolve/pip_report.hpp"
#include "store/snapshot.hpp"
#include "util/json_reader.hpp"

namespace sd35 {
namespace {

std::string nested(int depth) {
  return std::string(static_cast<std::size_t>(depth), '[') +
         std::string(static_cast<std::size_t>(depth), ']');
}

TEST(ParserInputs, JsonNumberBeyondDoubleIsAnError) {
  // nlohmann throws out_of_range (not parse_error) for this: it escaped the reader.
  auto r = jsonio::parse(R"({"size": 1e999})", "f.json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::bad_input);
  EXPECT_NE(r.error().message.find("number overflow"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().where, "f.json");
}

TEST(ParserInputs, JsonNestingIsBounded) {
  EXPECT_TRUE(jsonio::parse(nested(200), "ok.json"));
  auto deep = jsonio::parse(nested(60000), "deep.json");  // dump() would overflow the stack
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().message.find("nested deeper"), std::string::npos);
}

TEST(ParserInputs, LfsBatchHostileValues) {
  const auto sent = lfs::Clock::time_point(std::chrono::seconds(1'700'000'000));
  // A deeply nested "transfer" was dumped into the message: stack overflow.
  auto deep =
      lfs::parse_batch_response(R"({"transfer":)" + nested(60000) + R"(,"objects":[]})", sent, "t");
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().code, Errc::network);
  // An error code that is a string threw type_error.
  auto code = lfs::parse_batch_response(
      R"({"objects":[{"oid":"a","size":1,"error":{"code":"404","message":7}}]})", sent, "t");
  ASSERT_TRUE(code) << code.error().describe();
  EXPECT_EQ((*code)[0].error_code, 0);
  EXPECT_FALSE((*code)[0].download);
  // expires_in near INT64_MAX overflowed the clock (signed overflow): clamped, far future.
  auto far = lfs::parse_batch_response(
      R"({"objects":[{"oid":"a","size":1,"actions":{"download":{"href":"h",
          "expires_in":9223372036854775807}}}]})",
      sent, "t");
  ASSERT_TRUE(far) << far.error().describe();
  ASSERT_TRUE((*far)[0].download);
  EXPECT_FALSE((*far)[0].download->expired(sent + std::chrono::hours(24 * 365)));
  auto past = lfs::parse_batch_response(
      R"({"objects":[{"oid":"a","size":1,"actions":{"download":{"href":"h",
          "expires_in":-9223372036854775807}}}]})",
      sent, "t");
  ASSERT_TRUE(past);
  EXPECT_TRUE((*past)[0].download->expired(sent));
  // expires_at past 2262 overflowed the clock's nanoseconds: read as "does not expire".
  auto year = lfs::parse_batch_response(
      R"({"objects":[{"oid":"a","size":1,"actions":{"download":{"href":"h",
          "expires_at":"99999-01-01T00:00:00Z"}}}]})",
      sent, "t");
  ASSERT_TRUE(year);
  EXPECT_FALSE((*year)[0].download->expires_at);
}

TEST(ParserInputs, PipReportWrongTypesAreBadInput) {
  const std::vector<std::string> idx = {"https://pypi.org/simple"};
  const std::string url = R"("url":"https://h/x-1.0-py3-none-any.whl")";
  // Each of these threw nlohmann::type_error.
  for (
      const std::string& report : {
          std::string(R"({"version":1,"install":[]})"),
          std::string(R"({"version":"1","install":[1]})"),
          R"({"version":"1","install":[{"metadata":[],"download_info":{)" + url + "}}]}",
          R"({"version":"1","install":[{"metadata":{"name":1,"version":"1.0"},"download_info":{)" +
              url + "}}]}",
          R"({"version":"1","install":[{"metadata":{"name":"x","version":"1.0"},"download_info":{)" +
              url + R"(,"archive_info":{"hashes":{"sha256":5}}}}]})",
          R"({"version":"1","install":[{"metadata":{"name":"x","version":"1.0"},"download_info":{)" +
              url + R"(,"archive_info":{"hash":[]}}},"requested":"yes"}]})",
      }) {
    auto r = resolve::parse_pip_report(report, "report.json", idx);
    if (r) {
      // Only the last one is acceptable: a legacy hash that is not a string reads as none.
      ASSERT_EQ(r->size(), 1u) << report;
      EXPECT_TRUE((*r)[0].sha256.empty()) << report;
      EXPECT_FALSE((*r)[0].requested) << report;
    } else {
      EXPECT_FALSE(r.error().message.empty()) << report;
    }
  }
}

TEST(ParserInputs, Pep440NumbersTooLargeAreRefused) {
  // std::stoll threw out_of_range.
  for (const char* v :
       {"99999999999999999999", "1.99999999999999999999", "1.0.post99999999999999999999",
        "99999999999!1.0", "1.0rc99999999999999999999"}) {
    auto r = pep440::parse_version(v);
    ASSERT_FALSE(r) << v;
    EXPECT_NE(r.error().message.find("too large"), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(pep440::parse_specifiers(">=99999999999999999999"));
  auto ok = pep440::parse_version("9223372036854775807.1");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->release.front(), 9223372036854775807LL);
}

TEST(ParserInputs, Pep440LongTextIsRefusedBeforeTheRegex) {
  // std::regex recursed once per character: a stack overflow at ~30k characters (ASan).
  std::string longest = "1";
  for (int i = 0; i < 30000; ++i) longest += ".1";
  auto r = pep440::parse_version(longest);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("longer than"), std::string::npos);
  EXPECT_FALSE(pep440::parse_version("1.0+" + std::string(60000, 'a')));
  EXPECT_FALSE(pep440::parse_specifiers("==" + longest));
  EXPECT_TRUE(pep440::parse_version("2.9.1+cu128"));
}

TEST(ParserInputs, Pep440VersionThatOutgrowsTheLimitWhenNormalisedIsRefused) {
  // Found by fuzz_pep440: 256 characters whose normal form ("c" -> "rc0") is 258, so the normal
  // form did not parse back.
  const std::string at_limit = "2.9.1c+" + std::string(256 - 7, 'x');
  ASSERT_EQ(at_limit.size(), 256U);
  auto r = pep440::parse_version(at_limit);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("once normalised"), std::string::npos) << r.error().message;
  const std::string fits = "2.9.1rc0+" + std::string(256 - 9, 'x');
  auto ok = pep440::parse_version(fits);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(pep440::parse_version(ok->str()));
}

TEST(ParserInputs, RepoPathWithNulIsUnsafe) {
  EXPECT_FALSE(store::is_safe_repo_path(std::string("a/..\0x", 6)));
  EXPECT_FALSE(store::is_safe_repo_path(std::string("model\0.safetensors", 18)));
  EXPECT_TRUE(store::is_safe_repo_path("text_encoder_3/model.safetensors"));
}

}  // namespace
}  // namespace sd35
