#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sstream>

#include "support/test_env.hpp"
#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/process.hpp"
#include "util/result.hpp"
#include "util/secret.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

namespace sd35 {
namespace {

Result<int> half(int x) {
  if (x % 2) return make_error(Errc::bad_input, "odd", "x", "pass an even number");
  return x / 2;
}
Result<int> quarter(int x) {
  SD35_TRY(int h, half(x));
  SD35_TRY(int q, half(h));
  return q;
}

TEST(Result, PropagatesFirstError) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::bad_input);
  EXPECT_EQ(r.error().describe(), "odd (x)\n  hint: pass an even number");
}

TEST(Secret, NeverFormats) {
  Secret s("hf_abcdefSECRET");
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "<redacted>");
  EXPECT_EQ(fmt::format("{}", s), "<redacted>");
  EXPECT_EQ(s.reveal_for_transport(), "hf_abcdefSECRET");
}

TEST(Sha256, KnownVectorsAndResume) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Hash half, save the state, restore it in a "new process", finish: same digest as one pass.
  std::string data(1 << 20, 'x');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 % 251);
  Sha256 first;
  first.update(data.data(), data.size() / 3);
  std::string state = first.export_state();
  auto resumed = Sha256::import_state(state);
  ASSERT_TRUE(resumed);
  resumed->update(data.data() + data.size() / 3, data.size() - data.size() / 3);
  EXPECT_EQ(resumed->hex_digest(), sha256_hex(data));
  EXPECT_FALSE(Sha256::import_state("short"));
}

TEST(Sha256, FileMatchesMemory) {
  test::TempDir dir;
  std::string data(3 << 20, 'q');
  auto p = dir.write("f.bin", data);
  auto h = sha256_file(p);
  ASSERT_TRUE(h);
  EXPECT_EQ(*h, sha256_hex(data));
  auto missing = sha256_file(dir / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::missing_file);
  EXPECT_NE(missing.error().where.find("nope"), std::string::npos);
}

TEST(Strings, CompareDottedAndHumanBytes) {
  EXPECT_LT(str::compare_dotted("525.60.13", "535.54.03"), 0);
  EXPECT_EQ(str::compare_dotted("580", "580.0.0"), 0);
  EXPECT_GT(str::compare_dotted("9.0", "8.9"), 0);
  EXPECT_GT(str::compare_dotted("8.10", "8.9"), 0);  // numeric, not lexicographic
  EXPECT_EQ(str::human_bytes(512), "512 B");
  EXPECT_EQ(str::human_bytes(14934922866), "13.9 GiB");
  EXPECT_EQ(str::parse_u64(" 42 "), 42u);
  EXPECT_FALSE(str::parse_u64("4x2"));
}

TEST(Fs, AtomicWriteAndErrors) {
  test::TempDir dir;
  auto p = dir / "a/b/c.json";
  ASSERT_TRUE(fs::write_file_atomic(p, "{}\n"));
  EXPECT_EQ(*fs::read_file(p), "{}\n");
  auto space = fs::space(dir / "does/not/exist/yet");
  ASSERT_TRUE(space);
  EXPECT_GT(space->total_bytes, 0u);
}

TEST(Process, CapturesOutputExitCodeAndTimeout) {
  proc::Command ok;
  ok.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"};
  auto r = proc::run(ok);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
  proc::Command slow;
  slow.argv = {"sh", "-c", "sleep 5"};
  slow.timeout = std::chrono::milliseconds(200);
  auto t = proc::run(slow);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->timed_out);
  proc::Command missing;
  missing.argv = {"definitely-not-a-program-sd35"};
  auto m = proc::run(missing);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::unavailable);  // not on PATH: the host lacks it (exit 3)
  missing.argv = {"/definitely/not/a-program-sd35"};
  auto named = proc::run(missing);
  ASSERT_FALSE(named);
  EXPECT_EQ(named.error().code, Errc::missing_file);  // a path that is not there (exit 2)
}

TEST(JsonReader, ParseErrorsNameLineAndColumn) {
  auto r = jsonio::parse("{\n  \"a\": 1,\n  \"b\": ]\n}", "f.json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::bad_input);
  EXPECT_EQ(r.error().where, "f.json:3:8");
}

TEST(JsonReader, TypeErrorsNamePointerAndUnknownFieldsWarn) {
  auto j = *jsonio::parse(R"({"a": {"b": "x", "extra/key": 1}})", "f.json");
  std::vector<std::string> warnings;
  auto root = jsonio::root_object(j, "f.json", &warnings);
  ASSERT_TRUE(root);
  auto a = root->object("a");
  ASSERT_TRUE(a);
  auto b = a->u64("b");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().where, "f.json: /a/b");
  EXPECT_NE(b.error().message.find("expected non-negative integer, got string"), std::string::npos);
  a->finish();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("/a/extra~1key"), std::string::npos);
}

}  // namespace
}  // namespace sd35
