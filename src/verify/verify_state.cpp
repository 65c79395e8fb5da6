#include "verify/verify_state.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "util/fs.hpp"

namespace sd35::verify {

Result<FileStamp> stamp_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fs::errno_error(errno, "cannot stat", path);
  FileStamp s;
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  s.dev = static_cast<std::uint64_t>(st.st_dev);
  s.inode = static_cast<std::uint64_t>(st.st_ino);
  return s;
}

VerifyState load_state(const std::filesystem::path& file) {
  VerifyState state;
  auto text = fs::read_file(file, 64u << 20);
  if (!text) return state;
  const auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("schema_version", 0) != kStateSchemaVersion) return state;
  const auto files = j.find("files");
  if (files == j.end() || !files->is_object()) return state;
  for (const auto& [path, e] : files->items()) {
    if (!e.is_object()) continue;
    StateEntry entry;
    try {
      entry.stamp.size = e.at("size").get<std::uint64_t>();
      entry.stamp.mtime_ns = e.at("mtime_ns").get<std::int64_t>();
      entry.stamp.ctime_ns = e.at("ctime_ns").get<std::int64_t>();
      entry.stamp.dev = e.at("dev").get<std::uint64_t>();
      entry.stamp.inode = e.at("inode").get<std::uint64_t>();
      entry.sha256 = e.at("sha256").get<std::string>();
      entry.git_sha1 = e.value("git_sha1", std::string());
    } catch (const nlohmann::json::exception&) {
      continue;  // a damaged entry only costs a rehash
    }
    state.files.emplace(path, std::move(entry));
  }
  return state;
}

Status save_state(const std::filesystem::path& file, const VerifyState& state) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [path, e] : state.files) {
    files[path] = {{"size", e.stamp.size},         {"mtime_ns", e.stamp.mtime_ns},
                   {"ctime_ns", e.stamp.ctime_ns}, {"dev", e.stamp.dev},
                   {"inode", e.stamp.inode},       {"sha256", e.sha256}};
    if (!e.git_sha1.empty()) files[path]["git_sha1"] = e.git_sha1;
  }
  const nlohmann::json doc = {{"schema_version", kStateSchemaVersion}, {"files", files}};
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  return fs::write_file_atomic(file, doc.dump(1) + "\n");
}

}  // namespace sd35::verify
