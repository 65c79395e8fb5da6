#include "resolve/index.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "compat/compat.hpp"
#include "compat/pep440.hpp"
#include "net/http.hpp"
#include "util/json_reader.hpp"
#include "util/strings.hpp"

namespace sd35::resolve {
namespace {

std::string html_unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    static const std::pair<std::string_view, char> entities[] = {{"&lt;", '<'},   {"&gt;", '>'},
                                                                 {"&amp;", '&'},  {"&quot;", '"'},
                                                                 {"&#39;", '\''}, {"&#x27;", '\''}};
    bool done = false;
    for (const auto& [name, ch] : entities) {
      if (s.substr(i, name.size()) == name) {
        out += ch;
        i += name.size() - 1;
        done = true;
        break;
      }
    }
    if (!done) out += '&';
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = s.substr(i + 1, 2);
      if (str::is_hex(hex)) {
        out += static_cast<char>(std::stoi(std::string(hex), nullptr, 16));
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// Attributes of one start tag body ("a href=\"x\" data-yanked"), names lowercased.
std::vector<std::pair<std::string, std::string>> parse_attributes(std::string_view tag) {
  std::vector<std::pair<std::string, std::string>> attrs;
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < tag.size() && (tag[i] == ' ' || tag[i] == '\t' || tag[i] == '\n' || tag[i] == '\r'))
      ++i;
  };
  while (i < tag.size()) {
    skip_ws();
    std::size_t start = i;
    while (i < tag.size() && tag[i] != '=' && tag[i] != ' ' && tag[i] != '\t' && tag[i] != '\n' &&
           tag[i] != '/')
      ++i;
    std::string name = str::to_lower(tag.substr(start, i - start));
    skip_ws();
    std::string value;
    if (i < tag.size() && tag[i] == '=') {
      ++i;
      skip_ws();
      if (i < tag.size() && (tag[i] == '"' || tag[i] == '\'')) {
        char q = tag[i++];
        std::size_t end = tag.find(q, i);
        if (end == std::string_view::npos) end = tag.size();
        value = html_unescape(tag.substr(i, end - i));
        i = end + 1;
      } else {
        std::size_t vs = i;
        while (i < tag.size() && tag[i] != ' ' && tag[i] != '\t' && tag[i] != '\n') ++i;
        value = html_unescape(tag.substr(vs, i - vs));
      }
    }
    if (!name.empty()) attrs.emplace_back(std::move(name), std::move(value));
    if (i == start) ++i;  // no progress: skip a stray character
  }
  return attrs;
}

// "https://h/a/b/" -> scheme://host, and the directory part.
std::pair<std::string, std::string> origin_and_dir(std::string_view url) {
  auto scheme_end = url.find("://");
  std::size_t host_start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  auto path_start = url.find('/', host_start);
  std::string origin(url.substr(0, path_start == std::string_view::npos ? url.size() : path_start));
  std::string_view no_frag = url.substr(0, url.find_first_of("?#"));
  auto last = no_frag.rfind('/');
  std::string dir(last == std::string_view::npos || last < host_start
                      ? std::string(no_frag) + "/"
                      : no_frag.substr(0, last + 1));
  return {origin, dir};
}

std::string file_from_url(std::string_view url) {
  auto path = url.substr(0, url.find_first_of("?#"));
  return percent_decode(path.substr(path.rfind('/') + 1));
}

std::string sha256_from_fragment(std::string_view url) {
  auto pos = url.find("#sha256=");
  if (pos == std::string_view::npos) return {};
  return str::to_lower(url.substr(pos + 8, 64));
}

std::string strip_fragment(std::string_view url) {
  return std::string(url.substr(0, url.find('#')));
}

// "cp311" -> (3, 11), "cp39" -> (3, 9).
std::optional<std::pair<int, int>> cp_version(std::string_view tag) {
  if (!tag.starts_with("cp") || tag.size() < 4) return std::nullopt;
  auto major = str::parse_u64(tag.substr(2, 1)), minor = str::parse_u64(tag.substr(3));
  if (!major || !minor) return std::nullopt;
  return std::make_pair(static_cast<int>(*major), static_cast<int>(*minor));
}

// Rank of a (python, abi) tag pair: 3 exact CPython ABI, 2 stable ABI (abi3), 1 pure Python; 0 no.
int interpreter_rank(std::string_view py, std::string_view abi, const HostTags& t) {
  const std::pair<int, int> host{t.py_major, t.py_minor};
  if (auto cp = cp_version(py)) {
    if (abi == "abi3") return cp->first == host.first && *cp <= host ? 2 : 0;
    if (abi == "none" || cp_version(abi)) return *cp == host ? (abi == "none" ? 1 : 3) : 0;
    return 0;
  }
  if (abi != "none") return 0;
  if (py == "py3" || py == fmt::format("py{}", t.py_major)) return 1;
  if (py.starts_with("py3") && py.size() > 3) {
    auto minor = str::parse_u64(py.substr(3));
    return minor && t.py_major == 3 && static_cast<int>(*minor) <= t.py_minor ? 1 : 0;
  }
  return 0;
}

int platform_rank(std::string_view plat, const HostTags& t) {
  if (plat == "any") return 1;
  if (plat == "linux_" + t.machine) return 2;
  auto legacy = [&](std::string_view name, int minor) {
    return plat == fmt::format("{}_{}", name, t.machine) && t.glibc_major == 2 &&
                   t.glibc_minor >= minor
               ? 3 + minor
               : 0;
  };
  if (int r = legacy("manylinux1", 5)) return r;
  if (int r = legacy("manylinux2010", 12)) return r;
  if (int r = legacy("manylinux2014", 17)) return r;
  if (plat.starts_with("manylinux_") && plat.ends_with("_" + t.machine)) {
    auto mid = plat.substr(10, plat.size() - 10 - t.machine.size() - 1);
    auto parts = str::split(mid, '_');
    if (parts.size() != 2) return 0;
    auto maj = str::parse_u64(parts[0]), min = str::parse_u64(parts[1]);
    if (!maj || !min) return 0;
    if (static_cast<int>(*maj) < t.glibc_major ||
        (static_cast<int>(*maj) == t.glibc_major && static_cast<int>(*min) <= t.glibc_minor))
      return 3 + static_cast<int>(*min);
  }
  return 0;
}

}  // namespace

std::vector<IndexFile> parse_simple_html(std::string_view html, std::string_view page_url) {
  std::vector<IndexFile> files;
  std::size_t pos = 0;
  while (true) {
    auto open = html.find("<a", pos);
    if (open == std::string_view::npos) break;
    if (open + 2 < html.size() && html[open + 2] != ' ' && html[open + 2] != '\n' &&
        html[open + 2] != '\t') {
      pos = open + 2;
      continue;
    }
    auto tag_end = html.find('>', open);
    if (tag_end == std::string_view::npos) break;
    auto close = html.find("</a>", tag_end);
    if (close == std::string_view::npos) close = html.size();
    IndexFile f;
    std::string href;
    for (auto& [name, value] : parse_attributes(html.substr(open + 2, tag_end - open - 2))) {
      if (name == "href")
        href = value;
      else if (name == "data-requires-python")
        f.requires_python = value;
      else if (name == "data-yanked")
        f.yanked = true;
    }
    pos = close;
    if (href.empty()) continue;
    f.sha256 = sha256_from_fragment(href);
    f.url = resolve_url(page_url, strip_fragment(href));
    std::string text(str::trim(html_unescape(html.substr(tag_end + 1, close - tag_end - 1))));
    f.filename = text.empty() ? file_from_url(f.url) : percent_decode(text);
    files.push_back(std::move(f));
  }
  return files;
}

Result<std::vector<IndexFile>> parse_simple_json(std::string_view text, std::string_view page_url) {
  SD35_TRY(auto doc, jsonio::parse(text, std::string(page_url)));
  if (!doc.is_object() || !doc.contains("files") || !doc["files"].is_array())
    return make_error(Errc::bad_input, "PEP 691 project page has no \"files\" array",
                      net::redact_url(page_url),
                      "check that the --index URL points at a simple repository API root");
  std::vector<IndexFile> files;
  for (const auto& f : doc["files"]) {
    if (!f.is_object() || !f.contains("filename") || !f.contains("url")) continue;
    IndexFile out;
    out.filename = f["filename"].get<std::string>();
    out.url = resolve_url(page_url, strip_fragment(f["url"].get<std::string>()));
    if (f.contains("hashes") && f["hashes"].is_object() && f["hashes"].contains("sha256"))
      out.sha256 = str::to_lower(f["hashes"]["sha256"].get<std::string>());
    if (f.contains("requires-python") && f["requires-python"].is_string())
      out.requires_python = f["requires-python"].get<std::string>();
    if (f.contains("yanked")) out.yanked = !(f["yanked"].is_boolean() && !f["yanked"].get<bool>());
    files.push_back(std::move(out));
  }
  return files;
}

std::optional<WheelName> parse_wheel_name(std::string_view filename) {
  if (!filename.ends_with(".whl")) return std::nullopt;
  auto parts = str::split(filename.substr(0, filename.size() - 4), '-');
  if (parts.size() != 5 && parts.size() != 6) return std::nullopt;
  WheelName w;
  w.name = normalize_name(parts[0]);
  w.version = std::string(parts[1]);
  std::size_t t = parts.size() - 3;
  for (auto p : str::split(parts[t], '.')) w.python.emplace_back(p);
  for (auto p : str::split(parts[t + 1], '.')) w.abi.emplace_back(p);
  for (auto p : str::split(parts[t + 2], '.')) w.platform.emplace_back(p);
  return w;
}

HostTags host_tags(const HostFacts& host) {
  HostTags t;
  if (const PythonFacts* py = host.primary_python()) {
    auto parts = str::split(py->version, '.');
    if (parts.size() >= 2) {
      t.py_major = static_cast<int>(str::parse_u64(parts[0]).value_or(3));
      t.py_minor = static_cast<int>(str::parse_u64(parts[1]).value_or(0));
    }
  }
  auto g = str::split(host.glibc, '.');
  if (g.size() >= 2) {
    t.glibc_major = static_cast<int>(str::parse_u64(g[0]).value_or(2));
    t.glibc_minor = static_cast<int>(str::parse_u64(g[1]).value_or(17));
  }
  if (!host.os.arch.empty()) t.machine = host.os.arch;
  return t;
}

int wheel_rank(const WheelName& w, const HostTags& tags) {
  int best = 0;
  for (const auto& py : w.python) {
    for (const auto& abi : w.abi) {
      int a = interpreter_rank(py, abi, tags);
      if (!a) continue;
      for (const auto& plat : w.platform) {
        int p = platform_rank(plat, tags);
        if (p) best = std::max(best, a * 1000 + p);
      }
    }
  }
  return best;
}

std::string project_page_url(std::string_view index_base, std::string_view variant,
                             std::string_view project) {
  std::string base(index_base);
  if (auto at = base.find("{variant}"); at != std::string::npos) base.replace(at, 9, variant);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return fmt::format("{}/{}/", base, project);
}

std::string resolve_url(std::string_view page_url, std::string_view href) {
  if (href.starts_with("http://") || href.starts_with("https://")) return std::string(href);
  auto [origin, dir] = origin_and_dir(page_url);
  if (href.starts_with("/")) return origin + std::string(href);
  std::string path = dir.substr(origin.size());
  while (href.starts_with("../")) {
    href.remove_prefix(3);
    if (path.size() > 1) path = path.substr(0, path.rfind('/', path.size() - 2) + 1);
  }
  if (href.starts_with("./")) href.remove_prefix(2);
  return origin + path + std::string(href);
}

Result<std::vector<std::string>> pin_from_indexes(std::vector<Package>& packages,
                                                  const std::vector<std::string>& indexes,
                                                  std::string_view variant, const HostFacts& host) {
  std::vector<std::string> notes;
  const HostTags tags = host_tags(host);
  const std::string pyver = host.primary_python() ? host.primary_python()->version : "";
  for (auto& p : packages) {
    if (!compat::is_pytorch_project(p.name))
      continue;  // ranges from PyPI: pip's resolver pins them
    auto spec = pep440::parse_specifiers(p.specifier);
    if (!spec) return spec.error();
    bool found = false;
    for (const auto& index : indexes) {
      const std::string page = project_page_url(index, variant, p.name);
      net::Request req;
      req.url = page;
      req.headers = {{"Accept",
                      "application/vnd.pypi.simple.v1+json, "
                      "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"}};
      req.timeout = std::chrono::seconds(60);
      SD35_TRY(auto resp, net::perform(req));
      if (resp.status == 404) continue;
      if (resp.status != 200)
        return make_error(Errc::network, fmt::format("package index answered HTTP {}", resp.status),
                          net::redact_url(page), "check the --index URL and the network");
      std::vector<IndexFile> files;
      auto ct = resp.headers.count("content-type") ? resp.headers["content-type"] : std::string();
      if (ct.find("json") != std::string::npos) {
        SD35_TRY(files, parse_simple_json(resp.body, page));
      } else {
        files = parse_simple_html(resp.body, page);
      }
      const IndexFile* best = nullptr;
      std::optional<pep440::Version> best_version;
      int best_rank = 0;
      for (const auto& f : files) {
        auto w = parse_wheel_name(f.filename);
        if (!w || w->name != p.name || f.yanked) continue;
        auto v = pep440::parse_version(w->version);
        if (!v || !spec->contains(*v, true)) continue;
        if (!f.requires_python.empty() && !pyver.empty()) {
          auto rp = pep440::parse_specifiers(f.requires_python);
          auto hv = pep440::parse_version(pyver);
          if (rp && hv && !rp->contains(*hv, true)) continue;
        }
        int rank = wheel_rank(*w, tags);
        if (!rank) continue;
        int c = best_version ? pep440::compare(*v, *best_version) : 1;
        if (c > 0 || (c == 0 && rank > best_rank)) {
          best = &f;
          best_version = *v;
          best_rank = rank;
        }
      }
      if (!best) continue;
      p.version = best_version->str();
      p.file = best->filename;
      p.url = best->url;
      p.sha256 = best->sha256;
      p.index_url =
          page.substr(0, page.size() - p.name.size() - 2);  // "<base>/<name>/" -> "<base>"
      if (p.sha256.empty())
        notes.push_back(fmt::format(
            "{}: the index published no sha256 for {} (hash missing; install will refuse it)",
            p.name, p.file));
      found = true;
      break;
    }
    if (!found)
      return make_error(
          Errc::host_not_ready,
          fmt::format("no wheel of {}{} for Python {} ({}, glibc {}) on the given index(es)",
                      p.name, p.specifier, pyver, tags.machine, host.glibc),
          fmt::format("variant {}", variant),
          "check the --index URLs, or choose another candidate in the manifest");
  }
  return notes;
}

}  // namespace sd35::resolve
