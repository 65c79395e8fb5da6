// LocalHub: RAII handle on tests/tools/lfs_hub.py (git smart HTTP + LFS batch API on 127.0.0.1,
// object bytes on 127.0.0.2) for GoogleTest net tests. Header-only. Errors throw std::runtime_error
// (GoogleTest reports them as a failed test); this is test code, not a module boundary.
// See docs/testing-hub.md for the config schema and the fault knobs.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "util/process.hpp"

extern char** environ;  // NOLINT

namespace sd35::testing {

namespace hub_detail {

inline std::string read_all(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::filesystem::path tools_dir() {
  if (const char* t = std::getenv("SD35_TEST_TOOLS"); t && *t) return t;
  if (const char* s = std::getenv("SD35_SOURCE_DIR"); s && *s)
    return std::filesystem::path(s) / "tests" / "tools";
  // This header lives in tests/net/; its tools are next door (CMake compiles with absolute paths).
  auto here = std::filesystem::path(__FILE__).parent_path().parent_path() / "tools";
  if (std::filesystem::exists(here / "lfs_hub.py")) return here;
  throw std::runtime_error("LocalHub: set SD35_TEST_TOOLS to the tests/tools folder");
}

// The interpreter for the tools (stdlib only): SD35_TEST_PYTHON, else the system python3 (starts
// fastest; version-manager shims on PATH cost ~0.2 s per call), else python3 from PATH.
inline std::string python() {
  if (const char* p = std::getenv("SD35_TEST_PYTHON"); p && *p) return p;
  if (::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  auto found = proc::which("python3");
  if (!found) throw std::runtime_error("LocalHub: python3 not found (set SD35_TEST_PYTHON)");
  return *found;
}

// A hub serving HTTPS is controlled through the curl binary (no certificate check, no proxy).
inline std::pair<int, std::string> https_via_curl(const std::string& base_url,
                                                  const std::string& method,
                                                  const std::string& path,
                                                  const std::string& body) {
  proc::Command c;
  c.argv = {"curl",
            "-sS",
            "-k",
            "--noproxy",
            "*",
            "-X",
            method,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
            "-w",
            "\n%{http_code}",
            base_url + path};
  c.stdin_data = body;
  c.timeout = std::chrono::seconds(20);
  auto r = proc::run(c);
  if (!r || !r->success())
    throw std::runtime_error("LocalHub: curl " + base_url + path +
                             " failed: " + (r ? r->err : r.error().message));
  auto nl = r->out.rfind('\n');
  return {std::stoi(r->out.substr(nl + 1)), r->out.substr(0, nl)};
}

// Minimal HTTP/1.0 client for the hub's own /_control and /_stats (independent of src/net, which is
// what the tests exercise). Returns {status, body}.
inline std::pair<int, std::string> http(const std::string& base_url, const std::string& method,
                                        const std::string& path, const std::string& body = {}) {
  if (base_url.starts_with("https://")) return https_via_curl(base_url, method, path, body);
  // base_url is "http://127.0.0.1:PORT"
  auto colon = base_url.rfind(':');
  std::string host = base_url.substr(7, colon - 7);
  int port = std::stoi(base_url.substr(colon + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("LocalHub: socket() failed");
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    throw std::runtime_error("LocalHub: cannot connect to " + base_url);
  }
  std::string req =
      method + " " + path + " HTTP/1.0\r\nHost: " + host +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  for (std::size_t off = 0; off < req.size();) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  std::string resp;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    resp.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  auto sp = resp.find(' ');
  auto hdr_end = resp.find("\r\n\r\n");
  if (sp == std::string::npos || hdr_end == std::string::npos)
    throw std::runtime_error("LocalHub: bad HTTP answer from " + base_url + path);
  return {std::stoi(resp.substr(sp + 1, 3)), resp.substr(hdr_end + 4)};
}

}  // namespace hub_detail

class LocalHub {
 public:
  // config: see docs/testing-hub.md ({"tokens":[..], "repos":{"org/name":{"access":..}},
  // "faults":[..]}).
  // extra_args go to lfs_hub.py (e.g. {"--git-host", "127.0.0.3"}, {"--tls-cert", C, "--tls-key",
  // K}), on restart() too.
  explicit LocalHub(nlohmann::json config = nlohmann::json::object(),
                    std::vector<std::string> extra_args = {})
      : config_(std::move(config)), extra_args_(std::move(extra_args)) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sd35-hub-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("LocalHub: mkdtemp failed");
    dir_ = tmpl;
    std::filesystem::create_directories(root());
    std::ofstream(dir_ / "config.json") << config_.dump(1);
    try {
      start(0, 0);
    } catch (...) {  // no destructor runs for a half-built object: clean up here
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      throw;
    }
  }
  LocalHub(const LocalHub&) = delete;
  LocalHub& operator=(const LocalHub&) = delete;
  ~LocalHub() {
    stop();
    if (!std::getenv("SD35_KEEP_HUB")) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  const std::string& git_url() const { return git_url_; }        // http://127.0.0.1:P
  const std::string& object_url() const { return object_url_; }  // http://127.0.0.2:Q
  // HF-style remote URL (no ".git"); the hub also accepts "<url>.git".
  std::string repo_url(const std::string& org, const std::string& name) const {
    return git_url_ + "/" + org + "/" + name;
  }
  std::string batch_url(const std::string& org, const std::string& name) const {
    return git_url_ + "/" + org + "/" + name + ".git/info/lfs/objects/batch";
  }
  std::filesystem::path root() const {
    return dir_ / "root";
  }                                                       // repos/, lfs/objects/, requests.jsonl
  std::filesystem::path scratch() const { return dir_; }  // free space for a test (removed too)
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // Builds a repo through make_test_repo.py; spec {} = the default small SD3-like repo acme/tiny.
  // Returns its JSON description (repo, path, head, commits, tags, files[{path,lfs,size,sha256,oid,
  // blob_sha1,...}]).
  nlohmann::json make_repo(const nlohmann::json& spec = nlohmann::json::object(),
                           std::chrono::milliseconds timeout = std::chrono::minutes(10)) const {
    proc::Command c;
    c.argv = {hub_detail::python(),
              (hub_detail::tools_dir() / "make_test_repo.py").string(),
              "--root",
              root().string(),
              "--spec",
              "-"};
    c.stdin_data = spec.dump();
    c.timeout = timeout;
    auto r = proc::run(c);
    if (!r) throw std::runtime_error("LocalHub::make_repo: " + r.error().message);
    if (!r->success())
      throw std::runtime_error("LocalHub::make_repo failed: " + r->err.substr(0, 2000));
    return nlohmann::json::parse(r->out);
  }

  // POST /_control: any of tokens, repos, faults (replace), append_faults, href_ttl_s,
  // object_header, reset_stats, revoke_hrefs. Returns the hub's answer.
  nlohmann::json control(const nlohmann::json& doc) const {
    auto [status, body] = hub_detail::http(git_url_, "POST", "/_control", doc.dump());
    if (status != 200)
      throw std::runtime_error("LocalHub::control: HTTP " + std::to_string(status) + ": " + body);
    return nlohmann::json::parse(body);
  }
  void set_faults(const nlohmann::json& faults) const { control({{"faults", faults}}); }
  void reset_stats() const { control({{"reset_stats", true}}); }

  // GET /_stats: counters (bytes_served_per_oid, range_requests, served_intervals, faults_fired,
  // ...).
  nlohmann::json stats() const {
    auto [status, body] = hub_detail::http(git_url_, "GET", "/_stats");
    if (status != 200) throw std::runtime_error("LocalHub::stats: HTTP " + std::to_string(status));
    return nlohmann::json::parse(body);
  }

  // The request log (one object per request: listener, addr, method, path, status, headers (names
  // only), has_authorization, bytes, oid/range on the object listener).
  // The hub logs a request after answering it, so a client can finish before its entry is
  // written: wait until the log has stopped growing (50 ms apart, at most ~1 s) before reading.
  std::vector<nlohmann::json> requests() const {
    std::vector<nlohmann::json> out;
    std::string text = hub_detail::read_all(root() / "requests.jsonl");
    for (int i = 0; i < 20; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::string again = hub_detail::read_all(root() / "requests.jsonl");
      if (again == text && !text.empty()) break;
      text = std::move(again);
    }
    text.erase(
        text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);  // a line being written
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  // Hard crash of the hub (no cleanup), e.g. to cut a transfer; restart() brings it back.
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    reap(std::chrono::seconds(5));
  }
  // Starts again on the same ports and root (repos, objects and the log survive; faults and stats
  // are reset to the config given at construction).
  void restart() {
    stop();
    start(git_port_, object_port_);
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    if (!reap(std::chrono::seconds(5))) {
      ::kill(-pid_, SIGKILL);
      reap(std::chrono::seconds(5));
    }
  }
  std::string hub_log() const { return hub_detail::read_all(dir_ / "hub.log"); }

 private:
  bool reap(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        pid_ = -1;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void start(int git_port, int object_port) {
    auto port_file = dir_ / "ports.json";
    std::filesystem::remove(port_file);
    std::string python = hub_detail::python();
    std::vector<std::string> args = {
        python,          (hub_detail::tools_dir() / "lfs_hub.py").string(),
        "--root",        root().string(),
        "--config",      (dir_ / "config.json").string(),
        "--port-file",   port_file.string(),
        "--git-port",    std::to_string(git_port),
        "--object-port", std::to_string(object_port)};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    std::string log = (dir_ / "hub.log").string();
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETPGROUP);  // own group: kill(-pid) gets its children
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = ::posix_spawn(&pid_, python.c_str(), &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("LocalHub: cannot start lfs_hub.py");
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!std::filesystem::exists(port_file)) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("LocalHub: lfs_hub.py exited at start:\n" + hub_log());
      }
      if (std::chrono::steady_clock::now() > deadline) {
        stop();
        throw std::runtime_error("LocalHub: lfs_hub.py not ready after 20 s:\n" + hub_log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    auto ports = nlohmann::json::parse(hub_detail::read_all(port_file));
    git_url_ = ports.at("git_url").get<std::string>();
    object_url_ = ports.at("object_url").get<std::string>();
    git_port_ = std::stoi(git_url_.substr(git_url_.rfind(':') + 1));
    object_port_ = std::stoi(object_url_.substr(object_url_.rfind(':') + 1));
  }

  nlohmann::json config_;
  std::vector<std::string> extra_args_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::string git_url_, object_url_;
  int git_port_ = 0, object_port_ = 0;
};

}  // namespace sd35::testing
