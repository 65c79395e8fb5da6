#include "lfs/transfer_conn.hpp"

#include <algorithm>

#include "util/strings.hpp"

namespace sd35::lfs::detail {

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* c = static_cast<Conn*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) c->content_range_start.reset();
  auto colon = line.find(':');
  if (colon != std::string_view::npos &&
      str::to_lower(str::trim(line.substr(0, colon))) == "content-range") {
    auto v = str::trim(line.substr(colon + 1));  // "bytes 100-199/1000"
    if (v.starts_with("bytes "))
      c->content_range_start = str::parse_u64(v.substr(6, v.find('-') - 6));
  }
  return size * n;
}

size_t on_data(char* data, size_t size, size_t n, void* user) {
  auto* c = static_cast<Conn*>(user);
  const size_t len = size * n;
  if (c->abandoned) return 0;
  Obj& o = *c->obj;
  if (!c->checked) {
    c->checked = true;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
    if (c->status < 200 || c->status >= 300) {
      c->error_body = true;
    } else if (c->status == 206) {
      if (!c->ranged || c->content_range_start != c->asked_from) {
        c->range_mismatch = true;
        return 0;
      }
      if (o.range_mode == RangeMode::unknown) o.range_mode = RangeMode::yes;
    } else if (c->ranged) {
      // 200 to a Range request: the server ignores Range. This response is the whole object
      // from byte 0, so it becomes the single stream; every other range of the object stops.
      o.range_mode = RangeMode::no;
      for (Conn* other : o.conns)
        if (other != c) other->abandoned = true;
      o.restarted_without_range += o.file->bytes_present();
      o.file->reset({Segment{0, o.job.size, 0}});
      c->seg = 0;
      c->ranged = false;
    }
  }
  if (c->error_body) {
    if (c->body.size() < 4096) c->body.append(data, std::min<size_t>(len, 4096 - c->body.size()));
    return len;
  }
  if (auto st = o.file->write(c->seg, data, len); !st) {
    c->write_error = st.error();
    return 0;
  }
  if (auto [off, n] = o.file->take_writeback(c->seg); n > 0)
    c->placer->start_writeback(o.file->fd(), off, n);
  if (o.file->hash_lag() >= kHashBehindBytes) c->placer->hash_behind(o.file->prefix_hash());
  o.dirty = true;
  // One curl_multi_perform can drain every socket buffer (tens of MB on a fast link): the resume
  // state also follows the bytes, not only the clock, so a kill -9 costs at most a few MB.
  if (o.file->bytes_present() - o.file->recorded_bytes() >= kSidecarEveryBytes)
    (void)o.file->save_sidecar();
  c->received += len;
  o.outcome.downloaded += len;
  *c->total_received += len;
  return len;
}

}  // namespace sd35::lfs::detail
