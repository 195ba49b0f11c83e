// A TensorSource over one or more mapped safetensors files: a single file, the shards of a sharded
// checkpoint, or the components of a diffusers folder. The loaders collect files, tensors and
// metadata into SourceParts; MultiFileSource then serves zero-copy views from the mappings.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/io.hpp"

namespace lorakit::io {

struct SourceParts {
  std::vector<MappedFile> files;
  std::vector<TensorInfo> tensors;  // file_index refers to `files`
  std::vector<MetadataEntry> metadata;
};

// Maps `file`, validates it completely as safetensors and appends it to `parts`: its tensors in
// data order, named `prefix` + name; its metadata keys that `parts` does not hold yet. Returns the
// new file's index.
uint32_t add_safetensors_file(SourceParts& parts, const std::string& file, std::string_view prefix);

class MultiFileSource final : public TensorSource {
 public:
  // Throws FormatError(path, "duplicate_key", ...) when two tensors share a name.
  MultiFileSource(std::string path, SourceParts parts);

  const std::string& path() const override { return path_; }
  FileFormat format() const override { return FileFormat::Safetensors; }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  const TensorInfo* find(std::string_view name) const override;
  TensorView view(std::string_view name) const override;
  TensorView view(const TensorInfo& info) const override;
  const std::vector<MetadataEntry>& metadata() const override { return metadata_; }
  std::vector<const MappedFile*> files() const override;

 private:
  std::string path_;
  std::vector<MappedFile> files_;
  std::vector<TensorInfo> tensors_;
  std::vector<uint32_t> by_name_;  // indices into tensors_, sorted by name (byte-wise)
  std::vector<MetadataEntry> metadata_;
};

}  // namespace lorakit::io
