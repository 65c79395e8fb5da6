// Fuzzes the reader of pip's `install --dry-run --report` document (resolve/pip_report): the
// report comes from pip and the index, not from us. Accepted packages are wheels with a name,
// version and URL, their sha256 (when any) as reported.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "resolve/pip_report.hpp"

using sd35::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> indexes = {"https://download.pytorch.org/whl/cu128",
                                                   "https://pypi.org/simple"};
  auto packages =
      sd35::resolve::parse_pip_report(sd35::fuzz::text_of(data, size), "report.json", indexes);
  if (!packages) {
    sd35::fuzz::check_error(packages.error());
    return 0;
  }
  for (const auto& p : *packages) {
    check(!p.name.empty() && !p.version.empty() && !p.url.empty());
    check(p.file.size() >= 4 && p.file.compare(p.file.size() - 4, 4, ".whl") == 0);
  }
  return 0;
}
