// MMDiT forward (diffusers SD3Transformer2DModel, transformer_sd3.py / attention.py) and the
// flow-matching Euler CFG loop, with the four precision paths.
#include <fmt/format.h>

#include <cmath>
#include <random>

#include "smoke/denoise.hpp"
#include "smoke/device_upload.hpp"
#include "smoke/fp8_codec.hpp"
#include "smoke/mmdit_fused.hpp"
#include "smoke/mmdit_model.hpp"

#ifdef SD35_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace sd35::smoke {
namespace {

constexpr double kEps = 1e-6;

at::Tensor to_act(const at::Tensor& t, const Exec& e) {
  return t.defined() ? t.to(e.act) : t;
}

#ifdef SD35_TORCH_SCALED_MM
// y = x W^T + b with E4M3 activations (per-tensor dynamic or static scale) and E4M3 weights.
at::Tensor fp8_linear(const Linear& l, const at::Tensor& x) {
  const auto k = x.size(-1);
  auto out_shape = x.sizes().vec();
  const auto n = l.weight.size(0);
  out_shape.back() = n;
  at::Tensor x2 = x.reshape({-1, k});
  at::Tensor xs;
  at::Tensor xq;
  if (l.input_scale > 0) {
    // Static scale from the checkpoint: values may exceed the E4M3 range, so clamp (as ComfyUI
    // does).
    xs = at::full({}, l.input_scale, x2.options().dtype(at::kFloat));
    xq = x2.mul(1.0F / l.input_scale).clamp(-fp8::kE4M3Max, fp8::kE4M3Max);
    if (l.k_pad != k) xq = at::constant_pad_nd(xq, {0, l.k_pad - k});
    xq = xq.to(at::kFloat8_e4m3fn);
  } else {
    // Dynamic per-tensor scale: |x / s| <= 448 by construction (BF16 rounding stays below the
    // 464 overflow point of torch's non-saturating cast), so no clamp pass is needed.
    auto [mn, mx] = at::aminmax(x2);
    xs = at::maximum(mx, mn.neg()).to(at::kFloat).div_(fp8::kE4M3Max).clamp_min_(1e-12F);
    // The reciprocal is rounded to the activation's own dtype (a same-dtype scale keeps the
    // elementwise kernel on its vectorised path); _scaled_mm gets the exact inverse of that
    // rounded value, the scale the multiplication really applied.
    at::Tensor inv = xs.reciprocal().to(x2.scalar_type());
    xs = inv.to(at::kFloat).reciprocal();
    if (l.k_pad != k) x2 = at::constant_pad_nd(x2, {0, l.k_pad - k});
    xq = x2.mul(inv).to(at::kFloat8_e4m3fn);
  }
  const bool padded_n = l.w_t.size(1) != n;
  at::Tensor y = at::_scaled_mm(
      xq, l.w_t, xs, l.scale_b,
      padded_n ? std::optional<at::Tensor>() : std::optional<at::Tensor>(l.bias_bf16), std::nullopt,
      at::kBFloat16, /*use_fast_accum=*/true);
  // The point of this path is FP8 tensor cores: a result anywhere but on the GPU means it did not
  // run there.
  TORCH_CHECK(y.is_cuda(), "native FP8 GEMM output is on ", y.device().str(), ", not CUDA");
  if (padded_n) {
    y = y.narrow(1, 0, n);
    if (l.bias_bf16.defined()) y = y + l.bias_bf16;
  }
  return y.reshape(out_shape);
}
#endif

at::Tensor linear(const Linear& l, const at::Tensor& x, const Exec& e) {
#ifdef SD35_TORCH_SCALED_MM
  if (e.native_fp8 && l.w_t.defined()) return fp8_linear(l, x);
#endif
  return at::linear(x, dequantize(l, e.act), to_act(l.bias, e));
}

at::Tensor layer_norm(const at::Tensor& x) {
  return at::layer_norm(x, {x.size(-1)}, {}, {}, kEps);
}

// n * (1 + scale) + shift and h + gate * y as single fused kernels (these elementwise passes over
// [B, tokens, D] cost as much as the GEMMs' memory traffic on a GPU).
at::Tensor modulate(const at::Tensor& n, const at::Tensor& shift, const at::Tensor& scale) {
  return at::addcmul(shift.unsqueeze(1), n, (1 + scale).unsqueeze(1));
}

at::Tensor gated(const at::Tensor& h, const at::Tensor& gate, const at::Tensor& y) {
  return at::addcmul(h, gate.unsqueeze(1), y);
}

// diffusers RMSNorm: float32 statistics, cast back, then the learned weight.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, const Exec& e) {
  if (!w.defined()) return x;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  // Fused kernel (float32 statistics inside) for the low-precision GPU paths.
  if (e.act != at::kFloat) return at::rms_norm(x, {x.size(-1)}, w.to(e.act), kEps);
#endif
  at::Tensor xf = x.to(at::kFloat);
  xf = xf * at::rsqrt(xf.pow(2).mean(-1, true) + kEps);
  return xf.to(e.act) * w.to(e.act);
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#ifdef SD35_TORCH_SDPA
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  try {
    return at::scaled_dot_product_attention(q, k, v);
  } catch (const c10::Error&) {
    // torch 2.11 on an H200 picks cuDNN's SDPA for bf16 and, for some shapes (the embedded model's
    // head size), cuDNN answers "No valid execution plans built" instead of letting the dispatcher
    // fall back. Turn cuDNN SDPA off for this process and let flash / mem-efficient / math run it;
    // any other failure (or one with cuDNN already off) is rethrown.
    auto& ctx = at::globalContext();
    if (!q.is_cuda() || !ctx.userEnabledCuDNNSDP()) throw;
    ctx.setSDPUseCuDNN(false);
    return at::scaled_dot_product_attention(q, k, v);
  }
#else
  return at::scaled_dot_product_attention(q, k, v);
#endif
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  return at::matmul(at::softmax(at::matmul(q, k.transpose(-2, -1)) * scale, -1), v);
#endif
}

// [B, L, 3D] -> three [B, H, L, Dh]
std::array<at::Tensor, 3> split_qkv(const at::Tensor& qkv, int heads) {
  const auto b = qkv.size(0), l = qkv.size(1), dh = qkv.size(2) / 3 / heads;
  at::Tensor t = qkv.view({b, l, 3, heads, dh}).permute({2, 0, 3, 1, 4});
  return {t[0], t[1], t[2]};
}

at::Tensor merge_heads(const at::Tensor& o) {  // [B, H, L, Dh] -> [B, L, H*Dh]
  return o.transpose(1, 2).reshape({o.size(0), o.size(2), o.size(1) * o.size(3)});
}

at::Tensor feed_forward(const Linear& fc1, const Linear& fc2, const at::Tensor& x, const Exec& e) {
  return linear(fc2, at::gelu(linear(fc1, x, e), "tanh"), e);
}

void block_forward(const Block& b, const MmditConfig& c, at::Tensor& h, at::Tensor& ctx,
                   const at::Tensor& mod, const at::Tensor& cmod, const Exec& e) {
  const int heads = c.num_heads;
  auto m = mod.chunk(b.dual ? 9 : 6, 1);
  at::Tensor n = layer_norm(h);
  at::Tensor hn = modulate(n, m[0], m[1]);
  at::Tensor cn;
  std::vector<at::Tensor> cm;
  if (!b.pre_only) {
    cm = cmod.chunk(6, 1);
    cn = modulate(layer_norm(ctx), cm[0], cm[1]);
  } else {
    auto sc = cmod.chunk(2, 1);  // diffusers order: scale, shift
    cn = modulate(layer_norm(ctx), sc[1], sc[0]);
  }
  auto [q, k, v] = split_qkv(linear(b.qkv, hn, e), heads);
  auto [cq, ck, cv] = split_qkv(linear(b.add_qkv, cn, e), heads);
  q = rms_norm(q, b.norm_q, e);
  k = rms_norm(k, b.norm_k, e);
  cq = rms_norm(cq, b.norm_added_q, e);
  ck = rms_norm(ck, b.norm_added_k, e);
  const auto n_img = h.size(1);
  at::Tensor o =
      merge_heads(attention(at::cat({q, cq}, 2), at::cat({k, ck}, 2), at::cat({v, cv}, 2)));
  at::Tensor o_img = o.narrow(1, 0, n_img);
  at::Tensor o_ctx = o.narrow(1, n_img, o.size(1) - n_img);
  h = gated(h, m[2], linear(b.to_out, o_img, e));
  if (b.dual) {
    at::Tensor hn2 = modulate(n, m[6], m[7]);
    auto [q2, k2, v2] = split_qkv(linear(b.qkv2, hn2, e), heads);
    q2 = rms_norm(q2, b.norm_q2, e);
    k2 = rms_norm(k2, b.norm_k2, e);
    h = gated(h, m[8], linear(b.to_out2, merge_heads(attention(q2, k2, v2)), e));
  }
  h = gated(h, m[5], feed_forward(b.ff1, b.ff2, modulate(layer_norm(h), m[3], m[4]), e));
  if (!b.pre_only) {
    ctx = gated(ctx, cm[2], linear(b.to_add_out, o_ctx, e));
    ctx =
        gated(ctx, cm[5], feed_forward(b.ffc1, b.ffc2, modulate(layer_norm(ctx), cm[3], cm[4]), e));
  }
}

// Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0), computed in float32 like diffusers.
at::Tensor timestep_features(const at::Tensor& t) {
  constexpr int kHalf = 128;
  auto opts = t.options().dtype(at::kFloat);
  at::Tensor exponent =
      at::arange(kHalf, opts) * static_cast<float>(-std::log(10000.0)) / static_cast<float>(kHalf);
  at::Tensor emb = t.to(at::kFloat).unsqueeze(1) * at::exp(exponent).unsqueeze(0);
  return at::cat({at::cos(emb), at::sin(emb)}, 1);
}

void init_uniform(at::Tensor& t, std::mt19937_64& rng, float bound) {
  at::Tensor cpu = torch::empty(t.sizes(), at::TensorOptions().dtype(at::kFloat));
  float* p = cpu.data_ptr<float>();
  std::uniform_real_distribution<float> dist(-bound, bound);
  for (std::int64_t i = 0; i < cpu.numel(); ++i) p[i] = dist(rng);
  t = cpu;
}

}  // namespace

at::Tensor apply_linear(const Linear& l, const at::Tensor& x, const Exec& e) {
  return linear(l, x, e);
}

Result<Exec> plan_exec(Precision precision, const std::string& device) {
  Exec e;
  e.requested = precision;
  e.effective = precision;
  const bool cuda = torch::cuda::is_available();
  if (device == "cuda" && !cuda)
    return Error{
        Errc::unavailable, "--device cuda asked for, but libtorch sees no CUDA device", "libtorch",
        cuda ? ""
             : "use --device cpu, or a CUDA build of libtorch on a machine with an NVIDIA GPU"};
  if (device != "auto" && device != "cpu" && device != "cuda")
    return Error{Errc::usage, fmt::format("unknown device \"{}\"", device), "--device",
                 "use auto, cpu or cuda"};
  e.device = (device == "cuda" || (device == "auto" && cuda)) ? at::Device(at::kCUDA)
                                                              : at::Device(at::kCPU);
  const bool on_cuda = e.device.is_cuda();
  switch (precision) {
    case Precision::fp32:
      e.act = at::kFloat;
      break;
    case Precision::bf16:
      e.act = at::kBFloat16;
      break;
    case Precision::fp8_weights:
      e.act = on_cuda ? at::kBFloat16 : at::kFloat;
      break;
    case Precision::fp8: {
      e.act = on_cuda ? at::kBFloat16 : at::kFloat;
#ifdef SD35_TORCH_SCALED_MM
      if (on_cuda) {
#ifdef SD35_TORCH_CUDA
        const auto* props = at::cuda::getCurrentDeviceProperties();
        if (props->major > 8 || (props->major == 8 && props->minor >= 9)) {
          e.native_fp8 = true;
        } else {
          e.note = fmt::format("native FP8 GEMM needs compute capability >= 8.9; {} is {}.{}",
                               props->name, props->major, props->minor);
        }
#else
        e.native_fp8 = true;
#endif
      } else {
        e.note = "native FP8 GEMM runs on CUDA only (here: CPU)";
      }
#else
      e.note =
          fmt::format("libtorch {} has no at::_scaled_mm with the >= 2.5 signature", TORCH_VERSION);
#endif
      if (!e.native_fp8) e.effective = Precision::fp8_weights;
      break;
    }
  }
  return e;
}

namespace {

// The column-major float8 copy of a block layer (already on the device) that at::_scaled_mm
// takes, when the exec runs native FP8.
void prepare_native_fp8(Linear& l, const Exec& exec) {
#ifdef SD35_TORCH_SCALED_MM
  if (!exec.native_fp8 || !l.fp8 || l.e5m2 || l.weight.dim() != 2) return;
  const auto n = l.weight.size(0), k = l.weight.size(1);
  const auto n_pad = (n + 15) / 16 * 16;
  l.k_pad = (k + 15) / 16 * 16;
  at::Tensor w = l.weight;
  if (n_pad != n || l.k_pad != k) {
    // Pad in the byte view (0x00 is +0 in E4M3): zero rows/columns add nothing.
    w = at::constant_pad_nd(w.view(at::kByte), {0, l.k_pad - k, 0, n_pad - n})
            .view(at::kFloat8_e4m3fn);
  }
  l.w_t = w.contiguous().t();  // [K, N] column-major, as _scaled_mm wants mat2
  l.scale_b = at::full({}, l.scale, at::TensorOptions().dtype(at::kFloat).device(exec.device));
  if (l.bias.defined()) l.bias_bf16 = l.bias.to(at::kBFloat16);
#else
  (void)l, (void)exec;
#endif
}

}  // namespace

void add_layer_tensors(std::vector<at::Tensor*>& tensors, std::initializer_list<Linear*> layers) {
  for (Linear* l : layers) tensors.insert(tensors.end(), {&l->weight, &l->bias});
}

Status prepare_model(Model& model, const Exec& exec) {
  try {
    std::vector<at::Tensor*> tensors{&model.pos_embed};
    add_layer_tensors(tensors, {&model.patch, &model.t1, &model.t2, &model.y1, &model.y2,
                                &model.context_embedder, &model.norm_out, &model.proj_out});
    for (auto& b : model.blocks) {
      for (Linear* l : block_linears(b)) add_layer_tensors(tensors, {l});
      for (at::Tensor* t :
           {&b.norm_q, &b.norm_k, &b.norm_added_q, &b.norm_added_k, &b.norm_q2, &b.norm_k2})
        tensors.push_back(t);
    }
    upload(tensors, exec.device);  // every tensor at once (device_upload.hpp)
    for (auto& b : model.blocks)
      for (Linear* l : block_linears(b)) prepare_native_fp8(*l, exec);
    if (exec.device.is_cuda()) model.files.clear();  // nothing points into the mappings any more
    model.fused = false;
    model.fused_note.clear();
    if (exec.native_fp8) model.fused = fused::prepare(model, exec, model.fused_note);
  } catch (const std::exception& ex) {
    return Error{Errc::internal, "moving the model to the device failed: " + torch_error_text(ex),
                 exec.device.str(),
                 "check free GPU memory (nvidia-smi); if pinned host memory is what ran out, "
                 "SD35_UPLOAD_THREADS=0 copies the weights without staging buffers"};
  }
  return ok();
}

Modulation modulation(const Model& model, const Exec& e, const at::Tensor& timestep,
                      const at::Tensor& pooled) {
  c10::InferenceMode guard;
  at::Tensor tf = timestep_features(timestep.to(e.device)).to(e.act);
  at::Tensor temb = linear(model.t2, at::silu(linear(model.t1, tf, e)), e);
  temb = temb + linear(model.y2, at::silu(linear(model.y1, pooled.to(e.device, e.act), e)), e);
  const at::Tensor silu_temb = at::silu(temb);
  Modulation m;
  std::vector<at::Tensor> parts;
  std::int64_t offset = 0;
  auto add = [&](const Linear& l) -> std::array<std::int64_t, 2> {
    parts.push_back(linear(l, silu_temb, e));
    const std::array<std::int64_t, 2> cols{offset, parts.back().size(1)};
    offset += cols[1];
    return cols;
  };
  for (const auto& b : model.blocks) {
    m.img_cols.push_back(add(b.norm1));
    m.ctx_cols.push_back(add(b.norm1_ctx));
  }
  m.out_cols = add(model.norm_out);
  m.packed = at::cat(parts, 1);
  return m;
}

Result<at::Tensor> forward(const Model& model, const Exec& e, const at::Tensor& latents,
                           const at::Tensor& context, const at::Tensor& pooled,
                           const at::Tensor& timestep) {
  try {
    return forward(model, e, latents, context, modulation(model, e, timestep, pooled));
  } catch (const std::exception& ex) {
    return Error{Errc::internal, "MMDiT modulation failed: " + torch_error_text(ex), e.device.str(),
                 "run with --precision fp32 --device cpu to tell a kernel problem "
                 "from a model problem"};
  }
}

Result<at::Tensor> forward(const Model& model, const Exec& e, const at::Tensor& latents,
                           const at::Tensor& context, const Modulation& mod) {
  const MmditConfig& c = model.config;
  const std::int64_t p = c.patch_size;
  const auto bsz = latents.size(0), hgt = latents.size(2), wid = latents.size(3);
  const std::int64_t hp = hgt / p, wp = wid / p, m = c.pos_embed_max_size;
  if (hgt % p != 0 || wid % p != 0 || hp > m || wp > m)
    return Error{
        Errc::usage,
        fmt::format("latent {}x{} does not fit: sides must be multiples of {} and at most {}", hgt,
                    wid, p, m * p),
        "--latent", "choose a smaller latent"};
  try {
    c10::InferenceMode guard;
    const auto d = static_cast<std::int64_t>(c.inner_dim());
    at::Tensor x = latents.to(e.device, e.act);
    at::Tensor h = at::conv2d(x, model.patch.weight.to(e.act), to_act(model.patch.bias, e), {p, p});
    h = h.flatten(2).transpose(1, 2);
    const auto top = (m - hp) / 2, left = (m - wp) / 2;
    at::Tensor pe = model.pos_embed.view({1, m, m, d})
                        .narrow(1, top, hp)
                        .narrow(2, left, wp)
                        .reshape({1, -1, d});
    h = h + pe.to(e.act);
    at::Tensor ctx = linear(model.context_embedder, context.to(e.device, e.act), e);
    const bool fused = model.fused && e.native_fp8;
    if (fused) {
      h = h.contiguous();  // the fused kernels update h and ctx in place, row by row
      ctx = ctx.contiguous();
    }
    if (fused) {
      fused::blocks_forward(model, h, ctx, mod);
    } else {
      for (std::size_t i = 0; i < model.blocks.size(); ++i)
        block_forward(model.blocks[i], c, h, ctx, mod.img(i), mod.ctx(i), e);
    }
    auto sc = mod.out().chunk(2, 1);  // scale, shift
    h = modulate(layer_norm(h), sc[1], sc[0]);
    h = linear(model.proj_out, h, e);
    h = h.reshape({bsz, hp, wp, p, p, c.out_channels}).permute({0, 5, 1, 3, 2, 4});
    return h.reshape({bsz, c.out_channels, hp * p, wp * p}).to(at::kFloat);
  } catch (const std::exception& ex) {
    return Error{
        Errc::internal, "MMDiT forward failed: " + torch_error_text(ex), e.device.str(),
        "run with --precision fp32 --device cpu to tell a kernel problem from a model problem"};
  }
}

Result<at::Tensor> sample(const Model& model, const Exec& exec, const at::Tensor& noise,
                          const at::Tensor& context, const at::Tensor& pooled,
                          const at::Tensor& uncond_context, const at::Tensor& uncond_pooled,
                          const SamplingSpec& spec) {
  SD35_TRY(Denoised d, denoise(model, exec, noise, at::cat({uncond_context, context}, 0),
                               at::cat({uncond_pooled, pooled}, 0), spec));
  return d.latents;
}

Model synthetic_model(const MmditConfig& c, std::uint64_t seed, bool quantize_fp8,
                      at::Device device, at::ScalarType storage) {
  Model model;
  model.config = c;
  std::mt19937_64 rng(seed);
  const bool big = device.is_cuda();  // benchmarks: fast device RNG; small CPU models: portable RNG
  auto gen = [&](const std::vector<std::int64_t>& shape, float bound) {
    at::Tensor t;
    if (big) {
      t = (torch::rand(shape, at::TensorOptions().device(device).dtype(at::kFloat)) * 2 - 1) *
          bound;
    } else {
      t = torch::empty(shape);
      init_uniform(t, rng, bound);
    }
    return t.to(storage);
  };
  auto lin = [&](std::int64_t out, std::int64_t in, float gain = 1.0F, bool q = false) {
    Linear l;
    l.weight = gen({out, in}, gain * std::sqrt(3.0F / static_cast<float>(in)));
    l.bias = gen({out}, 0.02F);
    if (q && quantize_fp8) quantize_linear(l);
    return l;
  };
  const std::int64_t d = c.inner_dim(), p = c.patch_size, m = c.pos_embed_max_size;
  model.pos_embed = gen({1, m * m, d}, 0.5F);
  model.patch.weight =
      gen({d, c.in_channels, p, p}, std::sqrt(3.0F / static_cast<float>(c.in_channels * p * p)));
  model.patch.bias = gen({d}, 0.02F);
  model.t1 = lin(d, 256);
  model.t2 = lin(d, d);
  model.y1 = lin(d, c.pooled_projection_dim);
  model.y2 = lin(d, d);
  model.context_embedder = lin(d, c.joint_attention_dim);
  model.norm_out = lin(2 * d, d, 0.3F);
  model.proj_out = lin(p * p * c.out_channels, d);
  for (int i = 0; i < c.num_layers; ++i) {
    Block b;
    b.dual = c.dual(i);
    b.pre_only = i == c.num_layers - 1;
    b.norm1 = lin((b.dual ? 9 : 6) * d, d, 0.3F, true);
    b.norm1_ctx = lin((b.pre_only ? 2 : 6) * d, d, 0.3F, true);
    b.qkv = lin(3 * d, d, 1.0F, true);
    b.add_qkv = lin(3 * d, d, 1.0F, true);
    b.to_out = lin(d, d, 1.0F, true);
    b.ff1 = lin(4 * d, d, 1.0F, true);
    b.ff2 = lin(d, 4 * d, 1.0F, true);
    if (!b.pre_only) {
      b.to_add_out = lin(d, d, 1.0F, true);
      b.ffc1 = lin(4 * d, d, 1.0F, true);
      b.ffc2 = lin(d, 4 * d, 1.0F, true);
    }
    if (c.qk_norm) {
      for (at::Tensor* t : {&b.norm_q, &b.norm_k, &b.norm_added_q, &b.norm_added_k})
        *t = gen({c.head_dim}, 0.1F) + 1;
    }
    if (b.dual) {
      b.qkv2 = lin(3 * d, d, 1.0F, true);
      b.to_out2 = lin(d, d, 1.0F, true);
      if (c.qk_norm) {
        b.norm_q2 = gen({c.head_dim}, 0.1F) + 1;
        b.norm_k2 = gen({c.head_dim}, 0.1F) + 1;
      }
    }
    model.blocks.push_back(std::move(b));
  }
  model.info.layout = "synthetic";
  model.info.config = c;
  model.info.config_source = "embedded";
  model.info.weight_bytes = weight_bytes(model);
  return model;
}

}  // namespace sd35::smoke
