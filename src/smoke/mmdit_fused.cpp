// The fused native-FP8 block's kernels with torch tensors (see mmdit_fused.hpp; the block
// itself is fused_block.cpp). Same maths as block_forward in mmdit_forward.cpp, with the
// elementwise work moved into the kernels of smoke/cuda/ and the activations quantised per row
// instead of per tensor (one scale per token: no extra pass for a tensor-wide amax, and an outlier
// token no longer costs the others their precision).
#include "smoke/mmdit_fused.hpp"

#include <fmt/format.h>

#include <stdexcept>

#ifdef SD35_FUSED_PATH
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>

#include <optional>

#include "smoke/cuda/fused_kernels.hpp"
#include "smoke/cuda/fused_launch.hpp"
#include "smoke/fused_glue.hpp"
#include "smoke/smoke_env.hpp"
#endif

namespace sd35::smoke::fused {

#ifndef SD35_FUSED_PATH

namespace {
[[noreturn]] void not_built() {
  throw std::runtime_error("the fused CUDA kernels are not built into this sd35torch");
}
}  // namespace

bool prepare(Model&, const Exec&, std::string& why_not) {
  why_not = "fused FP8 kernels not built (needs a CUDA libtorch and nvcc at build time)";
  return false;
}
Fp8Act ln_modulate_quant(at::Tensor&, const at::Tensor&, const at::Tensor&, std::int64_t) {
  not_built();
}
Fp8Act gate_residual_ln_modulate_quant(at::Tensor&, const at::Tensor&, const at::Tensor&,
                                       const at::Tensor&, const at::Tensor&, std::int64_t) {
  not_built();
}
Fp8Act gelu_quant(const at::Tensor&, std::int64_t) {
  not_built();
}
Fp8Act gather_quant(const at::Tensor&, std::int64_t, std::int64_t, std::int64_t) {
  not_built();
}
void gate_residual(at::Tensor&, const at::Tensor&, const at::Tensor&) {
  not_built();
}
std::array<at::Tensor, 3> qkv_pack(const at::Tensor&, const at::Tensor&, int,
                                   const std::array<at::Tensor, 4>&) {
  not_built();
}
at::Tensor scaled_mm_rowwise(const Fp8Act&, const Linear&) {
  not_built();
}
bool dequant_ready(const at::Tensor&) {
  return false;
}
at::Tensor dequantize_e4m3(const at::Tensor&, double) {
  not_built();
}
bool group_norm_ready(const at::Tensor&, std::int64_t) {
  return false;
}
at::Tensor group_norm_silu(const at::Tensor&, const at::Tensor&, const at::Tensor&, std::int64_t,
                           double, bool) {
  not_built();
}
bool select_attention_backend(const std::string& name) {
  return name == "auto";
}
std::string attention_backend_for(const at::Tensor&, const at::Tensor&, const at::Tensor&) {
  return "unknown";
}

#else

namespace {

namespace k = sd35::smoke::cuda;

using glue::alloc_rows;
using glue::check;
using glue::rows_of;
using glue::stream;

void check_bf16(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.is_cuda() && t.scalar_type() == at::kBFloat16, what, " must be bf16 on CUDA");
}

k::BatchVector batch_vector(const at::Tensor& v, std::int64_t width, const char* what) {
  check_bf16(v, what);
  TORCH_CHECK(v.dim() == 2 && v.size(1) == width && v.stride(1) == 1, what,
              " must be [B, width] with contiguous rows");
  return {v.data_ptr(), v.stride(0)};
}

// Whether _scaled_mm takes row-wise scales here, and a bf16 bias along with them (probed once).
struct RowwiseSupport {
  bool rowwise = false;
  bool bias = false;
  std::string error;
};

const RowwiseSupport& rowwise_support() {
  static const RowwiseSupport support = [] {
    RowwiseSupport s;
    const auto o = at::TensorOptions().device(at::kCUDA);
    at::Tensor a = at::ones({32, 32}, o.dtype(at::kFloat)).to(at::kFloat8_e4m3fn);
    at::Tensor b = at::ones({32, 32}, o.dtype(at::kFloat)).to(at::kFloat8_e4m3fn).t();
    at::Tensor sa = at::ones({32, 1}, o.dtype(at::kFloat));
    at::Tensor sb = at::ones({1, 32}, o.dtype(at::kFloat));
    try {
      at::_scaled_mm(a, b, sa, sb, std::nullopt, std::nullopt, at::kBFloat16, true);
      s.rowwise = true;
    } catch (const std::exception& ex) {
      s.error = torch_error_text(ex);
      return s;
    }
    try {
      at::Tensor bias = at::ones({32}, o.dtype(at::kBFloat16));
      at::Tensor y = at::_scaled_mm(a, b, sa, sb, bias, std::nullopt, at::kBFloat16, true);
      s.bias = y[0][0].item<float>() == 33.0F;
    } catch (const std::exception&) {
      s.bias = false;
    }
    return s;
  }();
  return support;
}

}  // namespace

bool prepare(Model& model, const Exec& exec, std::string& why_not) {
  if (!exec.native_fp8 || !exec.device.is_cuda()) {
    why_not = "the fused kernels serve the native FP8 path on CUDA only";
    return false;
  }
  if (env_switched_off("SD35_FUSED")) {
    why_not = "disabled by SD35_FUSED=0";
    return false;
  }
  const MmditConfig& c = model.config;
  const std::int64_t d = c.inner_dim();
  if (4 * d > k::kMaxRowWidth || c.head_dim % 2 != 0) {
    why_not = fmt::format("hidden size {} exceeds the fused kernels' row limit", 4 * d);
    return false;
  }
  // The NVRTC build loads its module through the driver API into the current context: make sure
  // libtorch has made this device's primary context current on this thread first.
  (void)at::empty({1}, at::TensorOptions().device(exec.device));
  if (const char* why = k::kernels_unavailable()) {
    why_not = std::string("fused FP8 kernels unavailable: ") + why;
    return false;
  }
  const auto& rw = rowwise_support();
  if (!rw.rowwise) {
    why_not = "at::_scaled_mm has no row-wise scaling here: " + rw.error;
    return false;
  }
  for (auto& b : model.blocks)
    for (Linear* l : block_linears(b))
      if (l->weight.defined() && !l->w_t.defined()) {
        why_not = "a block weight is not E4M3 (E5M2 or unquantised), so it has no native FP8 form";
        return false;
      }
  for (auto& b : model.blocks) {
    for (Linear* l : block_linears(b))
      if (l->w_t.defined())
        l->scale_row = at::full({1, l->w_t.size(1)}, l->scale,
                                at::TensorOptions().dtype(at::kFloat).device(exec.device));
    const std::array<at::Tensor*, 6> norms{&b.norm_q,       &b.norm_k,  &b.norm_added_q,
                                           &b.norm_added_k, &b.norm_q2, &b.norm_k2};
    for (std::size_t i = 0; i < norms.size(); ++i)
      b.norm_f32[i] =
          norms[i]->defined() ? norms[i]->to(exec.device, at::kFloat).contiguous() : at::Tensor();
  }
  model.attention_note = prepare_fp8_attention(model, exec);
  return true;
}

namespace {

// What both forms of LayerNorm-modulate-quantise pass to the kernel; x [B, L, D] contiguous.
k::LnModulateQuantArgs ln_modulate_args(at::Tensor& x, const at::Tensor& shift,
                                        const at::Tensor& scale, Fp8Act& out) {
  k::LnModulateQuantArgs a;
  a.x = x.data_ptr();
  a.rows = x.size(0) * x.size(1);
  a.rows_per_batch = x.size(1);
  a.width = x.size(2);
  a.shift = batch_vector(shift, a.width, "shift");
  a.scale = batch_vector(scale, a.width, "scale");
  a.out = rows_of(out);
  return a;
}

}  // namespace

Fp8Act ln_modulate_quant(at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale,
                         std::int64_t ld) {
  check_bf16(x, "x");
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "x must be contiguous [B, L, D]");
  Fp8Act out = alloc_rows(x, x.size(0) * x.size(1), ld);
  check(k::ln_modulate_quant(ln_modulate_args(x, shift, scale, out), stream()),
        "ln_modulate_quant");
  return out;
}

Fp8Act gate_residual_ln_modulate_quant(at::Tensor& x, const at::Tensor& gate, const at::Tensor& y,
                                       const at::Tensor& shift, const at::Tensor& scale,
                                       std::int64_t ld) {
  check_bf16(x, "x");
  check_bf16(y, "y");
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous() && y.is_contiguous() && y.numel() == x.numel(),
              "x [B, L, D] and y must be contiguous and of one size");
  Fp8Act out = alloc_rows(x, x.size(0) * x.size(1), ld);
  k::LnModulateQuantArgs a = ln_modulate_args(x, shift, scale, out);
  a.residual = true;
  a.gate = batch_vector(gate, a.width, "gate");
  a.y = y.data_ptr();
  check(k::ln_modulate_quant(a, stream()), "gate_residual_ln_modulate_quant");
  return out;
}

Fp8Act gelu_quant(const at::Tensor& x, std::int64_t ld) {
  check_bf16(x, "x");
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be contiguous [rows, width]");
  Fp8Act out = alloc_rows(x, x.size(0), ld);
  check(k::gelu_quant(x.data_ptr(), x.size(0), x.size(1), rows_of(out), stream()), "gelu_quant");
  return out;
}

bool dequant_ready(const at::Tensor& w) {
  // The output is a fresh (aligned) allocation: the plan's rules on the weight decide.
  return w.is_cuda() && w.scalar_type() == at::kFloat8_e4m3fn && w.is_contiguous() &&
         k::kernels_unavailable() == nullptr &&
         k::launch::dequant_e4m3(w.data_ptr(), w.numel(), w.data_ptr()).status == 0;
}

at::Tensor dequantize_e4m3(const at::Tensor& w, double scale) {
  TORCH_CHECK(dequant_ready(w), "dequantize_e4m3 needs contiguous E4M3 on CUDA, 16 at a time");
  at::Tensor out = at::empty(w.sizes(), w.options().dtype(at::kBFloat16));
  check(
      k::dequant_e4m3(w.data_ptr(), w.numel(), static_cast<float>(scale), out.data_ptr(), stream()),
      "dequant_e4m3");
  return out;
}

bool group_norm_ready(const at::Tensor& x, std::int64_t groups) {
  return x.is_cuda() && x.scalar_type() == at::kBFloat16 && x.dim() == 4 && x.is_contiguous() &&
         groups > 0 && x.size(1) % groups == 0 && (x.size(2) * x.size(3)) % 8 == 0 &&
         k::kernels_unavailable() == nullptr && !env_switched_off("SD35_FUSED_GROUPNORM");
}

at::Tensor group_norm_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           std::int64_t groups, double eps, bool silu) {
  check_bf16(x, "x");
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous(), "x must be contiguous [N, C, H, W]");
  const auto f32 = [&](const at::Tensor& t) { return t.to(x.device(), at::kFloat).contiguous(); };
  const at::Tensor w = f32(weight), b = f32(bias);
  at::Tensor y = at::empty_like(x);
  k::GroupNormArgs a;
  a.x = x.data_ptr();
  a.y = y.data_ptr();
  a.batch = x.size(0);
  a.channels = x.size(1);
  a.hw = x.size(2) * x.size(3);
  a.groups = groups;
  a.splits = k::group_norm_splits(a.batch, a.channels, a.hw, groups);
  a.weight = w.data_ptr<float>();
  a.bias = b.data_ptr<float>();
  a.eps = static_cast<float>(eps);
  a.silu = silu;
  at::Tensor partials = at::empty({a.batch * groups * a.splits * 3}, w.options());
  a.partials = partials.data_ptr<float>();
  check(k::group_norm(a, stream()), "group_norm");
  return y;
}

Fp8Act gather_quant(const at::Tensor& o, std::int64_t first, std::int64_t count, std::int64_t ld) {
  check_bf16(o, "attention output");
  TORCH_CHECK(o.dim() == 4 && o.stride(3) == 1, "attention output must be [B, H, T, Dh]");
  TORCH_CHECK(first >= 0 && count >= 0 && first + count <= o.size(2), "token range out of bounds");
  Fp8Act out = alloc_rows(o, o.size(0) * count, ld);
  k::GatherQuantArgs a;
  a.x = o.data_ptr();
  a.batch = o.size(0);
  a.first_token = first;
  a.tokens_per_batch = count;
  a.heads = o.size(1);
  a.head_dim = o.size(3);
  a.stride_batch = o.stride(0);
  a.stride_head = o.stride(1);
  a.stride_token = o.stride(2);
  a.out = rows_of(out);
  check(k::gather_quant(a, stream()), "gather_quant");
  return out;
}

void gate_residual(at::Tensor& x, const at::Tensor& gate, const at::Tensor& y) {
  check_bf16(x, "x");
  check_bf16(y, "y");
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous() && y.is_contiguous() && y.numel() == x.numel(),
              "x [B, L, D] and y must be contiguous and of one size");
  const std::int64_t w = x.size(2);
  check(k::gate_residual(x.data_ptr(), x.size(0) * x.size(1), x.size(1), w,
                         batch_vector(gate, w, "gate"), y.data_ptr(), stream()),
        "gate_residual");
}

std::array<at::Tensor, 3> qkv_pack(const at::Tensor& img, const at::Tensor& ctx, int heads,
                                   const std::array<at::Tensor, 4>& norms) {
  check_bf16(img, "image qkv");
  TORCH_CHECK(img.dim() == 3 && img.is_contiguous() && img.size(2) % (3 * heads) == 0,
              "image qkv must be contiguous [B, L, 3 * H * Dh]");
  const bool with_ctx = ctx.defined();
  if (with_ctx) {
    check_bf16(ctx, "context qkv");
    TORCH_CHECK(ctx.dim() == 3 && ctx.is_contiguous() && ctx.size(2) == img.size(2) &&
                    ctx.size(0) == img.size(0),
                "context qkv must be contiguous [B, Lc, 3 * H * Dh]");
  }
  for (const auto& n : norms)
    TORCH_CHECK(!n.defined() || (n.scalar_type() == at::kFloat && n.is_contiguous()),
                "RMSNorm weights must be contiguous float32");
  k::QkvPackArgs a;
  a.img = img.data_ptr();
  a.ctx = with_ctx ? ctx.data_ptr() : nullptr;
  a.batch = img.size(0);
  a.img_tokens = img.size(1);
  a.ctx_tokens = with_ctx ? ctx.size(1) : 0;
  a.heads = heads;
  a.head_dim = img.size(2) / 3 / heads;
  auto ptr = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
  a.norm_q = ptr(norms[0]);
  a.norm_k = ptr(norms[1]);
  a.norm_ctx_q = ptr(norms[2]);
  a.norm_ctx_k = ptr(norms[3]);
  const std::int64_t tokens = a.img_tokens + a.ctx_tokens;
  std::array<at::Tensor, 3> out;
  for (auto& t : out) t = at::empty({a.batch, tokens, a.heads, a.head_dim}, img.options());
  a.q = out[0].data_ptr();
  a.k = out[1].data_ptr();
  a.v = out[2].data_ptr();
  check(k::qkv_pack(a, stream()), "qkv_pack");
  for (auto& t : out) t = t.transpose(1, 2);
  return out;
}

at::Tensor scaled_mm_rowwise(const Fp8Act& a, const Linear& l) {
  TORCH_CHECK(l.w_t.defined() && l.scale_row.defined(), "linear has no prepared FP8 weight");
  const auto n = l.weight.size(0);
  const bool padded_n = l.w_t.size(1) != n;
  const bool bias_in_gemm = l.bias_bf16.defined() && !padded_n && rowwise_support().bias;
  at::Tensor y = at::_scaled_mm(
      a.q, l.w_t, a.scale, l.scale_row,
      bias_in_gemm ? std::optional<at::Tensor>(l.bias_bf16) : std::optional<at::Tensor>(),
      std::nullopt, at::kBFloat16, /*use_fast_accum=*/true);
  TORCH_CHECK(y.is_cuda(), "native FP8 GEMM output is on ", y.device().str(), ", not CUDA");
  if (padded_n) y = y.narrow(1, 0, n);
  if (l.bias_bf16.defined() && !bias_in_gemm) y = y + l.bias_bf16;
  return y.contiguous();
}

bool select_attention_backend(const std::string& name) {
  auto& ctx = at::globalContext();
  const bool all = name == "auto";
  if (!all && name != "flash" && name != "efficient" && name != "cudnn") return false;
  ctx.setSDPUseFlash(all || name == "flash");
  ctx.setSDPUseMemEfficient(all || name == "efficient");
  ctx.setSDPUseCuDNN(all || name == "cudnn");
  ctx.setSDPUseMath(true);  // the last resort stays available
  return true;
}

std::string attention_backend_for(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  switch (at::_fused_sdp_choice(q, k, v)) {
    case 0:
      return "math";
    case 1:
      return "flash";
    case 2:
      return "efficient";
    case 3:
      return "cudnn";
    default:
      return "other";
  }
}

#endif

}  // namespace sd35::smoke::fused
