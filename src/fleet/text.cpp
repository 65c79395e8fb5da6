// Quoting for the generated files: shell words, Slurm reasons, Prometheus labels, YAML scalars.
#include <fmt/format.h>

#include <array>
#include <cctype>
#include <string_view>

#include "fleet/fleet.hpp"

namespace sd35::fleet {

std::string short_digest(const std::string& lock_digest) {
  std::string_view hex = lock_digest;
  if (const auto colon = hex.find(':'); colon != std::string_view::npos)
    hex.remove_prefix(colon + 1);
  return std::string(hex.substr(0, 16));
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string prometheus_label_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string slurm_reason(std::string_view gate_line) {
  std::string text;
  bool space = false;
  for (unsigned char c : gate_line) {
    const bool drop = c == '"' || c == '\'' || c == '`' || c == '\\';
    if (drop) continue;
    if (c < 0x20 || c >= 0x7f || c == ' ') {
      space = !text.empty();
      continue;
    }
    if (space) text += ' ';
    space = false;
    text += static_cast<char>(c);
  }
  std::string out = std::string(kSlurmReasonPrefix) + " " + text;
  if (out.size() > kMaxSlurmReason) out.resize(kMaxSlurmReason);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

namespace {

// A string YAML 1.1 and 1.2 readers both take back as this same string when written plain.
bool plain_safe(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  static constexpr std::array<std::string_view, 22> kReserved = {
      "true",  "false", "yes", "no", "on",  "off", "y", "n",    "null", "~",    "True",
      "False", "Yes",   "No",  "On", "Off", "Y",   "N", "NULL", "Null", "TRUE", "FALSE"};
  for (auto r : kReserved)
    if (s == r) return false;
  if (!std::isalpha(static_cast<unsigned char>(s[0])) && s[0] != '/') return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '-' && c != '_' && c != '.' && c != '/') return false;
  }
  return true;
}

std::string scalar(const nlohmann::ordered_json& v) {
  if (!v.is_string()) return v.dump();
  const auto& s = v.get_ref<const std::string&>();
  return plain_safe(s) ? s : nlohmann::json(s).dump();  // JSON strings are YAML double-quoted
}

bool multi_line(const nlohmann::ordered_json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.find('\n') != std::string::npos && s.front() != ' ' && s.find('\t') == std::string::npos;
}

// "|" (or "|-" without a final newline) and the lines indented below the key.
std::string literal_block(const std::string& s, int indent) {
  const bool final_newline = s.back() == '\n';
  std::string out = final_newline ? "|\n" : "|-\n";
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  std::size_t start = 0;
  const std::string body = final_newline ? s.substr(0, s.size() - 1) : s;
  while (start <= body.size()) {
    const auto end = body.find('\n', start);
    const auto line =
        body.substr(start, end == std::string::npos ? std::string::npos : end - start);
    out += (line.empty() ? "" : pad + line) + "\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

void emit(const nlohmann::ordered_json& v, int indent, std::string& out);

// The value after "key:" or "- ": inline for scalars and empty containers, else on new lines.
void emit_after(const nlohmann::ordered_json& v, int indent, bool in_list, std::string& out) {
  if (multi_line(v)) {
    out += " " + literal_block(v.get<std::string>(), indent + 2);
  } else if ((v.is_object() || v.is_array()) && !v.empty()) {
    if (in_list && v.is_object()) {
      // "- key: value" with the rest of the mapping aligned under the first key.
      std::string inner;
      emit(v, indent + 2, inner);
      out += " " + inner.substr(static_cast<std::size_t>(indent) + 2);
      return;
    }
    out += "\n";
    emit(v, v.is_array() && !in_list ? indent : indent + 2, out);
  } else {
    out += " " + (v.is_object() ? std::string("{}") : v.is_array() ? "[]" : scalar(v)) + "\n";
  }
}

void emit(const nlohmann::ordered_json& v, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) {
      out += pad + scalar(nlohmann::ordered_json(key)) + ":";
      emit_after(value, indent, false, out);
    }
  } else if (v.is_array()) {
    for (const auto& item : v) {
      out += pad + "-";
      emit_after(item, indent, true, out);
    }
  } else {
    out += pad + scalar(v) + "\n";
  }
}

}  // namespace

std::string to_yaml(const nlohmann::ordered_json& value) {
  std::string out;
  emit(value, 0, out);
  return out;
}

}  // namespace sd35::fleet
