// The machine's sgemm throughput at the shapes of a LoRA merge: ΔW [out, in] += B [out, r] · A [r,
// in] for SD-sized linears (320…1280 wide, ff 2560…5120) and FLUX (3072 × 3072, 21504 × 3072) at
// ranks 8/32/128, through OpenBLAS on one thread (the patch layer's setting: threads go across
// tensors). Counter GFLOP/s = 2·out·in·r per second. Used as the bound for merge figures.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <random>
#include <vector>

namespace {

void BM_sgemm_lora(benchmark::State& state) {
  openblas_set_num_threads(1);
  const int out = static_cast<int>(state.range(0)), in = static_cast<int>(state.range(1)),
            r = static_cast<int>(state.range(2));
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> b(size_t(out) * r), a(size_t(r) * in), w(size_t(out) * in);
  for (auto& x : b) x = nd(rng);
  for (auto& x : a) x = nd(rng);
  for (auto& x : w) x = nd(rng);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in, r, 0.5f, b.data(), r, a.data(),
                in, 1.0f, w.data(), in);
    benchmark::DoNotOptimize(w.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * out * in * r / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_sgemm_lora)
    ->Args({320, 320, 32})
    ->Args({640, 640, 32})
    ->Args({1280, 1280, 32})
    ->Args({2560, 320, 32})
    ->Args({1280, 5120, 32})
    ->Args({3072, 3072, 8})
    ->Args({3072, 3072, 32})
    ->Args({3072, 3072, 128})
    ->Args({21504, 3072, 32})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
