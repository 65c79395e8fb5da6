// The transfer engine's per-object and per-request state, and the libcurl callbacks that fill it
// (response code and Content-Range checks, a 200 to a range request becoming the single stream,
// hashing/writing through ObjectFile, resume-state saves that follow the bytes). Internal to
// lfs/transfer.cpp; split out to keep each file readable.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lfs/object_file.hpp"
#include "lfs/placer.hpp"
#include "lfs/transfer.hpp"
#include "store/file_lock.hpp"
#include "util/rate_meter.hpp"

namespace sd35::lfs::detail {

using Steady = std::chrono::steady_clock;
constexpr std::uint64_t kSidecarEveryBytes = 4u << 20;
// Unhashed bytes at which the hash thread is asked to catch up (it then reads them back from the
// page cache, 1 MiB at a time).
constexpr std::uint64_t kHashBehindBytes = 4u << 20;
enum class RangeMode { unknown, yes, no };

struct Conn;

struct Obj {
  TransferJob job;
  std::optional<ObjectFile> file;
  std::optional<store::FileLock> lock;
  bool finished = false;
  bool placing = false;  // verified; the placer thread flushes and renames it
  TransferOutcome outcome;
  RangeMode range_mode = RangeMode::unknown;
  std::vector<int> retries;  // per range, since its last request that made progress
  int refreshes = 0, mismatches = 0;
  std::uint64_t restarted_without_range = 0;  // bytes on disk dropped: the server ignores Range
  int& retries_of(std::size_t seg) {
    if (retries.size() <= seg) retries.resize(seg + 1, 0);
    return retries[seg];
  }
  Steady::time_point not_before{};
  std::vector<Conn*> conns;  // in flight
  Steady::time_point last_sidecar{};
  bool dirty = false;
  RateMeter meter;               // network bytes of this object (outcome.downloaded)
  Steady::time_point started{};  // first request of this run, for the average on completion
};

struct Conn {
  Obj* obj = nullptr;
  std::size_t seg = 0;
  CURL* h = nullptr;
  curl_slist* headers = nullptr;
  bool ranged = false;
  std::uint64_t asked_from = 0;
  std::uint64_t received = 0;  // body bytes this request wrote
  std::optional<std::uint64_t> content_range_start;
  long status = 0;  // NOLINT(google-runtime-int)
  bool checked = false, abandoned = false, error_body = false, range_mismatch = false;
  std::optional<Error> write_error;
  std::string body;  // of an error response, first 4 KiB
  std::uint64_t* total_received = nullptr;
  Placer* placer = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
};

// CURLOPT_HEADERFUNCTION / CURLOPT_WRITEFUNCTION with a Conn* as user data.
size_t on_header(char* data, size_t size, size_t n, void* user);
size_t on_data(char* data, size_t size, size_t n, void* user);

}  // namespace sd35::lfs::detail
