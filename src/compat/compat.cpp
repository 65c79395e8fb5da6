#include "compat/compat.hpp"

#include <stdexcept>

#include "util/strings.hpp"

namespace sd35::embedded {
extern const std::string_view compat_data;
}

namespace sd35::compat {

const CompatData& data() {
  static const CompatData parsed = [] {
    CompatData d;
    d.raw = nlohmann::json::parse(embedded::compat_data);
    d.schema_version = d.raw.at("schema_version").get<int>();
    for (const auto& row : d.raw.at("cuda_driver_floors")) {
      d.driver_floors.push_back({row.at("cuda_major").get<int>(),
                                 row.at("linux_min_driver").get<std::string>(),
                                 row.at("source").get<std::string>()});
    }
    const auto& fp8 = d.raw.at("fp8");
    d.fp8.min_compute_capability = fp8.at("min_compute_capability").get<std::string>();
    d.fp8.float8_dtypes_from_torch = fp8.at("float8_dtypes_from_torch").get<std::string>();
    d.fp8.scaled_mm_stable_from_torch = fp8.at("scaled_mm_stable_from_torch").get<std::string>();
    for (const auto& row : d.raw.at("torch_releases")) {
      TorchRelease r;
      r.torch = row.at("torch").get<std::string>();
      r.python = row.at("python").get<std::string>();
      for (const auto& v : row.at("variants")) {
        TorchVariant tv;
        tv.variant = v.at("variant").get<std::string>();
        tv.arch_list = v.at("arch_list").get<std::vector<std::string>>();
        tv.arch_source = v.at("arch_source").get<std::string>();
        if (v.contains("cxx11_abi")) tv.cxx11_abi = v.at("cxx11_abi").get<bool>();
        r.variants.push_back(std::move(tv));
      }
      r.torchvision = row.at("torchvision").get<std::string>();
      r.torchaudio = row.at("torchaudio").get<std::string>();
      if (!row.at("cxx11_abi").is_null()) r.cxx11_abi = row.at("cxx11_abi").get<bool>();
      r.manylinux_glibc = row.at("manylinux_glibc").get<std::string>();
      r.pypi_default = row.at("pypi_default").get<std::string>();
      if (row.contains("notes")) r.notes = row.at("notes").get<std::vector<std::string>>();
      r.source = row.at("source").get<std::string>();
      d.torch_releases.push_back(std::move(r));
    }
    for (const auto& row : d.raw.at("xformers_pins")) {
      d.xformers_pins.push_back({row.at("xformers").get<std::string>(),
                                 row.at("torch").get<std::string>(),
                                 row.at("variants").get<std::vector<std::string>>(),
                                 row.at("source").get<std::string>()});
    }
    const auto& index = d.raw.at("index");
    d.index.pytorch_url = index.at("pytorch_url").get<std::string>();
    d.index.pypi_url = index.at("pypi_url").get<std::string>();
    d.index.pytorch_projects = index.at("pytorch_projects").get<std::vector<std::string>>();
    return d;
  }();
  return parsed;
}

std::optional<int> cuda_major_of_variant(std::string_view variant) {
  if (variant.size() < 4 || !variant.starts_with("cu")) return std::nullopt;
  auto digits = str::parse_u64(variant.substr(2));
  if (!digits || *digits < 100) return std::nullopt;
  // cu118 -> 11, cu128 -> 12, cu130 -> 13: the last digit is the minor.
  return static_cast<int>(*digits / 10);
}

const DriverFloor* driver_floor_for_variant(std::string_view variant) {
  auto major = cuda_major_of_variant(variant);
  if (!major) return nullptr;
  for (const auto& f : data().driver_floors)
    if (f.cuda_major == *major) return &f;
  return nullptr;
}

const TorchVariant* TorchRelease::find_variant(std::string_view variant) const {
  for (const auto& v : variants)
    if (v.variant == variant) return &v;
  return nullptr;
}

const TorchRelease* find_torch_release(std::string_view torch_version) {
  // "2.9.1+cu128" -> "2.9": the release matrix is per minor release.
  auto pub = torch_version.substr(0, torch_version.find('+'));
  auto parts = str::split(pub, '.');
  if (parts.size() < 2) return nullptr;
  std::string minor = std::string(parts[0]) + "." + std::string(parts[1]);
  for (const auto& r : data().torch_releases)
    if (r.torch == minor) return &r;
  return nullptr;
}

const XformersPin* find_xformers_pin(std::string_view xformers_version) {
  for (const auto& p : data().xformers_pins)
    if (p.xformers == xformers_version) return &p;
  return nullptr;
}

std::string pytorch_index_url(std::string_view variant) {
  std::string url = data().index.pytorch_url;
  auto at = url.find("{variant}");
  if (at != std::string::npos) url.replace(at, 9, variant);
  return url;
}

bool is_pytorch_project(std::string_view name) {
  for (const auto& p : data().index.pytorch_projects)
    if (p == name) return true;
  return false;
}

}  // namespace sd35::compat
