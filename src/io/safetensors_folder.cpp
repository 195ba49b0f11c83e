#include "io/safetensors_folder.hpp"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "io/multi_file_source.hpp"
#include "io/safetensors_json.hpp"
#include "io/safetensors_sharded.hpp"

namespace lorakit::io {
namespace fs = std::filesystem;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool ends_with(const std::string& s, std::string_view suffix) { return s.ends_with(suffix); }

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

void add_weights(SourceParts& parts, const FolderWeights& w, std::string_view prefix) {
  if (w.kind == FolderWeights::Kind::Single)
    add_safetensors_file(parts, w.path, prefix);
  else if (w.kind == FolderWeights::Kind::Sharded)
    add_sharded_safetensors(parts, w.path, prefix);
}

// A component key of model_index.json names a folder directly inside the pipeline folder.
bool is_plain_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

std::unique_ptr<TensorSource> open_diffusers(const std::string& folder) {
  const std::string index = (fs::path(folder) / "model_index.json").string();
  const auto doc = parse_json_document(read_small_file(index, kMaxIndexFileBytes), index);
  if (!doc.is_object())
    throw FormatError(index, "bad_index", "model_index.json must be a JSON object of components");

  SourceParts parts;
  std::vector<std::string> listed;
  for (const auto& [key, value] : doc.items()) {
    // Components are {"name": [library, class]}; keys starting with "_" are pipeline attributes,
    // [null, null] marks an absent optional component, other values are pipeline options.
    if (key.starts_with("_") || !value.is_array() || value.empty() || value[0].is_null()) continue;
    if (!is_plain_name(key))
      throw FormatError(
          index, "bad_index",
          "component " + json_quote(key) + " is not a folder name inside the pipeline");
    listed.push_back(key);
    const fs::path dir = fs::path(folder) / key;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    FolderWeights w = find_folder_weights(dir.string());
    add_weights(parts, w, key + ".");
  }
  if (parts.files.empty())
    throw FormatError(folder, "no_weights",
                      "model_index.json lists components (" + join(listed) +
                          ") but none of their folders holds safetensors weights");
  return std::make_unique<MultiFileSource>(folder, std::move(parts));
}

}  // namespace

FolderWeights find_folder_weights(const std::string& folder) {
  const fs::path dir(folder);
  for (const char* name : {"diffusion_pytorch_model.safetensors", "model.safetensors"})
    if (is_file(dir / name)) return {FolderWeights::Kind::Single, (dir / name).string()};
  for (const char* name :
       {"diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json"})
    if (is_file(dir / name)) return {FolderWeights::Kind::Sharded, (dir / name).string()};

  std::vector<std::string> indexes, files, pickles;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::error_code ec2;
    if (!entry.is_regular_file(ec2)) continue;
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".")) continue;  // hidden, e.g. a writer's temporary file
    if (ends_with(name, ".safetensors.index.json"))
      indexes.push_back(name);
    else if (ends_with(name, ".safetensors"))
      files.push_back(name);
    else if (ends_with(name, ".bin") || ends_with(name, ".pt") || ends_with(name, ".pth") ||
             ends_with(name, ".ckpt"))
      pickles.push_back(name);
  }
  if (ec) throw IoError(folder + ": cannot list the folder: " + ec.message());
  std::sort(indexes.begin(), indexes.end());
  std::sort(files.begin(), files.end());
  if (indexes.size() == 1) return {FolderWeights::Kind::Sharded, (dir / indexes[0]).string()};
  if (indexes.size() > 1)
    throw FormatError(
        folder, "ambiguous_folder",
        "holds several shard indexes (" + join(indexes) + "); open the one you mean directly");
  if (files.size() == 1) return {FolderWeights::Kind::Single, (dir / files[0]).string()};
  if (files.size() > 1)
    throw FormatError(folder, "ambiguous_folder",
                      "holds several safetensors files (" + join(files) +
                          ") and no shard index; open the one you mean directly");
  if (!pickles.empty())
    throw UnsupportedError(folder + ": holds only PyTorch pickle weights (" + join(pickles) +
                           "); lorakit reads safetensors and GGUF");
  return {};
}

std::unique_ptr<TensorSource> open_safetensors_folder(const std::string& folder) {
  if (is_file(fs::path(folder) / "model_index.json")) return open_diffusers(folder);
  FolderWeights w = find_folder_weights(folder);
  if (w.kind == FolderWeights::Kind::None)
    throw FormatError(folder, "unknown_format",
                      "folder holds no model_index.json, no *.safetensors file and no "
                      "*.safetensors.index.json");
  SourceParts parts;
  add_weights(parts, w, "");
  return std::make_unique<MultiFileSource>(folder, std::move(parts));
}

}  // namespace lorakit::io
