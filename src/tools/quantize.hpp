// `lorakit quantize`: re-encode every weight tensor (≥ 2 dims, float-valued) of a model to one type,
// streaming tensor by tensor in row chunks, written atomically.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lorakit/codec.hpp"
#include "lorakit/dtype.hpp"

namespace lorakit::tools {

struct QuantizeOptions {
  std::string input;
  std::string output;  // ".gguf" or ".safetensors" (float types only)
  DType type = DType::Q8_0;
  codec::EncodeOptions encode;
  // Called after each chunk with (bytes of input processed, total input bytes).
  std::function<void(uint64_t, uint64_t)> progress;
};

enum class KeepReason { FewerThan2Dims, NotFloat, NoDecoder, RowNotMultipleOfBlock };

struct KeptTensor {
  std::string name;
  DType dtype;
  KeepReason why;
  std::string reason;  // the same in words, with the numbers
};

struct QuantizeResult {
  uint64_t converted = 0;
  std::vector<KeptTensor> kept;  // tensors that keep their type, with why
  uint64_t input_bytes = 0;      // tensor data read
  uint64_t output_bytes = 0;     // tensor data written
  double seconds = 0;
};

QuantizeResult quantize(const QuantizeOptions& opt);

// llama.cpp's general.file_type code for a model quantized uniformly to `t` (nullopt when none fits).
std::optional<uint32_t> gguf_file_type(DType t);

}  // namespace lorakit::tools
