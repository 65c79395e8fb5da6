#include "text/t5_tokenizer.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <system_error>

namespace sd35::text {
namespace {

namespace stdfs = std::filesystem;

// The functions of libsd35spm.so (src/text_spm): why it is a separate library is said there.
struct SpmApi {
  void* (*load)(const char*, char*, int) = nullptr;
  int (*eos_id)(void*) = nullptr;
  int (*pad_id)(void*) = nullptr;
  int (*encode)(void*, const char*, int*, int) = nullptr;
  void (*free_model)(void*) = nullptr;
};

std::vector<stdfs::path> shim_candidates() {
  std::vector<stdfs::path> out;
  if (const char* env = std::getenv("SD35_SPM_SHIM"); env != nullptr && *env != '\0')
    out.emplace_back(env);
  std::error_code ec;
  const stdfs::path exe = stdfs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back(exe.parent_path() / "libsd35spm.so");
    out.push_back(exe.parent_path().parent_path() / "lib/sd35-setup/libsd35spm.so");
  }
  return out;
}

template <class F>
bool bind(void* handle, const char* name, F& fn) {
  fn = reinterpret_cast<F>(::dlsym(handle, name));
  return fn != nullptr;
}

Result<const SpmApi*> spm_api() {
  static SpmApi api;
  static bool loaded = false;
  if (loaded) return &api;
  std::string tried;
  for (const auto& path : shim_candidates()) {
    std::error_code ec;
    if (!stdfs::exists(path, ec)) {
      tried += (tried.empty() ? "" : ", ") + path.string();
      continue;
    }
    // RTLD_LOCAL: libsentencepiece's builtin protobuf stays out of the global symbol scope, away
    // from the libprotobuf a libtorch brings.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr)
      return make_error(Errc::unavailable, fmt::format("cannot load {}", ::dlerror()),
                        path.string(), "reinstall sd35-setup (libsentencepiece0 must be present)");
    if (!bind(handle, "sd35_spm_load", api.load) || !bind(handle, "sd35_spm_eos_id", api.eos_id) ||
        !bind(handle, "sd35_spm_pad_id", api.pad_id) ||
        !bind(handle, "sd35_spm_encode", api.encode) ||
        !bind(handle, "sd35_spm_free", api.free_model))
      return make_error(Errc::unavailable, "the SentencePiece shim lacks its functions",
                        path.string(), "reinstall sd35-setup");
    loaded = true;
    return &api;
  }
  return make_error(Errc::unavailable, "the T5 tokenizer's SentencePiece shim is not installed",
                    tried.empty() ? "libsd35spm.so" : tried,
                    "build sd35-setup with libsentencepiece-dev installed (it builds "
                    "libsd35spm.so beside the executable), or set SD35_SPM_SHIM");
}

}  // namespace

Result<T5Tokenizer> T5Tokenizer::load(const std::filesystem::path& spiece_model) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(spiece_model, ec))
    return make_error(Errc::not_found, "no SentencePiece model", spiece_model.string(),
                      "the T5 tokenizer is tokenizer_3/spiece.model of a diffusers SD3 repository");
  SD35_TRY(const SpmApi* api, spm_api());
  char error[512] = {0};
  void* model = api->load(spiece_model.c_str(), error, sizeof error);
  if (model == nullptr)
    return make_error(Errc::bad_input,
                      fmt::format("cannot read the SentencePiece model: {}", error),
                      spiece_model.string(), "use the spiece.model of a T5 tokenizer");
  T5Tokenizer t;
  t.model_ = std::shared_ptr<void>(model, api->free_model);
  t.encode_ = api->encode;
  if (api->eos_id(model) < 0)
    return make_error(Errc::bad_input, "the SentencePiece model has no </s> token",
                      spiece_model.string(), "use the spiece.model of a T5 tokenizer");
  t.eos_ = api->eos_id(model);
  t.pad_ = api->pad_id(model) >= 0 ? api->pad_id(model) : 0;
  return t;
}

std::vector<std::int64_t> T5Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids(512);
  const std::string s(text);
  int n = encode_(model_.get(), s.c_str(), ids.data(), static_cast<int>(ids.size()));
  if (n > static_cast<int>(ids.size())) {
    ids.resize(static_cast<std::size_t>(n));
    n = encode_(model_.get(), s.c_str(), ids.data(), n);
  }
  // Encoding fails only on an unloaded model, which load() rules out; then no ids.
  if (n < 0) n = 0;
  return {ids.begin(), ids.begin() + n};
}

std::vector<std::int64_t> T5Tokenizer::encode_padded(std::string_view text,
                                                     std::size_t length) const {
  std::vector<std::int64_t> ids = encode(text);
  if (length == 0) return {};
  if (ids.size() > length - 1) ids.resize(length - 1);
  ids.push_back(eos_);
  ids.resize(length, pad_);
  return ids;
}

}  // namespace sd35::text
