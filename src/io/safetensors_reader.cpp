// open_safetensors: one file, validated completely, served as zero-copy views of its mapping.
#include "io/multi_file_source.hpp"
#include "lorakit/io.hpp"

namespace lorakit::io {

std::unique_ptr<TensorSource> open_safetensors(const std::string& path) {
  SourceParts parts;
  add_safetensors_file(parts, path, "");
  return std::make_unique<MultiFileSource>(path, std::move(parts));
}

}  // namespace lorakit::io
