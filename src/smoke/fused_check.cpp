// check_fused_kernels: every fused CUDA kernel against the same maths in ATen (float32), on seeded
// random inputs. Widths that are multiples of 8 take the vectorised code (in each of its shapes:
// 2, 4 or 8 chunks per thread), the others the scalar one; all are checked.
#include <fmt/format.h>

#include <cmath>
#include <utility>
#include <vector>

#include "smoke/cuda/fused_kernels.hpp"
#include "smoke/device_upload.hpp"
#include "smoke/mmdit_fused.hpp"
#include "smoke/mmdit_model.hpp"
#include "smoke/smoke.hpp"

namespace sd35::smoke {

#ifndef SD35_FUSED_PATH

Result<nlohmann::json> check_fused_kernels() {
  return Error{Errc::unavailable, "the fused CUDA kernels are not built into this libtorch target",
               "sd35torch",
               "build with a CUDA libtorch and nvcc (the torch-only preset on a GPU box)"};
}

#else

namespace {

constexpr double kEps = 1e-6;

// Largest |got - want| in units of E4M3's rounding bound for each element: half an E4M3 step
// (2^-4 of the value for normal numbers) plus the subnormal step (2^-9 of the row's scale).
// <= 1 means every element is as close as a correct rounding can be.
double fp8_error(const fused::Fp8Act& a, const at::Tensor& want) {
  const auto width = want.size(1);
  at::Tensor got = a.q.narrow(1, 0, width).to(at::kFloat) * a.scale;
  at::Tensor bound = want.abs() * 0.0625 + a.scale * (1.0 / 512) + 1e-12;
  return ((got - want).abs() / bound).max().item<double>();
}

// |got - want| in bf16 steps (2^-7 of the value) plus float32 noise of the operands.
double bf16_error(const at::Tensor& got, const at::Tensor& want, const at::Tensor& magnitude) {
  at::Tensor bound = want.abs() * (1.0 / 128) + magnitude * 1e-6 + 1e-12;
  return ((got.to(at::kFloat) - want).abs() / bound).max().item<double>();
}

bool padding_is_zero(const fused::Fp8Act& a, std::int64_t width) {
  if (a.q.size(1) == width) return true;
  return a.q.narrow(1, width, a.q.size(1) - width).view(at::kByte).eq(0).all().item<bool>();
}

// Scale equals the row's |max| / 448 (relative 1e-5).
double scale_error(const fused::Fp8Act& a, const at::Tensor& want) {
  at::Tensor s = std::get<0>(want.abs().max(1, true)) / 448.0;
  return ((a.scale - s).abs() / (s + 1e-30)).max().item<double>() * 1e5;
}

at::Tensor ln_mod_reference(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor n = at::layer_norm(xf, {xf.size(-1)}, {}, {}, kEps);
  return n * (1 + scale.to(at::kFloat).unsqueeze(1)) + shift.to(at::kFloat).unsqueeze(1);
}

at::Tensor rms_reference(const at::Tensor& x, const at::Tensor& w) {
  return x * at::rsqrt(x.pow(2).mean(-1, true) + kEps) * w;
}

struct Checker {
  nlohmann::json rows = nlohmann::json::array();
  bool ok = true;
  void add(const std::string& name, double error, double limit) {
    const bool pass = std::isfinite(error) && error <= limit;
    ok = ok && pass;
    rows.push_back({{"name", name}, {"error", error}, {"limit", limit}, {"ok", pass}});
  }
};

void check_row_kernels(Checker& c, std::int64_t width) {
  const auto o = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const std::int64_t b = 2, l = 37, ld = (width + 15) / 16 * 16 + 16;
  const std::string tag = fmt::format(" (width {})", width);
  at::Tensor x = at::randn({b, l, width}, o) * 3;
  at::Tensor mod = at::randn({b, 6 * width}, o) * 0.5;
  at::Tensor shift = mod.narrow(1, 0, width), scale = mod.narrow(1, width, width);
  at::Tensor want = ln_mod_reference(x, shift, scale).reshape({b * l, width});
  fused::Fp8Act a = fused::ln_modulate_quant(x, shift, scale, ld);
  c.add("ln_modulate_quant" + tag, fp8_error(a, want), 1.05);
  c.add("ln_modulate_quant row scale x1e5" + tag, scale_error(a, want), 1.0);
  c.add("ln_modulate_quant zero padding" + tag, padding_is_zero(a, width) ? 0.0 : 1.0, 0.0);

  at::Tensor gate = mod.narrow(1, 2 * width, width);
  at::Tensor y = at::randn({b, l, width}, o);
  at::Tensor h = x.clone();
  at::Tensor sum = x.to(at::kFloat) + gate.to(at::kFloat).unsqueeze(1) * y.to(at::kFloat);
  at::Tensor magnitude = x.to(at::kFloat).abs() + (gate.to(at::kFloat).unsqueeze(1) * y).abs();
  at::Tensor shift2 = mod.narrow(1, 3 * width, width), scale2 = mod.narrow(1, 4 * width, width);
  fused::Fp8Act r = fused::gate_residual_ln_modulate_quant(h, gate, y, shift2, scale2, ld);
  c.add("gate_residual_ln_modulate_quant: residual" + tag, bf16_error(h, sum, magnitude), 1.0);
  c.add("gate_residual_ln_modulate_quant: quantised" + tag,
        fp8_error(r, ln_mod_reference(h, shift2, scale2).reshape({b * l, width})), 1.05);

  at::Tensor h2 = x.clone();
  fused::gate_residual(h2, gate, y);
  c.add("gate_residual" + tag, bf16_error(h2, sum, magnitude), 1.0);

  at::Tensor f = at::randn({b * l, 4 * width}, o) * 2;
  const std::int64_t fld = (4 * width + 15) / 16 * 16;
  fused::Fp8Act g = fused::gelu_quant(f, fld);
  c.add("gelu_quant" + tag, fp8_error(g, at::gelu(f.to(at::kFloat), "tanh")), 1.05);
}

// The VAE's GroupNorm (+ SiLU) against ATen's on a float copy, within a bf16 step (plus 1e-4 for
// the two statistics' float rounding), on activations with a mean far from zero.
void check_group_norm(Checker& c, std::int64_t n, std::int64_t ch, std::int64_t h, std::int64_t w,
                      bool silu) {
  const auto o = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const std::int64_t groups = 32;
  at::Tensor x = (at::randn({n, ch, h, w}, o) * 3 + 5).contiguous();
  at::Tensor weight = at::rand({ch}, o.dtype(at::kFloat)) + 0.5;
  at::Tensor bias = at::randn({ch}, o.dtype(at::kFloat)) * 0.3;
  at::Tensor want = at::group_norm(x.to(at::kFloat), groups, weight, bias, kEps);
  if (silu) want = at::silu(want);
  const at::Tensor got = fused::group_norm_silu(x, weight, bias, groups, kEps, silu);
  c.add(fmt::format("group_norm{} ({}x{}x{}x{}, {} slices a group)", silu ? " + silu" : "", n, ch,
                    h, w, cuda::group_norm_splits(n, ch, h * w, groups)),
        bf16_error(got, want, at::full_like(want, 100.0)), 1.0);
}

// Scaled E4M3 weights to bf16 against ATen's cast-then-multiply, bit for bit, over every byte
// value but the two NaN codes.
void check_dequant(Checker& c) {
  const auto bytes = at::TensorOptions().device(at::kCUDA).dtype(at::kByte);
  at::Tensor raw = at::randint(0, 256, {4096 * 48}, bytes);
  raw.masked_fill_((raw == 0x7F).logical_or(raw == 0xFF), 0);
  const at::Tensor w = raw.view(at::kFloat8_e4m3fn).view({4096, 48});
  const double scale = 0.0123;
  const at::Tensor want = w.to(at::kBFloat16).mul_(scale);
  const at::Tensor got = fused::dequantize_e4m3(w, scale);
  c.add("dequant_e4m3: bf16 values not bit-exact",
        got.view(at::kShort).ne(want.view(at::kShort)).sum().item<double>(), 0.0);
}

void check_attention_kernels(Checker& c, std::int64_t heads, std::int64_t head_dim) {
  const auto o = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const std::int64_t b = 2, li = 45, lc = 11, d = heads * head_dim;
  const std::string tag = fmt::format(" ({}x{})", heads, head_dim);
  at::Tensor img = at::randn({b, li, 3 * d}, o), ctx = at::randn({b, lc, 3 * d}, o);
  const auto fo = o.dtype(at::kFloat);
  std::array<at::Tensor, 4> norms{at::rand({head_dim}, fo) + 0.5, at::rand({head_dim}, fo) + 0.5,
                                  at::rand({head_dim}, fo) + 0.5, at::rand({head_dim}, fo) + 0.5};
  auto [q, k, v] = fused::qkv_pack(img, ctx, static_cast<int>(heads), norms);
  auto part = [&](const at::Tensor& t, int i) {
    return t.to(at::kFloat).view({b, -1, 3, heads, head_dim}).select(2, i);
  };
  at::Tensor want_q =
      at::cat({rms_reference(part(img, 0), norms[0]), rms_reference(part(ctx, 0), norms[2])}, 1);
  at::Tensor want_k =
      at::cat({rms_reference(part(img, 1), norms[1]), rms_reference(part(ctx, 1), norms[3])}, 1);
  at::Tensor want_v = at::cat({part(img, 2), part(ctx, 2)}, 1);
  at::Tensor mag = want_v.abs() * 0;  // bf16 rounding of float results: no operand noise term
  c.add("qkv_pack q (RMSNorm)" + tag, bf16_error(q.transpose(1, 2), want_q, mag), 1.0);
  c.add("qkv_pack k (RMSNorm)" + tag, bf16_error(k.transpose(1, 2), want_k, mag), 1.0);
  c.add("qkv_pack v" + tag, bf16_error(v.transpose(1, 2), want_v, mag), 0.0);

  // An attention output in [B, T, H, Dh] storage seen as [B, H, T, Dh], like SDPA's.
  at::Tensor out = at::randn({b, li + lc, heads, head_dim}, o).transpose(1, 2);
  const std::int64_t ld = (d + 15) / 16 * 16;
  for (auto [first, count] : {std::pair<std::int64_t, std::int64_t>{0, li}, {li, lc}}) {
    fused::Fp8Act g = fused::gather_quant(out, first, count, ld);
    at::Tensor want = out.transpose(1, 2).narrow(1, first, count).reshape({b * count, d});
    c.add(fmt::format("gather_quant tokens {}..{}{}", first, first + count, tag),
          fp8_error(g, want.to(at::kFloat)), 1.05);
  }
}

// cuDNN's FP8 joint attention (fused::attention_fp8) against float32 SDPA on the same packed
// q, k, v: the output's rel L2. E4M3 q, k, v, probabilities and output put it at ~6 % on these
// random rows (6.0 % here on an H200; cuDNN's FP8 SDPA through JAX, unit scales on N(0, 1)
// data: 6.2 %); a wrong scale (q, k or v off by a factor of 2 or more) is at 30 % and beyond.
void check_fp8_attention(Checker& c) {
  const auto o = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const std::int64_t b = 2, li = 120, lc = 13, heads = 4, hd = 64, d = heads * hd;
  at::Tensor img = at::randn({b, li, 3 * d}, o), ctx = at::randn({b, lc, 3 * d}, o);
  Block blk;
  for (auto& n : blk.norm_f32) n = at::rand({hd}, o.dtype(at::kFloat)) + 0.5;
  if (!fused::set_fp8_attention_scales(blk, hd, at::Device(at::kCUDA))) return;  // not built in
  const auto fp8 = fused::attention_fp8(blk, img, ctx, static_cast<int>(heads));
  if (!fp8) {
    c.add("fp8 attention (cuDNN): " + fused::fp8_attention_fallback(), INFINITY, 0.1);
    return;
  }
  auto [q, k, v] =
      fused::qkv_pack(img, ctx, static_cast<int>(heads),
                      {blk.norm_f32[0], blk.norm_f32[1], blk.norm_f32[2], blk.norm_f32[3]});
  at::Tensor want =
      at::scaled_dot_product_attention(q.to(at::kFloat), k.to(at::kFloat), v.to(at::kFloat))
          .transpose(1, 2)
          .reshape({b, li + lc, d});
  at::Tensor got = fp8->o8.view(at::kFloat8_e4m3fn).to(at::kFloat) * fp8->scales[0];
  c.add("fp8 attention (cuDNN) rel L2 vs float32 SDPA",
        ((got - want).norm() / want.norm()).item<double>(), 0.1);
}

void check_scaled_mm(Checker& c) {
  const auto o = at::TensorOptions().device(at::kCUDA);
  const std::int64_t m = 40, n = 80, kdim = 96;
  Linear l;
  l.weight = at::randn({n, kdim}, o.dtype(at::kFloat)) * 0.1;
  l.bias = at::randn({n}, o.dtype(at::kFloat)) * 0.1;
  quantize_linear(l);
  l.k_pad = kdim;
  l.w_t = l.weight.t();
  l.bias_bf16 = l.bias.to(at::kBFloat16);
  l.scale_row = at::full({1, n}, l.scale, o.dtype(at::kFloat));
  at::Tensor x = at::randn({m, kdim}, o.dtype(at::kBFloat16));
  fused::Fp8Act a = fused::gelu_quant(x, kdim);
  at::Tensor got = fused::scaled_mm_rowwise(a, l).to(at::kFloat);
  at::Tensor want = at::linear(a.q.to(at::kFloat) * a.scale, l.weight.to(at::kFloat) * l.scale,
                               l.bias_bf16.to(at::kFloat));
  c.add("scaled_mm_rowwise rel L2", ((got - want).norm() / want.norm()).item<double>(), 1e-2);
}

// The staged upload (device_upload.hpp) against t.to(cuda), byte for byte: sizes that end inside
// a 16 MiB piece, an empty tensor, a non-contiguous view, an unaligned start, several dtypes. The
// row is the number of tensors that differ.
void check_device_upload(Checker& c) {
  const auto bytes = at::TensorOptions().dtype(at::kByte);
  auto random_bytes = [&](std::int64_t n) { return at::randint(0, 256, {n}, bytes); };
  std::vector<at::Tensor> host = {random_bytes(0),
                                  random_bytes(1),
                                  random_bytes((std::int64_t{16} << 20) - 1),
                                  random_bytes((std::int64_t{40} << 20) + 7),
                                  at::randn({333, 257}).to(at::kBFloat16),
                                  at::randn({96, 80}).t(),
                                  random_bytes(5000).narrow(0, 3, 4099)};  // starts off alignment
  std::vector<at::Tensor> staged = host;
  std::vector<at::Tensor*> ptrs;
  for (auto& t : staged) ptrs.push_back(&t);
  upload(ptrs, at::Device(at::kCUDA));
  int differ = 0;
  for (std::size_t i = 0; i < host.size(); ++i) {
    const at::Tensor want = host[i].to(at::kCUDA);
    const bool same = staged[i].is_cuda() && staged[i].sizes() == want.sizes() &&
                      staged[i].dtype() == want.dtype() && at::equal(staged[i], want);
    differ += same ? 0 : 1;
  }
  c.add("device upload: tensors not bit-exact", differ, 0.0);
}

}  // namespace

Result<nlohmann::json> check_fused_kernels() {
  if (!torch::cuda::is_available())
    return Error{Errc::unavailable, "no CUDA device for the fused kernel check", "libtorch", ""};
  try {
    c10::InferenceMode guard;
    at::manual_seed(20241123);
    Checker c;
    // Vectorised: 2 chunks of 8 per thread in one warp (96; gelu 384), several warps (SD3.5
    // Large's 2432); gelu with 4 per thread (Medium's MLP row, 6144; Large's, 9728) and 8 (10752:
    // rows wider than 320 threads x 4).
    for (const std::int64_t width : {96, 1536, 2432, 2688}) check_row_kernels(c, width);
    check_row_kernels(c, 100);  // scalar
    check_group_norm(c, 1, 128, 64, 64, true);
    check_group_norm(c, 2, 64, 24, 40, false);
    check_group_norm(c, 1, 64, 256, 256, true);  // several slices a group
    check_dequant(c);
    // qkv_pack vectorised with 2, 8 (SD3.5's 38 x 64) and 16 lanes per head, the last over two
    // passes of the block; then the scalar form.
    check_attention_kernels(c, 4, 16);
    check_attention_kernels(c, 38, 64);
    check_attention_kernels(c, 24, 128);
    check_attention_kernels(c, 3, 10);
    check_fp8_attention(c);
    check_scaled_mm(c);
    check_device_upload(c);
    return nlohmann::json{{"kernels", c.rows}, {"ok", c.ok}};
  } catch (const std::exception& ex) {
    return Error{Errc::internal, "fused kernel check failed: " + torch_error_text(ex), "cuda",
                 "run with SD35_FUSED=0 to use the ATen path meanwhile"};
  }
}

#endif

}  // namespace sd35::smoke
