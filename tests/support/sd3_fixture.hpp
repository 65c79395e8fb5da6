// The SD3-family reference fixtures (tests/data/sd3-reference/<set>/, see its README.md): paths
// and the sampling protocol each set was generated with. For the torch tests.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "smoke/smoke.hpp"
#include "support/test_env.hpp"

namespace sd35::test {

// tests/data/sd3-reference/<set>
inline std::string fixture_dir(const std::string& set) {
  return (data_dir() / "sd3-reference" / set).string();
}

// <set>/reference.json: config, latent, steps, guidance, shift, ...
inline nlohmann::json fixture_reference(const std::string& set) {
  std::ifstream in(fixture_dir(set) + "/reference.json");
  return nlohmann::json::parse(in);
}

// The CFG sampling the set's reference outputs were computed with.
inline smoke::SamplingSpec fixture_spec(const std::string& set) {
  const auto j = fixture_reference(set);
  return {j["steps"].get<int>(), j["guidance"].get<double>(), j["shift"].get<double>()};
}

}  // namespace sd35::test
