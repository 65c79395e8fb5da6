// safetensors header rules: one test per rejection of the reference reader, plus the two rules
// (duplicate keys, UTF-8) that nlohmann would otherwise let through or blur.
#include "safetensors/safetensors.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "support/safetensors_writer.hpp"

namespace sd35::st {
namespace {

using sd35::testing::f32_bytes;
using sd35::testing::st_file;
using sd35::testing::st_file_raw;
using sd35::testing::TempDir;
using sd35::testing::write_bytes;

std::string_view rule_of(std::string_view header, std::uint64_t data_size) {
  Violation why;
  auto h = parse_header(header, data_size, &why);
  EXPECT_FALSE(h.has_value()) << header;
  if (!h) {
    EXPECT_EQ(h.error().code, Errc::bad_input);
  }
  return why.rule;
}

TEST(SafetensorsDtype, TableRoundTrips) {
  for (const char* n : {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
                        "I32", "U32", "F32", "F64", "I64", "U64"}) {
    auto d = parse_dtype(n);
    ASSERT_TRUE(d.has_value()) << n;
    EXPECT_EQ(dtype_name(*d), n);
  }
  EXPECT_EQ(dtype_size(Dtype::F8_E4M3), 1u);
  EXPECT_EQ(dtype_size(Dtype::BF16), 2u);
  EXPECT_EQ(dtype_size(Dtype::F32), 4u);
  EXPECT_EQ(dtype_size(Dtype::U64), 8u);
  EXPECT_FALSE(parse_dtype("F8_E8M0").has_value());
  EXPECT_FALSE(parse_dtype("f32").has_value());
}

TEST(SafetensorsHeader, AcceptsValidHeaderSortedByOffset) {
  const std::string h =
      R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[2,10]},)"
      R"("a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},"__metadata__":{"format":"pt"}})";
  auto r = parse_header(h, 10);
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].name, "a");
  EXPECT_EQ(r->tensors[1].name, "b");
  EXPECT_EQ(r->tensors[1].numel(), 2u);
  EXPECT_EQ(r->metadata.at("format"), "pt");
  ASSERT_NE(r->find("b"), nullptr);
  EXPECT_EQ(r->find("b")->nbytes(), 8u);
  EXPECT_EQ(r->find("zz"), nullptr);
}

TEST(SafetensorsHeader, AcceptsScalarsEmptyTensorsAndPadding) {
  const std::string h =
      R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("e":{"dtype":"F16","shape":[0,7],"data_offsets":[4,4]},"__metadata__":null}     )";
  auto r = parse_header(h, 4);
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->tensors.size(), 2u);
  EXPECT_TRUE(parse_header("{}", 0).has_value());
}

TEST(SafetensorsHeader, RejectsInvalidJson) {
  EXPECT_EQ(rule_of(R"({"a": )", 0), rule::json);
  EXPECT_EQ(rule_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x)", 4), rule::json);
}

TEST(SafetensorsHeader, RejectsHeaderNotStartingWithBrace) {
  EXPECT_EQ(rule_of(R"( {})", 0), rule::header_start);
  EXPECT_EQ(rule_of("", 0), rule::header_start);
  EXPECT_EQ(rule_of("[]", 0), rule::header_start);
}

TEST(SafetensorsHeader, RejectsNonUtf8) {
  EXPECT_EQ(rule_of("{\"a\xff\":1}", 0), rule::utf8);
  EXPECT_EQ(rule_of("{\"\xc0\xaf\":1}", 0), rule::utf8);      // overlong '/'
  EXPECT_EQ(rule_of("{\"\xed\xa0\x80\":1}", 0), rule::utf8);  // surrogate
  EXPECT_EQ(rule_of("{\"\xe2\x82\":1}", 0), rule::utf8);      // truncated sequence
  EXPECT_TRUE(
      parse_header("{\"__metadata__\":{\"n\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}}", 0).has_value());
}

TEST(SafetensorsHeader, RejectsDuplicateKeysAtAnyDepth) {
  Violation why;
  auto r = parse_header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                        R"("a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                        1, &why);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(why.rule, rule::duplicate_key);
  EXPECT_EQ(why.tensor, "a");
  EXPECT_EQ(rule_of(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1),
            rule::duplicate_key);
}

TEST(SafetensorsHeader, RejectsUnknownDtype) {
  Violation why;
  auto r = parse_header(R"({"w":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}})", 1, &why);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(why.rule, rule::dtype);
  EXPECT_EQ(why.tensor, "w");
  EXPECT_NE(r.error().where.find("'w'"), std::string::npos);
  EXPECT_EQ(rule_of(R"({"w":{"dtype":"F8_E8M0","shape":[1],"data_offsets":[0,1]}})", 1),
            rule::dtype);
}

TEST(SafetensorsHeader, RejectsShapeOverflow) {
  EXPECT_EQ(
      rule_of(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
      rule::shape_overflow);
  EXPECT_EQ(
      rule_of(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
      rule::shape_overflow);
  // A zero dimension makes the tensor empty even when the other dimensions are huge.
  EXPECT_TRUE(
      parse_header(R"({"w":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}})",
                   0)
          .has_value());
}

TEST(SafetensorsHeader, RejectsSchemaViolations) {
  EXPECT_EQ(rule_of(R"([])", 0), rule::header_start);
  EXPECT_EQ(rule_of(R"({"w":1})", 0), rule::schema);
  EXPECT_EQ(rule_of(R"({"w":{"dtype":"F32","shape":[1]}})", 0), rule::schema);
  EXPECT_EQ(rule_of(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), rule::schema);
  EXPECT_EQ(rule_of(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
            rule::schema);
  EXPECT_EQ(rule_of(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4), rule::schema);
  EXPECT_EQ(rule_of(R"({"w":{"dtype":3,"shape":[1],"data_offsets":[0,4]}})", 4), rule::schema);
  EXPECT_EQ(rule_of(R"({"__metadata__":{"k":1}})", 0), rule::metadata);
  EXPECT_EQ(rule_of(R"({"__metadata__":[]})", 0), rule::metadata);
}

TEST(SafetensorsHeader, RejectsSizeMismatch) {
  EXPECT_EQ(rule_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
            rule::tensor_size);
}

TEST(SafetensorsHeader, RejectsGapOverlapAndReversedOffsets) {
  Violation why;
  ASSERT_FALSE(parse_header(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                            R"("b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})",
                            5, &why)
                   .has_value());
  EXPECT_EQ(why.rule, rule::offsets);
  EXPECT_EQ(why.tensor, "b");
  EXPECT_EQ(rule_of(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                    R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                    3),
            rule::offsets);
  EXPECT_EQ(rule_of(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", 3), rule::offsets);
  EXPECT_EQ(rule_of(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[3,1]}})", 3), rule::offsets);
}

TEST(SafetensorsHeader, RejectsTrailingBytesAndTruncation) {
  const std::string h = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})";
  EXPECT_EQ(rule_of(h, 5), rule::coverage);
  EXPECT_EQ(rule_of(h, 3), rule::coverage);
  EXPECT_TRUE(parse_header(h, 4).has_value());
}

TEST(SafetensorsHeader, RejectsDeepNestingWithoutCrashing) {
  std::string deep =
      R"({"__metadata__":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(rule_of(deep, 0), rule::json);
}

class SafetensorsFileTest : public ::testing::Test {
 protected:
  TempDir dir;
  std::filesystem::path put(const std::string& name, const std::string& bytes) {
    auto p = dir.path() / name;
    write_bytes(p, bytes);
    return p;
  }
  std::string_view read_rule(const std::filesystem::path& p) {
    Violation why;
    auto h = read_header(p, &why);
    EXPECT_FALSE(h.has_value());
    if (!h) {
      EXPECT_NE(h.error().where.find(p.filename().string()), std::string::npos) << h.error().where;
    }
    return why.rule;
  }
  static std::string sample() {
    return st_file({{"w", "F32", {2, 2}, f32_bytes({1, 2, 3, 4})}, {"b", "U8", {3}, "abc"}},
                   {{"format", "pt"}});
  }
};

TEST_F(SafetensorsFileTest, ReadsHeaderAndMapsTensors) {
  auto p = put("ok.safetensors", sample());
  auto h = read_header(p);
  ASSERT_TRUE(h.has_value()) << h.error().describe();
  EXPECT_EQ(h->data_offset, 8 + h->header_len);
  EXPECT_EQ(h->header_len % 8, 0u);
  EXPECT_EQ(h->data_size, 19u);
  auto f = File::open(p);
  ASSERT_TRUE(f.has_value()) << f.error().describe();
  EXPECT_EQ(f->bytes(*f->header().find("b")), "abc");
  EXPECT_EQ(f->bytes(*f->header().find("w")), f32_bytes({1, 2, 3, 4}));
  EXPECT_EQ(f->path(), p);
}

TEST_F(SafetensorsFileTest, TooSmallFile) {
  EXPECT_EQ(read_rule(put("small.safetensors", "1234567")), rule::header_too_small);
  EXPECT_FALSE(File::open(put("empty.safetensors", "")).has_value());
}

TEST_F(SafetensorsFileTest, HeaderLength2Pow63) {
  std::string bytes(16, '\0');
  bytes[7] = '\x80';  // 2^63 little-endian
  EXPECT_EQ(read_rule(put("huge.safetensors", bytes)), rule::header_too_large);
  auto f = File::open(dir.path() / "huge.safetensors");
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code, Errc::bad_input);
}

TEST_F(SafetensorsFileTest, HeaderPastEof) {
  std::string bytes = sample();
  bytes.resize(40);  // the header claims more bytes than remain
  EXPECT_EQ(read_rule(put("cut.safetensors", bytes)), rule::header_length);
}

TEST_F(SafetensorsFileTest, TruncatedData) {
  std::string bytes = sample();
  bytes.pop_back();
  EXPECT_EQ(read_rule(put("trunc.safetensors", bytes)), rule::coverage);
  EXPECT_FALSE(File::open(dir.path() / "trunc.safetensors").has_value());
}

TEST_F(SafetensorsFileTest, TrailingBytes) {
  EXPECT_EQ(read_rule(put("trail.safetensors", sample() + "x")), rule::coverage);
}

TEST_F(SafetensorsFileTest, MissingFileIsNotFound) {
  Violation why;
  auto h = read_header(dir.path() / "absent.safetensors", &why);
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.error().code, Errc::missing_file);
  EXPECT_EQ(why.rule, rule::io);
}

TEST_F(SafetensorsFileTest, UnpaddedHeaderIsAccepted) {
  auto p = put("unpadded.safetensors",
               st_file_raw(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "z", false));
  ASSERT_TRUE(read_header(p).has_value());
  auto f = File::open(p);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->bytes(f->header().tensors[0]), "z");
}

TEST_F(SafetensorsFileTest, MappedFileMovesOwnership) {
  auto p = put("m.bin", "hello");
  auto m = MappedFile::open(p);
  ASSERT_TRUE(m.has_value());
  MappedFile moved = std::move(m).value();
  EXPECT_EQ(moved.size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(moved.data()), 5), "hello");
  MappedFile other;
  other = std::move(moved);
  EXPECT_EQ(other.size(), 5u);
  EXPECT_EQ(moved.data(), nullptr);  // NOLINT(bugprone-use-after-move): checks the moved-from state
}

TEST(SafetensorsFixtures, ReferenceCheckpointsParse) {
  const char* data = std::getenv("SD35_TEST_DATA");
  ASSERT_NE(data, nullptr);
  const std::filesystem::path root = std::filesystem::path(data) / "sd3-reference";
  for (const char* rel : {"tiny-large/tiny-large_sai_bf16.safetensors",
                          "tiny-large/tiny-large_fp8_scaled.safetensors",
                          "tiny-large/transformer/diffusion_pytorch_model.safetensors",
                          "tiny-mmditx/tiny-mmditx_fp8_scaled.safetensors"}) {
    auto h = read_header(root / rel);
    ASSERT_TRUE(h.has_value()) << rel << ": " << h.error().describe();
    EXPECT_FALSE(h->tensors.empty()) << rel;
  }
}

}  // namespace
}  // namespace sd35::st
