// Pure logic of the fetch engine: globs, batch JSON, the status policy table, the resume sidecar,
// range planning and the disk-full message.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "lfs/batch.hpp"
#include "lfs/object_file.hpp"
#include "lfs/placer.hpp"
#include "net/credentials.hpp"
#include "net/http.hpp"
#include "net/status_policy.hpp"
#include "net/transport.hpp"
#include "store/disk_full.hpp"
#include "store/path_glob.hpp"
#include "store/snapshot.hpp"
#include "util/sha256.hpp"

using namespace sd35;

TEST(PathGlob, StarStaysInOnePart) {
  EXPECT_TRUE(store::glob_match("*.json", "config.json"));
  EXPECT_FALSE(store::glob_match("*.json", "transformer/config.json"));
  EXPECT_TRUE(store::glob_match("transformer/*", "transformer/config.json"));
  EXPECT_TRUE(store::glob_match("model.safetensors", "model.safetensors"));
  EXPECT_FALSE(store::glob_match("model.safetensors", "model.safetensors.bak"));
}

TEST(PathGlob, DoubleStarSpansParts) {
  EXPECT_TRUE(store::glob_match("**/*.json", "config.json"));
  EXPECT_TRUE(store::glob_match("**/*.json", "a/b/c.json"));
  EXPECT_TRUE(store::glob_match("**", "a/b/c"));
  EXPECT_TRUE(store::glob_match("text_encoders/**", "text_encoders/clip_l.safetensors"));
  EXPECT_FALSE(store::glob_match("text_encoders/**", "vae/x"));
  EXPECT_TRUE(store::glob_match("a/**/z", "a/z"));
  EXPECT_TRUE(store::glob_match("a/**/z", "a/b/c/z"));
}

TEST(PathGlob, ClassesQuestionMarksEscapes) {
  EXPECT_TRUE(store::glob_match("sd3.5_[lm]*", "sd3.5_large.safetensors"));
  EXPECT_FALSE(store::glob_match("sd3.5_[!lm]*", "sd3.5_large.safetensors"));
  EXPECT_TRUE(store::glob_match("file?.bin", "file1.bin"));
  EXPECT_FALSE(store::glob_match("a?b", "a/b"));
  EXPECT_TRUE(store::glob_match("\\*.txt", "*.txt"));
  EXPECT_FALSE(store::glob_match("\\*.txt", "a.txt"));
  EXPECT_TRUE(store::glob_match("[a-c]", "b"));
  EXPECT_TRUE(store::glob_match("[", "["));     // malformed class: literal
  EXPECT_TRUE(store::glob_match("[]a]", "]"));  // ']' first in a class belongs to it
  EXPECT_FALSE(store::glob_match("[!]a]", "a"));
}

// A backtracking matcher takes exponential time on stars that cannot match (the fuzzer found it);
// this pattern with 40 stars against a 4 KiB path must answer at once, and still answer right.
TEST(PathGlob, ManyStarsAnswerInLinearTime) {
  std::string pattern;
  for (int i = 0; i < 40; ++i) pattern += "*a**";
  std::string path(4096, 'a');
  EXPECT_FALSE(store::glob_match(pattern + "b", path));
  EXPECT_TRUE(store::glob_match(pattern, path));
  std::string parts;
  for (int i = 0; i < 200; ++i) parts += "x/";
  EXPECT_TRUE(store::glob_match("**/**/**/**/**/**/z", parts + "z"));
  EXPECT_FALSE(store::glob_match("**/**/**/**/**/**/z", parts + "y"));
  EXPECT_FALSE(store::glob_match("a**/z", "ab/cz"));
  EXPECT_TRUE(store::glob_match("a**/z", "ab/c/z"));
}

TEST(SnapshotPaths, RejectsEscapes) {
  EXPECT_TRUE(store::is_safe_repo_path("a/b.json"));
  EXPECT_FALSE(store::is_safe_repo_path("../x"));
  EXPECT_FALSE(store::is_safe_repo_path("/etc/passwd"));
  EXPECT_FALSE(store::is_safe_repo_path("a//b"));
  EXPECT_FALSE(store::is_safe_repo_path("a/./b"));
}

TEST(LfsBatch, EndpointAndLfsConfig) {
  EXPECT_EQ(lfs::lfs_endpoint("https://huggingface.co/org/name"),
            "https://huggingface.co/org/name.git/info/lfs");
  EXPECT_EQ(lfs::lfs_endpoint("https://h/org/name.git/"), "https://h/org/name.git/info/lfs");
  EXPECT_EQ(lfs::lfs_endpoint("https://h/org/name", "https://lfs.example/x/"),
            "https://lfs.example/x");
  EXPECT_EQ(
      lfs::lfs_url_from_config("[core]\n url = no\n[lfs]\n\turl = \"https://lfs.example/r\"\n"),
      "https://lfs.example/r");
  EXPECT_EQ(lfs::lfs_url_from_config("[remote \"origin\"]\nurl = x\n"), "");
}

TEST(LfsBatch, BuildsDownloadRequest) {
  std::string oid(64, 'a');
  auto j = lfs::build_download_request({{oid, 42}}, "refs/heads/main");
  EXPECT_EQ(j["operation"], "download");
  EXPECT_EQ(j["transfers"], nlohmann::json::array({"basic"}));
  EXPECT_EQ(j["hash_algo"], "sha256");
  EXPECT_EQ(j["ref"]["name"], "refs/heads/main");
  EXPECT_EQ(j["objects"][0]["oid"], oid);
  EXPECT_EQ(j["objects"][0]["size"], 42);
  EXPECT_FALSE(lfs::build_download_request({{oid, 1}}, "").contains("ref"));
}

TEST(LfsBatch, ParsesActionsErrorsAndExpiry) {
  std::string a(64, 'a'), b(64, 'b'), c(64, 'c');
  nlohmann::json body = {
      {"transfer", "basic"},
      {"objects",
       {{{"oid", a},
         {"size", 1},
         {"actions",
          {{"download",
            {{"href", "http://x/a"}, {"header", {{"X-Sig", "s"}}}, {"expires_in", 60}}}}}},
        {{"oid", b}, {"size", 2}, {"error", {{"code", 404}, {"message", "Object does not exist"}}}},
        {{"oid", c},
         {"size", 3},
         {"actions",
          {{"download", {{"href", "http://x/c"}, {"expires_at", "2000-01-01T00:00:00Z"}}}}}}}}};
  auto now = lfs::Clock::now();
  auto r = lfs::parse_batch_response(body.dump(), now, "test");
  ASSERT_TRUE(r) << r.error().describe();
  ASSERT_EQ(r->size(), 3u);
  ASSERT_TRUE((*r)[0].download);
  EXPECT_EQ((*r)[0].download->headers,
            (std::vector<std::pair<std::string, std::string>>{{"X-Sig", "s"}}));
  EXPECT_FALSE((*r)[0].download->expired(now));
  EXPECT_TRUE((*r)[0].download->expired(now + std::chrono::seconds(56)));  // within the 5 s margin
  EXPECT_EQ((*r)[1].error_code, 404);
  EXPECT_FALSE((*r)[1].download);
  EXPECT_TRUE((*r)[2].download->expired(now));
}

TEST(LfsBatch, RejectsMalformedResponses) {
  auto now = lfs::Clock::now();
  EXPECT_FALSE(lfs::parse_batch_response("[]", now, "t"));
  EXPECT_FALSE(lfs::parse_batch_response(R"({"objects":{}})", now, "t"));
  EXPECT_FALSE(lfs::parse_batch_response(R"({"hash_algo":"sha512","objects":[]})", now, "t"));
  EXPECT_FALSE(lfs::parse_batch_response(R"({"transfer":"xet","objects":[]})", now, "t"));
  auto none = lfs::parse_batch_response(R"({"objects":[{"oid":"x","size":1}]})", now, "t");
  ASSERT_TRUE(none);
  EXPECT_EQ((*none)[0].error_code, 422);
}

TEST(StatusPolicy, Table) {
  using net::Endpoint;
  struct Row {
    long status;
    Endpoint ep;
    bool ok, retry, refresh;
    Errc code;
  };
  const Row rows[] = {
      {200, Endpoint::api, true, false, false, Errc::internal},
      {206, Endpoint::object, true, false, false, Errc::internal},
      {401, Endpoint::api, false, false, false, Errc::auth},
      {403, Endpoint::api, false, false, false, Errc::gated},
      {403, Endpoint::object, false, false, true, Errc::network},
      {404, Endpoint::api, false, false, false, Errc::not_found},
      {404, Endpoint::object, false, false, true, Errc::not_found},
      {410, Endpoint::object, false, false, true, Errc::not_found},
      {422, Endpoint::api, false, false, false, Errc::bad_input},
      {429, Endpoint::api, false, true, false, Errc::rate_limited},
      {429, Endpoint::object, false, true, false, Errc::rate_limited},
      {500, Endpoint::api, false, true, false, Errc::network},
      {503, Endpoint::object, false, true, false, Errc::network},
      {501, Endpoint::api, false, false, false, Errc::network},
      {400, Endpoint::object, false, true, false, Errc::network},
  };
  for (const auto& r : rows) {
    auto p = net::classify_status(r.status, r.ep, 1, std::nullopt);
    SCOPED_TRACE(r.status);
    EXPECT_EQ(p.ok, r.ok);
    if (r.ok) continue;
    EXPECT_EQ(p.retry, r.retry);
    EXPECT_EQ(p.refresh_action, r.refresh);
    EXPECT_EQ(p.code, r.code);
  }
}

TEST(StatusPolicy, BackoffAndRetryAfter) {
  using std::chrono::milliseconds;
  EXPECT_EQ(net::backoff_delay(1), milliseconds(250));
  EXPECT_EQ(net::backoff_delay(3), milliseconds(1000));
  EXPECT_EQ(net::backoff_delay(30), milliseconds(10000));
  EXPECT_EQ(net::classify_status(429, net::Endpoint::api, 1, std::chrono::seconds(7)).wait,
            milliseconds(7000));
  EXPECT_EQ(net::classify_status(429, net::Endpoint::api, 1, std::chrono::seconds(9999)).wait,
            milliseconds(300000));
}

TEST(RangePlan, TilesTheObject) {
  auto p = lfs::plan_ranges(100, 3, 0);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].start, 0u);
  EXPECT_EQ(p[0].end, 34u);
  EXPECT_EQ(p[2].end, 100u);
  for (std::size_t i = 1; i < p.size(); ++i) EXPECT_EQ(p[i].start, p[i - 1].end);
  EXPECT_EQ(lfs::plan_ranges(100, 8, 40).size(), 2u);  // never below min_part
  EXPECT_EQ(lfs::plan_ranges(10, 8, 40).size(), 1u);
  EXPECT_EQ(lfs::plan_ranges(0, 8, 40).size(), 1u);
}

TEST(Sidecar, RoundTripAndRejection) {
  Sha256 h;
  h.update("abc");
  lfs::Sidecar s{std::string(64, 'e'), 100, 3, sha256_hex("abc"), {{0, 50, 10}, {50, 100, 20}}};
  auto back = lfs::sidecar_from_json(nlohmann::json::parse(lfs::to_json(s).dump()), s.oid, 100);
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(back->segments, s.segments);
  EXPECT_EQ(back->hashed, 3u);
  EXPECT_EQ(back->prefix_sha256, s.prefix_sha256);
  // Version 1 kept the raw hash state: its prefix digest is derived from it.
  auto v1 = lfs::to_json(s);
  v1["version"] = 1;
  v1.erase("prefix_sha256");
  std::string state = h.export_state();
  v1["hash_state"] = to_hex(reinterpret_cast<const std::uint8_t*>(state.data()), state.size());
  auto old = lfs::sidecar_from_json(v1, s.oid, 100);
  ASSERT_TRUE(old) << old.error().describe();
  EXPECT_EQ(old->prefix_sha256, sha256_hex("abc"));
  EXPECT_FALSE(lfs::sidecar_from_json(lfs::to_json(s), std::string(64, 'f'), 100));  // other oid
  EXPECT_FALSE(lfs::sidecar_from_json(lfs::to_json(s), s.oid, 99));                  // other size
  auto gap = s;
  gap.segments = {{0, 40, 0}, {50, 100, 0}};
  EXPECT_FALSE(lfs::sidecar_from_json(lfs::to_json(gap), s.oid, 100));
  auto over = s;
  over.hashed = 11;  // more than the contiguous 10 bytes
  EXPECT_FALSE(lfs::sidecar_from_json(lfs::to_json(over), s.oid, 100));
}

TEST(ObjectFile, OutOfOrderRangesHashInOrderAndResume) {
  auto dir =
      std::filesystem::temp_directory_path() / ("sd35-objfile-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string data(1000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + 3);
  std::string oid = sha256_hex(data);
  auto blob = dir / oid;
  {
    auto f = lfs::ObjectFile::open(blob, oid, 1000, lfs::plan_ranges(1000, 2, 0));
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->write(1, data.data() + 500, 300));  // later range first: disk only
    ASSERT_TRUE(f->write(0, data.data(), 200));
    EXPECT_EQ(f->prefix_hash()->available(), 200u) << "only the prefix is contiguous";
    ASSERT_TRUE(f->catch_up_hash());  // what the placer's hash thread does meanwhile
    EXPECT_EQ(f->prefix_hash()->hashed(), 200u);
    ASSERT_TRUE(f->save_sidecar());
  }  // "process exits"
  auto f = lfs::ObjectFile::open(blob, oid, 1000, lfs::plan_ranges(1000, 2, 0));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->resumed_bytes(), 500u);
  ASSERT_TRUE(f->write(0, data.data() + 200, 300));
  ASSERT_TRUE(f->write(1, data.data() + 800, 200));
  ASSERT_TRUE(f->complete());
  ASSERT_TRUE(f->finish()) << "hash of the reassembled object";
  // Every byte is read back once: the resumed prefix (200) to prove it is on disk, the rest (800)
  // to hash it off the writer's thread.
  EXPECT_EQ(f->reread_bytes(), 1000u);
  EXPECT_TRUE(std::filesystem::exists(blob));
  EXPECT_FALSE(std::filesystem::exists(blob.string() + ".incomplete.json"));
  std::filesystem::remove_all(dir);
}

// What a power cut leaves: the sidecar says N bytes were written and hashed, but part of them never
// reached the disk. The saved progress must not be trusted: the object restarts.
TEST(ObjectFile, ResumeRereadsTheHashedPrefixAndDropsLostWrites) {
  auto dir =
      std::filesystem::temp_directory_path() / ("sd35-objfile-lost-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string data(1000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 13 + 1);
  std::string oid = sha256_hex(data);
  auto blob = dir / oid;
  auto first_run = [&] {
    auto f = lfs::ObjectFile::open(blob, oid, 1000, {{0, 1000, 0}});
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->write(0, data.data(), 600));
    ASSERT_TRUE(f->catch_up_hash());  // the hash thread's work before the sidecar is saved
    ASSERT_TRUE(f->save_sidecar());
  };
  first_run();
  {  // intact: resumed, and the prefix was read back to prove it
    auto f = lfs::ObjectFile::open(blob, oid, 1000, {{0, 1000, 0}});
    ASSERT_TRUE(f);
    EXPECT_EQ(f->resumed_bytes(), 600u);
    EXPECT_EQ(f->reread_bytes(), 600u);
    EXPECT_TRUE(f->resume_dropped().empty());
  }
  {  // zero 100 bytes inside the hashed part, as a lost write would
    int fd = ::open((blob.string() + ".incomplete").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::string zeros(100, '\0');
    ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), 200), 100);
    ::close(fd);
  }
  auto f = lfs::ObjectFile::open(blob, oid, 1000, {{0, 1000, 0}});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->resumed_bytes(), 0u);
  EXPECT_NE(f->resume_dropped().find("differ"), std::string::npos) << f->resume_dropped();
  ASSERT_TRUE(f->write(0, data.data(), 1000));
  ASSERT_TRUE(f->finish());
  EXPECT_EQ(*sha256_file(blob), oid);
  std::filesystem::remove_all(dir);
}

TEST(ObjectFile, CorruptContentIsDiscarded) {
  auto dir =
      std::filesystem::temp_directory_path() / ("sd35-objfile-bad-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string oid = sha256_hex("hello");
  auto f = lfs::ObjectFile::open(dir / oid, oid, 5, {{0, 5, 0}});
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->write(0, "hellO", 5));
  auto st = f->finish();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::integrity);
  EXPECT_FALSE(std::filesystem::exists(dir / oid));
  EXPECT_FALSE(std::filesystem::exists(dir / (oid + ".incomplete")));
  ASSERT_TRUE(f->save_sidecar());  // what the engine does when it gives up: no orphan sidecar
  EXPECT_FALSE(std::filesystem::exists(dir / (oid + ".incomplete.json")));
  std::filesystem::remove_all(dir);
}

TEST(DiskFull, MessageNamesFileOidDirectoryAndAmounts) {
  const Error cause =
      make_error(Errc::disk_full, "cannot write the download: No space left on device", "x", "");
  store::DiskFullContext ctx{.file = "text_encoders/t5xxl.safetensors",
                             .id = "ab12",
                             .dir = "/c/models--o--n/blobs",
                             .partial = "/c/models--o--n/blobs/ab12.incomplete",
                             .present = 3u << 20,
                             .resumable = 2u << 20,
                             .size = 8u << 20,
                             .still_needed = 6u << 20};
  Error e = store::disk_full_error(cause, ctx, fs::SpaceInfo{1u << 20, 1u << 30});
  EXPECT_EQ(e.code, Errc::disk_full);
  EXPECT_EQ(e.message,
            "disk full while writing text_encoders/t5xxl.safetensors (oid ab12) into "
            "/c/models--o--n/blobs: cannot write the download: No space left on device; 3.0 MiB "
            "of its 8.0 MiB are on disk, this fetch still needs 6.0 MiB more and 1.0 MiB is free "
            "there");
  EXPECT_EQ(e.where, "/c/models--o--n/blobs/ab12.incomplete");
  EXPECT_EQ(e.hint,
            "free at least 5.0 MiB on that filesystem, or point --cache / HF_HUB_CACHE at a larger "
            "disk; then run the same command again: it resumes from the 2.0 MiB recorded in "
            "ab12.incomplete.json");

  // Enough space reported (a quota, or the space came back) and no resume state saved.
  ctx.resumable = 0;
  e = store::disk_full_error(cause, ctx, fs::SpaceInfo{1u << 30, 1u << 31});
  EXPECT_NE(e.hint.find("check disk quotas"), std::string::npos) << e.hint;
  EXPECT_NE(e.hint.find("starts this file over"), std::string::npos) << e.hint;
  // A regular file (no partial download) and unknown free space.
  ctx.partial.clear();
  e = store::disk_full_error(cause, ctx, std::nullopt);
  EXPECT_EQ(e.where, "/c/models--o--n/blobs");
  EXPECT_NE(e.message.find("an unknown amount is free"), std::string::npos) << e.message;
  EXPECT_NE(e.hint.find("free at least 6.0 MiB"), std::string::npos) << e.hint;
}

TEST(Origin, SchemeHostAndPortMustAllMatch) {
  EXPECT_EQ(net::origin_of("https://HF.co/org/x"), "https://hf.co:443");
  EXPECT_EQ(net::origin_of("http://u:p@127.0.0.1:8080/a?b"), "http://127.0.0.1:8080");
  EXPECT_EQ(net::origin_of("https://[::1]:9/x"), "https://[::1]:9");
  EXPECT_EQ(net::origin_of("not a url"), "");
  net::Credentials c;
  c.token = Secret("t");
  c.origin = net::origin_of("https://hf.co/org/x");
  EXPECT_TRUE(c.allowed_for("https://hf.co:443/org/x.git/info/lfs/objects/batch"));
  EXPECT_FALSE(c.allowed_for("http://hf.co/org/x")) << "never over http";
  EXPECT_FALSE(c.allowed_for("https://hf.co:8443/org/x")) << "another port";
  EXPECT_FALSE(c.allowed_for("https://cdn.hf.co/org/x")) << "another host";
  EXPECT_FALSE(c.allowed_for("https://hf.co.evil.example/x"));
  EXPECT_FALSE(c.allowed_for("https://hf.co@evil.example/x")) << "userinfo is not the host";
  c.origin.clear();
  EXPECT_FALSE(c.allowed_for("https://hf.co/org/x"));
}

TEST(Origin, UserinfoIsSplitOffAndDecoded) {
  auto s = net::split_userinfo("https://me:hf%5Ftok@hf.co:443/org/x?q=1");
  EXPECT_EQ(s.url, "https://hf.co:443/org/x?q=1");
  EXPECT_EQ(s.username, "me");
  EXPECT_EQ(s.password.reveal_for_transport(), "hf_tok");
  EXPECT_TRUE(s.had_userinfo);
  auto lone = net::split_userinfo("https://hf_tok@hf.co/org/x");
  EXPECT_EQ(lone.url, "https://hf.co/org/x");
  EXPECT_EQ(lone.username, "hf_tok");
  EXPECT_TRUE(lone.password.empty());
  auto none = net::split_userinfo("https://hf.co/org/x@y");
  EXPECT_FALSE(none.had_userinfo) << "an @ in the path is not userinfo";
  EXPECT_EQ(none.url, "https://hf.co/org/x@y");
  net::TokenLookup l;
  l.origin = "https://hf.co:443";
  l.url_username = lone.username;
  l.use_git_credential = false;
  l.getenv = [](const char*) -> std::optional<std::string> { return "from-env"; };
  auto c = net::find_credentials(l);
  EXPECT_EQ(c.token.reveal_for_transport(), "hf_tok") << "the URL wins over HF_TOKEN";
  EXPECT_EQ(c.origin, "https://hf.co:443");
  EXPECT_EQ(fmt::format("{}", c.token), "<redacted>");
}

TEST(Transport, ProxyPrecedenceAndNoProxy) {
  std::map<std::string, std::string> env = {
      {"HTTPS_PROXY", "http://upper:1"},
      {"https_proxy", "http://lower:2"},
      {"ALL_PROXY", "http://all:3"},
      {"NO_PROXY", "internal.example, .corp.example,10.0.0.1"}};
  auto lookup = [&](const char* n) -> std::optional<std::string> {
    auto it = env.find(n);
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  auto t = net::transport_from_env("", lookup);
  ASSERT_TRUE(t) << t.error().describe();
  EXPECT_EQ(t->proxy_for("https://hf.co/x"), "http://lower:2") << "lower case first";
  EXPECT_EQ(t->proxy_for("http://hf.co/x"), "http://all:3") << "ALL_PROXY for the rest";
  EXPECT_EQ(t->proxy_for("https://internal.example/x"), "");
  EXPECT_EQ(t->proxy_for("https://a.corp.example:8443/x"), "");
  EXPECT_EQ(t->proxy_for("https://corp.example/x"), "");
  EXPECT_EQ(t->proxy_for("https://notcorp.example/x"), "http://lower:2");
  EXPECT_EQ(t->proxy_for("http://10.0.0.1/x"), "");
  EXPECT_TRUE(net::no_proxy_matches("*", "anything"));
  EXPECT_FALSE(net::no_proxy_matches("", "anything"));
}

TEST(Transport, CaPrecedenceAndMissingFiles) {
  auto dir = std::filesystem::temp_directory_path() / ("sd35-ca-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const char* f : {"a.pem", "b.pem", "c.pem"}) std::ofstream(dir / f) << "x";
  std::map<std::string, std::string> env = {{"SSL_CERT_FILE", (dir / "a.pem").string()},
                                            {"GIT_SSL_CAINFO", (dir / "b.pem").string()},
                                            {"SSL_CERT_DIR", dir.string()}};
  auto lookup = [&](const char* n) -> std::optional<std::string> {
    auto it = env.find(n);
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  auto t = net::transport_from_env("", lookup);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->tls.ca_file, (dir / "b.pem").string()) << "GIT_SSL_CAINFO before SSL_CERT_FILE";
  EXPECT_EQ(t->tls.source, "GIT_SSL_CAINFO");
  EXPECT_EQ(t->tls.ca_dir, dir.string());
  env["CURL_CA_BUNDLE"] = (dir / "c.pem").string();
  EXPECT_EQ(net::transport_from_env("", lookup)->tls.source, "CURL_CA_BUNDLE");
  env["REQUESTS_CA_BUNDLE"] = (dir / "a.pem").string();
  EXPECT_EQ(net::transport_from_env("", lookup)->tls.source, "REQUESTS_CA_BUNDLE");
  auto opt = net::transport_from_env((dir / "c.pem").string(), lookup);
  EXPECT_EQ(opt->tls.source, "--ca-file");
  EXPECT_NE(opt->tls.describe().find("c.pem (from --ca-file)"), std::string::npos);
  env["CURL_CA_BUNDLE"] = "/nonexistent.pem";
  env.erase("REQUESTS_CA_BUNDLE");
  auto bad = net::transport_from_env("", lookup);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("CURL_CA_BUNDLE"), std::string::npos);
  EXPECT_EQ(net::transport_from_env(
                "", [](const char*) -> std::optional<std::string> { return std::nullopt; })
                ->tls.describe(),
            "the system CA store");
  std::filesystem::remove_all(dir);
}

// The placer's hash thread advances a download's prefix hash in the background, right behind the
// writes; the place thread verifies (the rest of the hash) and renames, or discards bad content.
TEST(Placer, HashesBehindTheWriterThenVerifiesAndPlaces) {
  auto dir = std::filesystem::temp_directory_path() / ("sd35-placer-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string data(3u << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  const std::string oid = sha256_hex(data);
  std::atomic<int> wakes{0};
  lfs::Placer placer([&] { ++wakes; });

  auto f = lfs::ObjectFile::open(dir / oid, oid, data.size(), lfs::plan_ranges(data.size(), 2, 0));
  ASSERT_TRUE(f);
  const std::size_t half = data.size() / 2;
  ASSERT_TRUE(f->write(0, data.data(), half));
  placer.hash_behind(f->prefix_hash());
  for (int i = 0; i < 500 && f->prefix_hash()->hashed() < half; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(f->prefix_hash()->hashed(), half) << "hashed on the placer's thread";
  ASSERT_TRUE(f->write(1, data.data() + half, data.size() - half));
  ASSERT_TRUE(f->complete());
  placer.submit(&oid, std::move(*f));
  placer.drain();
  auto done = placer.take_done();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].status) << done[0].status.error().describe();
  EXPECT_EQ(done[0].reread, data.size());
  EXPECT_EQ(*sha256_file(dir / oid), oid);
  EXPECT_GE(wakes.load(), 1);

  // Bytes that do not hash to their oid: an integrity error, and nothing left behind.
  const std::string wrong(64, 'a');
  auto bad = lfs::ObjectFile::open(dir / wrong, wrong, 1000, {{0, 1000, 0}});
  ASSERT_TRUE(bad);
  ASSERT_TRUE(bad->write(0, data.data(), 1000));
  placer.submit(&wrong, std::move(*bad));
  placer.drain();
  done = placer.take_done();
  ASSERT_EQ(done.size(), 1u);
  ASSERT_FALSE(done[0].status);
  EXPECT_EQ(done[0].status.error().code, Errc::integrity);
  EXPECT_FALSE(std::filesystem::exists(dir / wrong));
  EXPECT_FALSE(std::filesystem::exists(dir / (wrong + ".incomplete")));
  std::filesystem::remove_all(dir);
}
