#include "util/process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>

#include "util/cancel.hpp"
#include "util/strings.hpp"

extern char** environ;  // NOLINT

namespace sd35::proc {
namespace {

struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  void close_end(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};

std::vector<std::string> build_env(const Command& cmd) {
  std::vector<std::string> env;
  std::set<std::string> skip(cmd.env_remove.begin(), cmd.env_remove.end());
  for (const auto& [k, v] : cmd.env_overrides) skip.insert(k);
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos && skip.count(std::string(kv.substr(0, eq)))) continue;
    env.emplace_back(kv);
  }
  for (const auto& [k, v] : cmd.env_overrides) env.emplace_back(k).append("=").append(v);
  return env;
}

}  // namespace

std::optional<std::string> which(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return ::access(name.c_str(), X_OK) == 0 ? std::optional(name) : std::nullopt;
  }
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  for (auto dir : str::split(path, ':')) {
    if (dir.empty()) continue;
    std::string cand(dir);
    cand.append("/").append(name);
    struct stat st {};
    if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(cand.c_str(), X_OK) == 0)
      return cand;
  }
  return std::nullopt;
}

Result<Outcome> run(const Command& cmd) {
  if (cmd.argv.empty()) return make_error(Errc::internal, "empty command line");
  auto exe = which(cmd.argv[0]);
  if (!exe) {
    // A path the user named that is not there is bad input; a name not on PATH is a host that
    // lacks the tool.
    const bool named = cmd.argv[0].find('/') != std::string::npos;
    return make_error(named ? Errc::missing_file : Errc::unavailable,
                      fmt::format("program not found: {}", cmd.argv[0]),
                      named ? cmd.argv[0] : std::string("PATH"),
                      named ? "check the path: it does not exist or is not executable"
                            : "install it or put it on PATH");
  }

  Pipe in, out, err;
  if (::pipe2(in.fd, O_CLOEXEC) || ::pipe2(out.fd, O_CLOEXEC) || ::pipe2(err.fd, O_CLOEXEC))
    return make_error(Errc::io, fmt::format("pipe: {}", std::strerror(errno)));

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.fd[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err.fd[1], 2);
  if (!cmd.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cmd.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group, so a timeout kills grandchildren too.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  std::vector<std::string> env = build_env(cmd);
  std::vector<char*> argv, envp;
  for (const auto& a : cmd.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, exe->c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return make_error(Errc::io, fmt::format("cannot start {}: {}", *exe, std::strerror(rc)));

  in.close_end(0);
  out.close_end(1);
  err.close_end(1);
  if (cmd.stdin_data) {
    // Small inputs only (scripts); write before reading is fine below the pipe buffer size.
    const std::string& s = *cmd.stdin_data;
    std::size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::write(in.fd[1], s.data() + off, s.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
  }
  in.close_end(1);

  Outcome res;
  auto deadline = std::chrono::steady_clock::now() + cmd.timeout;
  pollfd fds[2] = {{out.fd[0], POLLIN, 0}, {err.fd[0], POLLIN, 0}};
  std::string* sinks[2] = {&res.out, &res.err};
  int open_fds = 2;
  char buf[1 << 15];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      res.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    // SIGINT/SIGTERM of sd35-setup ends its children too (a plugin build, pip), within 200 ms.
    if (cancel_requested()) {
      ::kill(-pid, SIGKILL);
      break;
    }
    int pr = ::poll(fds, 2, static_cast<int>(std::min<std::int64_t>(left.count(), 200)));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        if (sinks[i]->size() < cmd.max_output) sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) res.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) res.signal = WTERMSIG(status);
  return res;
}

}  // namespace sd35::proc
