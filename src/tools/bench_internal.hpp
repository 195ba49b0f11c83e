// The parts of `lorakit bench`: machine figures, the cost (bytes, flops, shapes) of a plan, the
// input cache and the workloads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "lorakit/io.hpp"
#include "lorakit/patch.hpp"
#include "tools/bench.hpp"
#include "tools/synth.hpp"

namespace lorakit::tools::bench_detail {

inline double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// --- machine (bench_machine.cpp) ---

// Worker threads of the oneTBB pool under the current global_control limit.
unsigned pool_threads();

// memcpy bandwidth in GB/s copied: `bytes` from one buffer to another (both touched before timing),
// best of `reps`, on one thread or split across all threads of the pool.
double memcpy_gb_per_s(uint64_t bytes, bool all_threads, int reps);

// The machine's identity and memcpy figures (sgemm figures are filled in per workload).
MachineFigures measure_machine(bool quick, const std::function<void(const std::string&)>& log);

// sgemm rates at product shapes, cached across workloads (the same shape is timed once per run).
class SgemmTimer {
 public:
  explicit SgemmTimer(bool quick) : quick_(quick) {}
  // Times the shapes that carry most of the flops (at most a few dozen), fills every shape's rates
  // (untimed ones get the timed subset's flop-weighted rates) and returns the fraction of the flops
  // that was timed.
  double time_shapes(std::vector<SgemmShape>& shapes);

 private:
  std::pair<double, double> rates(uint64_t rows, uint64_t cols, uint64_t rank);
  bool quick_;
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, std::pair<double, double>> cache_;
};

// Peak resident memory: reset_peak_rss() writes "5" to /proc/self/clear_refs (VmHWM := VmRSS);
// false when the kernel refuses. Both readers return bytes (0 when /proc is unreadable).
bool reset_peak_rss();
uint64_t peak_rss();
uint64_t current_rss();

// --- cost of a plan (bench_cost.cpp) ---

struct Cost {
  uint64_t tensors = 0;
  uint64_t tensor_read = 0;     // source bytes of every tensor of the units
  uint64_t tensor_written = 0;  // their bytes in the output type
  uint64_t factor_read = 0;     // adapter factor bytes of the steps
  uint64_t flops = 0;
  std::vector<SgemmShape> shapes;  // distinct (rows, cols, rank) with counts, no rates yet
  uint64_t largest_tensor = 0;     // bytes, among the units' tensors
};

// The cost of computing `units` of `plan` (indices; every unit when empty and `all` is true).
Cost plan_cost(const patch::Plan& plan, const std::vector<uint32_t>& units,
               const io::TensorSource& base, const patch::Options& options);
std::vector<uint32_t> all_units(const patch::Plan& plan);
// Units of `after` whose tensors or ordered steps (adapter file, record, strength) differ from
// every unit of `before`: what a session recomputes when switching from `before` to `after`.
std::vector<uint32_t> changed_units(const patch::Plan& before, const patch::Plan& after);

// --- inputs (bench_inputs.cpp) ---

// The synthesized files of a run, built on first use and reused while their stamp matches.
class InputCache {
 public:
  InputCache(std::string dir, bool quick, std::function<void(const std::string&)> log);
  const std::string& dir() const { return dir_; }
  bool quick() const { return quick_; }

  // Paths of the inputs, each built (or reused) on first call.
  std::string sd1();
  std::string sd1_lora();
  std::string sdxl();
  std::string sdxl_lora_a();
  std::string sdxl_lora_b();
  std::string flux_q4k();
  std::string flux_bf16();
  std::string flux_lora();  // kohya rank 32 over the FLUX targets (binds to both FLUX files)
  // Five adapters of different ranks and naming families for `check` on FLUX.
  std::vector<std::string> flux_check_loras();

  double synth_seconds() const { return synth_seconds_; }
  const std::vector<std::string>& synthesized() const { return synthesized_; }

 private:
  std::string model(const std::string& stem, const SynthModelOptions& o, const std::string& ext);
  std::string lora(const std::string& stem, const std::string& model_stem,
                   const SynthModelOptions& model_options, const SynthAdapterOptions& o);
  std::string converted(const std::string& stem, const std::string& source,
                        const std::string& source_stamp, const SynthModelOptions& model_options,
                        const std::string& family);
  // Runs `make(path)` unless `path` exists with a stamp equal to `stamp`; then writes the stamp.
  std::string ensure(const std::string& file, const std::string& stamp, uint64_t expected_bytes,
                     const std::function<void(const std::string&)>& make);
  SynthModelOptions sd1_options() const;
  SynthModelOptions sdxl_options() const;
  SynthModelOptions flux_options(bool q4k) const;

  std::string dir_;
  bool quick_;
  std::function<void(const std::string&)> log_;
  double synth_seconds_ = 0;
  std::vector<std::string> synthesized_;
  std::map<std::string, std::string> stamps_;  // file → stamp text, of files ensured in this run
};

// --- workloads (bench_workloads.cpp) ---

struct Context {
  InputCache& inputs;
  SgemmTimer& sgemm;
  const MachineFigures& machine;
  bool keep = false;
  std::function<void(const std::string&)> log;
};

using WorkloadFn = WorkloadResult (*)(Context&);
struct WorkloadDef {
  const char* name;
  const char* title;
  bool in_quick;
  WorkloadFn run;
};
const std::vector<WorkloadDef>& workload_defs();

// Fills the bound, rates and ratio of `w` from its bytes, flops and shapes.
void finish_bound(WorkloadResult& w, Context& ctx);

}  // namespace lorakit::tools::bench_detail
