// `lorakit inspect`: what a tensor file holds — format, tensor count, dtype histogram, parameters, bytes,
// metadata, and optionally one line per tensor.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lorakit/io.hpp"

namespace lorakit::tools {

struct DTypeCount {
  uint64_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t bytes = 0;
};

struct InspectResult {
  std::string path;
  io::FileFormat format = io::FileFormat::Safetensors;
  uint64_t file_bytes = 0;  // all backing files together
  uint32_t files = 0;
  uint64_t tensor_count = 0;
  uint64_t parameters = 0;
  uint64_t tensor_bytes = 0;
  std::map<DType, DTypeCount> histogram;
  std::vector<io::MetadataEntry> metadata;
  std::vector<io::TensorInfo> tensors;  // in data order
};

// Opens and fully validates `path` (throws lorakit::Error subclasses on bad input).
InspectResult inspect(const std::string& path);

// Human-readable report. Long metadata values are cut to `max_value_chars` with a note of their size.
std::string render_text(const InspectResult& r, bool with_tensors, size_t max_value_chars = 160);
// Stable JSON: {"path","format","files","file_bytes","tensor_count","parameters","tensor_bytes",
//  "dtypes": {NAME: {"tensors","parameters","bytes"}}, "metadata": {key: value},
//  "tensors": [{"name","dtype","shape","bytes"}] (only with_tensors)}.
nlohmann::ordered_json render_json(const InspectResult& r, bool with_tensors);

std::string shape_string(const std::vector<uint64_t>& shape);
std::string human_bytes(uint64_t n);

}  // namespace lorakit::tools
