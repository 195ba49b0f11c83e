// Facts of the GGUF container that the reader and the writer share (file-formats.md §2.1, §2.6,
// §2.8), plus the small checks both sides apply the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "lorakit/dtype.hpp"
#include "lorakit/io.hpp"

namespace lorakit::io::gguf {

inline constexpr std::string_view kMagic = "GGUF";
inline constexpr uint32_t kVersion = 3;
inline constexpr uint32_t kDefaultAlignment = 32;

inline constexpr std::string_view kAlignmentKey = "general.alignment";
inline constexpr std::string_view kQuantizationVersionKey = "general.quantization_version";
inline constexpr uint32_t kQuantizationVersion = 2;
// ComfyUI-GGUF's logical-shape override (file-formats.md §3.1, §3.3).
inline constexpr std::string_view kOrigShapePrefix = "comfy.gguf.orig_shape.";

// n_dims 1..5: ComfyUI-GGUF stores 5-D Conv3d weights; 0 and 6+ are refused (§2.6, §8 q.3).
inline constexpr uint32_t kMaxDims = 5;
// Tensor-name limits: what the reader accepts, what the writer accepts, and what stock ggml reads.
inline constexpr uint64_t kReaderMaxNameBytes = 4096;
inline constexpr uint64_t kWriterMaxNameBytes = 127;
inline constexpr uint64_t kStockGgmlMaxNameBytes = 63;
// ggml refuses longer strings and arrays even when the file holds them (§2.5).
inline constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;
inline constexpr uint64_t kMaxArrayElements = uint64_t{1} << 30;
// Smallest encodings, used to bound header counts by the bytes left before anything is allocated
// (§2.6): a KV pair is at least a key length and a value type; a tensor info at least a name
// length, n_dims, type and offset.
inline constexpr uint64_t kMinKvBytes = 8 + 4;
inline constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;

// Value type ids are 0..12.
inline constexpr uint32_t kMaxValueType = 12;

// "U8", "STRING", ...
std::string_view type_name(GgufType t);
// Encoded size of one scalar; 0 for STRING and ARRAY (variable length).
uint64_t scalar_size(GgufType t);
// Smallest encoding of one array element of type t (a STRING is at least its 8-byte length).
uint64_t min_element_size(GgufType t);

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s);

// A ggml block type, i.e. one that makes general.quantization_version mandatory.
bool is_quantized(DType t);

// x rounded up to a multiple of `alignment` (a power of two); nullopt on overflow.
std::optional<uint64_t> align_up(uint64_t x, uint64_t alignment);

inline bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace lorakit::io::gguf
