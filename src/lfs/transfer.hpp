// The transfer engine: ONE curl-multi loop on the calling thread drives every LFS object download.
// - at most `jobs` connections; largest objects first;
// - objects ≥ range_threshold are split into parallel byte ranges once the first range request
//   proved the server honours Range (a 200 to a Range turns the object into one stream);
// - SHA-256 computed as bytes arrive, in order (see object_file.hpp), resume across restarts from
//   the `<oid>.incomplete.json` sidecar, accepted only on a 206 whose Content-Range matches;
// - retries with exponential backoff or Retry-After, a stall watchdog, expired actions re-batched,
//   corrupt content discarded and retried once;
// - a per-blob flock so concurrent processes never download the same object twice at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "lfs/batch.hpp"
#include "net/http.hpp"
#include "net/status_policy.hpp"
#include "net/transport.hpp"
#include "util/reporter.hpp"
#include "util/result.hpp"

namespace sd35::lfs {

struct TransferJob {
  std::string oid;
  std::uint64_t size = 0;
  Action action;
  std::filesystem::path blob_path;  // final place: <blobs>/<oid>
  std::string label;                // repo path, for progress and errors
};

struct TransferOptions {
  int jobs = 8;
  std::uint64_t range_threshold = 64ull << 20;  // objects at least this big are split
  std::uint64_t min_range = 16ull << 20;        // never a range smaller than this
  std::chrono::seconds stall_timeout{30};       // no byte for this long: reconnect
  std::chrono::seconds connect_timeout{30};
  int max_retries = 8;    // per object (git-lfs lfs.transfer.maxretries)
  int max_refreshes = 3;  // re-batches per object
  net::BackoffParams backoff;
  // How much a kill -9 can cost: at 300 MB/s, 50 ms is 15 MB (the sidecar is a small unflushed
  // file).
  std::chrono::milliseconds sidecar_interval{50};
  std::filesystem::path lock_dir;                 // <oid>.lock files; empty: next to the blob
  const net::Credentials* credentials = nullptr;  // only for hrefs on credentials->origin
  const net::Transport* transport = nullptr;      // proxy and CA certificates
  // Asks the batch API again for one object (expired or refused href).
  std::function<Result<Action>(const std::string& oid, std::uint64_t size)> refresh;
};

struct TransferOutcome {
  std::string oid;
  std::string label;
  bool ok = false;
  bool cached = false;           // another process finished it while we waited for the lock
  std::uint64_t downloaded = 0;  // bytes received over the network in this run
  std::uint64_t resumed = 0;     // bytes found from an earlier run
  Error error;
};

struct TransferReport {
  std::vector<TransferOutcome> objects;
  std::uint64_t bytes_downloaded = 0;
  std::uint64_t bytes_reread = 0;  // read back (from the page cache, as a rule) to hash
  double seconds = 0;
  // From the last byte received to the end: the rest of the hash and the flush before the rename.
  double seconds_after_last_byte = 0;
};

// Per-object failures are in the report; only interruption and a full disk abort the whole run.
Result<TransferReport> run_transfers(std::vector<TransferJob> jobs, const TransferOptions& options,
                                     Reporter& reporter);

}  // namespace sd35::lfs
