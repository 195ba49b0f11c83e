#include "io/safetensors_sharded.hpp"

#include <filesystem>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "io/safetensors_json.hpp"

namespace lorakit::io {
namespace fs = std::filesystem;

namespace {

// A shard is named relative to the index's folder and must stay inside it.
bool is_safe_relative(const std::string& name) {
  if (name.empty()) return false;
  fs::path p(name);
  if (p.is_absolute() || p.has_root_name()) return false;
  for (const auto& part : p)
    if (part == "..") return false;
  return true;
}

}  // namespace

void add_sharded_safetensors(SourceParts& parts, const std::string& index,
                             std::string_view prefix) {
  const std::string text = read_small_file(index, kMaxIndexFileBytes);
  const nlohmann::ordered_json doc = parse_json_document(text, index);
  auto bad = [&](std::string message) {
    return FormatError(index, "bad_index", std::move(message));
  };
  if (!doc.is_object()) throw bad("a shard index must be a JSON object with a \"weight_map\"");
  auto wm = doc.find("weight_map");
  if (wm == doc.end()) throw bad("missing \"weight_map\" (tensor name → shard file)");
  if (!wm->is_object()) throw bad("\"weight_map\" must be an object of tensor name → shard file");
  if (wm->empty()) throw bad("\"weight_map\" names no tensor");

  std::map<std::string, std::string, std::less<>> shard_of;  // tensor name → shard file
  std::set<std::string> shards;  // sorted by file name: the order of the source
  for (const auto& [name, value] : wm->items()) {
    if (!value.is_string())
      throw bad("\"weight_map\" entry " + json_quote(name) +
                " must be a shard file name (a string)");
    const auto& shard = value.get_ref<const std::string&>();
    if (!is_safe_relative(shard))
      throw bad("\"weight_map\" entry " + json_quote(name) + " names shard " + json_quote(shard) +
                ", which is not a file name relative to the index's folder");
    shard_of.emplace(name, shard);
    shards.insert(shard);
  }

  const fs::path dir = fs::path(index).parent_path();
  for (const std::string& shard : shards) {
    const std::string shard_path = (dir / shard).string();
    std::error_code ec;
    if (!fs::exists(shard_path, ec)) {
      std::string example;
      for (const auto& [name, s] : shard_of)
        if (s == shard) {
          example = name;
          break;
        }
      throw FormatError(index, "missing_shard",
                        "\"weight_map\" maps tensor " + json_quote(example) + " to shard " +
                            json_quote(shard) + ", which does not exist (looked for " + shard_path +
                            ")");
    }
    const size_t first = parts.tensors.size();
    add_safetensors_file(parts, shard_path, prefix);

    // The shard and the map must agree in both directions.
    std::set<std::string_view> held;
    for (size_t i = first; i < parts.tensors.size(); ++i) {
      std::string_view name = std::string_view(parts.tensors[i].name).substr(prefix.size());
      held.insert(name);
      auto it = shard_of.find(name);
      if (it == shard_of.end())
        throw FormatError(index, "index_mismatch",
                          "shard " + json_quote(shard) + " holds tensor " + json_quote(name) +
                              ", which \"weight_map\" does not list");
      if (it->second != shard)
        throw FormatError(index, "index_mismatch",
                          "shard " + json_quote(shard) + " holds tensor " + json_quote(name) +
                              ", which \"weight_map\" assigns to shard " + json_quote(it->second));
    }
    for (const auto& [name, s] : shard_of)
      if (s == shard && !held.contains(name))
        throw FormatError(index, "index_mismatch",
                          "\"weight_map\" maps tensor " + json_quote(name) + " to shard " +
                              json_quote(shard) + ", but that shard does not hold it");
  }
}

std::unique_ptr<TensorSource> open_sharded_safetensors(const std::string& index) {
  SourceParts parts;
  add_sharded_safetensors(parts, index, "");
  return std::make_unique<MultiFileSource>(index, std::move(parts));
}

}  // namespace lorakit::io
