#include <fmt/format.h>

#include "checks/check.hpp"
#include "compat/pep440.hpp"

namespace sd35::checks {

static Finding run_python_version(const CheckInfo& info, const CheckContext& ctx) {
  const std::string& want = ctx.manifest.environment.python;
  const PythonFacts* py = ctx.host.primary_python();
  if (!py)
    return make_finding(info, Verdict::fail,
                        fmt::format("no python3 found on PATH; the manifest needs Python {}", want),
                        "install python3 (Debian: apt-get install python3 python3-venv) or pass "
                        "--python PATH to probe");
  if (py->version.empty())
    return make_finding(
        info, Verdict::fail,
        fmt::format("{} could not be probed: {}", py->path, py->error.value_or("unknown error")),
        "run the interpreter by hand to see why it fails");
  auto spec = pep440::parse_specifiers(want);
  auto ver = pep440::parse_version(py->version);
  if (!spec || !ver)
    return make_finding(info, Verdict::fail,
                        fmt::format("cannot compare Python {} with '{}'", py->version, want),
                        "fix environment.python in the manifest");
  if (spec->contains(*ver, true))
    return make_finding(info, Verdict::pass,
                        fmt::format("{} is Python {}, within {}", py->path, py->version, want));
  return make_finding(
      info, Verdict::fail,
      fmt::format(
          "{} is Python {}, outside {}: no torch wheel of the manifest's candidates exists for it",
          py->path, py->version, want),
      fmt::format(
          "install a Python in {} (e.g. Debian 12's python3 is 3.11) and pass it with --python",
          want));
}

extern const CheckDef python_version{{"python.version", "Python version",
                                      "the primary Python interpreter satisfies environment.python",
                                      "install a matching Python and pass it with --python", true},
                                     run_python_version};

}  // namespace sd35::checks
