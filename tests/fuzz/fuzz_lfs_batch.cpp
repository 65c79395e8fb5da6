// Fuzzes what an LFS server sends back (lfs/batch): the batch API response body, and the
// .lfsconfig text of the repository (its lfs.url picks the endpoint).
#include <chrono>

#include "fuzz_check.hpp"
#include "lfs/batch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = sd35::fuzz::text_of(data, size);
  const auto sent = sd35::lfs::Clock::time_point(std::chrono::seconds(1'700'000'000));
  auto objects = sd35::lfs::parse_batch_response(text, sent, "https://hf.example/info/lfs");
  if (objects) {
    // Any oid string is kept (the caller matches it against the pointers it asked for).
    for (const auto& o : *objects) {
      if (o.download) (void)o.download->expired(sent);  // expiry arithmetic stays defined
    }
  } else {
    sd35::fuzz::check_error(objects.error());
  }
  const auto url = sd35::lfs::lfs_url_from_config(text);
  (void)sd35::lfs::lfs_endpoint("https://huggingface.co/org/repo", url);
  return 0;
}
