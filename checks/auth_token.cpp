#include <fmt/format.h>

#include "checks/check.hpp"

namespace sd35::checks {

static Finding run_auth_token(const CheckInfo& info, const CheckContext& ctx) {
  const auto& env = ctx.host.env;
  std::string source;
  if (env.count("HF_TOKEN"))
    source = "HF_TOKEN";
  else if (env.count("HUGGING_FACE_HUB_TOKEN"))
    source = "HUGGING_FACE_HUB_TOKEN";
  else if (auto it = env.find("HF_TOKEN_FILE"); it != env.end())
    source = "token file " + it->second;
  if (!ctx.manifest.model.gated)
    return make_finding(
        info, Verdict::pass,
        fmt::format("{} is not gated: no token needed{}", ctx.manifest.model.repo,
                    source.empty()
                        ? ""
                        : fmt::format(" ({} is set and will be sent only to the hub)", source)));
  if (source.empty())
    return make_finding(
        info, Verdict::fail,
        fmt::format(
            "{} is gated and no token was found (HF_TOKEN, HF_TOKEN_PATH, $HF_HOME/token); the "
            "download would fail with 401",
            ctx.manifest.model.repo),
        fmt::format("accept the licence at https://huggingface.co/{}, create a read token at "
                    "https://huggingface.co/settings/tokens and export HF_TOKEN",
                    ctx.manifest.model.repo));
  return make_finding(
      info, Verdict::pass,
      fmt::format(
          "{} is gated; a token is present ({}). Presence only: whether the licence was accepted "
          "is known at fetch time (403)",
          ctx.manifest.model.repo, source));
}

extern const CheckDef auth_token{
    {"auth.token", "Token for gated models",
     "a Hugging Face token is available when the manifest's repo is gated",
     "export HF_TOKEN (and accept the licence on the model page)", true},
    run_auth_token};

}  // namespace sd35::checks
