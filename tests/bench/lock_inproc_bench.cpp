// In-process timings for tests/bench/lock_bench.sh: the resolve decision and the `verify --lock`
// gate without process start-up (the sd35-setup binary links the system libtorch, whose dynamic
// loading dominates a CLI run on a busy machine).
// Usage: lock_inproc_bench HOST_FILE [MANIFEST CACHE_DIR LOCK]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "app/verify_lock.hpp"
#include "host/host_facts.hpp"
#include "manifest/manifest.hpp"
#include "resolve/resolve.hpp"

namespace {

template <class F>
double median_ms(int runs, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sd35;
  if (argc < 2) {
    fmt::print(stderr, "usage: lock_inproc_bench HOST_FILE [MANIFEST CACHE_DIR LOCK]\n");
    return 2;
  }
  bool ok = true;
  double resolve_ms = median_ms(51, [&] {
    auto m = default_manifest();
    auto h = load_host_facts(argv[1]);
    ok = ok && m && h && resolve::resolve(*m, *h).selected.has_value();
  });
  fmt::print("in-process resolve (manifest + host file + decision): {:.3f} ms median of 51\n",
             resolve_ms);
  if (argc >= 5) {
    app::GlobalOptions g;
    g.manifest_path = argv[2];
    g.cache_dir = argv[3];
    app::VerifyLockOptions o;
    o.lock = argv[4];
    o.host_file = argv[1];
    double verify_ms = median_ms(21, [&] {
      NullReporter r;
      auto rc = app::verify_lock(g, o, r);
      ok = ok && rc && *rc == app::Outcome::ok;
    });
    fmt::print("in-process verify --lock (unchanged model, fast path): {:.3f} ms median of 21\n",
               verify_ms);
  }
  return ok ? 0 : 1;
}
