// safetensors: header parsing with the reference reader's rules, and read-only memory mapping.
// API contract shared by `verify` (structure audit) and `smoke` (loaders). Implementation:
// safetensors.cpp (owned by the verify work); see shared/reference/sd3-model-hub-lfs.md §4.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace sd35::st {

enum class Dtype {
  BOOL,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  F64,
  I64,
  U64
};

std::optional<Dtype> parse_dtype(std::string_view name);
std::string_view dtype_name(Dtype d) noexcept;
std::size_t dtype_size(Dtype d) noexcept;  // bytes per element

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;  // byte offsets relative to the start of the data section
  std::uint64_t end = 0;
  [[nodiscard]] std::uint64_t numel() const;
  [[nodiscard]] std::uint64_t nbytes() const { return end - begin; }
};

struct Header {
  std::uint64_t header_len = 0;                 // N from the 8-byte little-endian prefix
  std::uint64_t data_offset = 0;                // 8 + N: where the data section starts in the file
  std::uint64_t data_size = 0;                  // file size - data_offset
  std::vector<TensorInfo> tensors;              // sorted by begin offset
  std::map<std::string, std::string> metadata;  // __metadata__
  [[nodiscard]] const TensorInfo* find(std::string_view name) const;
};

// Rule ids: every rejection names one (verify reports them as finding ids and rules).
namespace rule {
inline constexpr std::string_view header_too_small = "safetensors.header-too-small";  // < 8 bytes
inline constexpr std::string_view header_too_large = "safetensors.header-too-large";  // N > 100 MB
inline constexpr std::string_view header_length = "safetensors.header-length";  // 8 + N past EOF
inline constexpr std::string_view header_start = "safetensors.header-start";    // not '{'
inline constexpr std::string_view utf8 = "safetensors.utf8";
inline constexpr std::string_view json = "safetensors.json";
inline constexpr std::string_view duplicate_key = "safetensors.duplicate-key";
inline constexpr std::string_view schema = "safetensors.schema";  // wrong types / fields
inline constexpr std::string_view dtype = "safetensors.dtype";    // unknown dtype string
inline constexpr std::string_view shape_overflow = "safetensors.shape-overflow";
inline constexpr std::string_view tensor_size =
    "safetensors.tensor-size";                                        // end-begin != numel*size
inline constexpr std::string_view offsets = "safetensors.offsets";    // gap, overlap, end < begin
inline constexpr std::string_view coverage = "safetensors.coverage";  // trailing bytes / truncation
inline constexpr std::string_view metadata = "safetensors.metadata";  // __metadata__ not str->str
inline constexpr std::string_view io = "safetensors.io";
}  // namespace rule

inline constexpr std::uint64_t kMaxHeaderSize =
    100'000'000;  // the reference reader's limit (100 MB)

// Which rule rejected a header, and the tensor it is about (empty when none).
struct Violation {
  std::string_view rule;
  std::string tensor;
};

// Parses and validates the JSON header bytes against a data section of `data_size` bytes:
// UTF-8 JSON object, no duplicate keys, known dtypes, shape x dtype size == byte length without
// overflow, offsets contiguous from 0 without gap or overlap, last end == data_size,
// __metadata__ string->string only. Errors are Errc::bad_input naming the tensor and rule.
Result<Header> parse_header(std::string_view header_json, std::uint64_t data_size);
// Same, and on failure tells which rule and tensor (for findings).
Result<Header> parse_header(std::string_view header_json, std::uint64_t data_size, Violation* why);

// Reads only the 8-byte prefix and the header of `file` (never the data): length <= 100 MB and
// inside the file, then parse_header.
Result<Header> read_header(const std::filesystem::path& file);
Result<Header> read_header(const std::filesystem::path& file, Violation* why);

// Validates the 8-byte prefix of a file of `file_size` bytes and returns N (the header length).
Result<std::uint64_t> header_length(const std::uint8_t* prefix8, std::uint64_t file_size,
                                    Violation* why = nullptr);

// Read-only mmap of a whole file; tensors are views into it (no copies).
class MappedFile {
 public:
  static Result<MappedFile> open(const std::filesystem::path& file);
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();
  [[nodiscard]] const std::uint8_t* data() const { return data_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }

 private:
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
};

// A mapped safetensors file: header + the bytes of any tensor.
class File {
 public:
  static Result<File> open(const std::filesystem::path& file);
  [[nodiscard]] const Header& header() const { return header_; }
  // Raw little-endian bytes of a tensor inside the mapping.
  [[nodiscard]] std::string_view bytes(const TensorInfo& t) const;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  MappedFile map_;
  Header header_;
};

}  // namespace sd35::st
