// An environment's torch facts remembered between runs, so a cached smoke needs no Python answer
// before it can pick its plugin: the interpreter's Python side then runs beside the native smoke
// instead of before it (import torch alone is 1.8-4 s on a GPU box).
//
// Only the facts a plugin is chosen by are remembered (the probe's "python" and "torch" sections),
// never a verdict: every smoke still runs the Python side, and app/smoke_env compares its fresh
// answer with what was remembered. The record is trusted only while the interpreter and torch's
// files are as they were (size + mtime of the interpreter, torch/version.py, torch's libraries
// and the nvidia-* package folder), the way the model verification trusts its stat cache.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace sd35::pyenv {

// The remembered probe answer for this interpreter, or nullopt (none, unreadable, or a stamped
// file changed).
std::optional<nlohmann::json> remembered_probe(const std::string& interpreter);

// Remembers the "python" and "torch" sections of a probe answer; best effort (a cache that cannot
// be written costs a slower next run, nothing else).
void remember_probe(const std::string& interpreter, const nlohmann::json& probe);

void forget_probe(const std::string& interpreter);

}  // namespace sd35::pyenv
