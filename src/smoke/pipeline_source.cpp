// Where the pipeline's text encoders and VAE come from: the all-in-one file's prefixes, or the
// component folders of a diffusers pipeline (the layout itself is the torch-free
// model/diffusers_pipeline module's).
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "model/diffusers_pipeline.hpp"
#include "smoke/pipeline_models.hpp"
#include "util/fs.hpp"

namespace sd35::smoke {
namespace {

namespace stdfs = std::filesystem;

// The all-in-one prefix of each component.
std::string aio_prefix(const std::string& component) {
  return component == "vae" ? "first_stage_model." : "text_encoders." + component + ".transformer.";
}

// A shard index's files, in its folder (names that leave the folder are refused).
Result<std::vector<stdfs::path>> shards_of(const stdfs::path& index) {
  SD35_TRY(auto text, fs::read_file(index));
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.contains("weight_map") || !doc["weight_map"].is_object())
    return Error{Errc::bad_input, "shard index has no \"weight_map\" object", index.string(),
                 "re-download the component folder"};
  std::set<std::string> names;
  for (const auto& entry : doc["weight_map"])
    if (entry.is_string()) names.insert(entry.get<std::string>());
  std::vector<stdfs::path> out;
  for (const auto& n : names) {
    if (n.find('/') != std::string::npos || n.find("..") != std::string::npos)
      return Error{Errc::bad_input, fmt::format("shard name \"{}\" leaves the folder", n),
                   index.string(), "re-download the component folder"};
    out.push_back(index.parent_path() / n);
  }
  return out;
}

// The safetensors files of one component folder: its shard index, else every .safetensors file.
Result<std::vector<stdfs::path>> component_files(const stdfs::path& dir) {
  std::error_code ec;
  for (const char* index :
       {"model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.json"})
    if (stdfs::exists(dir / index, ec)) return shards_of(dir / index);
  std::vector<stdfs::path> files;
  for (const auto& e : stdfs::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty())
    return Error{Errc::missing_file, "no .safetensors file in the component folder", dir.string(),
                 "re-download the diffusers pipeline's component folders"};
  return files;
}

// vae/config.json's factors: the latents' scale and shift the VAE was trained with.
Status read_vae_config(const stdfs::path& config, std::optional<double>& scaling,
                       std::optional<double>& shift) {
  std::error_code ec;
  if (!stdfs::exists(config, ec)) return ok();
  SD35_TRY(auto text, fs::read_file(config));
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error{Errc::bad_input, "vae/config.json is not a JSON object", config.string(),
                 "re-download the VAE folder"};
  if (doc.contains("scaling_factor") && doc["scaling_factor"].is_number())
    scaling = doc["scaling_factor"].get<double>();
  if (doc.contains("shift_factor") && doc["shift_factor"].is_number())
    shift = doc["shift_factor"].get<double>();
  return ok();
}

std::uint64_t bytes_under(const st::Header& h, std::string_view prefix) {
  std::uint64_t n = 0;
  for (const auto& t : h.tensors)
    if (t.name.rfind(prefix, 0) == 0) n += t.nbytes();
  return n;
}

}  // namespace

Result<PipelineSource> PipelineSource::open(const std::string& checkpoint) {
  PipelineSource s;
  if (auto root = model::diffusers_pipeline_root(checkpoint)) {
    s.root_ = *root;
    SD35_TRY_STATUS(read_vae_config(s.root_ / "vae/config.json", s.scaling_factor, s.shift_factor));
    return s;
  }
  SD35_TRY(auto opened, st::File::open(checkpoint));
  s.file_ = std::make_shared<st::File>(std::move(opened));
  return s;
}

Result<WeightSet> PipelineSource::weights(const std::string& component,
                                          const std::string& label) const {
  if (file_) return open_weights(file_, aio_prefix(component), label);
  const stdfs::path dir = root_ / model::diffusers_folder(component);
  std::error_code ec;
  if (!stdfs::is_directory(dir, ec))
    return Error{Errc::missing_file,
                 fmt::format("the diffusers pipeline has no {}/ ({})",
                             model::diffusers_folder(component), label),
                 dir.string(),
                 "the prompt needs text_encoder/, text_encoder_2/, text_encoder_3/ and vae/ beside "
                 "transformer/: fetch the whole diffusers repository, or use the all-in-one file"};
  SD35_TRY(auto paths, component_files(dir));
  WeightSet w{{}, "", label, {}};
  for (const auto& p : paths) {
    SD35_TRY(auto opened, st::File::open(p));
    w.files.push_back(std::make_shared<st::File>(std::move(opened)));
    opened_.push_back(w.files.back());
  }
  if (component == "vae") {
    const int levels = model::diffusers_vae_levels(w.files.front()->header());
    w.rename = [levels](const std::string& ldm) { return model::diffusers_vae_name(ldm, levels); };
  }
  return w;
}

std::uint64_t PipelineSource::stored_bytes(std::string_view part) const {
  if (file_) {
    if (part == "mmdit") return bytes_under(file_->header(), "model.diffusion_model.");
    return bytes_under(file_->header(),
                       part == "vae" ? "first_stage_model.decoder." : "text_encoders.");
  }
  // A diffusers folder: only the headers are read (the files are mapped, never touched here).
  std::vector<std::string> folders;
  if (part == "mmdit")
    folders = {"transformer"};
  else if (part == "vae")
    folders = {"vae"};
  else
    folders = {"text_encoder", "text_encoder_2", "text_encoder_3"};
  std::uint64_t n = 0;
  for (const auto& folder : folders) {
    auto paths = component_files(root_ / folder);
    if (!paths) continue;
    for (const auto& p : *paths)
      if (auto h = st::read_header(p)) n += bytes_under(*h, part == "vae" ? "decoder." : "");
  }
  return n;
}

}  // namespace sd35::smoke
