// The machine side of `lorakit bench`: memcpy bandwidth, sgemm throughput at given product shapes
// (issued as the patch layer issues them), peak resident memory.
#include <cblas.h>
#include <fmt/format.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>

#include "tools/bench_internal.hpp"

namespace lorakit::tools::bench_detail {
namespace {

using Clock = std::chrono::steady_clock;

// Rows per sgemm call: the patch layer cuts every plain-LoRA product into calls of this many rows
// (decisions.md p8), so the machine is timed on the calls lorakit actually makes.
constexpr uint64_t kRowsPerCall = 64;

// A buffer of floats that has been written once: on VMs the first touch of fresh pages costs
// several times a copy, which must not be timed as bandwidth.
std::unique_ptr<float[]> touched(uint64_t n, float value) {
  std::unique_ptr<float[]> p(new float[n]);
  std::fill_n(p.get(), n, value);
  return p;
}

uint64_t read_status_kib(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t klen = std::strlen(key);
  while (std::getline(f, line))
    if (line.compare(0, klen, key) == 0 && line.size() > klen && line[klen] == ':')
      return std::strtoull(line.c_str() + klen + 1, nullptr, 10) * 1024;
  return 0;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(line.find_first_not_of(' ', p + 1));
    }
  return "unknown";
}

// One product ΔW[rows, cols] += B·A in kRowsPerCall-row calls into a cache-resident fp32 tile: the
// patch layer decodes a tile, accumulates into it and encodes it, so the weight's DRAM traffic is
// the memory term of the bound, not part of the sgemm rate.
struct GemmBuffers {
  uint64_t rows, cols, rank;
  std::unique_ptr<float[]> a, b, c;
  GemmBuffers(uint64_t r, uint64_t c_, uint64_t k)
      : rows(r),
        cols(c_),
        rank(k),
        a(touched(k * c_, 0.01f)),
        b(touched(r * k, 0.02f)),
        c(touched(std::min(r, kRowsPerCall) * c_, 0.0f)) {}
  void product() {
    for (uint64_t r0 = 0; r0 < rows; r0 += kRowsPerCall) {
      const int m = static_cast<int>(std::min(kRowsPerCall, rows - r0));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, static_cast<int>(cols),
                  static_cast<int>(rank), 0.5f, b.get() + r0 * rank, static_cast<int>(rank),
                  a.get(), static_cast<int>(cols), 1.0f, c.get(), static_cast<int>(cols));
    }
  }
};

}  // namespace

unsigned pool_threads() {
  return static_cast<unsigned>(
      tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism));
}

double memcpy_gb_per_s(uint64_t bytes, bool all_threads, int reps) {
  const uint64_t n = bytes / sizeof(float);
  auto src = touched(n, 1.0f), dst = touched(n, 0.0f);
  // Pieces of 4 MiB: enough for every thread, each large enough that a copy streams.
  const uint64_t piece = (4u << 20) / sizeof(float), pieces = (n + piece - 1) / piece;
  double best = 0;
  for (int i = 0; i <= reps; ++i) {  // rep 0 warms caches and TLBs; not counted
    const auto t0 = Clock::now();
    if (all_threads) {
      tbb::parallel_for(uint64_t{0}, pieces, [&](uint64_t p) {
        const uint64_t b = p * piece, e = std::min(n, b + piece);
        std::memcpy(dst.get() + b, src.get() + b, (e - b) * sizeof(float));
      });
    } else {
      std::memcpy(dst.get(), src.get(), n * sizeof(float));
    }
    const double s = since(t0);
    if (i > 0) best = std::max(best, static_cast<double>(n * sizeof(float)) / s / 1e9);
  }
  // Keeps the copies observable.
  volatile float sink = dst[n / 2];
  (void)sink;
  return best;
}

MachineFigures measure_machine(bool quick, const std::function<void(const std::string&)>& log) {
  MachineFigures m;
  m.cpu = cpu_model();
  m.threads = pool_threads();
  m.memory_bytes = static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                   static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE));
  const char* cfg = openblas_get_config();
  m.blas = cfg ? cfg : "OpenBLAS";
  // Well beyond any last-level cache, small enough for a busy machine.
  m.memcpy_buffer_bytes = quick ? (128ull << 20) : (512ull << 20);
  const int reps = quick ? 3 : 5;
  if (log) log("measuring memcpy");
  m.memcpy_1 = memcpy_gb_per_s(m.memcpy_buffer_bytes, false, reps);
  m.memcpy_all = memcpy_gb_per_s(m.memcpy_buffer_bytes, true, reps);
  return m;
}

std::pair<double, double> SgemmTimer::rates(uint64_t rows, uint64_t cols, uint64_t rank) {
  const auto key = std::make_tuple(rows, cols, rank);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  // The patch layer's setting: OpenBLAS on one thread per call, threads across tiles and tensors.
  openblas_set_num_threads(1);
  const double flops = 2.0 * static_cast<double>(rows * cols * rank);
  // Enough products per rep for about 20 ms (5 ms quick) at 50 GFLOP/s, at least one.
  const double target = quick_ ? 5e-3 : 20e-3;
  const int per_rep = static_cast<int>(std::clamp(target * 50e9 / flops, 1.0, 1000.0));
  const int reps = quick_ ? 2 : 3;

  GemmBuffers one(rows, cols, rank);
  one.product();  // warm
  double best1 = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < per_rep; ++i) one.product();
    best1 = std::max(best1, flops * per_rep / since(t0) / 1e9);
  }

  // All threads at once, each on its own buffers, as the patch layer runs one product per thread.
  const unsigned threads = pool_threads();
  std::vector<std::unique_ptr<GemmBuffers>> bufs;
  for (unsigned t = 0; t < threads; ++t)
    bufs.push_back(std::make_unique<GemmBuffers>(rows, cols, rank));
  double best_all = 0;
  for (int r = 0; r <= reps; ++r) {  // rep 0 wakes the pool's workers
    const auto t0 = Clock::now();
    tbb::parallel_for(
        unsigned{0}, threads,
        [&](unsigned t) {
          for (int i = 0; i < per_rep; ++i) bufs[t]->product();
        },
        tbb::simple_partitioner());
    const double s = since(t0);
    if (r > 0) best_all = std::max(best_all, flops * per_rep * threads / s / 1e9);
  }
  return cache_[key] = {best1, best_all};
}

double SgemmTimer::time_shapes(std::vector<SgemmShape>& shapes) {
  auto total = [](const SgemmShape& s) { return s.count * 2 * s.rows * s.cols * s.rank; };
  std::vector<size_t> order(shapes.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return total(shapes[a]) > total(shapes[b]); });
  uint64_t all = 0, timed = 0;
  for (const auto& s : shapes) all += total(s);
  // The shapes with most flops until 98 % of them (at most 24 shapes; 8 quick) are covered.
  const size_t max_shapes = quick_ ? 8 : 24;
  double t1 = 0, tall = 0;  // seconds for the timed flops at each rate
  for (size_t i = 0; i < order.size() && i < max_shapes; ++i) {
    if (all > 0 && static_cast<double>(timed) >= 0.98 * static_cast<double>(all)) break;
    auto& s = shapes[order[i]];
    std::tie(s.gflops_1, s.gflops_all) = rates(s.rows, s.cols, s.rank);
    s.timed = true;
    timed += total(s);
    t1 += static_cast<double>(total(s)) / (s.gflops_1 * 1e9);
    tall += static_cast<double>(total(s)) / (s.gflops_all * 1e9);
  }
  const double mean1 = t1 > 0 ? static_cast<double>(timed) / t1 / 1e9 : 0;
  const double mean_all = tall > 0 ? static_cast<double>(timed) / tall / 1e9 : 0;
  for (auto& s : shapes) {
    if (s.timed) continue;
    s.gflops_1 = mean1;
    s.gflops_all = mean_all;
  }
  return all > 0 ? static_cast<double>(timed) / static_cast<double>(all) : 1.0;
}

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

uint64_t peak_rss() { return read_status_kib("VmHWM"); }
uint64_t current_rss() { return read_status_kib("VmRSS"); }

}  // namespace lorakit::tools::bench_detail
