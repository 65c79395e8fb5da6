#include "util/user_dirs.hpp"

#include <cstdlib>

namespace sd35 {

std::filesystem::path user_cache_dir() {
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v != nullptr && *v != '\0') return v;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr && *home != '\0' ? home : "/root") / ".cache";
}

}  // namespace sd35
