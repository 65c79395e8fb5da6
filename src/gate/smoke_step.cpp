#include "gate/smoke_step.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gate/gate.hpp"
#include "store/hf_cache_layout.hpp"
#include "store/snapshot.hpp"

namespace sd35::gate {
namespace {

namespace stdfs = std::filesystem;

std::string string_at(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// The checkpoint a locked smoke run used. Weights from the cache are found again by the locked
// commit in this machine's cache (which may live elsewhere than where the lock was made); else,
// and for --checkpoint runs, the locked path.
std::string locked_checkpoint(const nlohmann::json& locked, const stdfs::path& cache_dir) {
  if (locked.contains("cache") && locked["cache"].is_object()) {
    const nlohmann::json& c = locked["cache"];
    const std::string repo = string_at(c, "repo"), commit = string_at(c, "commit"),
                      rel = string_at(c, "checkpoint");
    if (!repo.empty() && store::is_commit_hash(commit) &&
        (rel.empty() || store::is_safe_repo_path(rel))) {
      const auto snapshot = store::repo_cache(cache_dir, repo).snapshot(commit);
      const auto path = rel.empty() ? snapshot : snapshot / rel;
      std::error_code ec;
      if (stdfs::exists(path, ec)) return path.string();
    }
  }
  return string_at(locked, "checkpoint");
}

void sampling_params(const nlohmann::json& locked, SmokeParams& p) {
  if (locked.contains("steps") && locked["steps"].is_number_integer())
    p.steps = locked["steps"].get<int>();
  if (const auto it = locked.find("latent"); it != locked.end() && it->is_array() &&
                                             it->size() == 2 && (*it)[0].is_number_integer() &&
                                             (*it)[1].is_number_integer())
    p.latent = std::pair{(*it)[0].get<int>(), (*it)[1].get<int>()};
  if (locked.contains("guidance") && locked["guidance"].is_number())
    p.guidance = locked["guidance"].get<double>();
  if (locked.contains("shift") && locked["shift"].is_number())
    p.shift = locked["shift"].get<double>();
  p.precision = string_at(locked, "requested_precision");
}

// The locked prompt run, when the lock has one of a single prompt: the image's fingerprint is of
// the first picture, and the batch's other prompts are not recorded.
std::optional<ImageParams> image_params(const nlohmann::json& locked) {
  if (!locked.contains("image") || !locked["image"].is_object()) return std::nullopt;
  const auto params = locked["image"].value("params", nlohmann::json::object());
  if (!params.is_object() || !params.contains("prompt") || params.value("batch", 1) != 1)
    return std::nullopt;
  ImageParams ip;
  ip.prompt = string_at(params, "prompt");
  ip.negative = string_at(params, "negative_prompt");
  if (params.contains("seed") && params["seed"].is_number_integer())
    ip.seed = params["seed"].get<std::int64_t>();
  ip.size = string_at(params, "size");
  return ip;
}

std::string locked_image_fingerprint(const nlohmann::json& locked) {
  if (!locked.contains("image") || !locked["image"].is_object()) return {};
  return string_at(locked["image"], "fingerprint");
}

// smoke:image: the same picture from the same prompt, seed and size (the pixels' sha256).
Finding image_finding(const nlohmann::json& locked, const nlohmann::json& doc) {
  const std::string want = locked_image_fingerprint(locked);
  const std::string got = doc.contains("image") && doc["image"].is_object()
                              ? string_at(doc["image"], "fingerprint")
                              : std::string();
  if (got == want)
    return gate_finding("smoke:image", "smoke image", Verdict::pass,
                        fmt::format("the locked prompt makes the locked image again (pixels "
                                    "sha256 {})",
                                    want.substr(0, 16)));
  const std::string detail =
      got.empty()
          ? fmt::format("the locked prompt made no image here ({}); locked pixels sha256 {}",
                        doc.value("image_note", std::string("no image in the result")), want)
          : fmt::format("image pixels sha256 {} != locked {}", got, want);
  return gate_finding("smoke:image", "smoke image", Verdict::fail, detail,
                      "the text encoders, MMDiT or VAE give another picture on this machine: run "
                      "`sd35-setup smoke --prompt` with the locked image.params to compare, or "
                      "re-lock (`sd35-setup up`) if the change is intended");
}

Finding fingerprint_failure(std::string detail, std::string fix) {
  return gate_finding("smoke:fingerprint", "smoke fingerprint", Verdict::fail, std::move(detail),
                      std::move(fix));
}

std::optional<Finding> environment_finding(const nlohmann::json& locked,
                                           const nlohmann::json& doc) {
  if (!locked.contains("environment")) return std::nullopt;  // a lock from before environments
  const auto now = doc.value("environment", nlohmann::json::object());
  const auto diffs = environment_differences(locked["environment"], now);
  if (diffs.empty())
    return gate_finding(
        "smoke:environment", "smoke environment", Verdict::pass,
        fmt::format("the same environment as locked: torch {} on {}",
                    now.value("torch", now.value("libtorch", "")), now.value("device", "")));
  return gate_finding("smoke:environment", "smoke environment", Verdict::fail,
                      fmt::format("{}", fmt::join(diffs, "; ")),
                      "this node runs another environment than the lock: reinstall from the lock "
                      "(lock export, pip install --require-hashes) or re-lock");
}

}  // namespace

SmokeParams smoke_params(const nlohmann::json& locked, const stdfs::path& cache_dir,
                         const SmokeEnvironment& where) {
  SmokeParams p;
  sampling_params(locked, p);
  // The same weights as the locked run: without synthetic the embedded run would now pick the
  // fetched model.
  if (string_at(locked, "mode") == "embedded")
    p.synthetic = true;
  else
    p.checkpoint = locked_checkpoint(locked, cache_dir);
  p.image = image_params(locked);
  if (p.image && !p.image->size.empty()) p.latent.reset();  // the size is the latent x 8
  const auto env = locked.value("environment", nlohmann::json::object());
  if (!where.venv.empty())
    p.venv = where.venv;
  else if (string_at(env, "kind") == "python")
    p.python = string_at(env, "interpreter");
  const auto side = locked.value("python_side", nlohmann::json::object());
  const auto companions = side.value("companions", nlohmann::json::object());
  for (const auto& [name, version] : companions.items())
    p.companions[name] = version.is_string() && !version.get<std::string>().empty()
                             ? "==" + version.get<std::string>()
                             : std::string();
  p.host_file = where.host_file;
  return p;
}

std::vector<std::string> environment_differences(const nlohmann::json& locked,
                                                 const nlohmann::json& now) {
  std::vector<std::string> out;
  for (const char* key : {"kind", "torch", "cuda", "device", "cc", "native_fp8", "fused_kernels"}) {
    const auto a = locked.contains(key) ? locked[key] : nlohmann::json();
    const auto b = now.contains(key) ? now[key] : nlohmann::json();
    if (a != b) out.push_back(fmt::format("{}: locked {} now {}", key, a.dump(), b.dump()));
  }
  return out;
}

std::vector<Finding> check_smoke(const std::optional<nlohmann::json>& locked,
                                 const stdfs::path& cache_dir, const SmokeEnvironment& where,
                                 const SmokeRunner& run) {
  if (!locked || !locked->is_object() || !locked->contains("fingerprint"))
    return {fingerprint_failure("the lock has no smoke fingerprint to compare",
                                "lock with --smoke-result FILE from `sd35-setup smoke --json`")};
  auto outcome = run(smoke_params(*locked, cache_dir, where));
  if (!outcome || !outcome->passed || !outcome->document.contains("fingerprint")) {
    const std::string why =
        !outcome ? outcome.error().describe()
        : outcome->document.contains("error")
            ? outcome->document["error"].value("message", std::string("?"))
            : std::string(outcome->passed ? "no fingerprint in its result" : "it did not pass");
    return {fingerprint_failure("`sd35-setup smoke` in the locked environment failed: " + why,
                                "run `sd35-setup smoke` by hand to see why")};
  }
  std::vector<Finding> out;
  const nlohmann::json& doc = outcome->document;
  if (auto env = environment_finding(*locked, doc)) out.push_back(std::move(*env));
  if (doc["fingerprint"] == locked->at("fingerprint"))
    out.push_back(gate_finding("smoke:fingerprint", "smoke fingerprint", Verdict::pass,
                               "the smoke run reproduces the locked fingerprint"));
  else
    out.push_back(
        fingerprint_failure(fmt::format("fingerprint {} != locked {}", doc["fingerprint"].dump(),
                                        locked->at("fingerprint").dump()),
                            "the model, wheels or GPU behave differently from the locked run"));
  // The run's timings for metrics (fleet::prometheus_text): step time per path, GEMM probe.
  for (const char* key : {"paths", "gemm_probe"})
    if (doc.contains(key)) out.back().data[key] = doc[key];
  if (!locked_image_fingerprint(*locked).empty() && image_params(*locked))
    out.push_back(image_finding(*locked, doc));
  return out;
}

}  // namespace sd35::gate
