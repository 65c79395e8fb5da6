// The PNG writer (src/image/png) read back by an independent decoder: tests/data/png/png_decode.py
// (Python's zlib and its own unfiltering, CRC check, text chunks). Pixels must come back exactly,
// and the reference image of the pipeline fixture must round-trip.
#include "image/png.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/pipeline_fixture_dir.hpp"
#include "support/test_env.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;
constexpr const char* kPython = "/usr/bin/python3";

// Decodes `png` with the Python reader; the raw RGB pixels land in `raw` when given.
nlohmann::json decode(const stdfs::path& png, const stdfs::path& raw = {}) {
  proc::Command cmd;
  cmd.argv = {kPython, (test::data_dir() / "png/png_decode.py").string(), png.string()};
  if (!raw.empty()) cmd.argv.push_back(raw.string());
  cmd.timeout = std::chrono::seconds(120);
  auto r = proc::run(cmd);
  EXPECT_TRUE(r && r->success()) << (r ? r->err : r.error().describe());
  if (!r || !r->success()) return nlohmann::json::object();
  return nlohmann::json::parse(r->out);
}

std::vector<std::uint8_t> pattern(int w, int h) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
  std::uint32_t s = 12345;
  for (std::size_t i = 0; i < px.size(); ++i) {
    // Smooth ramps (so Sub/Up/Average/Paeth win somewhere) plus noise (so None does too).
    s = s * 1664525u + 1013904223u;
    const std::size_t x = (i / 3) % static_cast<std::size_t>(w);
    const std::size_t y = i / 3 / static_cast<std::size_t>(w);
    px[i] = static_cast<std::uint8_t>(y < static_cast<std::size_t>(h) / 2 ? x * 3 + y + i % 3 * 40
                                                                          : (s >> 24));
  }
  return px;
}

TEST(Png, WritesPixelsTheDecoderReadsBackExactly) {
  if (!stdfs::exists(kPython)) GTEST_SKIP() << "needs " << kPython;
  test::TempDir dir;
  const int w = 37, h = 23;
  const auto px = pattern(w, h);
  const image::TextChunks text{{"prompt", "a cat's toy, bokeh!"},
                               {"negative_prompt", "Café — 日本"},  // UTF-8: iTXt
                               {"seed", "42"}};
  ASSERT_TRUE(image::write_png(dir / "out.png", {w, h, px}, text));
  const auto doc = decode(dir / "out.png", dir / "out.rgb");
  EXPECT_EQ(doc["width"], w);
  EXPECT_EQ(doc["height"], h);
  EXPECT_EQ(doc["color_type"], 2);
  EXPECT_TRUE(doc["crc_ok"].get<bool>());
  EXPECT_EQ(doc["chunks"], (nlohmann::json{"IHDR", "tEXt", "iTXt", "tEXt", "IDAT", "IEND"}));
  EXPECT_EQ(doc["text"]["prompt"], "a cat's toy, bokeh!");
  EXPECT_EQ(doc["text"]["negative_prompt"], "Café — 日本");
  EXPECT_EQ(doc["text"]["seed"], "42");
  const std::string raw = *fs::read_file(dir / "out.rgb");
  EXPECT_EQ(raw, std::string(px.begin(), px.end()));
  EXPECT_EQ(doc["sha256"], image::pixel_fingerprint(px));
}

// Tall enough for several bands of rows (filtered and deflated on their own threads, joined
// into one zlib stream): the independent decoder must read the pixels back exactly.
TEST(Png, AnImageDeflatedInBandsDecodesExactly) {
  if (!stdfs::exists(kPython)) GTEST_SKIP() << "needs " << kPython;
  test::TempDir dir;
  const int w = 301, h = 517;  // bands of 64+ rows; the last band's rows not a multiple of 64
  const auto px = pattern(w, h);
  ASSERT_TRUE(image::write_png(dir / "tall.png", {w, h, px}, {{"seed", "7"}}));
  const auto doc = decode(dir / "tall.png", dir / "tall.rgb");
  EXPECT_TRUE(doc["crc_ok"].get<bool>());
  EXPECT_EQ(doc["height"], h);
  EXPECT_EQ(*fs::read_file(dir / "tall.rgb"), std::string(px.begin(), px.end()));
}

TEST(Png, TheReferenceImageRoundTrips) {
  if (!stdfs::exists(kPython)) GTEST_SKIP() << "needs " << kPython;
  test::TempDir dir;
  const auto ref = decode(test::pipeline_fixture_dir() / "reference.png", dir / "ref.rgb");
  const std::string raw = *fs::read_file(dir / "ref.rgb");
  const int w = ref["width"], h = ref["height"];
  ASSERT_EQ(raw.size(), static_cast<std::size_t>(w * h * 3));
  const std::span<const std::uint8_t> px(reinterpret_cast<const std::uint8_t*>(raw.data()),
                                         raw.size());
  ASSERT_TRUE(image::write_png(dir / "again.png", {w, h, px}, {{"prompt", "reference"}}));
  const auto again = decode(dir / "again.png", dir / "again.rgb");
  EXPECT_TRUE(again["crc_ok"].get<bool>());
  EXPECT_EQ(*fs::read_file(dir / "again.rgb"), raw);
  EXPECT_EQ(again["sha256"], ref["sha256"]);
  EXPECT_EQ(image::pixel_fingerprint(px), ref["sha256"].get<std::string>());
  EXPECT_EQ(image::pixel_fingerprint(px), sha256_hex(raw));
}

TEST(Png, ChunkCrcIsPngs) {
  EXPECT_EQ(image::chunk_crc("IEND"), 0xAE426082u);  // every PNG's last four bytes
  const std::uint8_t px[3] = {1, 2, 3};
  auto png = image::encode_png({1, 1, px}, {});
  ASSERT_TRUE(png);
  EXPECT_EQ(png->substr(png->size() - 8), std::string("IEND\xAE\x42\x60\x82", 8));
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST(Png, RefusesWrongSizesAndKeywords) {
  const std::vector<std::uint8_t> px(12);
  EXPECT_EQ(image::encode_png({2, 3, px}, {}).error().code, Errc::bad_input);  // needs 18
  EXPECT_EQ(image::encode_png({0, 4, px}, {}).error().code, Errc::bad_input);
  EXPECT_EQ(image::encode_png({2, 2, px}, {{"", "x"}}).error().code, Errc::bad_input);
  EXPECT_EQ(image::encode_png({2, 2, px}, {{" lead", "x"}}).error().code, Errc::bad_input);
  EXPECT_EQ(image::encode_png({2, 2, px}, {{std::string(80, 'k'), "x"}}).error().code,
            Errc::bad_input);
  EXPECT_TRUE(image::encode_png({2, 2, px}, {{"Software", "sd35-setup"}}));
}

}  // namespace
}  // namespace sd35
