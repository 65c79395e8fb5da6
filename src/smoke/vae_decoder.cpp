// The SD3 VAE decoder (LDM ldm/modules/diffusionmodules/model.py Decoder == diffusers
// AutoencoderKL.decode): conv_in, mid (resnet, attention, resnet), up levels from the lowest
// resolution, GroupNorm(32) + SiLU, conv_out. Low-precision convolutions, float32 GroupNorm.
#include <cmath>

#include "smoke/mmdit_fused.hpp"
#include "smoke/pipeline_models.hpp"

namespace sd35::smoke {
namespace {

constexpr std::int64_t kGroups = 32;
constexpr double kGroupNormEps = 1e-6;

at::Tensor conv(const Linear& l, const at::Tensor& x, const Exec& e) {
  const std::int64_t pad = l.weight.size(-1) / 2;
  const at::Tensor bias = l.bias.defined() ? l.bias.to(e.act) : at::Tensor();
  return at::conv2d(x, dequantize(l, e.act), bias, 1, pad);
}

// Statistics in float32 whatever the activation dtype: bf16 sums over 128x1024x1024 values
// drift visibly.
at::Tensor group_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                      const Exec& e) {
  return at::group_norm(x.to(at::kFloat), kGroups, w.to(at::kFloat), b.to(at::kFloat),
                        kGroupNormEps)
      .to(e.act);
}

// GroupNorm then SiLU. On CUDA in one pass of our kernels (float statistics from the bf16
// activations in place, the group spread over many blocks): ATen's group_norm gives each group
// one block, 32 for a whole 1024^2 image, which made its statistics half of the decode's time.
at::Tensor norm_silu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const Exec& e,
                     bool silu = true) {
  if (fused::group_norm_ready(x, kGroups))
    return fused::group_norm_silu(x, w, b, kGroups, kGroupNormEps, silu);
  const at::Tensor h = group_norm(x, w, b, e);
  return silu ? at::silu(h) : h;
}

at::Tensor resnet(const VaeResnet& r, const at::Tensor& x, const Exec& e) {
  at::Tensor h = conv(r.conv1, norm_silu(x, r.norm1_w, r.norm1_b, e), e);
  h = conv(r.conv2, norm_silu(h, r.norm2_w, r.norm2_b, e), e);
  return (r.shortcut.weight.defined() ? conv(r.shortcut, x, e) : x) + h;
}

// Nearest-neighbour 2x (F.interpolate(scale_factor=2.0, mode="nearest")), written with expand so
// that it has one signature on every libtorch.
at::Tensor upsample_nearest_2x(const at::Tensor& x) {
  const auto b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return x.unsqueeze(3).unsqueeze(5).expand({b, c, h, 2, w, 2}).reshape({b, c, h * 2, w * 2});
}

// TF32 allowed for cuBLAS float32 GEMMs while it lives, the process's setting restored after.
class TensorFloat32Matmuls {
 public:
  explicit TensorFloat32Matmuls(bool on) : on_(on), before_(at::globalContext().allowTF32CuBLAS()) {
    if (on_) at::globalContext().setAllowTF32CuBLAS(true);
  }
  ~TensorFloat32Matmuls() {
    if (on_) at::globalContext().setAllowTF32CuBLAS(before_);
  }
  TensorFloat32Matmuls(const TensorFloat32Matmuls&) = delete;
  TensorFloat32Matmuls& operator=(const TensorFloat32Matmuls&) = delete;

 private:
  bool on_, before_;
};

// Single-head self-attention over the H*W positions (q, k, v, proj_out are 1x1 convs).
at::Tensor mid_attention(const VaeDecoder& m, const at::Tensor& x, const Exec& e) {
  const at::Tensor h = norm_silu(x, m.attn_norm_w, m.attn_norm_b, e, false);
  const auto b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
  auto tokens = [&](const Linear& l) {  // [B, C, H, W] -> [B, 1, HW, C]
    return conv(l, h, e).reshape({b, 1, c, height * width}).transpose(-1, -2);
  };
  const at::Tensor q = tokens(m.attn_q), k = tokens(m.attn_k), v = tokens(m.attn_v);
#ifdef SD35_TORCH_SDPA
  // One head of 512: no fused kernel takes it, so torch runs its math path, in float32 for bf16
  // inputs. Those two 16384 x 16384 x 512 float GEMMs ran on CUDA cores (12 ms of a 50 ms decode
  // on the H200); TF32 tensor cores take them, exactly: the operands are bf16 values, which TF32
  // holds without rounding, and the products are summed in float32 either way.
  const TensorFloat32Matmuls tf32(q.is_cuda());
  at::Tensor o = at::scaled_dot_product_attention(q, k, v);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(c));
  at::Tensor o = at::matmul(at::softmax(at::matmul(q, k.transpose(-2, -1)) * scale, -1), v);
#endif
  o = o.transpose(-1, -2).reshape({b, c, height, width});
  return x + conv(m.attn_out, o, e);
}

// Per-pixel weights of one tile: 1 inside, a linear ramp across the overlap on the sides that
// touch another tile, so overlapping tiles blend without seams.
at::Tensor tile_weights(std::int64_t h, std::int64_t w, std::int64_t ramp, bool top, bool bottom,
                        bool left, bool right, const at::TensorOptions& opts) {
  auto edge = [&](std::int64_t n, bool lo, bool hi) {
    at::Tensor r = torch::ones({n}, opts);
    if (ramp <= 0) return r;
    const at::Tensor up = (torch::arange(ramp, opts) + 1) / static_cast<double>(ramp + 1);
    if (lo) r.narrow(0, 0, ramp).copy_(up);
    if (hi) r.narrow(0, n - ramp, ramp).copy_(up.flip(0));
    return r;
  };
  return edge(h, top, bottom).unsqueeze(1) * edge(w, left, right).unsqueeze(0);
}

std::vector<std::int64_t> tile_starts(std::int64_t size, std::int64_t tile, std::int64_t step) {
  std::vector<std::int64_t> starts;
  if (size <= tile) return {0};
  for (std::int64_t s = 0;; s += step) {
    if (s + tile >= size) {
      starts.push_back(size - tile);
      break;
    }
    starts.push_back(s);
  }
  return starts;
}

}  // namespace

at::Tensor vae_decode(const VaeDecoder& m, const at::Tensor& z, const Exec& e) {
  c10::InferenceMode guard;
  at::Tensor x = z.to(e.device, e.act);
  if (m.post_quant_conv.weight.defined()) x = conv(m.post_quant_conv, x, e);
  x = conv(m.conv_in, x, e);
  x = resnet(m.mid2, mid_attention(m, resnet(m.mid1, x, e), e), e);
  for (std::size_t i = m.levels.size(); i-- > 0;) {  // LDM order: up.N-1 is the lowest resolution
    const auto& level = m.levels[i];
    for (const auto& r : level.blocks) x = resnet(r, x, e);
    if (level.upsample.weight.defined()) x = conv(level.upsample, upsample_nearest_2x(x), e);
  }
  x = norm_silu(x, m.norm_out_w, m.norm_out_b, e);
  return conv(m.conv_out, x, e).to(at::kFloat);
}

at::Tensor vae_decode_tiled(const VaeDecoder& m, const at::Tensor& z, const Exec& e,
                            std::int64_t tile, std::int64_t overlap) {
  c10::InferenceMode guard;
  std::int64_t factor = 1;
  for (const auto& level : m.levels)
    if (level.upsample.weight.defined()) factor *= 2;
  const auto h = z.size(2), w = z.size(3);
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(e.device);
  at::Tensor sum, weight_sum = torch::zeros({h * factor, w * factor}, opts);
  const std::int64_t step = std::max<std::int64_t>(1, tile - overlap);
  const auto ys = tile_starts(h, tile, step), xs = tile_starts(w, tile, step);
  for (auto y : ys)
    for (auto x : xs) {
      const auto th = std::min(tile, h), tw = std::min(tile, w);
      const at::Tensor out = vae_decode(m, z.narrow(2, y, th).narrow(3, x, tw), e);
      if (!sum.defined())
        sum = torch::zeros({z.size(0), out.size(1), h * factor, w * factor}, opts);
      const at::Tensor wt = tile_weights(th * factor, tw * factor, overlap * factor, y > 0,
                                         y + th<h, x> 0, x + tw < w, opts);
      sum.narrow(2, y * factor, th * factor).narrow(3, x * factor, tw * factor).add_(out * wt);
      weight_sum.narrow(0, y * factor, th * factor).narrow(1, x * factor, tw * factor).add_(wt);
    }
  return sum / weight_sum;
}

at::Tensor decode_latents(const VaeDecoder& m, const at::Tensor& latents, const Exec& e) {
  return vae_decode(m, latents / m.scaling_factor + m.shift_factor, e);
}

}  // namespace sd35::smoke
