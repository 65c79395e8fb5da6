// The one message for "the disk filled up while writing into the cache", shared by the LFS
// transfer engine and the export of regular git blobs: what happened, to which file and object,
// in which directory, how much is needed and free, and what to do.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

#include "util/fs.hpp"
#include "util/result.hpp"

namespace sd35::store {

struct DiskFullContext {
  std::string_view file;           // repo path of the file being written
  std::string_view id;             // its oid (LFS) or git blob id
  std::filesystem::path dir;       // the cache directory written into (blobs/)
  std::filesystem::path partial;   // resumable partial download kept there; empty when none
  std::uint64_t present = 0;       // bytes of the file already on disk
  std::uint64_t resumable = 0;     // of those, what the resume state records (a later run keeps)
  std::uint64_t size = 0;          // the file's size
  std::uint64_t still_needed = 0;  // bytes the whole fetch still has to write
};

// `cause`: the errno-based error of the failed write (Errc::disk_full). The result keeps that
// code (exit 4) and names the free space of `dir` as the filesystem reports it now.
Error disk_full_error(const Error& cause, const DiskFullContext& ctx);
// The same with the free space given (nullopt: unknown); what the above calls after asking.
Error disk_full_error(const Error& cause, const DiskFullContext& ctx,
                      const std::optional<fs::SpaceInfo>& space);

}  // namespace sd35::store
