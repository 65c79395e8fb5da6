// Package index pages (PEP 503 HTML as on download.pytorch.org, PEP 691 JSON), wheel tags, and
// pip's installation report.
#include <gtest/gtest.h>

#include "resolve/index.hpp"
#include "resolve/pip_report.hpp"

using namespace sd35;
using namespace sd35::resolve;

TEST(ResolveIndex, ParsesPytorchStyleHtml) {
  const std::string sha(64, 'a');
  std::string html =
      "<!DOCTYPE html><html><body><h1>Links for torch</h1>\n"
      "<a href=\"/whl/cu128/torch-2.9.1%2Bcu128-cp311-cp311-manylinux_2_28_x86_64.whl#sha256=" +
      sha + "\" data-dist-info-metadata=\"sha256=" + std::string(64, 'b') +
      "\" data-core-metadata=\"sha256=x\">"
      "torch-2.9.1+cu128-cp311-cp311-manylinux_2_28_x86_64.whl</a><br/>\n"
      "<a href=\"../../files/torch-2.9.1-cp312-cp312-manylinux_2_28_x86_64.whl\" "
      "data-requires-python=\"&gt;=3.10\" "
      "data-yanked=\"\">torch-2.9.1-cp312-cp312-manylinux_2_28_x86_64.whl</a>\n</body></html>";
  auto files = parse_simple_html(html, "https://download.pytorch.org/whl/cu128/torch/");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename, "torch-2.9.1+cu128-cp311-cp311-manylinux_2_28_x86_64.whl");
  EXPECT_EQ(files[0].url,
            "https://download.pytorch.org/whl/cu128/"
            "torch-2.9.1%2Bcu128-cp311-cp311-manylinux_2_28_x86_64.whl");
  EXPECT_EQ(files[0].sha256, sha);
  EXPECT_FALSE(files[0].yanked);
  EXPECT_EQ(
      files[1].url,
      "https://download.pytorch.org/whl/files/torch-2.9.1-cp312-cp312-manylinux_2_28_x86_64.whl");
  EXPECT_EQ(files[1].requires_python, ">=3.10");
  EXPECT_TRUE(files[1].yanked);
  EXPECT_TRUE(files[1].sha256.empty());
}

TEST(ResolveIndex, ParsesPep691Json) {
  std::string json = R"({"meta":{"api-version":"1.1"},"name":"diffusers","files":[
    {"filename":"diffusers-0.31.0-py3-none-any.whl","url":"https://files.example/d/diffusers-0.31.0-py3-none-any.whl",
     "hashes":{"sha256":"ABCDEF0000000000000000000000000000000000000000000000000000000000"},"requires-python":">=3.8","yanked":false},
    {"filename":"diffusers-0.30.0.tar.gz","url":"../x/diffusers-0.30.0.tar.gz","hashes":{},"yanked":"broken"}]})";
  auto files = parse_simple_json(json, "https://pypi.org/simple/diffusers/");
  ASSERT_TRUE(files.has_value());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].sha256, "abcdef0000000000000000000000000000000000000000000000000000000000");
  EXPECT_FALSE((*files)[0].yanked);
  EXPECT_TRUE((*files)[1].yanked);
  EXPECT_EQ((*files)[1].url, "https://pypi.org/simple/x/diffusers-0.30.0.tar.gz");
  EXPECT_FALSE(parse_simple_json("{\"meta\":{}}", "https://x/").has_value());
}

TEST(ResolveIndex, WheelTagsForTheHost) {
  HostTags t;  // Python 3.11, glibc 2.36, x86_64
  t.py_minor = 11;
  t.glibc_minor = 36;
  auto rank = [&](const char* f) { return wheel_rank(*parse_wheel_name(f), t); };
  EXPECT_GT(rank("torch-2.9.1+cu128-cp311-cp311-manylinux_2_28_x86_64.whl"), 0);
  EXPECT_EQ(rank("torch-2.9.1+cu128-cp312-cp312-manylinux_2_28_x86_64.whl"), 0);
  EXPECT_EQ(rank("torch-2.9.1+cu128-cp311-cp311-manylinux_2_39_x86_64.whl"), 0);  // glibc too old
  EXPECT_EQ(rank("torch-2.9.1-cp311-cp311-manylinux_2_28_aarch64.whl"), 0);
  EXPECT_GT(rank("xformers-0.0.33.post2-cp39-abi3-manylinux_2_28_x86_64.whl"), 0);
  EXPECT_GT(rank("diffusers-0.31.0-py3-none-any.whl"), 0);
  EXPECT_GT(rank("x-1.0-py2.py3-none-manylinux2014_x86_64.whl"), 0);
  EXPECT_GT(rank("torch-2.9.1+cu128-cp311-cp311-manylinux_2_28_x86_64.whl"),
            rank("xformers-0.0.33.post2-cp39-abi3-manylinux_2_28_x86_64.whl"));
  auto w = parse_wheel_name("Torch_Vision-0.24.1+cu128-1-cp311-cp311-linux_x86_64.whl");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->name, "torch-vision");
  EXPECT_EQ(w->version, "0.24.1+cu128");
  EXPECT_FALSE(parse_wheel_name("torch-2.9.1.tar.gz"));
}

TEST(ResolveIndex, UrlsAndNames) {
  EXPECT_EQ(project_page_url("https://download.pytorch.org/whl/{variant}/", "cu128", "torch"),
            "https://download.pytorch.org/whl/cu128/torch/");
  EXPECT_EQ(resolve_url("http://127.0.0.1:8000/simple/torch/", "../../files/a.whl"),
            "http://127.0.0.1:8000/files/a.whl");
  EXPECT_EQ(resolve_url("http://127.0.0.1:8000/simple/torch/", "a.whl"),
            "http://127.0.0.1:8000/simple/torch/a.whl");
  EXPECT_EQ(normalize_name("Foo__Bar.baz"), "foo-bar-baz");
}

TEST(PipReport, ReadsEveryWheelWithHash) {
  std::string report = R"({"version":"1","pip_version":"23.2.1","install":[
    {"download_info":{"url":"http://127.0.0.1:1/files/torch-2.9.1%2Bcu128-py3-none-any.whl",
                      "archive_info":{"hashes":{"sha256":")" +
                       std::string(64, 'c') + R"("}}},
     "is_direct":false,"requested":true,"metadata":{"name":"torch","version":"2.9.1+cu128"}},
    {"download_info":{"url":"http://127.0.0.1:1/files/Fixture_Dep-1.0-py3-none-any.whl",
                      "archive_info":{"hash":"sha256=)" +
                       std::string(64, 'd') + R"("}},
     "requested":false,"metadata":{"name":"Fixture_Dep","version":"1.0"}}],"environment":{}})";
  auto pk = parse_pip_report(report, "report.json", {"http://127.0.0.1:1/simple"});
  ASSERT_TRUE(pk.has_value()) << pk.error().describe();
  ASSERT_EQ(pk->size(), 2u);
  EXPECT_EQ((*pk)[0].name, "fixture-dep");
  EXPECT_EQ((*pk)[0].sha256, std::string(64, 'd'));
  EXPECT_FALSE((*pk)[0].requested);
  EXPECT_EQ((*pk)[1].file, "torch-2.9.1+cu128-py3-none-any.whl");
  EXPECT_EQ((*pk)[1].index_url, "http://127.0.0.1:1/simple");
  EXPECT_FALSE(parse_pip_report(R"({"version":"2","install":[]})", "r", {}).has_value());
  auto sdist = parse_pip_report(
      R"({"version":"1","install":[{"download_info":{"url":"http://h/x-1.0.tar.gz"},
      "metadata":{"name":"x","version":"1.0"}}]})",
      "r", {});
  ASSERT_FALSE(sdist.has_value());
  EXPECT_EQ(sdist.error().code, Errc::host_not_ready);
}
