// Reading a package index (simple repository API: PEP 503 HTML with #sha256= fragments as on
// download.pytorch.org, PEP 691 JSON as on PyPI) and choosing the wheel file for a host's Python
// and platform tags. Only exact pins are chosen here; the transitive closure is pip's job
// (resolve/pip_report.hpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "host/host_facts.hpp"
#include "resolve/resolve.hpp"
#include "util/result.hpp"

namespace sd35::resolve {

struct IndexFile {
  std::string filename;
  std::string url;  // absolute
  std::string sha256;
  std::string requires_python;
  bool yanked = false;
};

// Project page parsers; `page_url` resolves relative links.
std::vector<IndexFile> parse_simple_html(std::string_view html, std::string_view page_url);
Result<std::vector<IndexFile>> parse_simple_json(std::string_view json, std::string_view page_url);

struct WheelName {
  std::string name;                                // normalised
  std::string version;                             // as in the file name ("2.9.1+cu128")
  std::vector<std::string> python, abi, platform;  // compressed tag sets expanded
};
std::optional<WheelName> parse_wheel_name(std::string_view filename);

// The tags a host accepts, for ranking files.
struct HostTags {
  int py_major = 3, py_minor = 0;
  int glibc_major = 2, glibc_minor = 17;
  std::string machine = "x86_64";
};
HostTags host_tags(const HostFacts& host);
// Rank of a wheel on this host: 0 = not installable, higher = more specific.
int wheel_rank(const WheelName& w, const HostTags& tags);

// "<base>/<project>/" with {variant} replaced.
std::string project_page_url(std::string_view index_base, std::string_view variant,
                             std::string_view project);
// A URL relative to a page, resolved (absolute, "/path", "../x", "x").
std::string resolve_url(std::string_view page_url, std::string_view href);

// Fetches the project page of each exactly pinned package ("==X" without wildcard) from the
// indexes in order and fills version/file/url/sha256. Packages with ranges are left for pip.
// Returns notes (missing hashes, unpinned packages); network failures are errors.
Result<std::vector<std::string>> pin_from_indexes(std::vector<Package>& packages,
                                                  const std::vector<std::string>& indexes,
                                                  std::string_view variant, const HostFacts& host);

}  // namespace sd35::resolve
