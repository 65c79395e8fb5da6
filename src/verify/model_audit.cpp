#include "verify/model_audit.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "model/architecture.hpp"
#include "model/layout.hpp"
#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/strings.hpp"
#include "verify/finding.hpp"

namespace sd35::verify {

namespace {

constexpr std::uint64_t kMaxScaleBytes =
    1u << 20;  // per-channel scales are KiB; anything larger is not a scale
constexpr std::size_t kMaxListedFailures = 20;

struct Loc {
  const st::TensorInfo* info;
  std::size_t part;
};

bool is_fp8(st::Dtype d) {
  return d == st::Dtype::F8_E4M3 || d == st::Dtype::F8_E5M2;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  std::uint32_t bits = 0;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | ((127 - 15 - static_cast<std::uint32_t>(e)) << 23) | ((mant & 0x3FFu) << 13);
    }
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f = 0;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

std::optional<std::vector<double>> decode_floats(st::Dtype dtype, std::string_view bytes) {
  std::vector<double> out;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  auto u16 = [&](std::size_t i) {
    return static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
  };
  switch (dtype) {
    case st::Dtype::F32:
      for (std::size_t i = 0; i + 4 <= bytes.size(); i += 4) {
        float f = 0;
        std::memcpy(&f, p + i, 4);
        out.push_back(f);
      }
      return out;
    case st::Dtype::F64:
      for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
        double d = 0;
        std::memcpy(&d, p + i, 8);
        out.push_back(d);
      }
      return out;
    case st::Dtype::F16:
      for (std::size_t i = 0; i < bytes.size() / 2; ++i) out.push_back(half_to_float(u16(i)));
      return out;
    case st::Dtype::BF16:
      for (std::size_t i = 0; i < bytes.size() / 2; ++i) {
        const std::uint32_t bits = static_cast<std::uint32_t>(u16(i)) << 16;
        float f = 0;
        std::memcpy(&f, &bits, 4);
        out.push_back(f);
      }
      return out;
    default:
      return std::nullopt;
  }
}

namespace {

class Auditor {
 public:
  Auditor(const std::filesystem::path& root, const std::string& unit,
          const std::vector<ModelPart>& parts, Reporter& reporter)
      : root_(root), unit_(unit), parts_(parts), reporter_(reporter) {
    for (std::size_t i = 0; i < parts.size(); ++i) {
      for (const auto& t : parts[i].header->tensors) tensors_.emplace(t.name, Loc{&t, i});
    }
  }

  ModelAudit run(const AuditExpectations& expect) {
    detect_layout();
    audit_.unit = unit_;
    audit_.document["unit"] = unit_;
    audit_.document["files"] = nlohmann::json::array();
    for (const auto& p : parts_) audit_.document["files"].push_back(p.rel);
    report_layout_and_family(expect);
    report_dims();
    report_census();
    report_fp8();
    return std::move(audit_);
  }

 private:
  void fail(std::string id, std::string detail, std::string fix, std::string tensor = {},
            const std::string& file = {}) {
    ++audit_.failed;
    reporter_.finding(rule_finding(std::move(id), Verdict::fail, file.empty() ? unit_ : file,
                                   std::move(detail), std::move(fix), std::move(tensor)));
  }
  void pass(std::string id, std::string detail, nlohmann::json data = nlohmann::json::object()) {
    auto f = rule_finding(std::move(id), Verdict::pass, unit_, std::move(detail));
    f.data = std::move(data);
    reporter_.finding(f);
  }

  [[nodiscard]] const st::TensorInfo* model_tensor(std::string_view name) const {
    const auto it = tensors_.find(prefix_ + std::string(name));
    return it == tensors_.end() ? nullptr : it->second.info;
  }

  // The part (file) holding a tensor; the unit when the name is not a tensor of this model.
  [[nodiscard]] std::string file_of(const std::string& tensor) const {
    const auto it = tensors_.find(tensor);
    return it == tensors_.end() ? unit_ : parts_[it->second.part].rel;
  }

  void detect_layout() {
    model::LayoutScan scan;
    std::vector<std::string_view> names;
    names.reserve(tensors_.size());
    for (const auto& [name, loc] : tensors_) {
      scan.add(name);
      names.emplace_back(name);
    }
    layout_ = scan.layout();
    prefix_ = std::string(scan.prefix());
    audit_.layout = std::string(model::layout_name(layout_));
    blocks_ = model::scan_blocks(names, layout_, prefix_);
    audit_.family = std::string(model::family_name(blocks_.family()));
  }

  void report_layout_and_family(const AuditExpectations& expect) {
    audit_.document["layout"] = audit_.layout;
    audit_.document["family"] = audit_.family;
    const std::string why = blocks_.why();
    if (!expect.format.empty() && expect.format != audit_.layout) {
      fail("model.layout",
           fmt::format("the file is in {} layout but the manifest says format \"{}\"",
                       audit_.layout, expect.format),
           "use a manifest for this layout (sd35-setup ships one per repo), or fetch the files the "
           "manifest names");
    } else {
      pass("model.layout",
           fmt::format("{} layout{}", audit_.layout,
                       prefix_.empty() ? "" : fmt::format(" (prefix {})", prefix_)));
    }
    if (!expect.architecture.empty() && expect.architecture != audit_.family) {
      fail(
          "model.family",
          fmt::format("the keys say {} ({}) but the manifest's architecture is {}", audit_.family,
                      why, expect.architecture),
          "point --manifest at the manifest for this model, or fetch the model the manifest names");
    } else {
      pass("model.family", fmt::format("{} ({})", audit_.family, why));
    }
  }

  void report_dims() {
    const model::Dims d = model::infer_dims(layout_, [this](std::string_view key) {
      const auto* t = model_tensor(key);
      return t == nullptr ? std::optional<std::vector<std::uint64_t>>() : t->shape;
    });
    const nlohmann::json dims = d.to_json(blocks_);
    audit_.document["dims"] = dims;
    if (!d.missing.empty() || blocks_.depth == 0) {
      fail(
          "model.dims",
          fmt::format("expected tensors are missing or misshapen: {}{}", fmt::join(d.missing, ", "),
                      blocks_.depth == 0 ? "; no transformer blocks" : ""),
          "the checkpoint is incomplete or not an SD3 MMDiT: re-fetch it");
    } else {
      pass("model.dims",
           fmt::format(
               "depth {}, hidden {}, {} heads x {}, patch {}, pos-embed {}, context {}, pooled {}",
               blocks_.depth, d.hidden.value_or(0), d.num_heads.value_or(0), d.head_dim,
               d.patch_size.value_or(0), dims["pos_embed_max_size"].dump(),
               dims["joint_attention_dim"].dump(), dims["pooled_projection_dim"].dump()),
           dims);
    }
    if (layout_ == model::Layout::diffusers) compare_config(dims);
  }

  // diffusers keeps the dimensions in config.json next to the weights: they must agree.
  void compare_config(const nlohmann::json& dims) {
    const std::string rel_dir = parent_dir(parts_.front().rel);
    const auto cfg_path = root_ / rel_dir / "config.json";
    std::error_code ec;
    if (!std::filesystem::exists(cfg_path, ec)) return;
    const std::string cfg_rel = rel_dir + "config.json";
    auto cfg = jsonio::parse_file(cfg_path.string());
    if (!cfg || !cfg->is_object()) {
      fail("model.config", cfg ? "config.json is not an object" : cfg.error().describe(),
           "re-fetch config.json", {}, cfg_rel);
      return;
    }
    const std::array<std::pair<const char*, const char*>, 8> pairs{{
        {"num_layers", "depth"},
        {"attention_head_dim", "attention_head_dim"},
        {"num_attention_heads", "num_attention_heads"},
        {"joint_attention_dim", "joint_attention_dim"},
        {"pooled_projection_dim", "pooled_projection_dim"},
        {"patch_size", "patch_size"},
        {"pos_embed_max_size", "pos_embed_max_size"},
        {"in_channels", "in_channels"},
    }};
    std::vector<std::string> diffs;
    for (const auto& [ckey, dkey] : pairs) {
      if (cfg->contains(ckey) && dims.contains(dkey) && (*cfg)[ckey] != dims[dkey]) {
        diffs.push_back(fmt::format("{} {} vs {} in the weights", ckey, (*cfg)[ckey].dump(),
                                    dims[dkey].dump()));
      }
    }
    const auto dual_cfg = cfg->value("dual_attention_layers", nlohmann::json::array());
    const auto dual_w = dims.value("dual_attention_layers", nlohmann::json::array());
    if (dual_cfg != dual_w) {
      diffs.push_back(fmt::format("dual_attention_layers {} vs {} in the weights", dual_cfg.dump(),
                                  dual_w.dump()));
    }
    if (!diffs.empty()) {
      fail("model.config",
           fmt::format("config.json disagrees with the weights: {}", fmt::join(diffs, "; ")),
           "config.json and the weights come from different models: re-fetch both", {}, cfg_rel);
    } else {
      reporter_.finding(rule_finding("model.config", Verdict::pass, cfg_rel,
                                     "config.json agrees with the weights"));
    }
  }

  static std::string parent_dir(const std::string& rel) {
    const auto slash = rel.rfind('/');
    return slash == std::string::npos ? std::string() : rel.substr(0, slash + 1);
  }

  [[nodiscard]] std::string component_of(const std::string& name) const {
    return model::component_of(name, layout_, prefix_);
  }

  void report_census() {
    nlohmann::json census = nlohmann::json::object();
    std::map<std::string, std::uint64_t> totals;
    for (const auto& [name, loc] : tensors_) {
      const auto comp = component_of(name);
      auto& slot = census[comp][std::string(st::dtype_name(loc.info->dtype))];
      slot = slot.is_null() ? loc.info->numel() : slot.get<std::uint64_t>() + loc.info->numel();
      totals[std::string(st::dtype_name(loc.info->dtype))] += loc.info->numel();
    }
    audit_.document["parameters"] = census;
    std::vector<std::string> parts;
    parts.reserve(totals.size());
    for (const auto& [dtype, n] : totals) parts.push_back(fmt::format("{} {}", dtype, n));
    pass("model.dtypes", fmt::format("parameters per dtype: {}", fmt::join(parts, ", ")), census);
    std::vector<std::string> bundled;
    nlohmann::json comps = nlohmann::json::array();
    for (const auto& [p, label] : model::bundled_components()) {
      const std::string key(p.substr(0, p.size() - 1));
      if (!census.contains(key)) continue;
      std::uint64_t n = 0;
      for (const auto& [dt, count] : census[key].items()) n += count.get<std::uint64_t>();
      bundled.push_back(fmt::format("{} ({} parameters)", label, n));
      comps.push_back({{"prefix", p}, {"name", label}, {"parameters", n}});
    }
    audit_.document["components"] = comps;
    if (!bundled.empty())
      pass("model.components", fmt::format("bundled in the file: {}", fmt::join(bundled, ", ")),
           comps);
  }

  Result<std::string> read_bytes(const Loc& loc) {
    const auto& part = parts_[loc.part];
    const auto path = root_ / part.rel;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fs::errno_error(errno, "cannot open", path);
    std::string buf(loc.info->nbytes(), '\0');
    const auto at = static_cast<off_t>(part.header->data_offset + loc.info->begin);
    const ssize_t got = ::pread(fd, buf.data(), buf.size(), at);
    const int err = errno;
    ::close(fd);
    if (got < 0) return fs::errno_error(err, "cannot read", path);
    if (static_cast<std::size_t>(got) != buf.size()) {
      return make_error(Errc::io, "short read of a scale tensor", path.string(),
                        "the file changed; verify again");
    }
    return buf;
  }

  // A scale must hold only finite values > 0 (a zero scale zeroes the layer, NaN poisons it).
  std::optional<std::string> bad_scale(const Loc& loc) {
    if (loc.info->nbytes() > kMaxScaleBytes)
      return fmt::format("{} bytes is too large for a scale", loc.info->nbytes());
    if (loc.info->numel() == 0) return std::string("the scale tensor is empty");
    auto bytes = read_bytes(loc);
    if (!bytes) return bytes.error().describe();
    const auto values = decode_floats(loc.info->dtype, *bytes);
    if (!values)
      return fmt::format("dtype {} is not a float type", st::dtype_name(loc.info->dtype));
    for (std::size_t i = 0; i < values->size(); ++i) {
      const double v = (*values)[i];
      if (!std::isfinite(v) || v <= 0) {
        return values->size() == 1 ? fmt::format("value is {}", v)
                                   : fmt::format("element {} is {}", i, v);
      }
    }
    return std::nullopt;
  }

  void report_fp8() {
    nlohmann::json fp8 = {{"weights", 0}};
    std::set<std::string> conventions;
    std::map<std::string, std::size_t> spellings;
    if (tensors_.count(prefix_ + "scaled_fp8")) {
      const auto* marker = tensors_.at(prefix_ + "scaled_fp8").info;
      conventions.insert("scaled_fp8 marker");
      fp8["marker"] = {{"dtype", st::dtype_name(marker->dtype)},
                       {"numel", marker->numel()},
                       {"fp8_matmul", marker->numel() != 2}};
    }
    for (const auto& p : parts_) {
      if (p.header->metadata.count("_quantization_metadata"))
        conventions.insert("_quantization_metadata");
    }
    std::size_t weights = 0, failures = 0;
    auto report_failure = [&](std::string id, std::string detail, std::string tensor) {
      ++failures;
      if (failures <= kMaxListedFailures) {
        // The file first: `tensor` is moved into the call below (argument order is unspecified).
        const std::string file = file_of(tensor);
        fail(std::move(id), std::move(detail),
             "re-fetch the checkpoint; if it is intact, the file was converted without scales and "
             "loads wrong "
             "(true weight = fp8 value x scale): use an official scaled-FP8 file",
             std::move(tensor), file);
      } else {
        ++audit_.failed;
      }
    };
    for (const auto& [name, loc] : tensors_) {
      if (!is_fp8(loc.info->dtype) || !str::ends_with(name, ".weight")) continue;
      ++weights;
      const std::string layer = name.substr(0, name.size() - std::string_view(".weight").size());
      const Loc* scale = nullptr;
      for (const char* spelling : {"scale_weight", "weight_scale"}) {
        if (const auto it = tensors_.find(layer + "." + spelling); it != tensors_.end()) {
          scale = &it->second;
          ++spellings[spelling];
        }
      }
      if (scale == nullptr) {
        report_failure("fp8.scale-missing",
                       fmt::format("FP8 weight {} ({}) has no {}.scale_weight or {}.weight_scale",
                                   name, st::dtype_name(loc.info->dtype), layer, layer),
                       name);
        continue;
      }
      if (auto why = bad_scale(*scale)) {
        report_failure("fp8.scale-invalid",
                       fmt::format("scale {} of FP8 weight {}: {}", scale->info->name, name, *why),
                       scale->info->name);
      }
      for (const char* spelling : {"scale_input", "input_scale"}) {
        if (const auto it = tensors_.find(layer + "." + spelling); it != tensors_.end()) {
          ++spellings[spelling];
          if (auto why = bad_scale(it->second)) {
            report_failure("fp8.scale-invalid", fmt::format("input scale {}: {}", it->first, *why),
                           it->first);
          }
        }
      }
      if (const auto it = tensors_.find(layer + ".comfy_quant"); it != tensors_.end()) {
        conventions.insert("comfy_quant");
        check_comfy_quant(it->first, it->second, loc.info->dtype, report_failure);
      }
    }
    if (failures > kMaxListedFailures) {
      reporter_.finding(rule_finding(
          "fp8.scale-missing", Verdict::fail, unit_,
          fmt::format("{} more FP8 scale problems not listed", failures - kMaxListedFailures)));
    }
    fp8["weights"] = weights;
    fp8["conventions"] = conventions;
    fp8["spellings"] = spellings;
    audit_.document["fp8"] = fp8;
    if (weights > 0 && failures == 0) {
      std::vector<std::string> sp;
      sp.reserve(spellings.size());
      for (const auto& [k, n] : spellings) sp.push_back(fmt::format("{} x{}", k, n));
      pass("fp8.scales",
           fmt::format("{} FP8 weights, each with a finite positive scale ({}; {})", weights,
                       fmt::join(sp, ", "),
                       conventions.empty() ? std::string("no marker")
                                           : fmt::format("{}", fmt::join(conventions, ", "))),
           fp8);
    }
  }

  template <class Fail>
  void check_comfy_quant(const std::string& name, const Loc& loc, st::Dtype weight_dtype,
                         Fail& report_failure) {
    if (loc.info->nbytes() > kMaxScaleBytes) return;
    auto bytes = read_bytes(loc);
    if (!bytes) return;
    const auto j = nlohmann::json::parse(*bytes, nullptr, false);
    const std::string format = j.is_object() ? j.value("format", std::string()) : std::string();
    const std::string want = weight_dtype == st::Dtype::F8_E4M3 ? "float8_e4m3fn" : "float8_e5m2";
    if (format != want) {
      report_failure("fp8.comfy-quant",
                     fmt::format("{} says format \"{}\" but the weight is {} ({})", name, format,
                                 st::dtype_name(weight_dtype), want),
                     name);
    }
  }

  const std::filesystem::path& root_;
  const std::string& unit_;
  const std::vector<ModelPart>& parts_;
  Reporter& reporter_;
  std::map<std::string, Loc> tensors_;
  model::Layout layout_ = model::Layout::diffusers;
  std::string prefix_;
  model::BlockScan blocks_;
  ModelAudit audit_;
};

}  // namespace

ModelAudit audit_model(const std::filesystem::path& root, const std::string& unit,
                       const std::vector<ModelPart>& parts, const AuditExpectations& expect,
                       Reporter& reporter) {
  return Auditor(root, unit, parts, reporter).run(expect);
}

}  // namespace sd35::verify
