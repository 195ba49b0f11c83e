// The GGUF reader: validates a whole file against file-formats.md §2.5/§2.6 (and the logical-shape
// rule of §3.3) and serves zero-copy views of its tensors. open_gguf() returns one of these; tools
// that want the GGUF-only facts (version, alignment, warnings, trailing bytes) can ask for it
// directly.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lorakit/io.hpp"

namespace lorakit::io {

class GgufSource final : public TensorSource {
 public:
  // Throws FormatError (category = the `error_class` vocabulary of testdata/gguf/README.md, plus
  // bad_utf8, bad_name, bad_string, bad_padding and bad_orig_shape) or IoError.
  static std::unique_ptr<GgufSource> open(const std::string& path);

  const std::string& path() const override { return path_; }
  FileFormat format() const override { return FileFormat::Gguf; }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  const TensorInfo* find(std::string_view name) const override;
  TensorView view(std::string_view name) const override;
  TensorView view(const TensorInfo& info) const override;
  const std::vector<MetadataEntry>& metadata() const override { return metadata_; }
  std::vector<const MappedFile*> files() const override { return {&file_}; }

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  // Absolute offset of the data section (the end of the header when there are no tensors).
  uint64_t data_start() const { return data_start_; }
  // Bytes after the last tensor's data and its padding (accepted, shown in verbose output).
  uint64_t trailing_bytes() const { return trailing_bytes_; }
  // Findings that do not make the file invalid, e.g. non-zero padding between tensors.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // nullptr when absent.
  const GgufValue* find_metadata(std::string_view key) const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Index = std::unordered_map<std::string, size_t, Hash, std::equal_to<>>;
  friend class GgufParser;

  GgufSource() = default;

  std::string path_;
  MappedFile file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 0;
  uint64_t data_start_ = 0;
  uint64_t trailing_bytes_ = 0;
  std::vector<MetadataEntry> metadata_;
  std::vector<TensorInfo> tensors_;
  Index metadata_index_;
  Index tensor_index_;
  std::vector<std::string> warnings_;
};

}  // namespace lorakit::io
