// Proxies and private CAs for both transports (libgit2 for the tree, libcurl for LFS): a hub that
// serves HTTPS with a certificate from a CA made by openssl in the test, and a real HTTP proxy
// (tinyproxy, CONNECT included). Also: an https repository never sends its token over http.
#include "lfs/batch.hpp"
#include "net/fetch_fixture.hpp"
#include "net/local_proxy.hpp"
#include "net/transport.hpp"

namespace sd35::testing {
namespace {

constexpr const char* kTlsVars[] = {"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
                                    "GIT_SSL_CAINFO", "REQUESTS_CA_BUNDLE"};
constexpr const char* kProxyVars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                      "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};

class FetchTlsProxy : public FetchTest {
 protected:
  static void SetUpTestSuite() {
    FetchTest::SetUpTestSuite();
    ca_ = hub_->scratch() / "ca";
    proc::Command c;
    c.argv = {"/bin/sh", (hub_detail::tools_dir() / "make_test_ca.sh").string(), ca_.string()};
    auto r = proc::run(c);
    if (!r || !r->success()) throw std::runtime_error("make_test_ca.sh failed");
    sfs::create_directories(ca_ / "dir");
    sfs::copy_file(ca_ / "ca.pem", ca_ / "dir" / "ca.pem");
    c.argv = {"openssl", "rehash", (ca_ / "dir").string()};
    if (auto h = proc::run(c); !h || !h->success())
      throw std::runtime_error("openssl rehash failed");
    tls_ = new LocalHub(
        {{"tokens", {kGoodToken}}, {"repos", {{"acme/down", {{"access", "private"}}}}}},
        {"--tls-cert", (ca_ / "server.pem").string(), "--tls-key", (ca_ / "server.key").string()});
    tls_tiny_ = new json(tls_->make_repo({{"name", "tiny"}}));
  }
  static void TearDownTestSuite() {
    delete tls_tiny_;
    delete tls_;
    FetchTest::TearDownTestSuite();
  }
  void SetUp() override {
    FetchTest::SetUp();
    tls_->control({{"faults", json::array()}, {"reset_stats", true}});
    clear_env();
  }
  void TearDown() override { clear_env(); }
  static void clear_env() {
    for (const char* v : kTlsVars) ::unsetenv(v);
    for (const char* v : kProxyVars) ::unsetenv(v);
    ::setenv("NO_PROXY", "127.0.0.1,127.0.0.2,127.0.0.3", 1);
  }
  std::unique_ptr<Run> fetch_from(const LocalHub& h, const std::string& name,
                                  app::FetchOptions opt = {}) {
    auto run = std::make_unique<Run>();
    app::GlobalOptions g;
    g.cache_dir = (cache_ += "-r").string();
    opt.repo = h.repo_url("acme", name);
    opt.revision = "main";
    run->result = app::fetch(g, opt, run->reporter);
    return run;
  }
  void expect_tiny_ok(const Run& run) const {
    ASSERT_TRUE(run.result) << run.result.error().describe();
    auto f = file_of(*tls_tiny_, "model.safetensors");
    EXPECT_EQ(
        *sha256_file(snapshot("models--acme--tiny", tls_tiny_->at("head")) / "model.safetensors"),
        f.at("oid").get<std::string>());
  }
  static std::string port_of(const std::string& url) { return url.substr(url.rfind(':') + 1); }
  static std::string hostport(const std::string& url) { return url.substr(url.find("//") + 2); }

  static inline sfs::path ca_;
  static inline LocalHub* tls_ = nullptr;
  static inline json* tls_tiny_ = nullptr;
};

TEST_F(FetchTlsProxy, PrivateCaFromEachVariableAndTheOption) {
  const std::string pem = (ca_ / "ca.pem").string();
  for (const char* var : kTlsVars) {
    SCOPED_TRACE(var);
    clear_env();
    ::setenv(var, std::string(var) == "SSL_CERT_DIR" ? (ca_ / "dir").c_str() : pem.c_str(), 1);
    expect_tiny_ok(*fetch_from(*tls_, "tiny"));
  }
  clear_env();
  app::FetchOptions opt;
  opt.ca_file = pem;
  ::setenv("SSL_CERT_FILE", (ca_ / "other-ca.pem").c_str(), 1);  // the option wins
  expect_tiny_ok(*fetch_from(*tls_, "tiny", opt));
  EXPECT_EQ(tls_->stats().value("tls_handshake_failures", -1), 0);
  EXPECT_GE(tls_->stats().value("object_requests", 0), 1) << "objects came over https too";
}

TEST_F(FetchTlsProxy, UntrustedCertificateFailsAtOnceNamingTheCaFile) {
  ::setenv("SSL_CERT_FILE", (ca_ / "other-ca.pem").c_str(), 1);
  auto run = fetch_from(*tls_, "tiny");
  ASSERT_FALSE(run->result);
  const auto& e = run->result.error();
  EXPECT_EQ(e.code, Errc::network);
  EXPECT_EQ(app::exit_code_for(e.code), 5);
  EXPECT_TRUE(e.permanent);
  EXPECT_NE(e.message.find("other-ca.pem (from SSL_CERT_FILE)"), std::string::npos) << e.describe();
  EXPECT_NE(e.hint.find("--ca-file"), std::string::npos) << e.describe();
  for (const auto& ev : run->reporter.events)
    EXPECT_EQ(ev.message.find("retrying"), std::string::npos) << "retried: " << ev.message;
  EXPECT_EQ(tls_->stats().value("git_requests", -1), 0);
}

TEST_F(FetchTlsProxy, UntrustedCertificateOnTheBatchApiIsNotRetried) {
  auto transport = net::transport_from_env("", [&](const char* n) -> std::optional<std::string> {
    if (std::string(n) == "CURL_CA_BUNDLE") return (ca_ / "other-ca.pem").string();
    return std::nullopt;
  });
  ASSERT_TRUE(transport);
  lfs::BatchClient batch;
  batch.endpoint = tls_->repo_url("acme", "tiny") + ".git/info/lfs";
  batch.transport = &*transport;
  auto f = file_of(*tls_tiny_, "model.safetensors");
  auto r = batch.request_actions({{f.at("oid"), f.at("size")}});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().permanent);
  EXPECT_NE(r.error().message.find("other-ca.pem (from CURL_CA_BUNDLE)"), std::string::npos)
      << r.error().describe();
  EXPECT_EQ(tls_->stats().value("tls_handshake_failures", -1), 1) << "one try, not five";
}

TEST_F(FetchTlsProxy, MissingCaFileIsAnErrorNamingTheVariable) {
  ::setenv("GIT_SSL_CAINFO", "/nonexistent/ca.pem", 1);
  auto run = fetch_from(*tls_, "tiny");
  ASSERT_FALSE(run->result);
  EXPECT_NE(run->result.error().message.find("GIT_SSL_CAINFO"), std::string::npos);
  EXPECT_EQ(run->result.error().where, "/nonexistent/ca.pem");
}

TEST_F(FetchTlsProxy, HttpsRepoNeverSendsItsTokenOverHttp) {
  // The https repo's .lfsconfig points at the same host over plain http (another hub).
  json spec = {{"name", "down"}, {"lfsconfig_url", hub_->git_url() + "/acme/down.git/info/lfs"}};
  hub_->make_repo(spec);
  auto repo = tls_->make_repo(spec);
  ::setenv("SSL_CERT_FILE", (ca_ / "ca.pem").c_str(), 1);
  ::setenv("HF_TOKEN", kGoodToken, 1);
  auto run = fetch_from(*tls_, "down");
  ASSERT_TRUE(run->result) << run->result.error().describe();
  int auth_https = 0;
  for (const auto& e : tls_->requests()) auth_https += e.at("has_authorization").get<bool>();
  EXPECT_GE(auth_https, 1) << "the https origin got the token";
  EXPECT_GE(hub_->stats().value("batch_requests", 0), 1) << "the http LFS endpoint was used";
  for (const auto& e : hub_->requests())
    EXPECT_FALSE(e.at("has_authorization").get<bool>()) << "token over http: " << e.dump();
}

TEST_F(FetchTlsProxy, HttpsGitAndLfsGoThroughTheProxyWithConnect) {
  for (const char* var : {"https_proxy", "HTTPS_PROXY"}) {
    SCOPED_TRACE(var);
    clear_env();
    LocalProxy proxy(hub_->scratch() / (std::string("proxy-") + var));
    ::setenv(var, proxy.url().c_str(), 1);
    ::unsetenv("NO_PROXY");
    ::setenv("SSL_CERT_FILE", (ca_ / "ca.pem").c_str(), 1);
    expect_tiny_ok(*fetch_from(*tls_, "tiny"));
    // libgit2 (info/refs, pack) and curl (batch) each open their own tunnel to the git listener.
    EXPECT_GE(proxy.count("CONNECT " + hostport(tls_->git_url())), 2);
    EXPECT_GE(proxy.count("CONNECT " + hostport(tls_->object_url())), 1);
  }
}

// Plain http: the LFS requests go through the proxy named by any of the variables (curl alone would
// ignore HTTP_PROXY in upper case). libgit2 1.5 itself connects directly to an http:// remote even
// with a proxy given (it proxies https only, with CONNECT): docs/fetch.md says so.
TEST_F(FetchTlsProxy, HttpLfsGoesThroughTheProxyFromEachVariable) {
  for (const char* var : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}) {
    SCOPED_TRACE(var);
    clear_env();
    LocalProxy proxy(hub_->scratch() / (std::string("proxy-") + var));
    ::setenv(var, proxy.url().c_str(), 1);
    ::unsetenv("NO_PROXY");
    cache_ += "-p";
    auto run = fetch("acme/tiny");
    ASSERT_TRUE(run->result) << run->result.error().describe();
    const std::string git = hostport(hub_->git_url());
    EXPECT_GE(proxy.count("POST http://" + git + "/acme/tiny.git/info/lfs/objects/batch"), 1);
    EXPECT_GE(proxy.count("GET http://" + hostport(hub_->object_url()) + "/objects/"), 1);
  }
}

TEST_F(FetchTlsProxy, NoProxyHostsGoDirect) {
  LocalProxy proxy(hub_->scratch() / "proxy-bypassed");
  ::setenv("HTTP_PROXY", proxy.url().c_str(), 1);
  ::setenv("no_proxy", "example.invalid, 127.0.0.1,.127.0.0.2", 1);
  ::unsetenv("NO_PROXY");
  auto run = fetch("acme/tiny");
  ASSERT_TRUE(run->result) << run->result.error().describe();
  EXPECT_TRUE(proxy.requests().empty()) << proxy.requests().front();
}

}  // namespace
}  // namespace sd35::testing
