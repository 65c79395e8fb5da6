#include <fmt/format.h>

#include "checks/check.hpp"

namespace sd35::checks {

namespace {
std::string strip_local(const std::string& v) {
  return v.substr(0, v.find('+'));
}
}  // namespace

static Finding run_xformers_torch_pin(const CheckInfo& info, const CheckContext& ctx) {
  const PythonFacts* py = ctx.host.primary_python();
  if (!py || !py->xformers)
    return make_finding(info, Verdict::skip, "xformers is not installed (optional)");
  const auto& x = *py->xformers;
  if (!py->torch)
    return make_finding(info, Verdict::fail,
                        fmt::format("xformers {} is installed but torch is not", x.version),
                        "install the torch version xformers was built for, or uninstall xformers");
  if (!x.built_for_torch)
    return make_finding(info, Verdict::warn,
                        fmt::format("xformers {}: cannot tell which torch it was built for (no "
                                    "cpp_lib.json, no torch== pin)",
                                    x.version));
  const std::string& have = py->torch->version;
  const std::string& want = *x.built_for_torch;
  // cpp_lib.json carries the local tag ("2.1.2+cu121"); Requires-Dist does not ("2.1.2").
  bool match = want.find('+') != std::string::npos ? want == have : strip_local(have) == want;
  if (match)
    return make_finding(
        info, Verdict::pass,
        fmt::format("xformers {} was built for torch {} (installed: {})", x.version, want, have));
  return make_finding(
      info, Verdict::fail,
      fmt::format(
          "xformers {} was built for torch {} but torch {} is installed: its C++/CUDA extensions "
          "will fail to load (\"xFormers can't load C++/CUDA extensions\", undefined symbols)",
          x.version, want, have),
      fmt::format(
          "install the xformers release pinned to torch {} (see `sd35-setup resolve`), or torch {}",
          strip_local(have), want));
}

extern const CheckDef xformers_torch_pin{
    {"xformers.torch-pin", "xformers matches torch",
     "the installed xformers was built for exactly the installed torch",
     "reinstall xformers for the installed torch", true},
    run_xformers_torch_pin};

}  // namespace sd35::checks
