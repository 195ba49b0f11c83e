// The dtype table: one row per type, in enum order. Block geometry of the ggml types follows ggml's
// `ggml-common.h` block structs (see ../shared/spec/file-formats.md §2.3).
#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "lorakit/dtype.hpp"

namespace lorakit {
namespace {

using T = DType;
// name, block elements, block bytes, safetensors?, ggml id, float?
constexpr std::array<DTypeTraits, static_cast<size_t>(DType::kCount)> kTable{{
    {T::BOOL, "BOOL", 1, 1, true, -1, false},
    {T::F4, "F4", 2, 1, true, -1, true},
    {T::F6_E2M3, "F6_E2M3", 4, 3, true, -1, true},
    {T::F6_E3M2, "F6_E3M2", 4, 3, true, -1, true},
    {T::U8, "U8", 1, 1, true, -1, false},
    {T::I8, "I8", 1, 1, true, 24, false},
    {T::F8_E5M2, "F8_E5M2", 1, 1, true, -1, true},
    {T::F8_E4M3, "F8_E4M3", 1, 1, true, -1, true},
    {T::F8_E8M0, "F8_E8M0", 1, 1, true, -1, true},
    {T::F8_E4M3FNUZ, "F8_E4M3FNUZ", 1, 1, true, -1, true},
    {T::F8_E5M2FNUZ, "F8_E5M2FNUZ", 1, 1, true, -1, true},
    {T::I16, "I16", 1, 2, true, 25, false},
    {T::U16, "U16", 1, 2, true, -1, false},
    {T::F16, "F16", 1, 2, true, 1, true},
    {T::BF16, "BF16", 1, 2, true, 30, true},
    {T::I32, "I32", 1, 4, true, 26, false},
    {T::U32, "U32", 1, 4, true, -1, false},
    {T::F32, "F32", 1, 4, true, 0, true},
    {T::C64, "C64", 1, 8, true, -1, false},
    {T::F64, "F64", 1, 8, true, 28, true},
    {T::I64, "I64", 1, 8, true, 27, false},
    {T::U64, "U64", 1, 8, true, -1, false},
    {T::Q4_0, "Q4_0", 32, 18, false, 2, true},
    {T::Q4_1, "Q4_1", 32, 20, false, 3, true},
    {T::Q5_0, "Q5_0", 32, 22, false, 6, true},
    {T::Q5_1, "Q5_1", 32, 24, false, 7, true},
    {T::Q8_0, "Q8_0", 32, 34, false, 8, true},
    {T::Q8_1, "Q8_1", 32, 36, false, 9, true},
    {T::Q2_K, "Q2_K", 256, 84, false, 10, true},
    {T::Q3_K, "Q3_K", 256, 110, false, 11, true},
    {T::Q4_K, "Q4_K", 256, 144, false, 12, true},
    {T::Q5_K, "Q5_K", 256, 176, false, 13, true},
    {T::Q6_K, "Q6_K", 256, 210, false, 14, true},
    {T::Q8_K, "Q8_K", 256, 292, false, 15, true},
    {T::IQ2_XXS, "IQ2_XXS", 256, 66, false, 16, true},
    {T::IQ2_XS, "IQ2_XS", 256, 74, false, 17, true},
    {T::IQ3_XXS, "IQ3_XXS", 256, 98, false, 18, true},
    {T::IQ1_S, "IQ1_S", 256, 50, false, 19, true},
    {T::IQ4_NL, "IQ4_NL", 32, 18, false, 20, true},
    {T::IQ3_S, "IQ3_S", 256, 110, false, 21, true},
    {T::IQ2_S, "IQ2_S", 256, 82, false, 22, true},
    {T::IQ4_XS, "IQ4_XS", 256, 136, false, 23, true},
    {T::IQ1_M, "IQ1_M", 256, 56, false, 29, true},
    {T::TQ1_0, "TQ1_0", 256, 54, false, 34, true},
    {T::TQ2_0, "TQ2_0", 256, 66, false, 35, true},
    {T::MXFP4, "MXFP4", 32, 17, false, 39, true},
    // block_nvfp4: 4 UE4M3 sub-block scales + 32 bytes of E2M1 nibbles; block_q1_0: fp16 scale + 128
    // sign bits; block_q2_0: fp16 scale + 64 2-bit codes (ggml-common.h, ggml.c type_traits).
    {T::NVFP4, "NVFP4", 64, 36, false, 40, true},
    {T::Q1_0, "Q1_0", 128, 18, false, 41, true},
    {T::Q2_0, "Q2_0", 64, 18, false, 42, true},
}};

constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kTable.size(); ++i)
    if (static_cast<size_t>(kTable[i].dtype) != i) return false;
  return true;
}
static_assert(table_in_enum_order(), "dtype table rows must follow the enum order");

}  // namespace

const DTypeTraits& traits(DType t) { return kTable.at(static_cast<size_t>(t)); }

std::span<const DTypeTraits> all_dtypes() { return kTable; }

std::optional<DType> dtype_from_safetensors_name(std::string_view s) {
  for (const auto& row : kTable)
    if (row.in_safetensors && row.name == s) return row.dtype;
  return std::nullopt;
}

std::optional<DType> dtype_from_ggml_id(uint32_t id) {
  for (const auto& row : kTable)
    if (row.ggml_id >= 0 && static_cast<uint32_t>(row.ggml_id) == id) return row.dtype;
  return std::nullopt;
}

std::optional<DType> dtype_from_user_name(std::string_view s) {
  std::string upper(s);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const auto& row : kTable) {
    std::string n(row.name);
    std::transform(n.begin(), n.end(), n.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (n == upper) return row.dtype;
  }
  return std::nullopt;
}

std::optional<uint64_t> bytes_for(DType t, uint64_t elements) {
  const auto& tr = traits(t);
  if (elements % tr.block_elements != 0) return std::nullopt;
  uint64_t out = 0;
  if (__builtin_mul_overflow(elements / tr.block_elements, uint64_t{tr.block_bytes}, &out))
    return std::nullopt;
  return out;
}

}  // namespace lorakit
