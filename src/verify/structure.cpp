#include "verify/structure.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <regex>
#include <set>

#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/strings.hpp"
#include "verify/finding.hpp"

namespace sd35::verify {

namespace {

constexpr std::string_view kIndexSuffix = ".safetensors.index.json";

std::string parent_of(const std::string& rel) {
  const auto slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash + 1);
}

std::string first_names(const std::vector<std::string>& names, std::size_t n = 3) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < n; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > n) out += fmt::format(" and {} more", names.size() - n);
  return out;
}

void audit_index(const std::filesystem::path& root, const std::string& rel, StructureReport& report,
                 Reporter& reporter) {
  auto fail = [&](std::string id, std::string detail, std::string fix, std::string tensor = {}) {
    ++report.failed;
    reporter.finding(rule_finding(std::move(id), Verdict::fail, rel, std::move(detail),
                                  std::move(fix), std::move(tensor)));
  };
  const std::string refetch =
      "re-download the checkpoint (sd35-setup fetch): its shards and index disagree";
  auto doc = jsonio::parse_file((root / rel).string());
  if (!doc || !doc->is_object() || !doc->contains("weight_map") ||
      !(*doc)["weight_map"].is_object()) {
    fail("index.json", doc ? "the index has no \"weight_map\" object" : doc.error().describe(),
         refetch);
    return;
  }
  const std::string dir = parent_of(rel);
  std::map<std::string, std::set<std::string>> by_shard;  // shard (relative to root) -> tensors
  for (const auto& [tensor, shard] : (*doc)["weight_map"].items()) {
    if (!shard.is_string()) {
      fail("index.json", fmt::format("weight_map[\"{}\"] is not a file name", tensor), refetch,
           tensor);
      return;
    }
    by_shard[dir + shard.get<std::string>()].insert(tensor);
  }
  std::size_t problems = 0;
  // The numbered set "<name>-00001-of-00003.safetensors" must be complete.
  static const std::regex numbered(R"((.*)-(\d+)-of-(\d+)\.safetensors)");
  std::set<std::string> expected_names;
  for (const auto& [shard, tensors] : by_shard) {
    std::smatch m;
    const std::string name = shard.substr(dir.size());
    if (!std::regex_match(name, m, numbered)) continue;
    const auto total = str::parse_u64(m[3].str()).value_or(0);
    if (total == 0 || total > 100000) continue;
    for (std::uint64_t k = 1; k <= total; ++k) {
      expected_names.insert(dir + fmt::format("{}-{:0{}}-of-{}.safetensors", m[1].str(), k,
                                              m[2].length(), m[3].str()));
    }
  }
  for (const auto& name : expected_names) {
    if (!by_shard.count(name)) {
      ++problems;
      fail("index.incomplete",
           fmt::format("shard {} of the numbered set is not named by any tensor", name), refetch);
    }
  }
  std::uint64_t total_bytes = 0;
  for (const auto& [shard, tensors] : by_shard) {
    report.index_shards[rel].push_back(shard);
    std::error_code ec;
    if (!std::filesystem::exists(root / shard, ec)) {
      ++problems;
      fail("index.missing-shard",
           fmt::format("shard {} (holding {} tensors, e.g. {}) does not exist", shard,
                       tensors.size(), *tensors.begin()),
           "run `sd35-setup fetch` to download the missing shard", *tensors.begin());
      continue;
    }
    const auto h = report.headers.find(shard);
    if (h == report.headers.end()) continue;  // its own structure finding already failed
    std::vector<std::string> unlisted, absent;
    std::set<std::string> in_header;
    for (const auto& t : h->second.tensors) {
      in_header.insert(t.name);
      total_bytes += t.nbytes();
      if (!tensors.count(t.name)) unlisted.push_back(t.name);
    }
    for (const auto& t : tensors) {
      if (!in_header.count(t)) absent.push_back(t);
    }
    if (!absent.empty()) {
      ++problems;
      fail("index.shard-tensors",
           fmt::format("{} tensor(s) the index places in {} are not in its header: {}",
                       absent.size(), shard, first_names(absent)),
           refetch, absent.front());
    }
    if (!unlisted.empty()) {
      ++problems;
      fail("index.shard-tensors",
           fmt::format("{} tensor(s) in {} are not in the index (or mapped to another shard): {}",
                       unlisted.size(), shard, first_names(unlisted)),
           refetch, unlisted.front());
    }
  }
  if (problems == 0) {
    reporter.finding(rule_finding("index.shards", Verdict::pass, rel,
                                  fmt::format("{} shard(s) present, {} tensors match the index",
                                              by_shard.size(), (*doc)["weight_map"].size())));
  }
  const auto meta = doc->find("metadata");
  if (problems == 0 && meta != doc->end() && meta->is_object() && meta->contains("total_size") &&
      (*meta)["total_size"].is_number_unsigned() &&
      (*meta)["total_size"].get<std::uint64_t>() != total_bytes) {
    reporter.finding(rule_finding(
        "index.total-size", Verdict::warn, rel,
        fmt::format("metadata.total_size is {} but the shards' tensors hold {} bytes",
                    (*meta)["total_size"].get<std::uint64_t>(), total_bytes),
        "harmless for loading; the index was written by a tool that counts differently"));
  }
}

}  // namespace

StructureReport audit_structure(const std::filesystem::path& root,
                                const std::vector<std::string>& files, Reporter& reporter) {
  StructureReport report;
  std::vector<std::string> indexes;
  for (const auto& rel : files) {
    if (str::ends_with(rel, kIndexSuffix)) {
      indexes.push_back(rel);
      continue;
    }
    if (!str::ends_with(rel, ".safetensors")) continue;
    st::Violation why;
    auto h = st::read_header(root / rel, &why);
    if (!h) {
      ++report.failed;
      auto f = rule_finding(std::string(why.rule.empty() ? st::rule::io : why.rule), Verdict::fail,
                            rel, h.error().message, h.error().hint, why.tensor);
      f.data = {{"where", h.error().where}};
      reporter.finding(f);
      continue;
    }
    reporter.finding(
        rule_finding("safetensors.header", Verdict::pass, rel,
                     fmt::format("{} tensors, {}-byte header, {} data bytes exactly covered",
                                 h->tensors.size(), h->header_len, h->data_size)));
    report.headers.emplace(rel, std::move(h).value());
  }
  for (const auto& rel : indexes) audit_index(root, rel, report, reporter);
  return report;
}

}  // namespace sd35::verify
