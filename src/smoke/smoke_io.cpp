// Torch-free parts of the smoke test: precision names, the flow-matching schedule, F32
// safetensors reading/writing for the fixture protocol, and error metrics.
#include "smoke/smoke_io.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "safetensors/safetensors.hpp"
#include "smoke/smoke.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace sd35::smoke {

// diffusers FlowMatchEulerDiscreteScheduler: the training sigmas are float32
// (shift*s/(1+(shift-1)*s)), set_timesteps works in float64 and stores float32.
void flow_match_schedule(int steps, double shift, std::vector<float>& timesteps,
                         std::vector<float>& sigmas) {
  timesteps.clear();
  sigmas.clear();
  const auto s_min_train = static_cast<float>(1.0F / 1000.0F);
  const auto shift_f = static_cast<float>(shift);
  const float sigma_min = shift_f * s_min_train / (1.0F + (shift_f - 1.0F) * s_min_train);
  const double t_max = 1.0 * 1000.0;
  const double t_min = static_cast<double>(sigma_min) * 1000.0;
  for (int i = 0; i < steps; ++i) {
    const double t =
        steps == 1 ? t_max : t_max + (t_min - t_max) * i / static_cast<double>(steps - 1);
    const double s = t / 1000.0;
    const auto shifted = static_cast<float>(shift * s / (1.0 + (shift - 1.0) * s));
    sigmas.push_back(shifted);
    timesteps.push_back(shifted * 1000.0F);
  }
  sigmas.push_back(0.0F);
}

namespace {

// The tensor `name` of `file` if it has dtype `want`, with its shape and raw bytes.
Result<std::string_view> tensor_bytes(const st::File& f, const std::string& file,
                                      const std::string& name, st::Dtype want,
                                      std::vector<std::int64_t>& shape) {
  const auto* info = f.header().find(name);
  if (!info)
    return Error{Errc::bad_input, fmt::format("tensor \"{}\" not found", name), file,
                 "the fixture inputs need latents, context, pooled, timestep, uncond_context, "
                 "uncond_pooled, noise (the pipeline: latents_in)"};
  if (info->dtype != want)
    return Error{Errc::bad_input,
                 fmt::format("tensor \"{}\" is {}, expected {}", name, st::dtype_name(info->dtype),
                             st::dtype_name(want)),
                 file, ""};
  shape.assign(info->shape.begin(), info->shape.end());
  return f.bytes(*info);
}

std::string dtype_of(const Tensor32*) {
  return "F32";
}
std::string dtype_of(const TensorI64*) {
  return "I64";
}

template <class T>
void add_entries(nlohmann::json& header, std::uint64_t& offset,
                 const std::vector<std::pair<std::string, const T*>>& tensors) {
  for (const auto& [name, t] : tensors) {
    const std::uint64_t n = t->data.size() * sizeof(t->data[0]);
    header[name] = {
        {"dtype", dtype_of(t)}, {"shape", t->shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
}

template <class T>
void append_data(std::string& out, const std::vector<std::pair<std::string, const T*>>& tensors) {
  for (const auto& [name, t] : tensors)  // little-endian host
    out.append(reinterpret_cast<const char*>(t->data.data()), t->data.size() * sizeof(t->data[0]));
}

}  // namespace

Result<Tensor32> read_f32_tensor(const std::string& file, const std::string& name) {
  SD35_TRY(auto f, st::File::open(file));
  Tensor32 t;
  SD35_TRY(auto bytes, tensor_bytes(f, file, name, st::Dtype::F32, t.shape));
  t.data.resize(bytes.size() / sizeof(float));
  std::memcpy(t.data.data(), bytes.data(), bytes.size());
  return t;
}

Result<TensorI64> read_i64_tensor(const std::string& file, const std::string& name) {
  SD35_TRY(auto f, st::File::open(file));
  TensorI64 t;
  SD35_TRY(auto bytes, tensor_bytes(f, file, name, st::Dtype::I64, t.shape));
  t.data.resize(bytes.size() / sizeof(std::int64_t));
  std::memcpy(t.data.data(), bytes.data(), bytes.size());
  return t;
}

Status write_f32_safetensors(const std::string& file,
                             const std::vector<std::pair<std::string, const Tensor32*>>& tensors) {
  return write_safetensors(file, tensors, {});
}

Status write_safetensors(const std::string& file,
                         const std::vector<std::pair<std::string, const Tensor32*>>& f32,
                         const std::vector<std::pair<std::string, const TensorI64*>>& i64) {
  nlohmann::json header = nlohmann::json::object();
  std::uint64_t offset = 0;
  add_entries(header, offset, f32);
  add_entries(header, offset, i64);
  header["__metadata__"] = {{"format", "pt"}, {"producer", "sd35-setup smoke"}};
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  std::string out(8, '\0');
  const std::uint64_t len = text.size();
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xFFU);
  out += text;
  append_data(out, f32);
  append_data(out, i64);
  return fs::write_file_atomic(file, out);
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  if (a.size() != b.size()) return INFINITY;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

std::string fingerprint(const std::vector<float>& values, double grid) {
  // Quantise to a coarse grid so that tiny platform differences do not change the hash.
  Sha256 h;
  for (float v : values) {
    const auto q = static_cast<std::int64_t>(std::llround(static_cast<double>(v) / grid));
    h.update(&q, sizeof q);
  }
  return h.hex_digest();
}

std::uint64_t peak_rss_bytes() {
  auto text = fs::read_file("/proc/self/status", 1U << 20);
  if (!text) return 0;
  const auto pos = text->find("VmHWM:");
  if (pos == std::string::npos) return 0;
  return std::strtoull(text->c_str() + pos + 6, nullptr, 10) * 1024;
}

}  // namespace sd35::smoke
