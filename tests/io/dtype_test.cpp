#include <gtest/gtest.h>

#include "lorakit/dtype.hpp"

namespace lorakit {
namespace {

TEST(DType, SafetensorsNamesAreExactAndCaseSensitive) {
  EXPECT_EQ(dtype_from_safetensors_name("F8_E4M3"), DType::F8_E4M3);
  EXPECT_EQ(dtype_from_safetensors_name("BOOL"), DType::BOOL);
  EXPECT_FALSE(dtype_from_safetensors_name("f32"));
  EXPECT_FALSE(dtype_from_safetensors_name("F8_E4M3FN"));
  EXPECT_FALSE(dtype_from_safetensors_name("Q8_0"));  // GGUF-only type
  int n = 0;
  for (const auto& t : all_dtypes()) n += t.in_safetensors;
  EXPECT_EQ(n, 22);  // the 22 dtypes of file-formats.md §1.2
}

TEST(DType, GgmlGeometryMatchesSpecTable) {
  // file-formats.md §2.3
  struct Row {
    uint32_t id;
    uint32_t elems, bytes;
  } rows[] = {{0, 1, 4},     {1, 1, 2},     {2, 32, 18},   {3, 32, 20},   {6, 32, 22},
              {7, 32, 24},   {8, 32, 34},   {10, 256, 84}, {11, 256, 110}, {12, 256, 144},
              {13, 256, 176}, {14, 256, 210}, {30, 1, 2}};
  for (const auto& r : rows) {
    auto t = dtype_from_ggml_id(r.id);
    ASSERT_TRUE(t) << r.id;
    EXPECT_EQ(traits(*t).block_elements, r.elems) << r.id;
    EXPECT_EQ(traits(*t).block_bytes, r.bytes) << r.id;
  }
  for (uint32_t removed : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 43u, 99u})
    EXPECT_FALSE(dtype_from_ggml_id(removed)) << removed;
}

TEST(DType, BytesForChecksBlocksAndOverflow) {
  EXPECT_EQ(bytes_for(DType::Q4_K, 512), 288u);
  EXPECT_FALSE(bytes_for(DType::Q4_K, 100));
  EXPECT_FALSE(bytes_for(DType::F64, uint64_t{1} << 62));
  EXPECT_EQ(dtype_from_user_name("q4_k"), DType::Q4_K);
}

}  // namespace
}  // namespace lorakit
