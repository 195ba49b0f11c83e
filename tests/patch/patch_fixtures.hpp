// Test fixtures for the patch layer: small model and adapter files with real names, written to a
// scratch folder with lorakit's own writers, and float64 helpers for reference computations.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lorakit/dtype.hpp"
#include "lorakit/io.hpp"

namespace lorakit::testing {

struct FileTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::vector<float> values;  // encoded into dtype when written
};

// Deterministic normal(0, sigma) values.
std::vector<float> randn(uint64_t n, uint64_t seed, float sigma = 1.0f);

// Writes tensors (values encoded into each dtype) as .safetensors or .gguf by the extension.
void write_tensors(const std::filesystem::path& p, const std::vector<FileTensor>& tensors,
                   const std::vector<io::MetadataEntry>& gguf_kv = {});

// The tensors of a built-in reference layout ("sd1", "sdxl", "flux", …) whose names contain one of
// `keep` (substrings), with every dimension that is a multiple of 3072 divided by `shrink` (a small
// FLUX keeps its structure at hidden width 3072/shrink), values normal(0, 0.05) from `seed`, and
// 1-D tensors (norm scales) near 1.
std::vector<FileTensor> mini_model(const std::string& reference, const std::vector<std::string>& keep,
                                   DType dtype, uint64_t seed = 1, uint64_t shrink = 1);

// Reads a tensor of an opened source as fp32 (any dtype).
std::vector<float> read_f32(const io::TensorSource& src, const std::string& name);

}  // namespace lorakit::testing
