// compat/driver_floor: the one driver-floor predicate behind the driver.cuda-compat check, the
// gate's host:driver and lock --from.
#include <gtest/gtest.h>

#include "compat/driver_floor.hpp"

namespace sd35::compat {
namespace {

TEST(DriverFloor, OnePredicateForEveryCaller) {
  EXPECT_EQ(driver_runs_variant("535.104.05", "cu128").fit, DriverFit::runs);
  EXPECT_EQ(driver_runs_variant("470.82.01", "cu128").fit, DriverFit::too_old);
  EXPECT_EQ(driver_runs_variant("470.82.01", "cu118").fit, DriverFit::runs);
  EXPECT_EQ(driver_runs_variant("", "cu128").fit, DriverFit::no_driver);
  EXPECT_EQ(driver_runs_variant("", "cpu").fit, DriverFit::cpu);
  EXPECT_EQ(driver_runs_variant("999", "cu999").fit, DriverFit::unknown_variant);
  const auto old = driver_runs_variant("470.82.01", "cu128");
  const std::string why = describe_driver_problem(old, "470.82.01", "cu128");
  EXPECT_NE(why.find("525.60.13"), std::string::npos) << why;
  EXPECT_NE(why.find("CUDA 12.x"), std::string::npos) << why;
  EXPECT_TRUE(describe_driver_problem(driver_runs_variant("", "cpu"), "", "cpu").empty());
}

}  // namespace
}  // namespace sd35::compat
