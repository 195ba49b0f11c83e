// decode_rows / encode_rows: the same bytes as the single-call API for 1, 2 and 4 threads, for
// short rows (pieces of whole rows) and long rows (pieces inside rows), and the first bad index
// when input is not finite, whichever piece finds it first.
#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>

#include <random>

#include "codec_test_util.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"

namespace lorakit {
namespace {

std::vector<float> normal_data(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  return x;
}

struct Shape {
  size_t rows, row_elements;
};

const DType kTypes[] = {DType::F16,  DType::BF16, DType::F32,  DType::F8_E4M3, DType::Q8_0,
                        DType::Q4_0, DType::Q5_1, DType::Q2_K, DType::Q4_K,    DType::Q6_K};
// Short rows; a long row cut into runs that do not divide it (3·256·257 = 197376 elements); one
// row.
const Shape kShapes[] = {{300, 512}, {3, 197376}, {1, 65536 + 256}};

TEST(Threading, RowsMatchSingleCallForAnyThreadCount) {
  for (const Shape& s : kShapes) {
    const size_t n = s.rows * s.row_elements;
    const std::vector<float> x = normal_data(n, 3);
    for (DType t : kTypes) {
      const size_t nbytes = *bytes_for(t, n);
      std::vector<std::byte> ref(nbytes);
      codec::encode(t, x.data(), ref.data(), n);
      std::vector<float> ref_dec(n);
      codec::decode(t, ref.data(), ref_dec.data(), n);
      for (int threads : {1, 2, 4}) {
        tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
        std::vector<std::byte> q(nbytes, std::byte{0xCD});
        codec::encode_rows(t, x.data(), q.data(), s.rows, s.row_elements);
        ASSERT_TRUE(testing::same_bytes(q, ref))
            << name(t) << " " << s.rows << "x" << s.row_elements << " threads " << threads;
        std::vector<float> y(n, 12345.0f);
        codec::decode_rows(t, q.data(), y.data(), s.rows, s.row_elements);
        ASSERT_TRUE(testing::same_bits(y, ref_dec))
            << name(t) << " " << s.rows << "x" << s.row_elements << " threads " << threads;
      }
    }
  }
}

std::string what_of_encode_rows(DType t, const std::vector<float>& x, const Shape& s) {
  std::vector<std::byte> q(*bytes_for(t, x.size()));
  try {
    codec::encode_rows(t, x.data(), q.data(), s.rows, s.row_elements);
  } catch (const ValueError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Threading, FirstNonFiniteIndexWhateverTheSchedule) {
  for (const Shape& s : kShapes) {
    std::vector<float> x = normal_data(s.rows * s.row_elements, 4);
    const size_t first = x.size() / 2 + 7;
    x[first] = std::numeric_limits<float>::infinity();
    x[x.size() - 1] = std::nanf("");  // a later bad value, in a piece that may well run first
    x[first + 300] = -std::numeric_limits<float>::infinity();
    for (int threads : {1, 2, 4}) {
      tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
      for (DType t : {DType::Q8_0, DType::Q4_K}) {
        const std::string what = what_of_encode_rows(t, x, s);
        EXPECT_NE(what.find("element " + std::to_string(first) + " "), std::string::npos) << what;
        EXPECT_NE(what.find("+inf"), std::string::npos) << what;
      }
    }
  }
}

TEST(Threading, FloatTypesAcceptNonFinite) {
  std::vector<float> x(1024, 1.0f);
  x[5] = std::nanf("");
  x[6] = -std::numeric_limits<float>::infinity();
  std::vector<std::byte> q(2048);
  EXPECT_NO_THROW(codec::encode_rows(DType::F16, x.data(), q.data(), 4, 256));
  EXPECT_NO_THROW(codec::encode_rows(DType::BF16, x.data(), q.data(), 4, 256));
  EXPECT_NO_THROW(codec::encode_rows(DType::F8_E5M2, x.data(), q.data(), 4, 256));
}

}  // namespace
}  // namespace lorakit
