#include "net/credentials.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/strings.hpp"

namespace sd35::net {
namespace {

std::optional<std::string> env_of(const TokenLookup& l, const char* name) {
  std::optional<std::string> v;
  if (l.getenv)
    v = l.getenv(name);
  else if (const char* s = std::getenv(name))
    v = std::string(s);
  if (v && v->empty()) v.reset();
  return v;
}

std::string token_file(const TokenLookup& l) {
  if (auto p = env_of(l, "HF_TOKEN_PATH")) return *p;
  if (auto h = env_of(l, "HF_HOME")) return (std::filesystem::path(*h) / "token").string();
  if (auto x = env_of(l, "XDG_CACHE_HOME"))
    return (std::filesystem::path(*x) / "huggingface" / "token").string();
  std::string home = env_of(l, "HOME").value_or("/root");
  return (std::filesystem::path(home) / ".cache" / "huggingface" / "token").string();
}

// `git credential fill` speaks a key=value protocol on stdin/stdout: the token never appears in
// argv. GIT_TERMINAL_PROMPT=0 and an empty askpass keep it from prompting.
std::optional<std::string> from_git_credential(const TokenLookup& l) {
  if (!proc::which("git")) return std::nullopt;
  proc::Command cmd;
  cmd.argv = {"git", "credential", "fill"};
  cmd.stdin_data = fmt::format("protocol={}\nhost={}\n\n", l.protocol, l.host);
  cmd.env_overrides = {{"GIT_TERMINAL_PROMPT", "0"}, {"GIT_ASKPASS", ""}, {"SSH_ASKPASS", ""}};
  cmd.timeout = std::chrono::milliseconds(5000);
  auto r = proc::run(cmd);
  if (!r || !r->success()) return std::nullopt;
  for (auto line : str::split(r->out, '\n')) {
    if (line.starts_with("password=") && line.size() > 9) return std::string(line.substr(9));
  }
  return std::nullopt;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && str::is_hex(s.substr(i + 1, 2))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

SplitUrl split_userinfo(std::string_view url) {
  SplitUrl out;
  out.url = std::string(url);
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return out;
  const std::size_t start = scheme + 3;
  const std::size_t end = std::min(url.find_first_of("/?#", start), url.size());
  auto at = url.substr(start, end - start).rfind('@');
  if (at == std::string_view::npos) return out;
  std::string_view info = url.substr(start, at);
  auto colon = info.find(':');
  out.username = percent_decode(info.substr(0, colon));
  if (colon != std::string_view::npos)
    out.password = Secret(percent_decode(info.substr(colon + 1)));
  out.url = std::string(url.substr(0, start)) + std::string(url.substr(start + at + 1));
  out.had_userinfo = true;
  return out;
}

Credentials find_credentials(const TokenLookup& l) {
  Credentials c;
  c.origin = l.origin;
  c.bearer = l.bearer;
  // user:password@ in the URL: the password is the token; a lone user@ is taken as the token too
  // (https://hf_xxx@huggingface.co/...), which is how the hub reads a password-less Basic user.
  if (!l.url_password.empty() || !l.url_username.empty()) {
    c.token = l.url_password.empty() ? Secret(l.url_username) : l.url_password;
    if (!l.url_password.empty() && !l.url_username.empty()) c.username = l.url_username;
    c.source = "the userinfo of the repository URL";
    return c;
  }
  if (auto v = env_of(l, "HF_TOKEN")) {
    c.token = Secret(std::string(str::trim(*v)));
    c.source = "HF_TOKEN";
    return c;
  }
  if (auto v = env_of(l, "HUGGING_FACE_HUB_TOKEN")) {
    c.token = Secret(std::string(str::trim(*v)));
    c.source = "HUGGING_FACE_HUB_TOKEN";
    return c;
  }
  std::string file = token_file(l);
  if (auto line = fs::read_first_line(file); line && !str::trim(*line).empty()) {
    c.token = Secret(std::string(str::trim(*line)));
    c.source = "token file " + file;
    return c;
  }
  if (l.use_git_credential && !l.host.empty()) {
    if (auto pw = from_git_credential(l)) {
      c.token = Secret(std::move(*pw));
      c.source = "git credential helper for " + l.host;
      return c;
    }
  }
  return c;
}

std::string describe_token_source(const Credentials& c) {
  if (c.token.empty())
    return "no token was found (HF_TOKEN, HF_TOKEN_PATH / $HF_HOME/token / "
           "~/.cache/huggingface/token, git credential "
           "helper)";
  return fmt::format("the token from {}", c.source);
}

}  // namespace sd35::net
