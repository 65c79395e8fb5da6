#include "compat/gpu_arch.hpp"

#include <fmt/format.h>

#include "util/strings.hpp"

namespace sd35::compat {
namespace {

struct Arch {
  int major = 0, minor = 0;
  bool ptx = false;
  bool arch_specific = false;  // sm_90a
};

bool parse_cc(std::string_view cc, int& major, int& minor) {
  auto parts = str::split(cc, '.');
  if (parts.size() != 2) return false;
  auto a = str::parse_u64(parts[0]), b = str::parse_u64(parts[1]);
  if (!a || !b) return false;
  major = static_cast<int>(*a);
  minor = static_cast<int>(*b);
  return true;
}

std::vector<Arch> parse_entry(std::string_view e) {
  std::vector<Arch> out;
  e = str::trim(e);
  auto from_digits = [](std::string_view d, Arch& a) {
    if (!d.empty() && (d.back() == 'a' || d.back() == 'f')) {
      a.arch_specific = true;
      d.remove_suffix(1);
    }
    auto n = str::parse_u64(d);
    if (!n) return false;
    a.major = static_cast<int>(*n / 10);
    a.minor = static_cast<int>(*n % 10);
    return true;
  };
  Arch a;
  if (e.starts_with("sm_")) {
    if (from_digits(e.substr(3), a)) out.push_back(a);
  } else if (e.starts_with("compute_")) {
    a.ptx = true;
    if (from_digits(e.substr(8), a)) out.push_back(a);
  } else {  // "8.6" or "8.6+PTX"
    bool plus_ptx = e.ends_with("+PTX");
    if (plus_ptx) e.remove_suffix(4);
    if (parse_cc(e, a.major, a.minor)) {
      out.push_back(a);
      if (plus_ptx) {
        a.ptx = true;
        out.push_back(a);
      }
    }
  }
  return out;
}

}  // namespace

ArchCoverage gpu_covered(std::string_view cc, const std::vector<std::string>& arch_list) {
  int gm = 0, gn = 0;
  if (!parse_cc(cc, gm, gn)) return {false, fmt::format("unknown compute capability '{}'", cc)};
  ArchCoverage best;
  int best_rank = 0;    // 3 exact SASS, 2 compatible SASS, 1 PTX
  int best_minor = -1;  // among compatible SASS (or PTX), the closest to the GPU wins
  for (const auto& entry : arch_list) {
    for (const Arch& a : parse_entry(entry)) {
      std::string name =
          a.ptx ? fmt::format("compute_{}{}", a.major, a.minor)
                : fmt::format("sm_{}{}{}", a.major, a.minor, a.arch_specific ? "a" : "");
      if (!a.ptx && a.major == gm && a.minor == gn && best_rank < 3) {
        best = {true, fmt::format("{} (exact)", name)};
        best_rank = 3;
      } else if (!a.ptx && !a.arch_specific && a.major == gm && a.minor < gn &&
                 (best_rank < 2 || (best_rank == 2 && a.minor > best_minor))) {
        best = {true, fmt::format("{} SASS (binary compatible with {}.{})", name, gm, gn)};
        best_rank = 2;
        best_minor = a.minor;
      } else if (a.ptx && (a.major < gm || (a.major == gm && a.minor <= gn)) &&
                 (best_rank < 1 || (best_rank == 1 && a.major * 10 + a.minor > best_minor))) {
        best = {true, fmt::format("{} PTX (JIT-compiled by the driver at first use)", name)};
        best_rank = 1;
        best_minor = a.major * 10 + a.minor;
      }
    }
  }
  if (!best.runs)
    best.via =
        fmt::format("no sm_{}{} SASS, no same-major lower SASS, no PTX <= {}.{}", gm, gn, gm, gn);
  return best;
}

}  // namespace sd35::compat
