// A named check: id, what it proves, how to fix, and a function from (manifest, host facts) to a
// Finding. One file per check in this folder; registry.cpp lists them in report order.
// `doctor` runs them all; CI gating and `verify` reuse them by id.
#pragma once

#include <string_view>
#include <vector>

#include "host/host_facts.hpp"
#include "manifest/manifest.hpp"
#include "util/reporter.hpp"

namespace sd35::checks {

struct CheckContext {
  const Manifest& manifest;
  const HostFacts& host;
  // Bytes of the manifest's files already complete in the cache (fetch/verify fill this in;
  // doctor leaves 0 and asks for the full size).
  std::uint64_t bytes_already_present = 0;
};

struct CheckInfo {
  std::string_view id;
  std::string_view title;
  std::string_view proves;  // what a pass proves
  std::string_view fix;     // the generic fix; findings add the specific one
  bool required = true;     // a failure makes the host "not ready" (exit 3)
};

using CheckFn = Finding (*)(const CheckInfo&, const CheckContext&);

struct CheckDef {
  CheckInfo info;
  CheckFn run = nullptr;
};

const std::vector<const CheckDef*>& all_checks();
const CheckDef* find_check(std::string_view id);
std::vector<Finding> run_all(const CheckContext& ctx);

// A Finding pre-filled from the check's info.
Finding make_finding(const CheckInfo& info, Verdict verdict, std::string detail,
                     std::string fix = {});

}  // namespace sd35::checks
