// The launch plans of the fused FP8 kernels (src/smoke/cuda/fused_launch.hpp, plain C++): which
// form each kernel takes for SD3.5's shapes, and what is refused. The kernels themselves are
// checked against ATen on a GPU (check_fused_kernels).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>

#include "smoke/cuda/fused_launch.hpp"

namespace cuda = sd35::smoke::cuda;
namespace launch = sd35::smoke::cuda::launch;

namespace {

// Stand-ins for device pointers: plans only look at their alignment (the arena is 16-aligned).
alignas(16) unsigned char g_arena[0x110000];

void* at(std::size_t offset) {
  return g_arena + offset;
}

cuda::Fp8Rows rows(std::int64_t ld) {
  return {at(0), static_cast<float*>(at(0x100000)), ld};
}

cuda::LnModulateQuantArgs ln_args(std::int64_t width, std::int64_t mod_stride) {
  cuda::LnModulateQuantArgs a;
  a.x = at(0);
  a.rows = 8192;
  a.rows_per_batch = 4096;
  a.width = width;
  a.shift = {at(0x2000), mod_stride};
  a.scale = {at(0x2000 + 2 * width), mod_stride};
  a.out = rows((width + 15) / 16 * 16);
  return a;
}

cuda::QkvPackArgs qkv_args(std::int64_t heads, std::int64_t head_dim) {
  cuda::QkvPackArgs a;
  a.img = at(0);
  a.ctx = at(0x4000);
  a.batch = 2;
  a.img_tokens = 4096;
  a.ctx_tokens = 333;
  a.heads = heads;
  a.head_dim = head_dim;
  a.q = at(0x8000);
  a.k = at(0x9000);
  a.v = at(0xa000);
  return a;
}

}  // namespace

TEST(FusedLaunch, RowKernelsKeepTheRowInRegistersInWholeWarps) {
  struct Want {
    std::int64_t width;
    int per_thread;
    unsigned block;
  };
  // SD3.5 Large's hidden row and MLP row, Medium's, the check's small row, the widest allowed.
  // gelu_quant holds its row as bf16, so it takes up to 320 threads before 8 chunks a thread.
  for (const Want w : {Want{2432, 2, 160}, Want{9728, 4, 320}, Want{1536, 2, 96},
                       Want{6144, 4, 192}, Want{96, 2, 32}, Want{cuda::kMaxRowWidth, 8, 192}}) {
    const auto p = launch::gelu_quant(at(0), 8192, w.width, rows((w.width + 15) / 16 * 16));
    EXPECT_EQ(p.status, 0) << w.width;
    EXPECT_TRUE(p.vec) << w.width;
    EXPECT_EQ(p.per_thread, w.per_thread) << w.width;
    EXPECT_EQ(p.block, w.block) << w.width;
    EXPECT_EQ(p.grid, 8192U);
    EXPECT_EQ(p.smem, 0U);
    // Every chunk of 8 has a thread, and no warp is idle.
    EXPECT_GE(static_cast<std::int64_t>(p.block) * p.per_thread * 8, w.width);
    EXPECT_LT(static_cast<std::int64_t>(p.block - 32) * p.per_thread * 8, w.width);
  }
}

TEST(FusedLaunch, RowKernelsFallBackToTheScalarFormWhereChunksDoNotFit) {
  const auto odd = launch::ln_modulate_quant(ln_args(100, 600));
  EXPECT_EQ(odd.status, 0);
  EXPECT_FALSE(odd.vec);
  EXPECT_EQ(odd.per_thread, 0);
  EXPECT_EQ(odd.smem, 100 * sizeof(float));  // the row staged in shared memory
  // A modulation row stride that breaks 16-byte alignment of the shift/scale vectors.
  EXPECT_FALSE(launch::ln_modulate_quant(ln_args(2432, std::int64_t{6} * 2432 + 4)).vec);
  EXPECT_TRUE(launch::ln_modulate_quant(ln_args(2432, std::int64_t{12} * 2432)).vec);
  // Wider than the row limit, or an FP8 stride that is not a multiple of 16: refused.
  EXPECT_NE(
      launch::gelu_quant(at(0), 4, cuda::kMaxRowWidth + 8, rows(cuda::kMaxRowWidth + 16)).status,
      0);
  EXPECT_NE(launch::gelu_quant(at(0), 4, 96, rows(104)).status, 0);
}

TEST(FusedLaunch, QkvPackIsVectorisedForWholeChunkHeadsAndRefusesFp8Otherwise) {
  EXPECT_TRUE(launch::qkv_pack(qkv_args(38, 64)).vec);  // SD3.5: 8 lanes a head
  EXPECT_TRUE(launch::qkv_pack(qkv_args(4, 16)).vec);
  EXPECT_TRUE(launch::qkv_pack(qkv_args(2, 256)).vec);   // 32 lanes: a whole warp
  EXPECT_FALSE(launch::qkv_pack(qkv_args(3, 10)).vec);   // not whole chunks
  EXPECT_FALSE(launch::qkv_pack(qkv_args(4, 24)).vec);   // 3 lanes a head: not a power of two
  EXPECT_FALSE(launch::qkv_pack(qkv_args(1, 512)).vec);  // more lanes than a warp
  auto fp8 = qkv_args(38, 64);
  fp8.fp8_qk = true;
  EXPECT_NE(launch::qkv_pack(fp8).status, 0) << "FP8 q/k needs somewhere to put max |v|";
  fp8.v_amax = static_cast<float*>(at(0x20000));
  EXPECT_EQ(launch::qkv_pack(fp8).status, 0);
  auto scalar_fp8 = qkv_args(3, 10);
  scalar_fp8.fp8_qk = true;
  scalar_fp8.v_amax = fp8.v_amax;
  EXPECT_NE(launch::qkv_pack(scalar_fp8).status, 0) << "only the vectorised form writes FP8";
}

TEST(FusedLaunch, Fp8AttentionHelpersRefuseWhatTheyCannotCopyWhole) {
  EXPECT_EQ(launch::v_quant(at(0), std::int64_t{2} * 4429 * 2432, at(0x100)).status, 0);
  EXPECT_NE(launch::v_quant(at(0), 100, at(0x100)).status, 0);  // not whole chunks of 8
  EXPECT_NE(launch::v_quant(at(2), 96, at(0x100)).status, 0);   // unaligned input
  cuda::GatherFp8Args g;
  g.x = at(0);
  g.batch = 2;
  g.first_token = 4096;
  g.tokens_per_batch = 333;
  g.tokens = 4429;
  g.width = 2432;
  g.scale = static_cast<const float*>(at(0x30000));
  g.out = rows(2432);
  const auto p = launch::gather_fp8(g);
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.grid, 2U * 333U);
  auto past_end = g;
  past_end.tokens_per_batch = 334;
  EXPECT_NE(launch::gather_fp8(past_end).status, 0);
  auto no_scale = g;
  no_scale.scale = nullptr;
  EXPECT_NE(launch::gather_fp8(no_scale).status, 0);
  auto odd_width = g;
  odd_width.width = 2440;
  odd_width.out = rows(2448);
  EXPECT_NE(launch::gather_fp8(odd_width).status, 0);
}

TEST(FusedLaunch, GroupNormSpreadsAGroupOverSlicesAndRefusesWhatItCannotChunk) {
  // The VAE decoder at 1024^2: 128 channels of 1024 x 1024 in 32 groups is 4 M values a group.
  const std::int64_t splits = cuda::group_norm_splits(1, 128, std::int64_t{1024} * 1024, 32);
  EXPECT_EQ(splits, 17);  // 32 x 17 = 544 blocks: about four an SM on 132 SMs
  EXPECT_EQ(cuda::group_norm_splits(1, 512, std::int64_t{128} * 128, 32),
            16);  // none under 2048 chunks
  EXPECT_EQ(cuda::group_norm_splits(1, 64, std::int64_t{24} * 40, 32), 1);  // too small to split
  EXPECT_EQ(cuda::group_norm_splits(8, 64, std::int64_t{256} * 256, 32), 3);
  cuda::GroupNormArgs a;
  a.x = at(0);
  a.y = at(0x1000);
  a.batch = 1;
  a.channels = 128;
  a.hw = std::int64_t{1024} * 1024;
  a.groups = 32;
  a.splits = splits;
  a.weight = static_cast<const float*>(at(0x2000));
  a.bias = static_cast<const float*>(at(0x3000));
  a.partials = static_cast<float*>(at(0x4000));
  const auto p = launch::group_norm(a);
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.grid, 32U * 17U);
  auto odd = a;
  odd.hw = std::int64_t{1023} * 1024 + 4;  // a chunk of 8 would straddle two channels
  EXPECT_NE(launch::group_norm(odd).status, 0);
  auto uneven = a;
  uneven.groups = 48;  // 128 channels do not split into 48 groups
  EXPECT_NE(launch::group_norm(uneven).status, 0);
  auto unaligned = a;
  unaligned.x = at(8);
  EXPECT_NE(launch::group_norm(unaligned).status, 0);
  auto no_room = a;
  no_room.partials = nullptr;
  EXPECT_NE(launch::group_norm(no_room).status, 0);
}

TEST(FusedLaunch, DequantTakesWhole16ByteChunks) {
  const auto p = launch::dequant_e4m3(at(0), std::int64_t{4096} * 10240, at(0x1000));
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.grid, 10240U);  // one 16-byte chunk a thread: 2.6 M chunks in blocks of 256
  EXPECT_EQ(launch::dequant_e4m3(at(0), 32, at(0x1000)).grid, 1U);
  EXPECT_TRUE(launch::dequant_e4m3(at(0), 0, at(0x1000)).skip);
  EXPECT_NE(launch::dequant_e4m3(at(0), 40, at(0x1000)).status, 0);  // not whole chunks
  EXPECT_NE(launch::dequant_e4m3(at(4), 32, at(0x1000)).status, 0);  // unaligned weight
}
