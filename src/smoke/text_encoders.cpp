// CLIP text transformer (transformers CLIPTextModelWithProjection) and T5 v1.1 encoder
// (T5EncoderModel), the maths of transformers' modeling_clip.py / modeling_t5.py.
#include <cmath>

#include "smoke/pipeline_models.hpp"

namespace sd35::smoke {
namespace {

constexpr double kClipLayerNormEps = 1e-5;
constexpr double kT5NormEps = 1e-6;
// T5 v1.1's relative_attention_max_distance: a config value the checkpoint does not carry.
constexpr std::int64_t kT5MaxDistance = 128;

at::Tensor act(const at::Tensor& t, const Exec& e) {
  return t.to(e.act);
}

// Softmax attention over [B, H, L, Dh] with an additive bias [.., L, L]; float32 softmax as
// transformers does for T5, so bf16 scores do not lose the small probabilities.
at::Tensor biased_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& bias, double scale) {
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat);
  if (scale != 1.0) scores = scores * scale;
  scores = scores + bias;
  return at::matmul(at::softmax(scores, -1).to(v.scalar_type()), v);
}

at::Tensor split_heads(const at::Tensor& x, int heads) {  // [B, L, H*Dh] -> [B, H, L, Dh]
  return x.view({x.size(0), x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
}

at::Tensor merge_heads(const at::Tensor& o) {  // [B, H, L, Dh] -> [B, L, H*Dh]
  return o.transpose(1, 2).reshape({o.size(0), o.size(2), o.size(1) * o.size(3)});
}

at::Tensor clip_layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                           const Exec& e) {
  return at::layer_norm(x, {x.size(-1)}, act(w, e), act(b, e), kClipLayerNormEps);
}

at::Tensor clip_mlp(const ClipText& m, const ClipLayer& l, const at::Tensor& x, const Exec& e) {
  at::Tensor h = apply_linear(l.fc1, x, e);
  h = m.quick_gelu ? h * at::sigmoid(1.702 * h) : at::gelu(h);
  return apply_linear(l.fc2, h, e);
}

at::Tensor clip_layer(const ClipText& m, const ClipLayer& l, const at::Tensor& h,
                      const at::Tensor& causal, const Exec& e) {
  const at::Tensor x = clip_layer_norm(h, l.ln1_w, l.ln1_b, e);
  const at::Tensor q = split_heads(apply_linear(l.q, x, e), m.heads);
  const at::Tensor k = split_heads(apply_linear(l.k, x, e), m.heads);
  const at::Tensor v = split_heads(apply_linear(l.v, x, e), m.heads);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const at::Tensor attn = merge_heads(biased_attention(q, k, v, causal, scale));
  const at::Tensor mid = h + apply_linear(l.out, attn, e);
  return mid + clip_mlp(m, l, clip_layer_norm(mid, l.ln2_w, l.ln2_b, e), e);
}

at::Tensor t5_rms_norm(const at::Tensor& x, const at::Tensor& w, const Exec& e) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + kT5NormEps);
  return act(w, e) * normed.to(e.act);
}

// transformers T5Attention._relative_position_bucket, bidirectional.
at::Tensor relative_buckets(std::int64_t length, std::int64_t num_buckets, const at::Device& dev) {
  const auto opts = at::TensorOptions().dtype(at::kLong).device(dev);
  const at::Tensor pos = torch::arange(length, opts);
  const at::Tensor rel = pos.unsqueeze(0) - pos.unsqueeze(1);  // memory - context
  const std::int64_t half = num_buckets / 2;
  const std::int64_t max_exact = half / 2;
  at::Tensor buckets = (rel > 0).to(at::kLong) * half;
  const at::Tensor dist = rel.abs();
  const at::Tensor far =
      (at::log(dist.clamp_min(1).to(at::kFloat) / static_cast<float>(max_exact)) /
       std::log(static_cast<double>(kT5MaxDistance) / static_cast<double>(max_exact)) *
       static_cast<double>(half - max_exact))
          .to(at::kLong) +
      max_exact;
  return buckets + at::where(dist < max_exact, dist, far.clamp_max(half - 1));
}

// [1, H, L, L] position bias of block 0, shared by every block.
at::Tensor position_bias(const T5Encoder& m, std::int64_t length) {
  const at::Tensor buckets =
      relative_buckets(length, m.relative_bias.size(0), m.relative_bias.device());
  return at::embedding(m.relative_bias.to(at::kFloat), buckets).permute({2, 0, 1}).unsqueeze(0);
}

at::Tensor t5_layer(const T5Encoder& m, const T5Layer& l, const at::Tensor& h,
                    const at::Tensor& bias, const Exec& e) {
  const at::Tensor x = t5_rms_norm(h, l.attn_norm, e);
  const at::Tensor q = split_heads(apply_linear(l.q, x, e), m.heads);
  const at::Tensor k = split_heads(apply_linear(l.k, x, e), m.heads);
  const at::Tensor v = split_heads(apply_linear(l.v, x, e), m.heads);
  // T5 folds the 1/sqrt(d) into its initialisation: no scaling of the scores.
  const at::Tensor mid =
      h + apply_linear(l.o, merge_heads(biased_attention(q, k, v, bias, 1.0)), e);
  const at::Tensor y = t5_rms_norm(mid, l.ffn_norm, e);
  const at::Tensor gated = at::gelu(apply_linear(l.wi0, y, e), "tanh") * apply_linear(l.wi1, y, e);
  return mid + apply_linear(l.wo, gated, e);
}

at::Tensor t5_embed(const T5Encoder& m, const at::Tensor& ids, const Exec& e) {
  return at::embedding(act(m.embedding, e), ids.to(e.device, at::kLong));
}

}  // namespace

ClipOutput encode_clip(const ClipText& m, const at::Tensor& ids, const Exec& e) {
  c10::InferenceMode guard;
  const at::Tensor tokens = ids.to(e.device, at::kLong);
  const std::int64_t length = tokens.size(1);
  at::Tensor h = at::embedding(act(m.token_embedding, e), tokens) +
                 act(m.position_embedding, e).narrow(0, 0, length).unsqueeze(0);
  const at::Tensor causal =
      at::full({length, length}, -INFINITY, at::TensorOptions().device(e.device)).triu(1);
  ClipOutput out;
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    if (i + 1 == m.layers.size()) out.penultimate = h.to(at::kFloat);
    h = clip_layer(m, m.layers[i], h, causal, e);
  }
  const at::Tensor last = clip_layer_norm(h, m.final_ln_w, m.final_ln_b, e);
  // The end token is the highest id (transformers: the first position of the argmax).
  const at::Tensor end = tokens.argmax(-1);
  const at::Tensor rows = torch::arange(tokens.size(0), tokens.options());
  out.pooled = apply_linear(m.projection, last.index({rows, end}), e).to(at::kFloat);
  return out;
}

at::Tensor encode_t5(const T5Encoder& m, const at::Tensor& ids, const Exec& e) {
  c10::InferenceMode guard;
  at::Tensor h = t5_embed(m, ids, e);
  const at::Tensor bias = position_bias(m, h.size(1));
  for (const auto& l : m.layers) h = t5_layer(m, l, h, bias, e);
  return t5_rms_norm(h, m.final_norm, e).to(at::kFloat);
}

at::Tensor t5_first_block(const T5Encoder& m, const at::Tensor& ids, const Exec& e) {
  c10::InferenceMode guard;
  const at::Tensor h = t5_embed(m, ids, e);
  return (t5_layer(m, m.layers.front(), h, position_bias(m, h.size(1)), e) - h).to(at::kFloat);
}

}  // namespace sd35::smoke
