// `lorakit check`: how adapters bind to a model (or a built-in reference layout), from headers only.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lorakit/adapter.hpp"
#include "lorakit/model.hpp"

namespace lorakit::tools {

struct AdapterArg {
  std::string path;
  float strength = 1.0f;
};
// "file.safetensors:0.8" → {file.safetensors, 0.8}. The strength is taken from the text after the
// last ':' only when it parses as a number, so paths containing ':' still work.
AdapterArg parse_adapter_arg(const std::string& arg);

struct CheckOptions {
  std::string model_path;  // either a model file/folder ...
  std::string arch;        // ... or a reference layout name
  std::vector<AdapterArg> adapters;
};

struct CheckedAdapter {
  AdapterArg arg;
  adapter::Adapter adapter;
  // Every module bound and shape-checked, and the adapter's family agrees with the model.
  bool fully_matched() const;
  // fully_matched() and nothing else to report: no unused, ambiguous, conflicting, incomplete,
  // unsupported, duplicate or overlapping keys.
  bool clean() const;
};

struct CheckResult {
  model::ModelIndex model;
  std::vector<CheckedAdapter> adapters;
};

CheckResult check(const CheckOptions& opt);

std::string render_text(const CheckResult& r);
nlohmann::ordered_json render_json(const CheckResult& r);

}  // namespace lorakit::tools
