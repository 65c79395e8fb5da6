#include "compat/compat.hpp"

#include <stdexcept>

#include "util/strings.hpp"

namespace sd35::embedded {
extern const std::string_view compat_data;
}

namespace sd35::compat {

const CompatData& data() {
  static const CompatData parsed = [] {
    CompatData d;
    d.raw = nlohmann::json::parse(embedded::compat_data);
    d.schema_version = d.raw.at("schema_version").get<int>();
    for (const auto& row : d.raw.at("cuda_driver_floors")) {
      d.driver_floors.push_back({row.at("cuda_major").get<int>(),
                                 row.at("linux_min_driver").get<std::string>(),
                                 row.at("source").get<std::string>()});
    }
    const auto& fp8 = d.raw.at("fp8");
    d.fp8.min_compute_capability = fp8.at("min_compute_capability").get<std::string>();
    d.fp8.float8_dtypes_from_torch = fp8.at("float8_dtypes_from_torch").get<std::string>();
    d.fp8.scaled_mm_stable_from_torch = fp8.at("scaled_mm_stable_from_torch").get<std::string>();
    return d;
  }();
  return parsed;
}

std::optional<int> cuda_major_of_variant(std::string_view variant) {
  if (variant.size() < 4 || !variant.starts_with("cu")) return std::nullopt;
  auto digits = str::parse_u64(variant.substr(2));
  if (!digits || *digits < 100) return std::nullopt;
  // cu118 -> 11, cu128 -> 12, cu130 -> 13: the last digit is the minor.
  return static_cast<int>(*digits / 10);
}

const DriverFloor* driver_floor_for_variant(std::string_view variant) {
  auto major = cuda_major_of_variant(variant);
  if (!major) return nullptr;
  for (const auto& f : data().driver_floors)
    if (f.cuda_major == *major) return &f;
  return nullptr;
}

}  // namespace sd35::compat
