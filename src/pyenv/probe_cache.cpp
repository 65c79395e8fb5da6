#include "pyenv/probe_cache.hpp"

#include <sys/stat.h>

#include <filesystem>

#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/user_dirs.hpp"

namespace sd35::pyenv {
namespace {

namespace stdfs = std::filesystem;

stdfs::path record_path(const std::string& interpreter) {
  return user_cache_dir() / "sd35-setup" / "envs" /
         (sha256_hex(interpreter).substr(0, 24) + ".json");
}

// [path, size, mtime in ns] of a file; a missing file stamps as size -1 so its appearance counts
// as a change too.
nlohmann::json stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return nlohmann::json::array({path, -1, 0});
  const long long ns =
      static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return nlohmann::json::array({path, static_cast<long long>(st.st_size), ns});
}

// The files whose change means another torch (or another interpreter) answers next time.
nlohmann::json stamps_for(const std::string& interpreter, const nlohmann::json& probe) {
  nlohmann::json out = nlohmann::json::array();
  out.push_back(stamp(interpreter));
  const auto& py = probe.at("python");
  if (py.contains("executable") && py["executable"].is_string())
    out.push_back(stamp(py["executable"].get<std::string>()));
  const auto& torch = probe.at("torch");
  const std::string dir = torch.value("dir", "");
  const std::string lib = torch.value("lib_dir", "");
  out.push_back(stamp(dir + "/version.py"));
  for (const char* name : {"libtorch_cpu.so", "libtorch_cuda.so", "libtorch_python.so"})
    out.push_back(stamp(lib + "/" + name));
  out.push_back(stamp((stdfs::path(dir).parent_path() / "nvidia").string()));
  return out;
}

}  // namespace

std::optional<nlohmann::json> remembered_probe(const std::string& interpreter) {
  auto text = fs::read_file(record_path(interpreter), 1u << 20);
  if (!text) return std::nullopt;
  auto record = nlohmann::json::parse(*text, nullptr, false);
  if (record.is_discarded() || !record.is_object() || !record.contains("probe"))
    return std::nullopt;
  try {
    const nlohmann::json& probe = record["probe"];
    if (record.value("interpreter", "") != interpreter || !probe.at("torch").is_object())
      return std::nullopt;
    if (stamps_for(interpreter, probe) != record.at("stamps")) return std::nullopt;
    return probe;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

void remember_probe(const std::string& interpreter, const nlohmann::json& probe) {
  if (!probe.contains("python") || !probe.contains("torch") || !probe["torch"].is_object()) return;
  nlohmann::json facts{{"python", probe["python"]}, {"torch", probe["torch"]}};
  nlohmann::json record{
      {"interpreter", interpreter}, {"probe", facts}, {"stamps", stamps_for(interpreter, facts)}};
  std::error_code ec;
  stdfs::create_directories(record_path(interpreter).parent_path(), ec);
  (void)fs::write_file_atomic(record_path(interpreter), record.dump(1), fs::Flush::no);
}

void forget_probe(const std::string& interpreter) {
  std::error_code ec;
  stdfs::remove(record_path(interpreter), ec);
}

}  // namespace sd35::pyenv
