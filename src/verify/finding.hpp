// One constructor for every verify finding: the id is also the rule that decided it.
#pragma once

#include <string>
#include <utility>

#include "util/reporter.hpp"

namespace sd35::verify {

inline Finding rule_finding(std::string id, Verdict verdict, std::string file, std::string detail,
                            std::string fix = {}, std::string tensor = {}) {
  Finding f;
  f.rule = id;
  f.id = std::move(id);
  f.verdict = verdict;
  f.title = file.empty() ? f.id : file;
  f.file = std::move(file);
  f.tensor = std::move(tensor);
  f.detail = std::move(detail);
  f.fix = std::move(fix);
  return f;
}

}  // namespace sd35::verify
