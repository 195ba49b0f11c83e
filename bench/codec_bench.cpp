// Throughput of lorakit::codec: decode (to fp32) and encode (from fp32) of a 4096 × 1024 tensor
// (4 M elements, weights-like normal(0, 0.02) data) for every implemented float and block type, on
// one thread and on all threads of the TBB pool, plus memcpy of the fp32 side for scale and some of
// the scalar kernels behind the SIMD ones (decode_scalar/*, encode_scalar/*). Counters: enc_GB/s =
// bytes of the encoded side per second, f32_GB/s = bytes of the fp32 side per second.
#include <benchmark/benchmark.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>

#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "codec/kernels.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/dtype.hpp"

namespace {

using lorakit::DType;
namespace codec = lorakit::codec;

constexpr size_t kRows = 4096, kCols = 1024, kN = kRows * kCols;

const std::vector<float>& input() {
  static const std::vector<float> x = [] {
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> v(kN);
    for (auto& f : v) f = normal(rng);
    return v;
  }();
  return x;
}

const std::vector<std::byte>& encoded(DType t) {
  static std::map<DType, std::vector<std::byte>> cache;
  auto it = cache.find(t);
  if (it == cache.end()) {
    std::vector<std::byte> q(*lorakit::bytes_for(t, kN));
    codec::encode_rows(t, input().data(), q.data(), kRows, kCols);
    it = cache.emplace(t, std::move(q)).first;
  }
  return it->second;
}

void set_counters(benchmark::State& state, size_t enc_bytes) {
  using benchmark::Counter;
  state.counters["enc_GB/s"] =
      Counter(double(enc_bytes), Counter::kIsIterationInvariantRate, Counter::OneK::kIs1000);
  state.counters["f32_GB/s"] =
      Counter(double(kN * 4), Counter::kIsIterationInvariantRate, Counter::OneK::kIs1000);
}

// threads = 0: the whole pool.
std::optional<tbb::global_control> limit_threads(int threads) {
  std::optional<tbb::global_control> c;
  if (threads > 0) c.emplace(tbb::global_control::max_allowed_parallelism, threads);
  return c;
}

void bm_decode(benchmark::State& state, DType t, int threads) {
  const auto& q = encoded(t);
  std::vector<float> y(kN);
  const auto limit = limit_threads(threads);
  for (auto _ : state) {
    codec::decode_rows(t, q.data(), y.data(), kRows, kCols);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, q.size());
}

void bm_encode(benchmark::State& state, DType t, int threads) {
  std::vector<std::byte> q(*lorakit::bytes_for(t, kN));
  const float* x = input().data();  // generated outside the timed loop
  const auto limit = limit_threads(threads);
  for (auto _ : state) {
    codec::encode_rows(t, x, q.data(), kRows, kCols);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, q.size());
}

// The scalar twins of the SIMD kernels, one thread, for comparison.
void bm_decode_scalar(benchmark::State& state, DType t, lorakit::codec::detail::DecodeFn f) {
  const auto& q = encoded(t);
  std::vector<float> y(kN);
  for (auto _ : state) {
    f(q.data(), y.data(), kN);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, q.size());
}

// The scalar quantizers behind the SIMD ones (the bit-exact definition), one thread.
void bm_encode_scalar(benchmark::State& state, DType t,
                      void (*f)(const float*, std::byte*, size_t)) {
  std::vector<std::byte> q(*lorakit::bytes_for(t, kN));
  const float* x = input().data();
  for (auto _ : state) {
    f(x, q.data(), kN);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, q.size());
}

void bm_memcpy(benchmark::State& state, int threads) {
  std::vector<float> y(kN);
  const auto limit = limit_threads(threads);
  const float* x = input().data();
  for (auto _ : state) {
    if (threads == 1) {
      std::memcpy(y.data(), x, kN * 4);
    } else {
      tbb::parallel_for(size_t{0}, kRows / 64, [&](size_t i) {
        std::memcpy(y.data() + i * 64 * kCols, x + i * 64 * kCols, 64 * kCols * 4);
      });
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, kN * 4);
}

const DType kTypes[] = {DType::F32,     DType::F16,     DType::BF16, DType::F64,
                        DType::F8_E4M3, DType::F8_E5M2, DType::Q8_0, DType::Q4_0,
                        DType::Q4_1,    DType::Q5_0,    DType::Q5_1, DType::Q2_K,
                        DType::Q3_K,    DType::Q4_K,    DType::Q5_K, DType::Q6_K};

const bool kRegistered = [] {
  for (int threads : {1, 0}) {
    benchmark::RegisterBenchmark(threads ? "memcpy/threads:1" : "memcpy/threads:all", bm_memcpy,
                                 threads)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  for (const char* dir : {"decode", "encode"}) {
    for (DType t : kTypes) {
      for (int threads : {1, 0}) {
        const std::string name = std::string(dir) + "/" + std::string(lorakit::name(t)) +
                                 (threads ? "/threads:1" : "/threads:all");
        auto* b = std::string(dir) == "decode"
                      ? benchmark::RegisterBenchmark(name.c_str(), bm_decode, t, threads)
                      : benchmark::RegisterBenchmark(name.c_str(), bm_encode, t, threads);
        b->Unit(benchmark::kMillisecond)->UseRealTime();
      }
    }
  }
  namespace d = lorakit::codec::detail;
  const std::pair<DType, d::DecodeFn> scalar[] = {{DType::F16, d::decode_f16_scalar},
                                                  {DType::BF16, d::decode_bf16_scalar},
                                                  {DType::Q8_0, d::dequantize_q8_0},
                                                  {DType::Q4_K, d::dequantize_q4_k},
                                                  {DType::Q6_K, d::dequantize_q6_k}};
  for (const auto& [t, f] : scalar) {
    const std::string name = "decode_scalar/" + std::string(lorakit::name(t)) + "/threads:1";
    benchmark::RegisterBenchmark(name.c_str(), bm_decode_scalar, t, f)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  const std::pair<DType, void (*)(const float*, std::byte*, size_t)> scalar_enc[] = {
      {DType::Q8_0, d::quantize_q8_0},
      {DType::Q4_K, d::quantize_q4_k},
      {DType::Q6_K, d::quantize_q6_k}};
  for (const auto& [t, f] : scalar_enc) {
    const std::string name = "encode_scalar/" + std::string(lorakit::name(t)) + "/threads:1";
    benchmark::RegisterBenchmark(name.c_str(), bm_encode_scalar, t, f)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace

// Weak, because every bench/*.cpp is linked into the one lorakit_bench program: if another
// benchmark file brings its own main (e.g. BENCHMARK_MAIN()), that one is used and still runs
// these, which are registered at static initialisation.
__attribute__((weak)) int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
