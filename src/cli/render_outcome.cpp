// The end of every command: one result document, with the error merged in when it failed.
#include "cli/render.hpp"

namespace sd35::cli {

nlohmann::json error_document(const Error& error, int exit_code, nlohmann::json document) {
  if (!document.is_object()) document = nlohmann::json::object();
  document["ok"] = false;
  document["exit_code"] = exit_code;
  document["error"] = {{"code", to_string(error.code)},
                       {"message", error.message},
                       {"where", error.where},
                       {"hint", error.hint}};
  if (!document.contains("summary")) document["summary"] = nlohmann::json::array();
  return document;
}

void OneResult::result(std::string_view kind, const nlohmann::json& document) {
  kind_ = std::string(kind);
  document_ = document;
}

void OneResult::conclude(const Error* error, int exit_code) {
  if (error) {
    inner_.event(Level::error, error->describe(),
                 {{"code", to_string(error->code)},
                  {"exit_code", exit_code},
                  {"where", error->where},
                  {"hint", error->hint}});
    inner_.result(kind_, error_document(*error, exit_code, document_.value_or(nlohmann::json())));
    return;
  }
  if (!document_) return;
  if (exit_code != 0) {  // not ready (3) or verification failed (4): say so in the document too
    (*document_)["ok"] = false;
    (*document_)["exit_code"] = exit_code;
  }
  inner_.result(kind_, *document_);
}

}  // namespace sd35::cli
