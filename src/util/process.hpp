// Running a child program (python interpreters, git, pip) with captured output and a hard timeout.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace sd35::proc {

struct Command {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH when it has no '/'
  std::chrono::milliseconds timeout{10000};
  std::optional<std::string> stdin_data;
  std::map<std::string, std::string> env_overrides;  // added to (or replacing in) the environment
  std::vector<std::string> env_remove;               // removed from the environment
  std::string cwd;                                   // empty: inherit
  std::size_t max_output = 16u << 20;                // per stream; beyond is dropped
};

struct Outcome {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
  [[nodiscard]] bool success() const { return !timed_out && signal == 0 && exit_code == 0; }
};

// Fails only when the program cannot be started; a non-zero exit is an Outcome, not an Error.
Result<Outcome> run(const Command& cmd);

// Looks a program up on PATH (like execvp would); nullopt when absent.
std::optional<std::string> which(const std::string& name);

}  // namespace sd35::proc
