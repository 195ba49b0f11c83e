// The public entry points: which kernel serves which type, argument checks, rejection of non-finite
// input to the block quantizers, and the oneTBB split of whole tensors.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <string>

#include "codec/kernels.hpp"
#include "codec/simd.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"

namespace lorakit::codec {
namespace {

using detail::DecodeFn;
using detail::EncodeFn;

struct Kernels {
  DecodeFn decode = nullptr;
  EncodeFn encode = nullptr;
  bool quantizer = false;  // a ggml block type: input must be finite
};

template <void (*F)(const float*, std::byte*, size_t)>
void encode_plain(const float* src, std::byte* dst, size_t n, const EncodeOptions&) {
  F(src, dst, n);
}

// A ggml block type: its input must be finite.
template <void (*F)(const float*, std::byte*, size_t)>
Kernels quantizer(DecodeFn decode) {
  return {decode, encode_plain<F>, true};
}

void encode_e4m3fn(const float* src, std::byte* dst, size_t n, const EncodeOptions& opt) {
  detail::encode_e4m3fn_simd(src, dst, n, opt.fp8_overflow);
}
void encode_e5m2(const float* src, std::byte* dst, size_t n, const EncodeOptions& opt) {
  detail::encode_e5m2_simd(src, dst, n, opt.fp8_overflow);
}

// The one table of implemented types; every other type is unsupported. The SIMD kernels serve the
// hot types; their scalar twins stay reachable for the tests through kernels.hpp.
Kernels kernels_for(DType t) {
  namespace d = detail;
  // clang-format off
  switch (t) {
    case DType::F32: return {d::decode_f32, encode_plain<d::encode_f32>};
    case DType::F64: return {d::decode_f64, encode_plain<d::encode_f64>};
    case DType::F16: return {d::decode_f16_simd, encode_plain<d::encode_f16_simd>};
    case DType::BF16: return {d::decode_bf16_simd, encode_plain<d::encode_bf16_simd>};
    case DType::F8_E4M3: return {d::decode_e4m3fn, encode_e4m3fn};
    case DType::F8_E5M2: return {d::decode_e5m2, encode_e5m2};
    case DType::BOOL: return {d::decode_bool};
    case DType::U8: return {d::decode_u8};
    case DType::I8: return {d::decode_i8};
    case DType::U16: return {d::decode_u16};
    case DType::I16: return {d::decode_i16};
    case DType::U32: return {d::decode_u32};
    case DType::I32: return {d::decode_i32};
    case DType::U64: return {d::decode_u64};
    case DType::I64: return {d::decode_i64};
    case DType::Q8_0: return quantizer<d::quantize_q8_0_simd>(d::dequantize_q8_0_simd);
    case DType::Q4_0: return quantizer<d::quantize_q4_0_simd>(d::dequantize_q4_0_simd);
    case DType::Q4_1: return quantizer<d::quantize_q4_1_simd>(d::dequantize_q4_1_simd);
    case DType::Q5_0: return quantizer<d::quantize_q5_0_simd>(d::dequantize_q5_0_simd);
    case DType::Q5_1: return quantizer<d::quantize_q5_1_simd>(d::dequantize_q5_1_simd);
    case DType::Q2_K: return quantizer<d::quantize_q2_k_simd>(d::dequantize_q2_k_simd);
    case DType::Q3_K: return quantizer<d::quantize_q3_k_simd>(d::dequantize_q3_k_simd);
    case DType::Q4_K: return quantizer<d::quantize_q4_k_simd>(d::dequantize_q4_k_simd);
    case DType::Q5_K: return quantizer<d::quantize_q5_k_simd>(d::dequantize_q5_k_simd);
    case DType::Q6_K: return quantizer<d::quantize_q6_k_simd>(d::dequantize_q6_k_simd);
    default: return {};
  }
  // clang-format on
}

std::string type_name(DType t) {
  const auto i = static_cast<size_t>(t);
  if (i >= static_cast<size_t>(DType::kCount)) return "#" + std::to_string(i);
  return std::string(name(t));
}

DecodeFn decoder_or_throw(DType t) {
  const DecodeFn f = kernels_for(t).decode;
  if (!f) throw UnsupportedError("decoding " + type_name(t) + " tensors is not supported");
  return f;
}

Kernels encoder_or_throw(DType t) {
  const Kernels k = kernels_for(t);
  if (!k.encode) throw UnsupportedError("encoding to " + type_name(t) + " is not supported");
  return k;
}

void check_whole_blocks(DType t, size_t n, const char* what) {
  const uint32_t be = traits(t).block_elements;
  if (n % be != 0) {
    throw InvalidArgument(std::string(what) + " " + type_name(t) + ": " + std::to_string(n) +
                          " elements is not a whole number of " + std::to_string(be) +
                          "-element blocks");
  }
}

// Bytes of n elements of t (n a whole number of blocks).
size_t encoded_bytes(DType t, size_t n) {
  const auto& tr = traits(t);
  return n / tr.block_elements * tr.block_bytes;
}

// Index of the first non-finite element, or n.
size_t first_nonfinite(const float* x, size_t n) { return detail::first_nonfinite_simd(x, n); }

[[noreturn]] void throw_nonfinite(DType t, const float* src, size_t index) {
  const float v = src[index];
  throw ValueError("cannot quantize to " + type_name(t) + ": element " + std::to_string(index) +
                   " is " + (std::isnan(v) ? "NaN" : (v > 0 ? "+inf" : "-inf")) +
                   " (quantizers accept finite values only)");
}

// About this many elements per task: large enough to amortise scheduling, small enough to balance.
constexpr size_t kPieceElements = size_t{1} << 16;

// Runs fn(first_element, element_count) over a rows × row_elements tensor on the TBB pool. Pieces
// are whole rows; a row longer than a piece is cut at block boundaries so that a 1 × 100M tensor
// still spreads over the threads. Every element is computed by the same code from the same input
// bytes whatever the split, so the output does not depend on the thread count.
template <class Fn>
void for_pieces(DType t, size_t rows, size_t row_elements, Fn&& fn) {
  if (rows == 0 || row_elements == 0) return;
  const size_t be = traits(t).block_elements;
  size_t total;  // the flat element index must not wrap
  if (__builtin_mul_overflow(rows, row_elements, &total)) {
    throw InvalidArgument("tensor of " + std::to_string(rows) + " × " +
                          std::to_string(row_elements) + " elements is too large");
  }
  if (row_elements >= kPieceElements) {
    // Long rows: each row is cut into `runs` runs of whole blocks (the last one may be shorter).
    const size_t blocks = row_elements / be;
    const size_t runs = (row_elements + kPieceElements - 1) / kPieceElements;
    const size_t run = (blocks + runs - 1) / runs * be;
    tbb::parallel_for(
        tbb::blocked_range<size_t>(0, rows * runs), [&](const tbb::blocked_range<size_t>& r) {
          for (size_t p = r.begin(); p != r.end(); ++p) {
            const size_t offset = p % runs * run;
            if (offset >= row_elements) continue;
            fn(p / runs * row_elements + offset, std::min(run, row_elements - offset));
          }
        });
  } else {
    // Short rows: pieces of whole rows.
    const size_t per_piece = std::max<size_t>(1, kPieceElements / row_elements);
    const size_t count = (rows + per_piece - 1) / per_piece;
    tbb::parallel_for(tbb::blocked_range<size_t>(0, count),
                      [&](const tbb::blocked_range<size_t>& r) {
                        for (size_t p = r.begin(); p != r.end(); ++p) {
                          const size_t first_row = p * per_piece;
                          const size_t n_rows = std::min(per_piece, rows - first_row);
                          fn(first_row * row_elements, n_rows * row_elements);
                        }
                      });
  }
}

}  // namespace

bool can_decode(DType t) { return kernels_for(t).decode != nullptr; }
bool can_encode(DType t) { return kernels_for(t).encode != nullptr; }

void decode(DType t, const std::byte* src, float* dst, size_t n) {
  const DecodeFn f = decoder_or_throw(t);
  check_whole_blocks(t, n, "decode");
  if (n == 0) return;  // empty tensors may come with null pointers (no kernel sees them)
  f(src, dst, n);
}

void encode(DType t, const float* src, std::byte* dst, size_t n, const EncodeOptions& opt) {
  const Kernels k = encoder_or_throw(t);
  check_whole_blocks(t, n, "encode");
  if (n == 0) return;
  if (k.quantizer) {
    const size_t bad = first_nonfinite(src, n);
    if (bad != n) throw_nonfinite(t, src, bad);
  }
  k.encode(src, dst, n, opt);
}

void decode_rows(DType t, const std::byte* src, float* dst, size_t rows, size_t row_elements) {
  const DecodeFn f = decoder_or_throw(t);
  check_whole_blocks(t, row_elements, "decode");
  for_pieces(t, rows, row_elements,
             [&](size_t first, size_t len) { f(src + encoded_bytes(t, first), dst + first, len); });
}

void encode_rows(DType t, const float* src, std::byte* dst, size_t rows, size_t row_elements,
                 const EncodeOptions& opt) {
  const Kernels k = encoder_or_throw(t);
  check_whole_blocks(t, row_elements, "encode");
  // A piece holding a non-finite value records its index and skips its work; the smallest index
  // recorded is the first bad element of the tensor, whichever piece ran first.
  constexpr size_t kNone = std::numeric_limits<size_t>::max();
  std::atomic<size_t> first_bad{kNone};
  for_pieces(t, rows, row_elements, [&](size_t first, size_t len) {
    if (k.quantizer) {
      const size_t bad = first_nonfinite(src + first, len);
      if (bad != len) {
        size_t cur = first_bad.load();
        while (first + bad < cur && !first_bad.compare_exchange_weak(cur, first + bad)) {
        }
        return;
      }
    }
    k.encode(src + first, dst + encoded_bytes(t, first), len, opt);
  });
  if (first_bad.load() != kNone) throw_nonfinite(t, src, first_bad.load());
}

}  // namespace lorakit::codec
