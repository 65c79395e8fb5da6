// A PEP 503 (or PEP 691) package index on 127.0.0.1 serving fixture wheels built by
// tests/tools/lock_pep503_index.py; stopped when the object goes away.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace sd35::testing {

class LocalIndex {
 public:
  explicit LocalIndex(const std::filesystem::path& root, bool json = false) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      const char* tools = std::getenv("SD35_TEST_TOOLS");
      std::string script = std::string(tools ? tools : "") + "/lock_pep503_index.py";
      ::execlp("python3", "python3", script.c_str(), root.c_str(), "--lifetime", "240",
               json ? "--json" : "--html", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    std::string line;
    char c = 0;
    while (line.size() < 64 && ::read(fds[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(fds[0]);
    if (line.starts_with("PORT ")) port_ = std::stoi(line.substr(5));
  }
  ~LocalIndex() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  [[nodiscard]] int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace sd35::testing
