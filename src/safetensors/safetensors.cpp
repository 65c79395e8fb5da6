// safetensors header validation with the reference reader's rules (huggingface/safetensors
// SafeTensors::read_metadata + Metadata::validate), plus the two rules it leaves to serde that
// we check ourselves: duplicate keys and UTF-8. See shared/reference/sd3-model-hub-lfs.md §4.3.
#include "safetensors/safetensors.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "safetensors/header_json.hpp"
#include "util/fs.hpp"

namespace sd35::st {

namespace {

struct DtypeRow {
  Dtype dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DtypeRow, 15> kDtypes{{
    {Dtype::BOOL, "BOOL", 1},
    {Dtype::U8, "U8", 1},
    {Dtype::I8, "I8", 1},
    {Dtype::F8_E5M2, "F8_E5M2", 1},
    {Dtype::F8_E4M3, "F8_E4M3", 1},
    {Dtype::I16, "I16", 2},
    {Dtype::U16, "U16", 2},
    {Dtype::F16, "F16", 2},
    {Dtype::BF16, "BF16", 2},
    {Dtype::I32, "I32", 4},
    {Dtype::U32, "U32", 4},
    {Dtype::F32, "F32", 4},
    {Dtype::F64, "F64", 8},
    {Dtype::I64, "I64", 8},
    {Dtype::U64, "U64", 8},
}};

// Valid in the safetensors format but not loadable here (sub-byte, complex, exotic FP8 variants).
constexpr std::array<std::string_view, 7> kKnownUnsupported{
    "F4", "F6_E2M3", "F6_E3M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "C64"};

constexpr std::string_view kFormatHint =
    "the file is damaged or was not written by a safetensors writer: re-download it "
    "(sd35-setup fetch) or re-export it with the safetensors library";

Error reject(Violation* why, std::string_view rule, std::string tensor, std::string message,
             std::string hint = std::string(kFormatHint)) {
  std::string where = tensor.empty() ? std::string("header") : fmt::format("tensor '{}'", tensor);
  if (why != nullptr) *why = Violation{rule, std::move(tensor)};
  return make_error(Errc::bad_input, std::move(message), std::move(where), std::move(hint));
}

// Reads one non-negative integer array entry; nlohmann stores non-negative integers that fit in
// 64 bits as number_unsigned, negatives as number_integer, everything else as float.
bool as_u64(const nlohmann::json& v, std::uint64_t& out) {
  if (!v.is_number_unsigned()) return false;
  out = v.get<std::uint64_t>();
  return true;
}

Result<TensorInfo> parse_tensor(const std::string& name, const nlohmann::json& v, Violation* why) {
  if (!v.is_object()) {
    return reject(why, rule::schema, name,
                  fmt::format("entry is a JSON {}, expected an object with dtype, shape and "
                              "data_offsets",
                              v.type_name()));
  }
  const auto dt = v.find("dtype");
  const auto sh = v.find("shape");
  const auto off = v.find("data_offsets");
  if (dt == v.end() || sh == v.end() || off == v.end()) {
    return reject(why, rule::schema, name, "entry lacks one of dtype, shape, data_offsets");
  }
  if (!dt->is_string()) return reject(why, rule::schema, name, "dtype is not a string");
  TensorInfo t;
  t.name = name;
  const auto& dname = dt->get_ref<const std::string&>();
  const auto parsed = parse_dtype(dname);
  if (!parsed) {
    const bool known = std::find(kKnownUnsupported.begin(), kKnownUnsupported.end(), dname) !=
                       kKnownUnsupported.end();
    return reject(
        why, rule::dtype, name,
        known ? fmt::format("dtype {} is valid safetensors but not supported by this tool", dname)
              : fmt::format("unknown dtype '{}'", dname),
        known ? "convert the tensor to a supported dtype (F8_E4M3, F8_E5M2, BF16, F16, F32 ...)"
              : std::string(kFormatHint));
  }
  t.dtype = *parsed;
  if (!sh->is_array()) return reject(why, rule::schema, name, "shape is not an array");
  t.shape.reserve(sh->size());
  for (const auto& d : *sh) {
    std::uint64_t dim = 0;
    if (!as_u64(d, dim)) {
      return reject(why, rule::schema, name,
                    "shape holds a value that is not a non-negative integer");
    }
    t.shape.push_back(dim);
  }
  if (!off->is_array() || off->size() != 2 || !as_u64((*off)[0], t.begin) ||
      !as_u64((*off)[1], t.end)) {
    return reject(why, rule::schema, name,
                  "data_offsets is not an array of two non-negative integers [begin, end]");
  }
  // Product of the dims times the element size, overflow-checked (ValidationOverflow). A zero
  // dimension makes the tensor empty regardless of the other dims, as in the reference reader.
  std::uint64_t bytes = dtype_size(t.dtype);
  bool overflow = false;
  for (const auto dim : t.shape) {
    if (__builtin_mul_overflow(bytes, dim, &bytes)) overflow = true;
  }
  const bool empty = std::find(t.shape.begin(), t.shape.end(), 0u) != t.shape.end();
  if (overflow && !empty) {
    return reject(why, rule::shape_overflow, name, "shape times element size overflows 64 bits");
  }
  if (empty) bytes = 0;
  if (t.end < t.begin) {
    return reject(why, rule::offsets, name,
                  fmt::format("data_offsets end {} is before begin {}", t.end, t.begin));
  }
  if (t.end - t.begin != bytes) {
    return reject(why, rule::tensor_size, name,
                  fmt::format("data_offsets span {} bytes but {} {} needs {} bytes",
                              t.end - t.begin, dname, nlohmann::json(t.shape).dump(), bytes));
  }
  return t;
}

}  // namespace

std::optional<Dtype> parse_dtype(std::string_view name) {
  for (const auto& row : kDtypes) {
    if (row.name == name) return row.dtype;
  }
  return std::nullopt;
}

std::string_view dtype_name(Dtype d) noexcept {
  for (const auto& row : kDtypes) {
    if (row.dtype == d) return row.name;
  }
  return "?";
}

std::size_t dtype_size(Dtype d) noexcept {
  for (const auto& row : kDtypes) {
    if (row.dtype == d) return row.size;
  }
  return 0;
}

std::uint64_t TensorInfo::numel() const {
  std::uint64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

const TensorInfo* Header::find(std::string_view name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Result<Header> parse_header(std::string_view header_json, std::uint64_t data_size) {
  return parse_header(header_json, data_size, nullptr);
}

Result<Header> parse_header(std::string_view text, std::uint64_t data_size, Violation* why) {
  if (const auto bad = detail::first_invalid_utf8(text)) {
    return reject(why, rule::utf8, {},
                  fmt::format("header is not valid UTF-8 (byte {} of the header)", *bad));
  }
  if (text.empty() || text.front() != '{') {
    return reject(why, rule::header_start, {}, "header does not begin with '{' (0x7B)");
  }
  detail::JsonProblem problem;
  auto root = detail::parse_strict(text, problem);
  if (!root) {
    if (problem.kind == detail::JsonProblem::Kind::duplicate_key) {
      return reject(why, rule::duplicate_key, problem.message,
                    fmt::format("key '{}' appears twice in one JSON object", problem.message));
    }
    return reject(why, rule::json, {}, "header is not valid JSON: " + problem.message);
  }
  if (!root->is_object()) return reject(why, rule::schema, {}, "header is not a JSON object");

  Header h;
  h.data_size = data_size;
  for (const auto& [key, value] : root->items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object()) {
        return reject(why, rule::metadata, {}, "__metadata__ is not an object of strings");
      }
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          return reject(why, rule::metadata, {},
                        fmt::format("__metadata__ value of '{}' is a {}, only strings are allowed",
                                    mk, mv.type_name()));
        }
        h.metadata.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    SD35_TRY(auto t, parse_tensor(key, value, why));
    h.tensors.push_back(std::move(t));
  }
  // The byte buffer must be covered exactly, without holes or overlap (no polyglot files).
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t expected = 0;
  for (const auto& t : h.tensors) {
    if (t.begin != expected) {
      return reject(why, rule::offsets, t.name,
                    t.begin > expected
                        ? fmt::format("gap: tensor starts at {} but the previous one ends at {}",
                                      t.begin, expected)
                        : fmt::format("overlap: tensor starts at {} inside the previous tensor "
                                      "(which ends at {})",
                                      t.begin, expected));
    }
    expected = t.end;
  }
  if (expected != data_size) {
    return reject(why, rule::coverage, {},
                  expected < data_size
                      ? fmt::format("{} trailing bytes after the last tensor (data section is {} "
                                    "bytes, tensors cover {})",
                                    data_size - expected, data_size, expected)
                      : fmt::format("file is truncated: tensors need {} data bytes, file has {}",
                                    expected, data_size),
                  expected < data_size
                      ? std::string(kFormatHint)
                      : "the download stopped early: re-fetch it (sd35-setup fetch)");
  }
  return h;
}

Result<std::uint64_t> header_length(const std::uint8_t* prefix8, std::uint64_t file_size,
                                    Violation* why) {
  if (file_size < 8) {
    return reject(why, rule::header_too_small, {},
                  fmt::format("file has {} bytes, fewer than the 8-byte header length", file_size));
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix8[i];
  if (n > kMaxHeaderSize) {
    return reject(why, rule::header_too_large, {},
                  fmt::format("header length {} exceeds the 100 MB limit", n));
  }
  if (n > file_size - 8) {
    return reject(
        why, rule::header_length, {},
        fmt::format("header length {} runs past the end of the {}-byte file", n, file_size),
        "the file is truncated or not a safetensors file: re-fetch it (sd35-setup fetch)");
  }
  return n;
}

namespace {

Error with_path(Error e, const std::filesystem::path& file) {
  e.where = e.where.empty() ? file.string() : file.string() + ": " + e.where;
  return e;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

Status pread_all(int fd, void* buf, std::size_t len, std::uint64_t offset,
                 const std::filesystem::path& file) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    const ssize_t got = ::pread(fd, p, len, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fs::errno_error(errno, "read", file);
    if (got == 0) {
      return make_error(Errc::io, "file ended while reading", file.string(),
                        "the file changed while being read; retry");
    }
    p += got, len -= static_cast<std::size_t>(got), offset += static_cast<std::uint64_t>(got);
  }
  return ok();
}

}  // namespace

Result<Header> read_header(const std::filesystem::path& file) {
  return read_header(file, nullptr);
}

Result<Header> read_header(const std::filesystem::path& file, Violation* why) {
  const Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (why != nullptr) *why = Violation{rule::io, {}};
    return fs::errno_error(errno, "open", file);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    if (why != nullptr) *why = Violation{rule::io, {}};
    return fs::errno_error(errno, "stat", file);
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::array<std::uint8_t, 8> prefix{};
  if (size >= 8) {
    if (auto s = pread_all(fd.get(), prefix.data(), 8, 0, file); !s) {
      if (why != nullptr) *why = Violation{rule::io, {}};
      return std::move(s).error();
    }
  }
  auto n = header_length(prefix.data(), size, why);
  if (!n) return with_path(std::move(n).error(), file);
  std::string text(*n, '\0');
  if (auto s = pread_all(fd.get(), text.data(), text.size(), 8, file); !s) {
    if (why != nullptr) *why = Violation{rule::io, {}};
    return std::move(s).error();
  }
  auto h = parse_header(text, size - 8 - *n, why);
  if (!h) return with_path(std::move(h).error(), file);
  h->header_len = *n;
  h->data_offset = 8 + *n;
  return h;
}

// ---- MappedFile ---------------------------------------------------------------------------------

Result<MappedFile> MappedFile::open(const std::filesystem::path& file) {
  const Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fs::errno_error(errno, "open", file);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fs::errno_error(errno, "stat", file);
  MappedFile m;
  m.size_ = static_cast<std::uint64_t>(st.st_size);
  if (m.size_ == 0) return m;  // mmap of length 0 fails; an empty mapping is valid
  void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) return fs::errno_error(errno, "mmap", file);
  // Loaders stream every tensor once, front to back: ask for aggressive readahead.
  (void)::madvise(p, m.size_, MADV_SEQUENTIAL);
  m.data_ = static_cast<const std::uint8_t*>(p);
  return m;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

// ---- File ---------------------------------------------------------------------------------------

Result<File> File::open(const std::filesystem::path& file) {
  File f;
  f.path_ = file;
  SD35_TRY(f.map_, MappedFile::open(file));
  auto n = header_length(f.map_.data(), f.map_.size(), nullptr);
  if (!n) return with_path(std::move(n).error(), file);
  const std::string_view text(reinterpret_cast<const char*>(f.map_.data()) + 8, *n);
  auto h = parse_header(text, f.map_.size() - 8 - *n, nullptr);
  if (!h) return with_path(std::move(h).error(), file);
  f.header_ = std::move(h).value();
  f.header_.header_len = *n;
  f.header_.data_offset = 8 + *n;
  return f;
}

std::string_view File::bytes(const TensorInfo& t) const {
  const auto* base = reinterpret_cast<const char*>(map_.data()) + header_.data_offset;
  return {base + t.begin, static_cast<std::size_t>(t.nbytes())};
}

}  // namespace sd35::st
