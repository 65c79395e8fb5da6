// Loaders of the text encoders and the VAE decoder from an all-in-one (ComfyUI) file or a diffusers
// pipeline folder (PipelineSource). All sizes
// come from the tensors: the same code reads the tiny fixture and the real CLIP-L/G, T5-XXL.
#include <fmt/format.h>

#include <cmath>

#include "smoke/device_upload.hpp"
#include "smoke/pipeline_models.hpp"

namespace sd35::smoke {
namespace {

bool is_fp8(st::Dtype d) {
  return d == st::Dtype::F8_E4M3 || d == st::Dtype::F8_E5M2;
}

Result<float> scalar_value(const WeightSet& w, const std::string& name) {
  SD35_TRY(at::Tensor t, w.tensor(name));
  const std::string where = w.where() + ": " + w.prefix + name;
  if (t.numel() != 1)
    return Error{Errc::unsupported_version,
                 fmt::format("{} has {} elements; only per-tensor FP8 scales are supported", name,
                             t.numel()),
                 where, "block-wise / per-channel scaled text encoders need another loader"};
  const float v = t.to(at::kFloat).item<float>();
  if (!std::isfinite(v) || v <= 0)
    return Error{Errc::bad_input, fmt::format("{} is {}, not a positive finite number", name, v),
                 where, ""};
  return v;
}

// comfy_quant: JSON bytes naming the format; only per-tensor float8 is understood.
Status check_quant_format(const WeightSet& w, const std::string& base) {
  const std::string name = base + ".comfy_quant";
  const auto found = w.find(name);
  if (!found) return ok();
  const auto bytes = found->file->bytes(*found->info);
  auto doc = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  const std::string format = (!doc.is_discarded() && doc.is_object() && doc.contains("format") &&
                              doc["format"].is_string())
                                 ? doc["format"].get<std::string>()
                                 : "<unreadable>";
  if (format != "float8_e4m3fn" && format != "float8_e5m2")
    return Error{Errc::unsupported_version,
                 fmt::format("quantisation format \"{}\" is not supported", format),
                 w.where() + ": " + w.prefix + name,
                 "only per-tensor float8_e4m3fn / float8_e5m2 scaled weights are read"};
  return ok();
}

Result<at::Tensor> vector_of(const WeightSet& w, const std::string& name) {
  return w.tensor(name);
}

Result<ClipLayer> load_clip_layer(const WeightSet& w, int i) {
  const std::string p = fmt::format("text_model.encoder.layers.{}.", i);
  ClipLayer l;
  SD35_TRY(l.q, w.linear(p + "self_attn.q_proj"));
  SD35_TRY(l.k, w.linear(p + "self_attn.k_proj"));
  SD35_TRY(l.v, w.linear(p + "self_attn.v_proj"));
  SD35_TRY(l.out, w.linear(p + "self_attn.out_proj"));
  SD35_TRY(l.fc1, w.linear(p + "mlp.fc1"));
  SD35_TRY(l.fc2, w.linear(p + "mlp.fc2"));
  SD35_TRY(l.ln1_w, vector_of(w, p + "layer_norm1.weight"));
  SD35_TRY(l.ln1_b, vector_of(w, p + "layer_norm1.bias"));
  SD35_TRY(l.ln2_w, vector_of(w, p + "layer_norm2.weight"));
  SD35_TRY(l.ln2_b, vector_of(w, p + "layer_norm2.bias"));
  return l;
}

// The checkpoints carry no head count. The released CLIPs have 64-wide heads (CLIP-L 768 / 12,
// CLIP-G 1280 / 20); the narrow test models of tests/data/sd3-pipeline have their own (CLIP-L
// 32 / 2, CLIP-G 48 / 4). 0: unknown.
int clip_heads(const std::string& name, std::int64_t width) {
  if (width % 64 == 0) return static_cast<int>(width / 64);
  if (name == "clip_l" && width == 32) return 2;
  if (name == "clip_g" && width == 48) return 4;
  return 0;
}

Result<T5Layer> load_t5_layer(const WeightSet& w, int i) {
  const std::string p = fmt::format("encoder.block.{}.layer.", i);
  T5Layer l;
  SD35_TRY(l.q, w.linear(p + "0.SelfAttention.q"));
  SD35_TRY(l.k, w.linear(p + "0.SelfAttention.k"));
  SD35_TRY(l.v, w.linear(p + "0.SelfAttention.v"));
  SD35_TRY(l.o, w.linear(p + "0.SelfAttention.o"));
  SD35_TRY(l.attn_norm, vector_of(w, p + "0.layer_norm.weight"));
  SD35_TRY(l.wi0, w.linear(p + "1.DenseReluDense.wi_0"));
  SD35_TRY(l.wi1, w.linear(p + "1.DenseReluDense.wi_1"));
  SD35_TRY(l.wo, w.linear(p + "1.DenseReluDense.wo"));
  SD35_TRY(l.ffn_norm, vector_of(w, p + "1.layer_norm.weight"));
  return l;
}

Result<VaeResnet> load_resnet(const WeightSet& w, const std::string& p) {
  VaeResnet r;
  SD35_TRY(r.norm1_w, vector_of(w, p + "norm1.weight"));
  SD35_TRY(r.norm1_b, vector_of(w, p + "norm1.bias"));
  SD35_TRY(r.norm2_w, vector_of(w, p + "norm2.weight"));
  SD35_TRY(r.norm2_b, vector_of(w, p + "norm2.bias"));
  SD35_TRY(r.conv1, w.linear(p + "conv1"));
  SD35_TRY(r.conv2, w.linear(p + "conv2"));
  if (w.has(p + "nin_shortcut.weight")) {
    SD35_TRY(r.shortcut, w.linear(p + "nin_shortcut"));
  }
  return r;
}

void add_bytes(std::uint64_t& n, const at::Tensor& t) {
  if (t.defined()) n += static_cast<std::uint64_t>(t.numel()) * t.element_size();
}

void add_bytes(std::uint64_t& n, const Linear& l) {
  add_bytes(n, l.weight);
  add_bytes(n, l.bias);
}

}  // namespace

std::optional<WeightSet::Found> WeightSet::find(const std::string& name) const {
  std::string stored = name;
  if (rename) {
    auto renamed = rename(name);
    if (!renamed) return std::nullopt;
    stored = std::move(*renamed);
  }
  for (const auto& f : files)
    if (const auto* info = f->header().find(prefix + stored)) return Found{f.get(), info};
  return std::nullopt;
}

std::string WeightSet::where() const {
  return files.empty() ? component : files.front()->path().string();
}

bool WeightSet::has(const std::string& name) const {
  return find(name).has_value();
}

std::vector<std::int64_t> WeightSet::shape(const std::string& name) const {
  const auto found = find(name);
  if (!found) return {};
  return {found->info->shape.begin(), found->info->shape.end()};
}

int WeightSet::count(const std::string& name_prefix, const std::string& name_suffix) const {
  int n = 0;
  while (has(fmt::format("{}{}{}", name_prefix, n, name_suffix))) ++n;
  return n;
}

Result<at::Tensor> WeightSet::tensor(const std::string& name) const {
  const auto found = find(name);
  if (!found)
    return Error{Errc::bad_input,
                 fmt::format("{}: tensor {}{} is missing", component, prefix, name), where(),
                 "the checkpoint is incomplete or of another model family"};
  return mapped_tensor(*found->file, *found->info);
}

Result<Linear> WeightSet::linear(const std::string& base) const {
  Linear l;
  SD35_TRY(l.weight, tensor(base + ".weight"));
  if (has(base + ".bias")) {
    SD35_TRY(l.bias, tensor(base + ".bias"));
  }
  const auto dtype = find(base + ".weight")->info->dtype;
  if (!is_fp8(dtype)) return l;
  l.fp8 = true;
  l.e5m2 = dtype == st::Dtype::F8_E5M2;
  SD35_TRY_STATUS(check_quant_format(*this, base));
  for (const char* spelling : {".scale_weight", ".weight_scale"})
    if (has(base + spelling)) {
      SD35_TRY(l.scale, scalar_value(*this, base + spelling));
      return l;
    }
  return Error{Errc::bad_input,
               fmt::format("{}: FP8 weight {}{}.weight has no scale_weight / weight_scale",
                           component, prefix, base),
               where(),
               "the scaled-FP8 file is damaged or in an unknown spelling; using it unscaled would "
               "give noise"};
}

std::string WeightSet::spelling() const {
  bool scale_weight = false, weight_scale = false, comfy = false;
  for (const auto& f : files)
    for (const auto& t : f->header().tensors) {
      if (t.name.rfind(prefix, 0) != 0) continue;
      scale_weight |= t.name.ends_with(".scale_weight");
      weight_scale |= t.name.ends_with(".weight_scale");
      comfy |= t.name.ends_with(".comfy_quant");
    }
  std::string s = scale_weight ? "scale_weight" : (weight_scale ? "weight_scale" : "");
  if (!s.empty() && has("scaled_fp8")) s += "+scaled_fp8";
  if (!s.empty() && comfy) s += "+comfy_quant";
  return s;
}

Result<WeightSet> open_weights(const std::shared_ptr<st::File>& file, const std::string& prefix,
                               const std::string& component) {
  for (const auto& t : file->header().tensors)
    if (t.name.rfind(prefix, 0) == 0) return WeightSet{{file}, prefix, component, {}};
  return Error{Errc::not_found,
               fmt::format("the checkpoint has no {} (no tensor under \"{}\")", component, prefix),
               file->path().string(),
               "use the all-in-one file (sd3.5_large_fp8_scaled.safetensors) that bundles the text "
               "encoders and the VAE"};
}

Result<ClipText> load_clip(const PipelineSource& source, const std::string& name) {
  const std::string label =
      name == "clip_l" ? "CLIP-L text encoder (clip_l)" : "CLIP-G text encoder (clip_g)";
  SD35_TRY(WeightSet w, source.weights(name, label));
  ClipText m;
  m.name = name;
  SD35_TRY(m.token_embedding, w.tensor("text_model.embeddings.token_embedding.weight"));
  SD35_TRY(m.position_embedding, w.tensor("text_model.embeddings.position_embedding.weight"));
  SD35_TRY(m.final_ln_w, w.tensor("text_model.final_layer_norm.weight"));
  SD35_TRY(m.final_ln_b, w.tensor("text_model.final_layer_norm.bias"));
  if (w.has("text_projection.weight")) {
    SD35_TRY(m.projection, w.linear("text_projection"));
  } else {
    // ComfyUI's CLIP-L initialises a missing projection to the identity; do the same.
    m.projection.weight = torch::eye(m.token_embedding.size(1));
  }
  const int n = w.count("text_model.encoder.layers.", ".layer_norm1.weight");
  if (n < 2)
    return Error{Errc::bad_input, fmt::format("{} has {} layers (needs >= 2)", label, n), w.where(),
                 "the penultimate hidden state needs two layers at least"};
  for (int i = 0; i < n; ++i) {
    SD35_TRY(ClipLayer l, load_clip_layer(w, i));
    m.layers.push_back(std::move(l));
  }
  m.heads = clip_heads(name, m.token_embedding.size(1));
  if (m.heads == 0)
    return Error{Errc::unsupported_version,
                 fmt::format("{} is {} wide: no known head count for that width", label,
                             m.token_embedding.size(1)),
                 w.where(), "SD3's CLIP-L is 768 wide and CLIP-G 1280"};
  // SD3's CLIP-L is OpenAI's (quick_gelu); CLIP-G is OpenCLIP bigG (exact gelu).
  m.quick_gelu = name == "clip_l";
  return m;
}

Result<WeightSet> t5_weights(const PipelineSource& source) {
  return source.weights("t5xxl", "T5-XXL text encoder (t5xxl)");
}

Result<T5Encoder> load_t5(const PipelineSource& source) {
  SD35_TRY(WeightSet w, t5_weights(source));
  T5Encoder m;
  SD35_TRY(m.embedding, w.has("shared.weight") ? w.tensor("shared.weight")
                                               : w.tensor("encoder.embed_tokens.weight"));
  SD35_TRY(m.relative_bias,
           w.tensor("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"));
  SD35_TRY(m.final_norm, w.tensor("encoder.final_layer_norm.weight"));
  const int n = w.count("encoder.block.", ".layer.0.layer_norm.weight");
  for (int i = 0; i < n; ++i) {
    SD35_TRY(T5Layer l, load_t5_layer(w, i));
    m.layers.push_back(std::move(l));
  }
  if (m.layers.empty())
    return Error{Errc::bad_input, "T5-XXL text encoder has no encoder blocks", w.where(),
                 "the checkpoint is incomplete or of another model family"};
  m.heads = static_cast<int>(m.relative_bias.size(1));
  m.fp8_spelling = w.spelling();
  return m;
}

Result<VaeDecoder> load_vae(const PipelineSource& source) {
  SD35_TRY(WeightSet w, source.weights("vae", "VAE decoder"));
  VaeDecoder m;
  const std::string d = "decoder.";
  SD35_TRY(m.conv_in, w.linear(d + "conv_in"));
  SD35_TRY(m.mid1, load_resnet(w, d + "mid.block_1."));
  SD35_TRY(m.mid2, load_resnet(w, d + "mid.block_2."));
  SD35_TRY(m.attn_norm_w, vector_of(w, d + "mid.attn_1.norm.weight"));
  SD35_TRY(m.attn_norm_b, vector_of(w, d + "mid.attn_1.norm.bias"));
  SD35_TRY(m.attn_q, w.linear(d + "mid.attn_1.q"));
  SD35_TRY(m.attn_k, w.linear(d + "mid.attn_1.k"));
  SD35_TRY(m.attn_v, w.linear(d + "mid.attn_1.v"));
  SD35_TRY(m.attn_out, w.linear(d + "mid.attn_1.proj_out"));
  // LDM's attention projections are 1x1 convs, diffusers' Linear layers: the same numbers.
  for (Linear* l : {&m.attn_q, &m.attn_k, &m.attn_v, &m.attn_out})
    if (l->weight.dim() == 2)
      l->weight = l->weight.view({l->weight.size(0), l->weight.size(1), 1, 1});
  SD35_TRY(m.norm_out_w, vector_of(w, d + "norm_out.weight"));
  SD35_TRY(m.norm_out_b, vector_of(w, d + "norm_out.bias"));
  SD35_TRY(m.conv_out, w.linear(d + "conv_out"));
  if (w.has("post_quant_conv.weight")) {
    SD35_TRY(m.post_quant_conv, w.linear("post_quant_conv"));
  }
  const int levels = w.count(d + "up.", ".block.0.conv1.weight");
  if (levels == 0)
    return Error{Errc::bad_input, "VAE decoder has no up blocks (decoder.up.N / up_blocks.N)",
                 w.where(),
                 "the VAE must be in LDM names (first_stage_model.*) or diffusers AutoencoderKL "
                 "names (vae/)"};
  for (int i = 0; i < levels; ++i) {
    VaeDecoder::Level level;
    const std::string p = fmt::format("{}up.{}.", d, i);
    const int blocks = w.count(p + "block.", ".conv1.weight");
    for (int j = 0; j < blocks; ++j) {
      SD35_TRY(VaeResnet r, load_resnet(w, fmt::format("{}block.{}.", p, j)));
      level.blocks.push_back(std::move(r));
    }
    if (w.has(p + "upsample.conv.weight")) {
      SD35_TRY(level.upsample, w.linear(p + "upsample.conv"));
    }
    m.levels.push_back(std::move(level));
  }
  if (source.scaling_factor) m.scaling_factor = *source.scaling_factor;
  if (source.shift_factor) m.shift_factor = *source.shift_factor;
  return m;
}

namespace {

// On CUDA the tensors every forward casts to one dtype (the text encoders' F16 weights,
// embeddings, norms and biases to the compute dtype; the VAE's GroupNorm weights to float32)
// are cast once here: the same values, and ~700 casting kernels fewer per encode. FP8 weights
// keep their byte (dequantize() scales them per use).
void cast_once(const std::vector<at::Tensor*>& ts, const Exec& e, at::ScalarType dtype) {
  if (!e.device.is_cuda()) return;
  for (at::Tensor* t : ts)
    if (t->defined() && t->is_floating_point() && t->element_size() > 1 &&
        t->scalar_type() != dtype)
      *t = t->to(dtype);
}

}  // namespace

// Each model's tensors go in one upload (device_upload.hpp). Nothing here takes the native FP8
// GEMM, so moving the weights (and casting the ones kept in a wider type once) is all their
// preparation.
void to_device(ClipText& m, const Exec& e) {
  std::vector<at::Tensor*> ts{&m.token_embedding, &m.position_embedding, &m.final_ln_w,
                              &m.final_ln_b};
  add_layer_tensors(ts, {&m.projection});
  for (auto& l : m.layers) {
    add_layer_tensors(ts, {&l.q, &l.k, &l.v, &l.out, &l.fc1, &l.fc2});
    ts.insert(ts.end(), {&l.ln1_w, &l.ln1_b, &l.ln2_w, &l.ln2_b});
  }
  upload(ts, e.device);
  cast_once(ts, e, e.act);
}

void to_device(T5Encoder& m, const Exec& e) {
  std::vector<at::Tensor*> ts{&m.embedding, &m.relative_bias, &m.final_norm};
  for (auto& l : m.layers) {
    // T5's activations have outliers far beyond what one per-tensor E4M3 scale keeps: its FP8
    // weights are dequantised per layer (never the native FP8 GEMM).
    add_layer_tensors(ts, {&l.q, &l.k, &l.v, &l.o, &l.wi0, &l.wi1, &l.wo});
    ts.insert(ts.end(), {&l.attn_norm, &l.ffn_norm});
  }
  upload(ts, e.device);
  std::erase(ts, &m.relative_bias);  // read in float32 (position_bias)
  cast_once(ts, e, e.act);
}

void to_device(VaeDecoder& m, const Exec& e) {
  std::vector<at::Tensor*> norms{&m.attn_norm_w, &m.attn_norm_b, &m.norm_out_w, &m.norm_out_b};
  std::vector<at::Tensor*> ts;
  auto resnet = [&](VaeResnet& r) {
    norms.insert(norms.end(), {&r.norm1_w, &r.norm1_b, &r.norm2_w, &r.norm2_b});
    add_layer_tensors(ts, {&r.conv1, &r.conv2, &r.shortcut});
  };
  add_layer_tensors(ts, {&m.conv_in, &m.conv_out, &m.attn_q, &m.attn_k, &m.attn_v, &m.attn_out,
                         &m.post_quant_conv});
  resnet(m.mid1);
  resnet(m.mid2);
  for (auto& level : m.levels) {
    for (auto& r : level.blocks) resnet(r);
    add_layer_tensors(ts, {&level.upsample});
  }
  ts.insert(ts.end(), norms.begin(), norms.end());
  upload(ts, e.device);
  cast_once(norms, e, at::kFloat);  // GroupNorm takes float32 weights (vae_decoder.cpp)
}

std::uint64_t weight_bytes(const ClipText& m) {
  std::uint64_t n = 0;
  for (const at::Tensor* t : {&m.token_embedding, &m.position_embedding}) add_bytes(n, *t);
  for (const auto& l : m.layers)
    for (const Linear* lin : {&l.q, &l.k, &l.v, &l.out, &l.fc1, &l.fc2}) add_bytes(n, *lin);
  return n;
}

std::uint64_t weight_bytes(const T5Encoder& m) {
  std::uint64_t n = 0;
  add_bytes(n, m.embedding);
  for (const auto& l : m.layers)
    for (const Linear* lin : {&l.q, &l.k, &l.v, &l.o, &l.wi0, &l.wi1, &l.wo}) add_bytes(n, *lin);
  return n;
}

std::uint64_t weight_bytes(const VaeDecoder& m) {
  std::uint64_t n = 0;
  auto resnet = [&](const VaeResnet& r) {
    for (const Linear* l : {&r.conv1, &r.conv2, &r.shortcut}) add_bytes(n, *l);
  };
  for (const Linear* l : {&m.conv_in, &m.conv_out, &m.attn_q, &m.attn_k, &m.attn_v, &m.attn_out})
    add_bytes(n, *l);
  resnet(m.mid1);
  resnet(m.mid2);
  for (const auto& level : m.levels) {
    for (const auto& r : level.blocks) resnet(r);
    add_bytes(n, level.upsample);
  }
  return n;
}

}  // namespace sd35::smoke
