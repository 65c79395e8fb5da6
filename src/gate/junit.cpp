#include "gate/junit.hpp"

#include <fmt/format.h>

namespace sd35::gate {
namespace {

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string testcase(const Finding& f) {
  const std::string cls = f.id.substr(0, f.id.find(':'));
  std::string out =
      fmt::format("    <testcase classname=\"{}\" name=\"{}\"", xml_escape(cls), xml_escape(f.id));
  if (f.verdict == Verdict::fail)
    return out + fmt::format(">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                             xml_escape(f.detail),
                             xml_escape(f.fix.empty() ? f.detail : f.detail + "\nfix: " + f.fix));
  if (f.verdict == Verdict::skip)
    return out + fmt::format(">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                             xml_escape(f.detail));
  return out + fmt::format(">\n      <system-out>{}</system-out>\n    </testcase>\n",
                           xml_escape(f.detail));
}

}  // namespace

std::string junit_xml(const std::string& suite, const std::vector<Finding>& findings,
                      double seconds) {
  int failures = 0, skipped = 0;
  for (const auto& f : findings) {
    failures += f.verdict == Verdict::fail;
    skipped += f.verdict == Verdict::skip;
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format(
      "<testsuites name=\"{0}\" tests=\"{1}\" failures=\"{2}\" skipped=\"{3}\" time=\"{4:.3f}\">\n"
      "  <testsuite name=\"{0}\" tests=\"{1}\" failures=\"{2}\" skipped=\"{3}\" "
      "time=\"{4:.3f}\">\n",
      xml_escape(suite), findings.size(), failures, skipped, seconds);
  for (const auto& f : findings) out += testcase(f);
  return out + "  </testsuite>\n</testsuites>\n";
}

}  // namespace sd35::gate
