// `lorakit bench`: runs the selected workloads over cached synthetic inputs and reports each one
// against the bound of its own bytes and flops on this machine.
#include "tools/bench.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "lorakit/error.hpp"
#include "tools/bench_internal.hpp"
#include "tools/version.hpp"

namespace lorakit::tools {
namespace {

using namespace bench_detail;

double per_s(double amount, double seconds) { return seconds > 0 ? amount / seconds : 0; }

std::string gb(uint64_t bytes) {
  return fmt::format("{:.2f} GB", static_cast<double>(bytes) / 1e9);
}

}  // namespace

const std::vector<std::string>& bench_workload_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& d : workload_defs()) v.push_back(d.name);
    return v;
  }();
  return names;
}

const std::vector<std::string>& bench_quick_workload_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& d : workload_defs())
      if (d.in_quick) v.push_back(d.name);
    return v;
  }();
  return names;
}

std::string default_bench_cache_dir() {
  namespace fs = std::filesystem;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return (fs::path(x) / "lorakit" / "bench").string();
  if (const char* h = std::getenv("HOME"); h && *h)
    return (fs::path(h) / ".cache" / "lorakit" / "bench").string();
  return (fs::temp_directory_path() / "lorakit-bench").string();
}

BenchResult bench(const BenchOptions& opt) {
  const auto& all = bench_workload_names();
  std::vector<std::string> selected =
      opt.workloads.empty() ? (opt.quick ? bench_quick_workload_names() : all) : opt.workloads;
  std::set<std::string> seen;
  for (const auto& n : selected) {
    if (std::find(all.begin(), all.end(), n) == all.end())
      throw InvalidArgument(fmt::format("bench: unknown workload '{}' (known: {})", n,
                                        fmt::format("{}", fmt::join(all, ", "))));
    if (!seen.insert(n).second)
      throw InvalidArgument(fmt::format("bench: workload '{}' given twice", n));
  }

  BenchResult res;
  res.version = std::string(version());
  res.quick = opt.quick;
  InputCache inputs(opt.cache_dir.empty() ? default_bench_cache_dir() : opt.cache_dir, opt.quick,
                    opt.log);
  res.cache_dir = inputs.dir();
  res.machine = measure_machine(opt.quick, opt.log);
  SgemmTimer sgemm(opt.quick);
  Context ctx{inputs, sgemm, res.machine, opt.keep, opt.log};

  double flops = 0, t1 = 0, tall = 0;
  for (const auto& def : workload_defs()) {
    if (std::find(selected.begin(), selected.end(), def.name) == selected.end()) continue;
    if (opt.log) opt.log(fmt::format("{}: {}", def.name, def.title));
    WorkloadResult w;
    try {
      w = def.run(ctx);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {
      // One workload that cannot run (no room for its input, a file system error) must not hide
      // the others; it is reported as failed and the run exits 1.
      w = {};
      w.skipped = fmt::format("failed: {}", e.what());
    }
    w.name = def.name;
    w.title = def.title;
    w.quick = opt.quick;
    if (w.skipped.empty()) {
      finish_bound(w, ctx);
      if (w.flops > 0 && w.sgemm_1 > 0 && w.sgemm_all > 0) {
        flops += static_cast<double>(w.flops);
        t1 += static_cast<double>(w.flops) / (w.sgemm_1 * 1e9);
        tall += static_cast<double>(w.flops) / (w.sgemm_all * 1e9);
      }
      if (opt.log)
        opt.log(fmt::format("{}: {:.3f} s, bound {:.3f} s, ratio {:.2f}{}", def.name, w.seconds,
                            w.bound_s, w.ratio, w.verified ? "" : " (NOT VERIFIED)"));
    } else if (opt.log) {
      opt.log(fmt::format("{}: {}", def.name, w.skipped));
    }
    res.workloads.push_back(std::move(w));
  }
  res.machine.sgemm_1 = t1 > 0 ? flops / t1 / 1e9 : 0;
  res.machine.sgemm_all = tall > 0 ? flops / tall / 1e9 : 0;
  res.synth_seconds = inputs.synth_seconds();
  res.synthesized = inputs.synthesized();
  return res;
}

bool BenchResult::all_verified() const {
  for (const auto& w : workloads)
    if (w.skipped.empty() ? !w.verified : w.skipped.rfind("failed", 0) == 0) return false;
  return !workloads.empty();
}

std::string render_text(const BenchResult& r) {
  const auto& m = r.machine;
  std::string out = fmt::format("lorakit bench {}{} — inputs in {}\n", r.version,
                                r.quick ? " --quick (reduced models)" : "", r.cache_dir);
  out += fmt::format(
      "machine: {}, {} threads, {} memory; memcpy {:.1f} GB/s (1 thread), {:.1f} GB/s (all); sgemm "
      "{:.1f} GFLOP/s (1 thread), {:.1f} GFLOP/s (all) at the workloads' shapes\n",
      m.cpu, m.threads, gb(m.memory_bytes), m.memcpy_1, m.memcpy_all, m.sgemm_1, m.sgemm_all);
  if (r.synthesized.empty())
    out += "inputs: all reused from the cache\n";
  else
    out += fmt::format("inputs: built {} in {:.1f} s\n",
                       fmt::format("{}", fmt::join(r.synthesized, ", ")), r.synth_seconds);
  out += fmt::format("\n{:<23} {:>9} {:>7} {:>8} {:>26} {:>6} {:>9}  {}\n", "workload", "time",
                     "GB/s", "GFLOP/s", "bound (memory + sgemm)", "ratio", "peak RSS", "verified");
  for (const auto& w : r.workloads) {
    if (!w.skipped.empty()) {
      out += fmt::format("{:<23} {}\n", w.name, w.skipped);
      continue;
    }
    const double bytes = static_cast<double>(w.read_bytes + w.written_bytes);
    const std::string bound = w.bound_s > 0 ? fmt::format("{:.3f} s ({:.3f} + {:.3f})", w.bound_s,
                                                          w.bound_memory_s, w.bound_sgemm_s)
                                            : "-";
    out += fmt::format("{:<23} {:>7.3f} s {:>7.2f} {:>8.1f} {:>26} {:>6} {:>9}  {}\n", w.name,
                       w.seconds, per_s(bytes, w.seconds) / 1e9,
                       per_s(static_cast<double>(w.flops), w.seconds) / 1e9, bound,
                       w.bound_s > 0 ? fmt::format("{:.2f}", w.ratio) : "-", gb(w.peak_rss),
                       w.verified ? "yes" : "NO");
  }
  out += "\n";
  for (const auto& w : r.workloads) {
    if (!w.skipped.empty()) continue;
    out += fmt::format("{}: {}; {} rep(s), first {:.3f} s; {} tensors, {} read + {} written; {}",
                       w.name, w.title, w.reps, w.first_seconds, w.tensors, gb(w.read_bytes),
                       gb(w.written_bytes), w.check);
    if (w.name == "requant-flux-q4k")
      out += fmt::format("; {:.2f} GB/s of quantized output",
                         per_s(static_cast<double>(w.output_bytes), w.seconds) / 1e9);
    if (w.rss_limit)
      out += fmt::format("; peak RSS {} vs limit {} ({})", gb(w.peak_rss), gb(*w.rss_limit),
                         w.peak_rss <= *w.rss_limit ? "within" : "OVER");
    if (!w.note.empty()) out += "; " + w.note;
    if (!w.output.empty()) out += "; kept " + w.output;
    out += "\n";
  }
  return out;
}

nlohmann::ordered_json render_json(const BenchResult& r) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["lorakit"] = r.version;
  j["quick"] = r.quick;
  j["cache_dir"] = r.cache_dir;
  j["synth_seconds"] = r.synth_seconds;
  j["synthesized"] = r.synthesized;
  const auto& m = r.machine;
  j["machine"] = {{"cpu", m.cpu},
                  {"threads", m.threads},
                  {"memory_bytes", m.memory_bytes},
                  {"blas", m.blas},
                  {"memcpy_buffer_bytes", m.memcpy_buffer_bytes},
                  {"memcpy_gb_per_s_1", m.memcpy_1},
                  {"memcpy_gb_per_s_all", m.memcpy_all},
                  {"sgemm_gflops_1", m.sgemm_1},
                  {"sgemm_gflops_all", m.sgemm_all}};
  j["bound"] =
      "(read_bytes + written_bytes) / (2 * memcpy_gb_per_s_all) + sum over product shapes of "
      "flops / sgemm_gflops_all(shape)";
  auto list = ordered_json::array();
  for (const auto& w : r.workloads) {
    ordered_json o;
    o["name"] = w.name;
    o["title"] = w.title;
    o["quick"] = w.quick;
    if (!w.skipped.empty()) {
      o["skipped"] = w.skipped;
      list.push_back(std::move(o));
      continue;
    }
    const double bytes = static_cast<double>(w.read_bytes + w.written_bytes);
    o["reps"] = w.reps;
    o["seconds"] = w.seconds;
    o["first_seconds"] = w.first_seconds;
    o["tensors"] = w.tensors;
    o["read_bytes"] = w.read_bytes;
    o["written_bytes"] = w.written_bytes;
    o["bytes_note"] = w.bytes_note;
    o["output_bytes"] = w.output_bytes;
    o["flops"] = w.flops;
    o["gb_per_s"] = per_s(bytes, w.seconds) / 1e9;
    o["output_gb_per_s"] = per_s(static_cast<double>(w.output_bytes), w.seconds) / 1e9;
    o["gflops"] = per_s(static_cast<double>(w.flops), w.seconds) / 1e9;
    o["sgemm_gflops_1"] = w.sgemm_1;
    o["sgemm_gflops_all"] = w.sgemm_all;
    o["sgemm_coverage"] = w.sgemm_coverage;
    o["bound_memory_s"] = w.bound_memory_s;
    o["bound_sgemm_s"] = w.bound_sgemm_s;
    o["bound_s"] = w.bound_s;
    o["ratio"] = w.bound_s > 0 ? ordered_json(w.ratio) : ordered_json(nullptr);
    o["rss_before"] = w.rss_before;
    o["peak_rss"] = w.peak_rss;
    o["peak_rss_reset"] = w.peak_rss_reset;
    o["rss_limit"] = w.rss_limit ? ordered_json(*w.rss_limit) : ordered_json(nullptr);
    o["verified"] = w.verified;
    o["check"] = w.check;
    o["note"] = w.note;
    if (!w.output.empty()) o["output"] = w.output;
    auto shapes = ordered_json::array();
    for (const auto& s : w.shapes)
      shapes.push_back({{"rows", s.rows},
                        {"cols", s.cols},
                        {"rank", s.rank},
                        {"count", s.count},
                        {"timed", s.timed},
                        {"gflops_1", s.gflops_1},
                        {"gflops_all", s.gflops_all}});
    o["shapes"] = std::move(shapes);
    list.push_back(std::move(o));
  }
  j["workloads"] = std::move(list);
  j["all_verified"] = r.all_verified();
  return j;
}

}  // namespace lorakit::tools
