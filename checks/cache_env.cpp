#include <fmt/format.h>

#include "checks/check.hpp"

namespace sd35::checks {

static Finding run_cache_env(const CheckInfo& info, const CheckContext& ctx) {
  const auto& env = ctx.host.env;
  auto get = [&](const char* k) -> std::string {
    auto it = env.find(k);
    return it == env.end() ? std::string() : it->second;
  };
  std::vector<std::string> problems;
  std::string hub = get("HF_HUB_CACHE");
  if (hub.empty() && !get("HF_HOME").empty()) hub = get("HF_HOME") + "/hub";
  if (!get("TRANSFORMERS_CACHE").empty()) {
    problems.emplace_back(
        fmt::format("TRANSFORMERS_CACHE={} is deprecated (transformers v5 ignores it)",
                    get("TRANSFORMERS_CACHE")));
    if (!hub.empty() && hub != get("TRANSFORMERS_CACHE"))
      problems.emplace_back(
          fmt::format("TRANSFORMERS_CACHE and the hub cache ({}) differ: diffusers and "
                      "transformers would keep two copies",
                      hub));
  }
  if (!get("HUGGINGFACE_HUB_CACHE").empty()) {
    problems.emplace_back(
        fmt::format("HUGGINGFACE_HUB_CACHE={} is the deprecated spelling of HF_HUB_CACHE",
                    get("HUGGINGFACE_HUB_CACHE")));
    if (!get("HF_HUB_CACHE").empty() && get("HF_HUB_CACHE") != get("HUGGINGFACE_HUB_CACHE"))
      problems.emplace_back("HF_HUB_CACHE and HUGGINGFACE_HUB_CACHE disagree; HF_HUB_CACHE wins");
  }
  if (env.count("HF_TOKEN") && env.count("HUGGING_FACE_HUB_TOKEN"))
    problems.emplace_back(
        "both HF_TOKEN and the deprecated HUGGING_FACE_HUB_TOKEN are set; HF_TOKEN wins");
  std::string offline = get("HF_HUB_OFFLINE");
  if (!offline.empty() && offline != "0")
    problems.emplace_back("HF_HUB_OFFLINE is set: fetch will use the cache only");
  if (problems.empty())
    return make_finding(
        info, Verdict::pass,
        hub.empty() ? "no conflicting cache variables; default cache ~/.cache/huggingface/hub"
                    : fmt::format("cache variables consistent (hub cache {})", hub));
  std::string detail;
  for (const auto& p : problems) detail += (detail.empty() ? "" : "; ") + p;
  return make_finding(info, Verdict::warn, detail,
                      "use only HF_HOME or HF_HUB_CACHE (and HF_TOKEN); unset TRANSFORMERS_CACHE "
                      "and HUGGINGFACE_HUB_*");
}

extern const CheckDef cache_env{
    {"cache.env", "Cache environment variables",
     "no deprecated or conflicting Hugging Face cache/token variables are set",
     "keep HF_HOME / HF_HUB_CACHE / HF_TOKEN only", false},
    run_cache_env};

}  // namespace sd35::checks
