// The fused block's joint attention in FP8 through cuDNN (mmdit_fused.hpp: attention_fp8).
//
// Why: at 1024^2 the joint attention of SD3.5 Large is ~38 ms of a ~90 ms CFG step in cuDNN's
// bf16 flash attention (1.0 ms a call on an H200), and torch offers no FP8 attention. cuDNN's FP8
// SDPA, reached through its backend graph API (smoke/cudnn/fp8_attention.cpp), takes 0.83 ms.
// Scales: q and k are RMS-normed per head, so |q_i| <= sqrt(head_dim) * max |w|: fixed per block,
// no pass to find them; v has no such bound, so qkv_pack writes it in bf16 with its max |v| and
// v_quant turns it into E4M3; the output, an average of v's rows, is bounded by max |v| as well.
#include <fmt/format.h>

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <tuple>

#include "smoke/mmdit_fused.hpp"
#include "smoke/smoke_env.hpp"

#if defined(SD35_FUSED_PATH) && __has_include(<cudnn.h>)
#define SD35_CUDNN_FP8_ATTENTION 1
#include "smoke/cuda/fused_kernels.hpp"
#include "smoke/cudnn/fp8_attention.hpp"
#include "smoke/fused_glue.hpp"
#endif

namespace sd35::smoke::fused {

#ifndef SD35_CUDNN_FP8_ATTENTION

bool set_fp8_attention_scales(Block&, std::int64_t, const at::Device&) {
  return false;
}
std::string prepare_fp8_attention(Model&, const Exec&) {
  return "SDPA bf16 (this plugin was built without cuDNN's headers, so no FP8 attention)";
}
std::optional<Fp8Attention> attention_fp8(const Block&, const at::Tensor&, const at::Tensor&, int) {
  return std::nullopt;
}
Fp8Act gather_fp8(const Fp8Attention&, std::int64_t, std::int64_t, std::int64_t) {
  throw std::runtime_error("FP8 attention is not built in");
}
std::string fp8_attention_fallback() {
  return "";
}
bool build_fp8_attention_plan(const Model&, std::int64_t, std::int64_t) {
  return false;
}

#else

namespace {

namespace k = sd35::smoke::cuda;
constexpr float kE4M3Max = 448.0F;

using glue::check;
using glue::stream;

float max_abs(const at::Tensor& w) {
  return w.defined() ? w.abs().max().item<float>() : 0.0F;
}

// Plans by shape (batch, heads, tokens, head_dim), built on first use; a shape cuDNN refuses
// stays refused, and the reason is kept.
struct Plans {
  std::mutex mu;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>,
           std::shared_ptr<cudnn::Fp8Attention> >
      by_shape;
  std::string fallback;
  at::Tensor constants;  // [2] on the device: descale_s = 1/448, scale_s = 448
};

Plans& plans() {
  static Plans p;
  return p;
}

std::shared_ptr<cudnn::Fp8Attention> plan_for(std::int64_t b, std::int64_t h, std::int64_t n,
                                              std::int64_t d) {
  Plans& p = plans();
  std::lock_guard<std::mutex> lock(p.mu);
  const auto key = std::make_tuple(b, h, n, d);
  if (auto it = p.by_shape.find(key); it != p.by_shape.end()) return it->second;
  const cudnn::AttentionShape shape{b, h, n, d, n * h * d, d, h * d, false};
  std::string why;
  std::shared_ptr<cudnn::Fp8Attention> plan = cudnn::Fp8Attention::build(shape, why);
  if (!plan)
    p.fallback =
        fmt::format("cuDNN built no FP8 attention plan for {}x{}x{}x{}: {}", b, h, n, d, why);
  p.by_shape[key] = plan;
  return plan;
}

}  // namespace

bool set_fp8_attention_scales(Block& b, std::int64_t head_dim, const at::Device& device) {
  b.attn_q_scale = b.attn_k_scale = 0.0F;
  const auto& n = b.norm_f32;
  if (!n[0].defined() || !n[1].defined() || !n[2].defined() || !n[3].defined()) return false;
  const float root = std::sqrt(static_cast<float>(head_dim));
  const float q_bound = root * std::max(max_abs(n[0]), max_abs(n[2]));
  const float k_bound = root * std::max(max_abs(n[1]), max_abs(n[3]));
  if (!(q_bound > 0.0F) || !(k_bound > 0.0F)) return false;
  b.attn_q_scale = kE4M3Max / q_bound;
  b.attn_k_scale = kE4M3Max / k_bound;
  b.attn_descale_qk = at::tensor({1.0F / b.attn_q_scale, 1.0F / b.attn_k_scale}).to(device);
  Plans& p = plans();
  std::lock_guard<std::mutex> lock(p.mu);
  if (!p.constants.defined()) p.constants = at::tensor({1.0F / kE4M3Max, kE4M3Max}).to(device);
  return true;
}

std::string prepare_fp8_attention(Model& model, const Exec& exec) {
  if (env_switched_off("SD35_FP8_ATTENTION")) return "SDPA bf16 (SD35_FP8_ATTENTION=0)";
  int on = 0;
  for (auto& b : model.blocks)
    on += set_fp8_attention_scales(b, model.config.head_dim, exec.device);
  if (on == 0) return "SDPA bf16 (no block has RMS-normed q and k in both streams)";
  return fmt::format("cuDNN FP8 ({} of {} blocks' joint attention)", on, model.blocks.size());
}

std::optional<Fp8Attention> attention_fp8(const Block& b, const at::Tensor& img_qkv,
                                          const at::Tensor& ctx_qkv, int heads) {
  if (b.attn_q_scale <= 0.0F || !ctx_qkv.defined()) return std::nullopt;
  const std::int64_t batch = img_qkv.size(0), li = img_qkv.size(1), lc = ctx_qkv.size(1);
  const std::int64_t width = img_qkv.size(2) / 3, head_dim = width / heads, tokens = li + lc;
  auto plan = plan_for(batch, heads, tokens, head_dim);
  if (!plan) return std::nullopt;
  const auto bytes = img_qkv.options().dtype(at::kByte);
  at::Tensor q8 = at::empty({batch, tokens, width}, bytes);
  at::Tensor k8 = at::empty({batch, tokens, width}, bytes);
  at::Tensor v = at::empty({batch, tokens, width}, img_qkv.options());
  at::Tensor f32 = at::zeros({3}, img_qkv.options().dtype(at::kFloat));  // v amax, amax_s, amax_o
  at::Tensor scales = at::empty({2}, f32.options());
  k::QkvPackArgs a;
  a.img = img_qkv.data_ptr();
  a.ctx = ctx_qkv.data_ptr();
  a.batch = batch;
  a.img_tokens = li;
  a.ctx_tokens = lc;
  a.heads = heads;
  a.head_dim = head_dim;
  a.norm_q = b.norm_f32[0].data_ptr<float>();
  a.norm_k = b.norm_f32[1].data_ptr<float>();
  a.norm_ctx_q = b.norm_f32[2].data_ptr<float>();
  a.norm_ctx_k = b.norm_f32[3].data_ptr<float>();
  a.q = q8.data_ptr();
  a.k = k8.data_ptr();
  a.v = v.data_ptr();
  a.fp8_qk = true;
  a.q_scale = b.attn_q_scale;
  a.k_scale = b.attn_k_scale;
  a.v_amax = f32.data_ptr<float>();
  check(k::qkv_pack(a, stream()), "qkv_pack (FP8 q, k)");
  at::Tensor v8 = at::empty({batch, tokens, width}, bytes);
  check(k::v_quant(v.data_ptr(), v.numel(), f32.data_ptr<float>(), v8.data_ptr(),
                   scales.data_ptr<float>(), stream()),
        "v_quant");
  Fp8Attention out{at::empty({batch, tokens, width}, bytes), scales};
  at::Tensor workspace =
      at::empty({static_cast<std::int64_t>(plan->workspace_bytes()) + 16}, bytes);
  const float* qk = b.attn_descale_qk.data_ptr<float>();
  const float* c = plans().constants.data_ptr<float>();
  cudnn::AttentionArgs args;
  args.q = q8.data_ptr();
  args.k = k8.data_ptr();
  args.v = v8.data_ptr();
  args.o = out.o8.data_ptr();
  args.descale_q = qk;
  args.descale_k = qk + 1;
  args.descale_v = scales.data_ptr<float>();
  args.descale_s = c;
  args.scale_s = c + 1;
  args.scale_o = scales.data_ptr<float>() + 1;
  args.amax_s = f32.data_ptr<float>() + 1;
  args.amax_o = f32.data_ptr<float>() + 2;
  args.attn_scale = 1.0F / std::sqrt(static_cast<float>(head_dim));
  args.workspace = workspace.data_ptr();
  args.stream = stream();
  const std::string error = plan->run(args);
  TORCH_CHECK(error.empty(), "cuDNN FP8 attention failed: ", error);
  return out;
}

Fp8Act gather_fp8(const Fp8Attention& a, std::int64_t first, std::int64_t count, std::int64_t ld) {
  const std::int64_t batch = a.o8.size(0), tokens = a.o8.size(1), width = a.o8.size(2);
  TORCH_CHECK(ld >= width, "FP8 row stride ", ld, " does not fit ", width);
  Fp8Act out = glue::alloc_rows(a.o8, batch * count, ld);
  k::GatherFp8Args g;
  g.x = a.o8.data_ptr();
  g.batch = batch;
  g.first_token = first;
  g.tokens_per_batch = count;
  g.tokens = tokens;
  g.width = width;
  g.scale = a.scales.data_ptr<float>();
  g.out = glue::rows_of(out);
  check(k::gather_fp8(g, stream()), "gather_fp8");
  return out;
}

bool build_fp8_attention_plan(const Model& model, std::int64_t batch, std::int64_t tokens) {
  bool any = false;
  for (const auto& b : model.blocks) any = any || b.attn_q_scale > 0.0F;
  return any && plan_for(batch, model.config.num_heads, tokens, model.config.head_dim) != nullptr;
}

std::string fp8_attention_fallback() {
  Plans& p = plans();
  std::lock_guard<std::mutex> lock(p.mu);
  return p.fallback;
}

#endif

}  // namespace sd35::smoke::fused
