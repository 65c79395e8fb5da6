// The driver-floor predicate: does a Linux NVIDIA driver run a CUDA wheel variant under CUDA's
// minor-version compatibility? One function for the `driver.cuda-compat` check (every variant the
// manifest allows), the lock gate's `host:driver` (the locked variant) and `lock --from` (the
// resolved variant on this host).
#pragma once

#include <string>
#include <string_view>

#include "compat/compat.hpp"

namespace sd35::compat {

enum class DriverFit {
  runs,             // driver >= the floor of the variant's CUDA major
  too_old,          // driver below that floor
  no_driver,        // no NVIDIA driver (empty version) for a CUDA variant
  cpu,              // a CPU variant ("cpu" or ""): no driver needed
  unknown_variant,  // a CUDA major the compat data has no floor for
};

struct DriverVerdict {
  DriverFit fit = DriverFit::unknown_variant;
  const DriverFloor* floor = nullptr;  // set for runs / too_old / no_driver
};

// driver: "550.54.14" ("" = no driver); variant: "cu128", "cpu", "".
DriverVerdict driver_runs_variant(std::string_view driver, std::string_view variant);

// One line for a verdict that is not `runs`/`cpu`: "driver 470.82.01 < 525.60.13 (CUDA 12.x floor
// of cu128)", "no NVIDIA driver for cu128", "no driver floor known for cu999".
std::string describe_driver_problem(const DriverVerdict& v, std::string_view driver,
                                    std::string_view variant);

}  // namespace sd35::compat
