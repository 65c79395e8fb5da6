// cuDNN's FP8 flash attention (forward, no mask), built through the cuDNN backend graph API:
// torch 2.11 offers no FP8 attention (SDPA refuses float8), yet the cuDNN it ships with has one
// (9.1+ on Hopper). Plain C++ over raw device pointers: no torch headers, so the plugin's torch
// glue and a standalone probe (tests/tools/cudnn_fp8_attention_probe.cpp) use it alike.
//
// The graph is cuDNN's FP8 SDPA pattern: S = Q K^T * attn_scale * descale_q * descale_k,
// P = softmax(S), amax_s = max |P|, P8 = fp8(P * scale_s), O = P8 V * descale_s * descale_v *
// scale_o (amax_o = max |O| before scale_o). Q, K, V are E4M3; O is E4M3 or BF16.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sd35::smoke::cudnn {

inline constexpr std::size_t kAttentionPorts = 13;  // the graph's non-virtual tensors

// [B, H, S, D] tensors addressed by element strides (Q, K, V and O share one layout).
struct AttentionShape {
  std::int64_t batch = 0, heads = 0, tokens = 0, head_dim = 0;
  std::int64_t stride_batch = 0, stride_head = 0, stride_token = 0;
  bool out_bf16 = true;  // else E4M3
};

struct AttentionArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* o = nullptr;
  // Device floats, one each.
  const float* descale_q = nullptr;
  const float* descale_k = nullptr;
  const float* descale_v = nullptr;
  const float* descale_s = nullptr;
  const float* scale_s = nullptr;
  const float* scale_o = nullptr;
  float* amax_s = nullptr;
  float* amax_o = nullptr;
  float attn_scale = 1.0F;
  void* workspace = nullptr;  // workspace_bytes() of device memory
  void* stream = nullptr;     // cudaStream_t
};

class Fp8Attention {
 public:
  // The execution plan for `shape` on the current device, or null with `why_not` filled.
  static std::unique_ptr<Fp8Attention> build(const AttentionShape& shape, std::string& why_not);
  ~Fp8Attention();
  Fp8Attention(const Fp8Attention&) = delete;
  Fp8Attention& operator=(const Fp8Attention&) = delete;

  std::size_t workspace_bytes() const { return workspace_; }
  const std::string& engine() const { return engine_; }
  // Enqueues the attention on args.stream; "" or what failed.
  std::string run(const AttentionArgs& args) const;

 private:
  Fp8Attention() = default;
  void* handle_ = nullptr;  // cudnnHandle_t
  void* plan_ = nullptr;    // cudnnBackendDescriptor_t (execution plan)
  std::size_t workspace_ = 0;
  std::string engine_;
  std::array<std::int64_t, kAttentionPorts> uids_{};
};

}  // namespace sd35::smoke::cudnn
