#include "compat/driver_floor.hpp"

#include <fmt/format.h>

#include "util/strings.hpp"

namespace sd35::compat {

DriverVerdict driver_runs_variant(std::string_view driver, std::string_view variant) {
  if (variant.empty() || variant == "cpu") return {DriverFit::cpu, nullptr};
  const DriverFloor* floor = driver_floor_for_variant(variant);
  if (floor == nullptr) return {DriverFit::unknown_variant, nullptr};
  if (driver.empty()) return {DriverFit::no_driver, floor};
  return {str::compare_dotted(driver, floor->linux_min_driver) >= 0 ? DriverFit::runs
                                                                    : DriverFit::too_old,
          floor};
}

std::string describe_driver_problem(const DriverVerdict& v, std::string_view driver,
                                    std::string_view variant) {
  switch (v.fit) {
    case DriverFit::too_old:
      return fmt::format("driver {} < {} (CUDA {}.x floor of {})", driver,
                         v.floor->linux_min_driver, v.floor->cuda_major, variant);
    case DriverFit::no_driver:
      return fmt::format("no NVIDIA driver for a {} build (needs >= {})", variant,
                         v.floor->linux_min_driver);
    case DriverFit::unknown_variant:
      return fmt::format("no driver floor known for {}", variant);
    case DriverFit::runs:
    case DriverFit::cpu:
      break;
  }
  return {};
}

}  // namespace sd35::compat
