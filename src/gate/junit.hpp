// JUnit XML for findings: one <testcase> each, classname = the part of the id before ':',
// failures as <failure message=…> with the fix, skips as <skipped/>, passes with their detail.
#pragma once

#include <string>
#include <vector>

#include "util/reporter.hpp"

namespace sd35::gate {

std::string junit_xml(const std::string& suite, const std::vector<Finding>& findings,
                      double seconds);

}  // namespace sd35::gate
