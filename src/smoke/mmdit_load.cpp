// Checkpoint loaders (diffusers dir / single file / shards, SAI single file, ComfyUI scaled FP8 in
// both spellings) and the deterministic synthetic model. Weights keep their stored precision.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "model/layout.hpp"
#include "smoke/fp8_codec.hpp"
#include "smoke/mmdit_fused.hpp"
#include "smoke/mmdit_model.hpp"
#include "util/fs.hpp"

namespace sd35::smoke {
namespace stdfs = std::filesystem;
namespace {

struct Source {
  std::shared_ptr<st::File> file;
  const st::TensorInfo* info = nullptr;
};

// Everything read from the checkpoint's headers, in internal names.
struct Catalog {
  std::map<std::string, Source> tensors;                      // internal name -> tensor
  std::map<std::string, std::array<Source, 3>> qkv_parts;     // diffusers to_q/k/v -> fused name
  std::map<std::string, Source> weight_scales, input_scales;  // by internal base name
  std::map<std::string, std::string> quant_formats;           // base -> "float8_e4m3fn" ...
  std::map<std::string, std::array<Source, 3>> qkv_part_scales;
  bool sai = false;
  bool marker = false;
  std::string spelling_scale;  // "scale_weight" or "weight_scale"
  bool comfy_quant = false, header_quant = false;
};

std::optional<at::ScalarType> torch_dtype(st::Dtype d) {
  switch (d) {
    case st::Dtype::F32:
      return at::kFloat;
    case st::Dtype::BF16:
      return at::kBFloat16;
    case st::Dtype::F16:
      return at::kHalf;
    case st::Dtype::F8_E4M3:
    case st::Dtype::F8_E5M2:
    case st::Dtype::U8:
      return at::kByte;
    default:
      return std::nullopt;
  }
}

Result<at::Tensor> to_tensor(const Source& s) {
  return mapped_tensor(*s.file, *s.info);
}

Result<float> read_scalar(const Source& s, std::string_view what) {
  const auto& info = *s.info;
  const auto where = fmt::format("{}: {}", s.file->path().string(), info.name);
  if (info.numel() != 1)
    return Error{
        Errc::unsupported_version,
        fmt::format("{} has {} elements; only per-tensor (scalar) FP8 scales are supported", what,
                    info.numel()),
        where, "block-wise / per-channel scaled checkpoints need another loader"};
  SD35_TRY(at::Tensor t, to_tensor(s));
  const float v = t.to(at::kFloat).item<float>();
  if (!std::isfinite(v) || v <= 0)
    return Error{Errc::bad_input, fmt::format("{} is {}, not a positive finite number", what, v),
                 where, ""};
  return v;
}

Status read_catalog_file(const std::shared_ptr<st::File>& file, Catalog& cat, bool sai) {
  const auto& hdr = file->header();
  for (const auto& t : hdr.tensors) {
    std::string_view key = t.name;
    if (sai) {
      const auto mmdit_key = model::sai_mmdit_key(key);
      if (!mmdit_key) continue;  // text encoders, VAE: never touched
      key = *mmdit_key;
    }
    auto mapped = sai ? map_sai_name(key) : map_diffusers_name(key);
    if (!mapped) continue;
    Source src{file, &t};
    using Role = MappedName::Role;
    std::string_view leaf = key.substr(key.rfind('.') + 1);
    switch (mapped->role) {
      case Role::marker:
        cat.marker = true;
        break;
      case Role::weight_scale:
        cat.spelling_scale = std::string(leaf);
        if (mapped->qkv_part >= 0)
          cat.qkv_part_scales[mapped->internal][static_cast<std::size_t>(mapped->qkv_part)] = src;
        else
          cat.weight_scales[mapped->internal] = src;
        break;
      case Role::input_scale:
        if (mapped->qkv_part < 0) cat.input_scales[mapped->internal] = src;
        break;
      case Role::quant_config: {
        cat.comfy_quant = true;
        const auto bytes = file->bytes(t);
        auto doc = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
        if (doc.is_discarded() || !doc.is_object() || !doc.contains("format") ||
            !doc["format"].is_string())
          return Error{Errc::bad_input,
                       "comfy_quant does not hold a JSON object with a \"format\" string",
                       fmt::format("{}: {}", file->path().string(), t.name), ""};
        cat.quant_formats[mapped->internal] = doc["format"].get<std::string>();
        break;
      }
      case Role::ignored:
        break;
      case Role::tensor:
        if (mapped->qkv_part >= 0)
          cat.qkv_parts[mapped->internal][static_cast<std::size_t>(mapped->qkv_part)] = src;
        else
          cat.tensors[mapped->internal] = src;
        break;
    }
  }
  if (auto it = hdr.metadata.find("_quantization_metadata"); it != hdr.metadata.end()) {
    auto doc = nlohmann::json::parse(it->second, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("layers") ||
        !doc["layers"].is_object())
      return Error{Errc::bad_input,
                   "__metadata__._quantization_metadata is not {\"layers\": {...}} JSON",
                   file->path().string(), ""};
    cat.header_quant = true;
    for (auto it2 = doc["layers"].begin(); it2 != doc["layers"].end(); ++it2) {
      const std::string& name = it2.key();
      const nlohmann::json& layer = it2.value();
      std::string_view k = name;
      if (k.substr(0, model::kSaiPrefix.size()) == model::kSaiPrefix)
        k.remove_prefix(model::kSaiPrefix.size());
      auto m = sai ? map_sai_name(std::string(k) + ".weight")
                   : map_diffusers_name(std::string(k) + ".weight");
      if (m && layer.is_object() && layer.contains("format") && layer["format"].is_string()) {
        auto base = m->internal.substr(0, m->internal.size() - 7);
        cat.quant_formats[base] = layer["format"].get<std::string>();
      }
    }
  }
  return ok();
}

// Which files make up the checkpoint, and the config.json beside them if any.
Status resolve_files(const std::string& path, std::vector<stdfs::path>& files,
                     std::optional<stdfs::path>& config) {
  stdfs::path p(path);
  std::error_code ec;
  if (stdfs::is_directory(p, ec)) {
    if (stdfs::is_directory(p / "transformer", ec)) p /= "transformer";
    if (stdfs::exists(p / "config.json", ec)) config = p / "config.json";
    if (stdfs::exists(p / "diffusion_pytorch_model.safetensors.index.json", ec)) {
      p /= "diffusion_pytorch_model.safetensors.index.json";
    } else if (stdfs::exists(p / "diffusion_pytorch_model.safetensors", ec)) {
      files.push_back(p / "diffusion_pytorch_model.safetensors");
      return ok();
    } else {
      for (const auto& e : stdfs::directory_iterator(p, ec))
        if (e.path().extension() == ".safetensors") files.push_back(e.path());
      std::sort(files.begin(), files.end());
      if (files.empty())
        return Error{Errc::missing_file, "no .safetensors file in the checkpoint folder",
                     p.string(),
                     "point --checkpoint at a diffusers transformer folder or a .safetensors file"};
      return ok();
    }
  }
  if (!stdfs::exists(p, ec))
    return Error{Errc::missing_file, "checkpoint not found", p.string(), "check --checkpoint"};
  const std::string name = p.filename().string();
  if (name.size() > 11 && name.substr(name.size() - 11) == ".index.json") {
    SD35_TRY(auto text, fs::read_file(p));
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.contains("weight_map") || !doc["weight_map"].is_object())
      return Error{Errc::bad_input, "shard index has no \"weight_map\" object", p.string(), ""};
    std::set<std::string> shards;
    for (const auto& entry : doc["weight_map"])
      if (entry.is_string()) shards.insert(entry.get<std::string>());
    for (const auto& s : shards) {
      if (s.find('/') != std::string::npos || s.find("..") != std::string::npos)
        return Error{Errc::bad_input, fmt::format("shard name \"{}\" leaves the folder", s),
                     p.string(), ""};
      files.push_back(p.parent_path() / s);
    }
    if (!config && stdfs::exists(p.parent_path() / "config.json", ec))
      config = p.parent_path() / "config.json";
    return ok();
  }
  files.push_back(p);
  return ok();
}

Status check_shape(const at::Tensor& t, std::vector<std::int64_t> want, const std::string& name) {
  if (t.sizes().vec() != want)
    return Error{Errc::bad_input,
                 fmt::format("tensor {} has shape [{}], the architecture needs [{}]", name,
                             fmt::join(t.sizes().vec(), ", "), fmt::join(want, ", ")),
                 name, "the checkpoint does not match its config (or the inferred architecture)"};
  return ok();
}

// Swaps the two halves along dim 0 (SAI (shift, scale) <-> diffusers (scale, shift)).
at::Tensor swap_halves(const at::Tensor& t) {
  auto parts = t.chunk(2, 0);
  return at::cat({parts[1], parts[0]}, 0);
}

struct Builder {
  Catalog& cat;
  const MmditConfig& cfg;
  int* fp8_count;

  Result<at::Tensor> tensor(const std::string& name, std::vector<std::int64_t> shape,
                            bool required = true) {
    auto it = cat.tensors.find(name);
    if (it == cat.tensors.end()) {
      if (!required) return at::Tensor();
      return Error{Errc::bad_input, fmt::format("tensor {} is missing", name), name,
                   "the checkpoint is incomplete or not an SD3/SD3.5 MMDiT"};
    }
    SD35_TRY(at::Tensor t, to_tensor(it->second));
    SD35_TRY_STATUS(check_shape(t, std::move(shape), name));
    return t;
  }

  Status fill_fp8(Linear& l, const std::string& base, const Source& w) {
    l.fp8 = true;
    l.e5m2 = w.info->dtype == st::Dtype::F8_E5M2;
    auto fmt_it = cat.quant_formats.find(base);
    if (fmt_it != cat.quant_formats.end() && fmt_it->second != "float8_e4m3fn" &&
        fmt_it->second != "float8_e5m2")
      return Error{Errc::unsupported_version,
                   fmt::format("quantisation format \"{}\" is not supported", fmt_it->second), base,
                   "only per-tensor float8_e4m3fn / float8_e5m2 scaled weights are read"};
    auto s = cat.weight_scales.find(base);
    if (s == cat.weight_scales.end())
      return Error{Errc::bad_input,
                   fmt::format("FP8 weight {}.weight has no scale_weight / weight_scale", base),
                   base,
                   "the scaled-FP8 file is damaged or in an unknown spelling; using it unscaled "
                   "would give noise"};
    SD35_TRY(l.scale, read_scalar(s->second, base + " weight scale"));
    if (auto in = cat.input_scales.find(base); in != cat.input_scales.end()) {
      SD35_TRY(l.input_scale, read_scalar(in->second, base + " input scale"));
    }
    ++*fp8_count;
    return ok();
  }

  Result<Linear> linear(const std::string& base, std::int64_t out, std::int64_t in,
                        bool swap = false, bool required = true) {
    Linear l;
    const std::string wname = base + ".weight";
    auto parts = cat.qkv_parts.find(wname);
    if (parts != cat.qkv_parts.end()) return fused(base, parts->second, out, in);
    auto it = cat.tensors.find(wname);
    if (it == cat.tensors.end()) {
      if (!required) return l;
      return Error{Errc::bad_input, fmt::format("tensor {} is missing", wname), wname,
                   "the checkpoint is incomplete or not an SD3/SD3.5 MMDiT"};
    }
    SD35_TRY(l.weight, tensor(wname, {out, in}));
    const auto dt = it->second.info->dtype;
    if (dt == st::Dtype::F8_E4M3 || dt == st::Dtype::F8_E5M2)
      SD35_TRY_STATUS(fill_fp8(l, base, it->second));
    SD35_TRY(l.bias, tensor(base + ".bias", {out}, false));
    if (swap) {
      l.weight = swap_halves(l.weight);
      if (l.bias.defined()) l.bias = swap_halves(l.bias);
    }
    return l;
  }

  // diffusers to_q/to_k/to_v -> one qkv Linear (rows stacked).
  Result<Linear> fused(const std::string& base, const std::array<Source, 3>& parts,
                       std::int64_t out, std::int64_t in) {
    std::vector<Linear> ls(3);
    for (std::size_t i = 0; i < 3; ++i) {
      if (!parts[i].info)
        return Error{Errc::bad_input, fmt::format("{}: one of q/k/v projections is missing", base),
                     base, ""};
      SD35_TRY(ls[i].weight, to_tensor(parts[i]));
      SD35_TRY_STATUS(check_shape(ls[i].weight, {out / 3, in}, parts[i].info->name));
      const auto dt = parts[i].info->dtype;
      if (dt == st::Dtype::F8_E4M3 || dt == st::Dtype::F8_E5M2) {
        auto sc = cat.qkv_part_scales.find(base);
        if (sc == cat.qkv_part_scales.end() || !sc->second[i].info)
          return Error{Errc::bad_input,
                       fmt::format("FP8 weight {} has no weight_scale", parts[i].info->name),
                       parts[i].info->name,
                       "the scaled-FP8 file is damaged or in an unknown spelling"};
        ls[i].fp8 = true;
        SD35_TRY(ls[i].scale, read_scalar(sc->second[i], parts[i].info->name));
      }
      std::string bias_name = parts[i].info->name;
      bias_name.replace(bias_name.size() - 6, 6, "bias");
      auto b = cat.qkv_parts.find(base + ".bias");
      if (b != cat.qkv_parts.end() && b->second[i].info) {
        SD35_TRY(ls[i].bias, to_tensor(b->second[i]));
        SD35_TRY_STATUS(check_shape(ls[i].bias, {out / 3}, bias_name));
      }
    }
    Linear l;
    const bool all_fp8_same_scale = ls[0].fp8 && ls[1].fp8 && ls[2].fp8 &&
                                    ls[0].scale == ls[1].scale && ls[1].scale == ls[2].scale;
    if (all_fp8_same_scale) {
      l.weight = at::cat({ls[0].weight, ls[1].weight, ls[2].weight}, 0);
      l.fp8 = true;
      l.scale = ls[0].scale;
      ++*fp8_count;
    } else if (ls[0].fp8 || ls[1].fp8 || ls[2].fp8) {
      // Different per-tensor scales: fuse in float32 and requantise with one scale (tiny extra
      // error).
      l.weight = at::cat({dequantize(ls[0], at::kFloat), dequantize(ls[1], at::kFloat),
                          dequantize(ls[2], at::kFloat)},
                         0);
      quantize_linear(l);
      ++*fp8_count;
    } else {
      l.weight = at::cat({ls[0].weight, ls[1].weight, ls[2].weight}, 0);
    }
    if (ls[0].bias.defined()) l.bias = at::cat({ls[0].bias, ls[1].bias, ls[2].bias}, 0);
    return l;
  }
};

}  // namespace

std::string torch_error_text(const std::exception& e) {
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  return e.what();
}

// A CPU tensor over the mapped bytes: zero-copy when aligned, else one copy.
Result<at::Tensor> mapped_tensor(const st::File& file, const st::TensorInfo& info) {
  auto dt = torch_dtype(info.dtype);
  if (!dt)
    return Error{Errc::unsupported_version,
                 fmt::format("tensor dtype {} is not supported", st::dtype_name(info.dtype)),
                 fmt::format("{}: {}", file.path().string(), info.name),
                 "SD3 checkpoints use BF16/F16/F32/F8"};
  std::vector<std::int64_t> shape(info.shape.begin(), info.shape.end());
  const std::string_view bytes = file.bytes(info);
  auto* ptr = const_cast<char*>(
      bytes.data());  // NOLINT: read-only mapping; weights are never written in place
  const auto elem = static_cast<std::uintptr_t>(st::dtype_size(info.dtype));
  at::Tensor t;
  if (reinterpret_cast<std::uintptr_t>(ptr) % elem == 0) {
    t = torch::from_blob(ptr, shape, at::TensorOptions().dtype(*dt));
  } else {
    t = torch::empty(shape, at::TensorOptions().dtype(*dt));
    std::memcpy(t.data_ptr(), ptr, bytes.size());
  }
#ifdef SD35_TORCH_FLOAT8
  if (info.dtype == st::Dtype::F8_E4M3) t = t.view(at::kFloat8_e4m3fn);
  if (info.dtype == st::Dtype::F8_E5M2) t = t.view(at::kFloat8_e5m2);
#endif
  return t;
}

void quantize_linear(Linear& l) {
  at::Tensor w = l.weight.to(at::kFloat);
  const float amax = w.abs().max().item<float>();
  l.scale = fp8::e4m3_scale_for_absmax(amax);
  at::Tensor scaled = (w / l.scale).contiguous();
#ifdef SD35_TORCH_FLOAT8
  l.weight = scaled.to(at::kFloat8_e4m3fn);
#else
  at::Tensor cpu = scaled.cpu().contiguous();
  at::Tensor q = torch::empty(cpu.sizes(), at::TensorOptions().dtype(at::kByte));
  fp8::encode_e4m3fn(
      std::span<const float>(cpu.data_ptr<float>(), static_cast<std::size_t>(cpu.numel())),
      std::span<std::uint8_t>(q.data_ptr<std::uint8_t>(), static_cast<std::size_t>(q.numel())));
  l.weight = q.to(l.weight.device());
#endif
  l.fp8 = true;
  l.e5m2 = false;
}

at::Tensor dequantize(const Linear& l, at::ScalarType dtype) {
  if (!l.fp8) return l.weight.to(dtype);
#ifdef SD35_TORCH_FLOAT8
  if (dtype == at::kFloat) return l.weight.to(at::kFloat).mul_(l.scale);
  // One pass of our kernel on CUDA (T5-XXL's 4.8 G weights are dequantised every encode).
  if (dtype == at::kBFloat16 && !l.e5m2 && fused::dequant_ready(l.weight))
    return fused::dequantize_e4m3(l.weight, l.scale);
  return l.weight.to(dtype).mul_(l.scale);  // E4M3/E5M2 values are exact in BF16/F16
#else
  static const at::Tensor lut_e4m3 = [] {
    auto t = torch::empty({256}, at::TensorOptions().dtype(at::kFloat));
    for (int c = 0; c < 256; ++c) t[c] = fp8::decode_e4m3fn(static_cast<std::uint8_t>(c));
    return t;
  }();
  static const at::Tensor lut_e5m2 = [] {
    auto t = torch::empty({256}, at::TensorOptions().dtype(at::kFloat));
    for (int c = 0; c < 256; ++c) t[c] = fp8::decode_e5m2(static_cast<std::uint8_t>(c));
    return t;
  }();
  const at::Tensor& lut = l.e5m2 ? lut_e5m2 : lut_e4m3;
  at::Tensor idx = l.weight.reshape({-1}).to(at::kLong);
  return lut.to(l.weight.device())
      .index_select(0, idx)
      .view(l.weight.sizes())
      .mul_(l.scale)
      .to(dtype);
#endif
}

void quantize_blocks(Model& m) {
  for (auto& b : m.blocks)
    for (Linear* l : block_linears(b))
      if (l->weight.defined() && !l->fp8) quantize_linear(*l);
}

std::uint64_t weight_bytes(const Model& m) {
  std::uint64_t n = 0;
  auto add = [&](const at::Tensor& t) {
    if (t.defined()) n += static_cast<std::uint64_t>(t.numel()) * t.element_size();
  };
  auto lin = [&](const Linear& l) {
    add(l.weight);
    add(l.bias);
  };
  add(m.pos_embed);
  for (const Linear* l :
       {&m.patch, &m.t1, &m.t2, &m.y1, &m.y2, &m.context_embedder, &m.norm_out, &m.proj_out})
    lin(*l);
  for (const auto& b : m.blocks) {
    for (const Linear* l : block_linears(const_cast<Block&>(b))) lin(*l);
    for (const at::Tensor* t :
         {&b.norm_q, &b.norm_k, &b.norm_added_q, &b.norm_added_k, &b.norm_q2, &b.norm_k2})
      add(*t);
  }
  return n;
}

Result<Model> load_model(const std::string& path, bool quantize_fp8) {
  std::vector<stdfs::path> paths;
  std::optional<stdfs::path> config_path;
  SD35_TRY_STATUS(resolve_files(path, paths, config_path));
  Model model;
  Catalog cat;
  model::LayoutScan layout;
  std::vector<std::shared_ptr<st::File>> files;
  for (const auto& p : paths) {
    SD35_TRY(auto file, st::File::open(p));
    auto shared = std::make_shared<st::File>(std::move(file));
    layout.add(shared->header());
    files.push_back(std::move(shared));
  }
  const bool sai = layout.layout() == model::Layout::sai;
  if (!layout.holds_mmdit())
    return Error{Errc::bad_input,
                 "unknown checkpoint layout: neither SAI (joint_blocks.*) nor diffusers "
                 "(transformer_blocks.*) MMDiT tensors found",
                 paths.front().string(),
                 "pass an SD3/SD3.5 transformer checkpoint (diffusers folder or single file)"};
  for (auto& shared : files) {
    SD35_TRY_STATUS(read_catalog_file(shared, cat, sai));
    model.files.push_back(std::move(shared));
  }
  // Shapes for inference (qkv parts fused).
  std::map<std::string, std::vector<std::int64_t>> shapes;
  for (const auto& [k, s] : cat.tensors) shapes[k] = {s.info->shape.begin(), s.info->shape.end()};
  for (const auto& [k, parts] : cat.qkv_parts)
    if (parts[0].info) {
      std::vector<std::int64_t> sh(parts[0].info->shape.begin(), parts[0].info->shape.end());
      if (!sh.empty()) sh[0] *= 3;
      shapes[k] = sh;
    }
  LoadedCheckpointInfo& info = model.info;
  if (config_path) {
    SD35_TRY(auto text, fs::read_file(*config_path));
    SD35_TRY(model.config, parse_diffusers_config(text, config_path->string()));
    info.config_source = "config.json";
  } else {
    SD35_TRY(model.config, infer_config(shapes, paths.front().string()));
    info.config_source = "inferred";
  }
  const MmditConfig& c = model.config;
  info.layout = sai ? "sai" : (paths.size() > 1 ? "diffusers-sharded" : "diffusers");
  const std::int64_t d = c.inner_dim(), p = c.patch_size, m = c.pos_embed_max_size, hd = c.head_dim;
  int fp8_count = 0;
  Builder b{cat, c, &fp8_count};
  SD35_TRY(model.pos_embed, b.tensor("pos_embed.pos_embed", {1, m * m, d}));
  {
    SD35_TRY(model.patch.weight, b.tensor("pos_embed.proj.weight", {d, c.in_channels, p, p}));
    SD35_TRY(model.patch.bias, b.tensor("pos_embed.proj.bias", {d}));
  }
  SD35_TRY(model.t1, b.linear("time_text_embed.timestep_embedder.linear_1", d, 256));
  SD35_TRY(model.t2, b.linear("time_text_embed.timestep_embedder.linear_2", d, d));
  SD35_TRY(model.y1,
           b.linear("time_text_embed.text_embedder.linear_1", d, c.pooled_projection_dim));
  SD35_TRY(model.y2, b.linear("time_text_embed.text_embedder.linear_2", d, d));
  SD35_TRY(model.context_embedder, b.linear("context_embedder", d, c.joint_attention_dim));
  SD35_TRY(model.norm_out, b.linear("norm_out.linear", 2 * d, d, sai));
  SD35_TRY(model.proj_out, b.linear("proj_out", p * p * c.out_channels, d));
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string pre = fmt::format("transformer_blocks.{}.", i);
    Block blk;
    blk.dual = c.dual(i);
    blk.pre_only = i == c.num_layers - 1;
    SD35_TRY(blk.norm1, b.linear(pre + "norm1.linear", (blk.dual ? 9 : 6) * d, d));
    SD35_TRY(blk.norm1_ctx, b.linear(pre + "norm1_context.linear", (blk.pre_only ? 2 : 6) * d, d,
                                     sai && blk.pre_only));
    SD35_TRY(blk.qkv, b.linear(pre + "attn.qkv", 3 * d, d));
    SD35_TRY(blk.add_qkv, b.linear(pre + "attn.add_qkv", 3 * d, d));
    SD35_TRY(blk.to_out, b.linear(pre + "attn.to_out.0", d, d));
    SD35_TRY(blk.ff1, b.linear(pre + "ff.net.0.proj", 4 * d, d));
    SD35_TRY(blk.ff2, b.linear(pre + "ff.net.2", d, 4 * d));
    if (!blk.pre_only) {
      SD35_TRY(blk.to_add_out, b.linear(pre + "attn.to_add_out", d, d));
      SD35_TRY(blk.ffc1, b.linear(pre + "ff_context.net.0.proj", 4 * d, d));
      SD35_TRY(blk.ffc2, b.linear(pre + "ff_context.net.2", d, 4 * d));
    }
    if (c.qk_norm) {
      SD35_TRY(blk.norm_q, b.tensor(pre + "attn.norm_q.weight", {hd}));
      SD35_TRY(blk.norm_k, b.tensor(pre + "attn.norm_k.weight", {hd}));
      SD35_TRY(blk.norm_added_q, b.tensor(pre + "attn.norm_added_q.weight", {hd}));
      SD35_TRY(blk.norm_added_k, b.tensor(pre + "attn.norm_added_k.weight", {hd}));
    }
    if (blk.dual) {
      SD35_TRY(blk.qkv2, b.linear(pre + "attn2.qkv", 3 * d, d));
      SD35_TRY(blk.to_out2, b.linear(pre + "attn2.to_out.0", d, d));
      if (c.qk_norm) {
        SD35_TRY(blk.norm_q2, b.tensor(pre + "attn2.norm_q.weight", {hd}));
        SD35_TRY(blk.norm_k2, b.tensor(pre + "attn2.norm_k.weight", {hd}));
      }
    }
    model.blocks.push_back(std::move(blk));
  }
  if (fp8_count > 0) {
    info.layout = sai ? "sai-scaled-fp8" : info.layout + "-fp8";
    info.fp8_spelling = cat.spelling_scale;
    if (cat.marker) info.fp8_spelling += "+scaled_fp8";
    if (cat.comfy_quant) info.fp8_spelling += "+comfy_quant";
    if (cat.header_quant) info.fp8_spelling += "+_quantization_metadata";
  }
  if (quantize_fp8) quantize_blocks(model);
  info.config = model.config;
  info.fp8_tensors = fp8_count;
  info.weight_bytes = weight_bytes(model);
  return model;
}

}  // namespace sd35::smoke
