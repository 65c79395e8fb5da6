#include "manifest/manifest.hpp"

#include <gtest/gtest.h>

#include "support/test_env.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace sd35 {
namespace {

std::string valid_text() {
  return *fs::read_file(test::source_dir() / "manifests/sd35-large-fp8.json");
}

void replace(std::string& s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  ASSERT_NE(pos, std::string::npos) << from;
  s.replace(pos, from.size(), to);
}

TEST(Manifest, EveryShippedManifestParsesWithoutWarnings) {
  int count = 0;
  for (const auto& e : std::filesystem::directory_iterator(test::source_dir() / "manifests")) {
    if (e.path().extension() != ".json" || e.path().filename() == "manifest.schema.json") continue;
    auto m = load_manifest(e.path().string());
    ASSERT_TRUE(m) << m.error().describe();
    EXPECT_TRUE(m->warnings.empty()) << e.path();
    EXPECT_FALSE(m->environment.candidates.empty());
    ++count;
  }
  EXPECT_EQ(count, 5);
}

TEST(Manifest, EmbeddedDefaultIsTheLargeFp8File) {
  auto m = default_manifest();
  ASSERT_TRUE(m) << m.error().describe();
  EXPECT_EQ(m->name, "sd35-large-fp8");
  EXPECT_EQ(m->model.repo, "Comfy-Org/stable-diffusion-3.5-fp8");
  ASSERT_EQ(m->model.files.size(), 1u);
  EXPECT_EQ(m->model.files[0].path, "sd3.5_large_fp8_scaled.safetensors");
  EXPECT_EQ(*m->model.files[0].size, 14934922866u);
  EXPECT_EQ(*m->model.files[0].sha256,
            "5ad94d6f951556b1ab6b75930fd4effbafaf3130fe9df440e7f2d05a220dd1be");
  EXPECT_EQ(m->smoke.precision, "fp8");
  EXPECT_EQ(m->digest, sha256_hex(valid_text()));  // compiled from the file, byte for byte
}

TEST(Manifest, MissingFileIsBadInputNamingThePath) {
  auto m = load_manifest("/nonexistent/m.json");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::bad_input);
  EXPECT_EQ(m.error().where, "/nonexistent/m.json");
}

TEST(Manifest, InvalidJsonGivesLineAndColumn) {
  std::string t = valid_text();
  replace(t, "\"gated\": false,", "\"gated\": false,,");
  auto m = parse_manifest(t, "m.json");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::bad_input);
  EXPECT_TRUE(m.error().where.starts_with("m.json:")) << m.error().where;
  EXPECT_NE(m.error().message.find("invalid JSON"), std::string::npos);
}

struct BadCase {
  const char* from;
  const char* to;
  const char* where;
  const char* message_part;
};

class ManifestBadValue : public ::testing::TestWithParam<BadCase> {};

TEST_P(ManifestBadValue, NamesPointerAndExpectation) {
  std::string t = valid_text();
  replace(t, GetParam().from, GetParam().to);
  auto m = parse_manifest(t, "m.json");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().where, std::string("m.json: ") + GetParam().where);
  EXPECT_NE(m.error().message.find(GetParam().message_part), std::string::npos)
      << m.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ManifestBadValue,
    ::testing::Values(
        BadCase{"\"gated\": false", "\"gated\": \"no\"", "/model/gated",
                "expected boolean, got string"},
        BadCase{"\"size\": 14934922866", "\"size\": -1", "/model/files/0/size",
                "expected non-negative integer"},
        BadCase{"\"format\": \"sai-single-file\"", "\"format\": \"gguf\"", "/model/format",
                "invalid value"},
        BadCase{"\"architecture\": \"sd35-large\"", "\"architecture\": \"flux\"",
                "/model/architecture", "invalid value"},
        BadCase{"\"sha256\": \"5ad9", "\"sha256\": \"XYZ9", "/model/files/0/sha256",
                "64 lowercase hex"},
        BadCase{"\"repo\": \"Comfy-Org/stable-diffusion-3.5-fp8\"", "\"repo\": \"just-a-name\"",
                "/model/repo", "neither org/name"},
        BadCase{"\"cuda\": [\"cu128\", \"cu126\", \"cu130\", \"cpu\"]", "\"cuda\": [\"cuda12\"]",
                "/environment/candidates/0/cuda", "not a variant"},
        BadCase{"\"steps\": 4", "\"steps\": 0", "/smoke/steps", "1..1000"},
        BadCase{"\"latent\": [64, 64]", "\"latent\": [64]", "/smoke/latent", "two even integers"},
        BadCase{"\"precision\": \"fp8\"", "\"precision\": \"int4\"", "/smoke/precision",
                "invalid value"},
        BadCase{"\"fp8_compute_min_cc\": \"8.9\"", "\"fp8_compute_min_cc\": 8.9",
                "/requirements/gpu/fp8_compute_min_cc", "expected string or null"},
        BadCase{"\"name\": \"sd35-large-fp8\",", "", "/name", "missing required field"}),
    [](const auto& info) {
      std::string n = info.param.where;
      for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

TEST(Manifest, UnknownSchemaVersionIsRejected) {
  std::string t = valid_text();
  replace(t, "\"schema_version\": 1", "\"schema_version\": 2");
  auto m = parse_manifest(t, "m.json");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::unsupported_version);
  EXPECT_EQ(m.error().where, "m.json: /schema_version");
  EXPECT_NE(m.error().hint.find("upgrade"), std::string::npos);
}

TEST(Manifest, UnknownFieldsWarnButParse) {
  std::string t = valid_text();
  replace(t, "\"gated\": false,", "\"gated\": false, \"mirror\": \"x\",");
  auto m = parse_manifest(t, "m.json");
  ASSERT_TRUE(m) << m.error().describe();
  ASSERT_EQ(m->warnings.size(), 1u);
  EXPECT_NE(m->warnings[0].find("/model/mirror"), std::string::npos);
}

TEST(Manifest, RootMustBeAnObject) {
  auto m = parse_manifest("[1,2]", "m.json");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::bad_input);
}

}  // namespace
}  // namespace sd35
