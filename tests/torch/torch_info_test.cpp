// Proves the libtorch target's build wiring: the linked libtorch loads and computes.
#include "smoke/torch_info.hpp"

#include <gtest/gtest.h>

TEST(TorchBuild, LinkedLibtorchRunsAMatmul) {
  auto info = sd35::smoke::torch_build_info();
  EXPECT_FALSE(info.version.empty());
  EXPECT_DOUBLE_EQ(info.probe_matmul_checksum, 480.0);
  // float8 dtypes exist exactly from 2.1, the stable _scaled_mm from 2.5.
  int major = std::stoi(info.version.substr(0, info.version.find('.')));
  int minor = std::stoi(info.version.substr(info.version.find('.') + 1));
  EXPECT_EQ(info.native_float8, major > 2 || (major == 2 && minor >= 1));
  EXPECT_EQ(info.scaled_mm, major > 2 || (major == 2 && minor >= 5));
  if (!info.cuda_available) {
    EXPECT_EQ(info.cuda_device_count, 0);
    EXPECT_EQ(info.cuda_capability, 0);
  } else {
    EXPECT_GE(info.cuda_capability, 30) << "a CUDA device reports its compute capability";
  }
  if (info.fused_kernels) {
    EXPECT_TRUE(info.cuda_compiled && info.scaled_mm);
  }
}
