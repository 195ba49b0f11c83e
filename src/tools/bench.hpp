// `lorakit bench`: how close merges and adapter switches come to what this machine can do. Builds
// full-size synthetic models and LoRAs with the real layouts' names and shapes in a cache folder
// (once; a stamp per file records how it was made), measures the machine in the same run (memcpy
// bandwidth, OpenBLAS sgemm at each workload's own shapes) and reports per workload its time, the
// bytes and flops it had to move and compute, and the ratio of its time to the bound those imply
// (docs/performance.md defines the bound).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lorakit::tools {

struct BenchOptions {
  // Reduced models (a few blocks of each layout, no FLUX BF16) so that a run from an empty cache
  // finishes in well under a minute; results are marked quick.
  bool quick = false;
  std::vector<std::string> workloads;  // names from bench_workload_names(); empty: all (quick: the
                                       // quick set)
  std::string cache_dir;  // empty: $XDG_CACHE_HOME/lorakit/bench or ~/.cache/lorakit/bench
  bool keep = false;      // keep the merged output files (in the cache folder) instead of deleting
  // Progress lines ("synthesizing sdxl-f16 (5.1 GB)", "merge-sd1-r32 0.41 s"), from one thread.
  std::function<void(const std::string&)> log;
};

// sgemm throughput at one product shape ΔW[rows, cols] += B[rows, rank]·A[rank, cols].
struct SgemmShape {
  uint64_t rows = 0, cols = 0, rank = 0;
  uint64_t count = 0;  // products of this shape in the workload
  bool timed = false;  // false: not in the timed subset; rates are the subset's weighted mean
  double gflops_1 = 0, gflops_all = 0;
};

struct MachineFigures {
  std::string cpu;  // /proc/cpuinfo model name
  unsigned threads = 0;
  uint64_t memory_bytes = 0;
  std::string blas;                     // openblas_get_config()
  uint64_t memcpy_buffer_bytes = 0;     // per copy, source and destination each
  double memcpy_1 = 0, memcpy_all = 0;  // GB/s copied (each copied byte is read and written)
  double sgemm_1 = 0, sgemm_all = 0;    // GFLOP/s over every workload's shapes, flop-weighted
};

struct WorkloadResult {
  std::string name;   // stable: merge-sd1-r32, ...
  std::string title;  // what it does, in a few words
  bool quick = false;
  std::string skipped;  // non-empty: not run, and why
  int reps = 0;
  double seconds = 0;        // best of `reps`
  double first_seconds = 0;  // the first rep (includes parsing the adapter, cold overlay memory)
  uint64_t tensors = 0;      // tensors computed
  uint64_t read_bytes = 0, written_bytes = 0;  // see `bytes_note`
  std::string bytes_note;
  uint64_t output_bytes = 0;  // bytes of computed tensors (the quantized output for requant)
  uint64_t flops = 0;         // Σ 2·rows·cols·rank over the LoRA products
  std::vector<SgemmShape> shapes;
  double sgemm_coverage = 0;          // fraction of the flops whose shapes were timed
  double sgemm_1 = 0, sgemm_all = 0;  // GFLOP/s at this workload's shapes, flop-weighted
  double bound_memory_s = 0, bound_sgemm_s = 0, bound_s = 0, ratio = 0;
  uint64_t rss_before = 0, peak_rss = 0;  // bytes; peak during the timed part
  bool peak_rss_reset = false;            // /proc/self/clear_refs accepted the reset
  std::optional<uint64_t> rss_limit;      // where the issue sets one (2 GiB + largest tensor)
  std::string output;                     // a merged file kept with --keep
  bool verified = false;
  std::string check;  // what was verified, or why verification failed
  std::string note;
};

struct BenchResult {
  std::string version;
  std::string cache_dir;
  bool quick = false;
  MachineFigures machine;
  double synth_seconds = 0;              // building missing inputs in this run
  std::vector<std::string> synthesized;  // inputs built in this run
  std::vector<WorkloadResult> workloads;
  // Every workload that ran was verified and none failed (skipped by design is fine).
  bool all_verified() const;
};

// Every workload name, in run order, and the ones --quick runs.
const std::vector<std::string>& bench_workload_names();
const std::vector<std::string>& bench_quick_workload_names();

// The cache folder used when BenchOptions::cache_dir is empty.
std::string default_bench_cache_dir();

// InvalidArgument for unknown workload names; IoError when the cache folder cannot be written.
BenchResult bench(const BenchOptions& options);

std::string render_text(const BenchResult& r);
nlohmann::ordered_json render_json(const BenchResult& r);

}  // namespace lorakit::tools
