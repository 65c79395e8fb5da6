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

const nlohmann::json* image_params_json(const nlohmann::json& locked) {
  if (!locked.contains("image") || !locked["image"].is_object()) return nullptr;
  const auto it = locked["image"].find("params");
  return it != locked["image"].end() && it->is_object() ? &*it : nullptr;
}

// How many prompts the locked run had (`batch`; 1 when not recorded, 0 when not a count).
std::size_t locked_batch(const nlohmann::json& params) {
  if (!params.contains("batch")) return 1;
  const auto& b = params["batch"];
  return b.is_number_integer() && b.get<std::int64_t>() > 0 ? b.get<std::size_t>() : 0;
}

// params[key] when it is an array of exactly `n` strings.
std::optional<std::vector<std::string>> strings_at(const nlohmann::json& params, const char* key,
                                                   std::size_t n) {
  const auto it = params.find(key);
  if (it == params.end() || !it->is_array() || it->size() != n) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& s : *it) {
    if (!s.is_string()) return std::nullopt;
    out.push_back(s.get<std::string>());
  }
  return out;
}

// The locked batch: `prompts` and `negative_prompts` for a batch of several, else the `prompt`
// and `negative_prompt` of a single run (the form of every lock before batches were recorded).
// nullopt: a batch lock from before then, which records only its first prompt.
std::optional<ImageParams> locked_batch_prompts(const nlohmann::json& params) {
  const std::size_t batch = locked_batch(params);
  ImageParams ip;
  if (batch == 1 && params.contains("prompt")) {
    ip.prompts = {string_at(params, "prompt")};
    ip.negatives = {string_at(params, "negative_prompt")};
    return ip;
  }
  auto prompts = strings_at(params, "prompts", batch);
  auto negatives = strings_at(params, "negative_prompts", batch);
  if (batch < 2 || !prompts || !negatives) return std::nullopt;
  ip.prompts = std::move(*prompts);
  ip.negatives = std::move(*negatives);
  return ip;
}

// The locked prompt run with its seed and size, when the lock records all of its prompts.
std::optional<ImageParams> image_params(const nlohmann::json& locked) {
  const nlohmann::json* params = image_params_json(locked);
  if (params == nullptr) return std::nullopt;
  auto ip = locked_batch_prompts(*params);
  if (!ip) return std::nullopt;
  if (params->contains("seed") && (*params)["seed"].is_number_integer())
    ip->seed = (*params)["seed"].get<std::int64_t>();
  ip->size = string_at(*params, "size");
  return ip;
}

std::string locked_image_fingerprint(const nlohmann::json& locked) {
  if (!locked.contains("image") || !locked["image"].is_object()) return {};
  return string_at(locked["image"], "fingerprint");
}

// "the locked prompt" or "the locked batch of N prompts" (the run's own record of its batch).
std::string what_ran(const nlohmann::json& doc, std::size_t locked_prompts) {
  const nlohmann::json* params = image_params_json(doc);
  const std::size_t batch = params != nullptr ? locked_batch(*params) : locked_prompts;
  return batch == 1 ? std::string("the locked prompt")
                    : fmt::format("the locked batch of {} prompts", batch);
}

// How to see the difference by hand, and how to accept it.
std::string image_fix(const ImageParams& ip) {
  const char* start = "the text encoders, MMDiT or VAE give another picture on this machine: run ";
  if (ip.prompts.size() == 1)
    return std::string(start) +
           "`sd35-setup smoke --prompt` with the locked image.params to compare, or re-lock "
           "(`sd35-setup up`) if the change is intended";
  return std::string(start) +
         "`sd35-setup smoke` with each of the locked image.params.prompts as --prompt and each of "
         "image.params.negative_prompts as --negative, in order (the whole batch: its first "
         "picture depends on it) to compare, or re-lock (`lock --smoke-result` of that run's "
         "--json result) if the change is intended";
}

// smoke:image: the same picture from the same prompts, seed and size (the pixels' sha256).
Finding image_finding(const nlohmann::json& locked, const ImageParams& ip,
                      const nlohmann::json& doc) {
  const std::string want = locked_image_fingerprint(locked);
  const std::string got = doc.contains("image") && doc["image"].is_object()
                              ? string_at(doc["image"], "fingerprint")
                              : std::string();
  const std::string ran = what_ran(doc, ip.prompts.size());
  if (got == want)
    return gate_finding("smoke:image", "smoke image", Verdict::pass,
                        fmt::format("{} makes the locked {}image again (pixels sha256 {})", ran,
                                    ip.prompts.size() > 1 ? "first " : "", want.substr(0, 16)));
  const std::string detail =
      got.empty()
          ? fmt::format("{} made no image here ({}); locked pixels sha256 {}", ran,
                        doc.value("image_note", std::string("no image in the result")), want)
      : ip.prompts.size() == 1
          ? fmt::format("image pixels sha256 {} != locked {}", got, want)
          : fmt::format("{}: first image pixels sha256 {} != locked {}", ran, got, want);
  return gate_finding("smoke:image", "smoke image", Verdict::fail, detail, image_fix(ip));
}

// A batch lock from before whole batches were recorded: only its first prompt is known.
Finding image_not_rerun(const nlohmann::json& locked) {
  const nlohmann::json* params = image_params_json(locked);
  return gate_finding(
      "smoke:image", "smoke image", Verdict::skip,
      fmt::format("the lock's image.params do not record every prompt of its run (batch {}; "
                  "a lock of a batch made before sd35-setup recorded whole batches): its image "
                  "is not re-run",
                  params != nullptr ? params->value("batch", nlohmann::json()).dump() : "?"),
      "re-lock with the result of the same `sd35-setup smoke --json --prompt …` batch to gate "
      "its image too");
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
  if (!locked_image_fingerprint(*locked).empty()) {
    if (const auto ip = image_params(*locked))
      out.push_back(image_finding(*locked, *ip, doc));
    else if (image_params_json(*locked) != nullptr)
      out.push_back(image_not_rerun(*locked));
  }
  return out;
}

}  // namespace sd35::gate
