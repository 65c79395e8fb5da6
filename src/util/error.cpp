#include "util/error.hpp"

namespace sd35 {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::internal:
      return "internal";
    case Errc::usage:
      return "usage";
    case Errc::bad_input:
      return "bad_input";
    case Errc::unsupported_version:
      return "unsupported_version";
    case Errc::not_found:
      return "not_found";
    case Errc::io:
      return "io";
    case Errc::permission:
      return "permission";
    case Errc::disk_full:
      return "disk_full";
    case Errc::network:
      return "network";
    case Errc::timeout:
      return "timeout";
    case Errc::auth:
      return "auth";
    case Errc::gated:
      return "gated";
    case Errc::rate_limited:
      return "rate_limited";
    case Errc::integrity:
      return "integrity";
    case Errc::host_not_ready:
      return "host_not_ready";
    case Errc::verification_failed:
      return "verification_failed";
    case Errc::interrupted:
      return "interrupted";
    case Errc::unavailable:
      return "unavailable";
    case Errc::missing_file:
      return "missing_file";
  }
  return "internal";
}

std::string Error::describe() const {
  std::string out = message;
  if (!where.empty()) out += " (" + where + ")";
  if (!hint.empty()) out += "\n  hint: " + hint;
  return out;
}

}  // namespace sd35
