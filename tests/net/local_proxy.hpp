// sd35::testing::LocalProxy: a real HTTP proxy (tinyproxy, Debian package tinyproxy-bin) on
// loopback for the proxy tests: plain requests and CONNECT tunnels, each logged as a line
// "Request (file descriptor N): CONNECT host:port HTTP/1.1" / "GET http://... HTTP/1.1".
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "util/process.hpp"

extern char** environ;

namespace sd35::testing {

class LocalProxy {
 public:
  explicit LocalProxy(const std::filesystem::path& dir) : dir_(dir) {
    std::filesystem::create_directories(dir_);
    auto bin = proc::which("tinyproxy");
    if (!bin)
      throw std::runtime_error("LocalProxy: tinyproxy not found (apt-get install tinyproxy-bin)");
    port_ = free_port();
    std::ofstream(dir_ / "tinyproxy.conf")
        << "Port " << port_ << "\nListen 127.0.0.1\nTimeout 60\nLogFile \""
        << (dir_ / "tinyproxy.log").string()
        << "\"\nLogLevel Connect\nMaxClients 64\nAllow 127.0.0.1\nDisableViaHeader Yes\n";
    std::vector<std::string> args = {*bin, "-d", "-c", (dir_ / "tinyproxy.conf").string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    std::string out = (dir_ / "tinyproxy.out").string();
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = ::posix_spawn(&pid_, bin->c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("LocalProxy: cannot start tinyproxy");
    for (int i = 0; i < 200 && !accepting(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (!accepting()) throw std::runtime_error("LocalProxy: tinyproxy is not listening");
  }
  LocalProxy(const LocalProxy&) = delete;
  LocalProxy& operator=(const LocalProxy&) = delete;
  ~LocalProxy() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The request lines the proxy logged ("CONNECT 127.0.0.1:443 HTTP/1.1", "GET http://...").
  std::vector<std::string> requests() const {
    std::vector<std::string> out;
    std::ifstream in(dir_ / "tinyproxy.log");
    const std::string marker = "): ";
    for (std::string line; std::getline(in, line);) {
      if (line.find("Request (file descriptor") == std::string::npos) continue;
      out.push_back(line.substr(line.find(marker) + marker.size()));
    }
    return out;
  }
  int count(const std::string& needle) const {
    int n = 0;
    for (const auto& r : requests())
      if (r.find(needle) != std::string::npos) ++n;
    return n;
  }

 private:
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t len = sizeof sa;
    ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    ::close(fd);
    return ntohs(sa.sin_port);
  }
  bool accepting() const {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port_));
    ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    return ok;
  }

  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace sd35::testing
