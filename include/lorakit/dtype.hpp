// Element types: every dtype a safetensors header may name and every ggml tensor type a GGUF file may
// hold, in one vocabulary. The traits here are facts of the formats (block geometry, names, ids); how to
// decode or encode each type lives in the codec layer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace lorakit {

enum class DType : uint8_t {
  // Plain element types (safetensors and, where an id exists, GGUF).
  BOOL,
  F4,
  F6_E2M3,
  F6_E3M2,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,  // float8_e4m3fn
  F8_E8M0,
  F8_E4M3FNUZ,
  F8_E5M2FNUZ,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  C64,
  F64,
  I64,
  U64,
  // ggml block types (GGUF only).
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q8_1,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  Q8_K,
  IQ2_XXS,
  IQ2_XS,
  IQ3_XXS,
  IQ1_S,
  IQ4_NL,
  IQ3_S,
  IQ2_S,
  IQ4_XS,
  IQ1_M,
  TQ1_0,
  TQ2_0,
  MXFP4,
  NVFP4,
  Q1_0,
  Q2_0,
  kCount
};

struct DTypeTraits {
  DType dtype;
  std::string_view name;              // canonical name, e.g. "F16", "Q4_K"
  uint32_t block_elements;            // elements per block (1 for plain types; 2 for F4, 4 for F6)
  uint32_t block_bytes;               // bytes per block
  bool in_safetensors;                // a safetensors header may name it (with `name`)
  int ggml_id;                        // ggml_type id, or -1 when GGUF cannot hold it
  bool is_float;                      // holds real numbers (weights), as opposed to integers/bools
};

// Traits of one type.
const DTypeTraits& traits(DType t);
inline std::string_view name(DType t) { return traits(t).name; }
// All types, in enum order.
std::span<const DTypeTraits> all_dtypes();

// Lookups; nullopt when the name/id is not a known type. Names are case-sensitive.
std::optional<DType> dtype_from_safetensors_name(std::string_view s);
std::optional<DType> dtype_from_ggml_id(uint32_t id);
// Any canonical name, case-insensitive (for command-line options such as `--type q4_k`).
std::optional<DType> dtype_from_user_name(std::string_view s);

// Total bytes of `elements` elements of type t; nullopt on overflow or when `elements` is not a whole
// number of blocks.
std::optional<uint64_t> bytes_for(DType t, uint64_t elements);

}  // namespace lorakit
