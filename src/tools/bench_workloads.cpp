// The workloads of `lorakit bench`. Each times one operation as a user (or a host program through a
// Session) runs it, takes the bytes and flops it needed from the plan it executed, and verifies a
// few of its output tensors against patch::apply run directly.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <malloc.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>

#include "lorakit/adapter.hpp"
#include "lorakit/error.hpp"
#include "lorakit/session.hpp"
#include "tools/bench_internal.hpp"
#include "tools/check.hpp"
#include "tools/merge.hpp"

namespace lorakit::tools::bench_detail {
namespace {

namespace fs = std::filesystem;
using session::AdapterRequest;
using session::Session;
using session::SessionOptions;
using Clock = std::chrono::steady_clock;
using Set = std::vector<AdapterRequest>;

// Peak resident memory over the timed part: VmHWM reset to the current RSS at the start. Freed
// heap memory of earlier workloads is returned to the kernel first (glibc keeps freed blocks below
// its adaptive mmap threshold, up to 32 MiB each, in its arenas), so the peak is this workload's.
struct RssWatch {
  bool trimmed = ::malloc_trim(0) >= 0;
  uint64_t before = current_rss();
  bool reset = reset_peak_rss();
  void finish(WorkloadResult& w) const {
    w.rss_before = before;
    w.peak_rss = peak_rss();
    w.peak_rss_reset = reset;
  }
};

// Best and first of a series of timings.
struct Reps {
  int n = 0;
  double best = std::numeric_limits<double>::infinity(), first = 0;
  void add(double s) {
    if (n++ == 0) first = s;
    best = std::min(best, s);
  }
  void into(WorkloadResult& w) const {
    w.reps = n;
    w.seconds = best;
    w.first_seconds = first;
  }
};

patch::Plan plan_of(const model::ModelIndex& index, const Set& set) {
  std::vector<patch::AdapterEntry> entries;
  for (const auto& r : set)
    entries.push_back(
        {std::make_shared<const adapter::Adapter>(adapter::parse_file(r.path, index)), r.strength});
  return patch::make_plan(index, std::move(entries));
}

void put_cost(WorkloadResult& w, const Cost& c) {
  w.tensors = c.tensors;
  w.read_bytes = c.tensor_read + c.factor_read;
  w.written_bytes = c.tensor_written;
  w.output_bytes = c.tensor_written;
  w.flops = c.flops;
  w.shapes = c.shapes;
  w.bytes_note =
      "read: every tensor of the computed units and the adapter factors; written: the computed "
      "tensors";
}

// Up to two units to verify: the first computed one and the one holding the largest tensor.
std::vector<uint32_t> sample_units(const patch::Plan& plan, const std::vector<uint32_t>& units,
                                   const io::TensorSource& base) {
  if (units.empty()) return {};
  uint32_t largest = units.front();
  uint64_t size = 0;
  for (uint32_t u : units)
    for (const auto& t : plan.units[u].tensors)
      if (const auto* info = base.find(t); info && info->nbytes > size) {
        size = info->nbytes;
        largest = u;
      }
  std::vector<uint32_t> v{units.front()};
  if (largest != units.front()) v.push_back(largest);
  return v;
}

// Compares the patched tensors of `units` as `read` returns them with patch::apply's bytes.
template <typename ReadFn>
void verify_units(WorkloadResult& w, const patch::Plan& plan, const std::vector<uint32_t>& units,
                  const io::TensorSource& base, const patch::Options& options, ReadFn read) {
  uint64_t checked = 0;
  for (uint32_t u : sample_units(plan, units, base)) {
    const auto out = patch::apply(plan, plan.units[u], base, options);
    for (const auto& t : out.tensors) {
      if (!t.patched) continue;
      const std::vector<std::byte> got = read(t.name);
      if (got.size() != t.bytes.size() || !std::equal(got.begin(), got.end(), t.bytes.begin())) {
        w.verified = false;
        w.check = fmt::format("'{}' differs from patch::apply's bytes", t.name);
        return;
      }
      ++checked;
    }
  }
  w.verified = checked > 0;
  w.check = checked > 0 ? fmt::format("{} tensors equal patch::apply's bytes", checked)
                        : "nothing to verify";
}

// MemAvailable of /proc/meminfo in bytes (0 when unreadable: no limit is applied).
uint64_t memory_available() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (f >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;
}

// A workload that would not fit in the memory available now is skipped with the sizes, rather than
// being killed by the kernel half way (the machine may be shared).
std::string memory_shortfall(uint64_t need) {
  const uint64_t avail = memory_available();
  if (avail == 0 || avail >= need) return {};
  return fmt::format("needs about {:.1f} GB of memory, {:.1f} GB available now",
                     static_cast<double>(need) / 1e9, static_cast<double>(avail) / 1e9);
}

SessionOptions session_options(uint64_t budget = 0) {
  SessionOptions o;
  o.memory_budget = budget;
  return o;
}

// A Session on `model_path` from the empty set: `before` is applied untimed first (and again
// before every rep after the first), then the switch to `after` is timed. Bytes and flops are
// those of the units whose patch list changed.
WorkloadResult session_switch(Context& ctx, const char* name, const std::string& model_path,
                              const Set& before, const Set& after, int reps,
                              const SessionOptions& options) {
  WorkloadResult w;
  w.name = name;
  Session s(options);
  s.open_model(model_path);
  const auto base = io::open_tensor_source(model_path);
  const auto p_before = plan_of(s.model(), before), p_after = plan_of(s.model(), after);
  const auto units = changed_units(p_before, p_after);
  const Cost cost = plan_cost(p_after, units, *base, options.patch);
  put_cost(w, cost);
  // A switch holds the old overlay and the new one until it swaps them (decisions.md s9).
  const uint64_t overlay = options.memory_budget > 0
                               ? std::min(cost.tensor_written, options.memory_budget)
                               : cost.tensor_written;
  w.skipped =
      memory_shortfall((before.empty() ? 1 : 2) * overlay + cost.largest_tensor * 8 + (1ull << 30));
  if (!w.skipped.empty()) return w;
  if (!before.empty()) s.set_adapters(before);
  RssWatch rss;
  Reps t;
  session::SwitchReport last;
  for (int i = 0; i < reps; ++i) {
    if (i > 0) s.set_adapters(before);
    const auto t0 = Clock::now();
    last = s.set_adapters(after);
    t.add(since(t0));
    if (ctx.log) ctx.log(fmt::format("  {} rep {}: {:.3f} s", name, i + 1, since(t0)));
  }
  rss.finish(w);
  t.into(w);
  uint64_t records = 0;
  for (const auto& e : p_after.entries) records += e.adapter->modules.size();
  w.note = fmt::format("{} adapter records; the session recomputed {} tensors (plan: {})", records,
                       last.recomputed, w.tensors);
  verify_units(w, p_after, units, *base, options.patch, [&](const std::string& n) {
    const auto t = s.read(n);  // keeps the bytes alive while they are copied
    return std::vector<std::byte>(t.bytes.begin(), t.bytes.end());
  });
  return w;
}

// tools::merge of `model_path` + `lora` into `out`, `reps` times (best kept); verifies the last
// output against patch::apply and the source bytes, then deletes it unless --keep.
WorkloadResult file_merge(Context& ctx, const char* name, const std::string& model_path,
                          const std::string& lora, const fs::path& out, int reps) {
  WorkloadResult w;
  w.name = name;
  const auto base = io::open_tensor_source(model_path);
  const auto index = model::ModelIndex::from_source(*base);
  const auto plan = plan_of(index, {{lora, 1.0f}});
  const patch::Options popt;
  const Cost c = plan_cost(plan, all_units(plan), *base, popt);
  put_cost(w, c);
  MergeOptions mo;
  mo.model_path = model_path;
  mo.adapters = {{lora, 1.0f}};
  mo.output = out.string();
  mo.patch = popt;
  RssWatch rss;
  Reps t;
  MergeResult r;
  for (int i = 0; i < reps; ++i) {
    std::error_code ec;
    fs::remove(out, ec);
    const auto t0 = Clock::now();
    r = merge(mo);
    t.add(since(t0));
    if (ctx.log) ctx.log(fmt::format("  {} rep {}: {:.3f} s", name, i + 1, since(t0)));
  }
  rss.finish(w);
  t.into(w);
  // The whole file is read and written: copied tensors move as many bytes as patched ones.
  w.read_bytes = r.input_bytes + c.factor_read;
  w.written_bytes = r.output_bytes;
  w.output_bytes = r.output_bytes;
  w.tensors = r.patched;
  w.bytes_note = "read: the whole model file and the adapter factors; written: the whole output";
  {
    const auto merged = io::open_tensor_source(out.string());
    verify_units(w, plan, all_units(plan), *base, popt, [&](const std::string& n) {
      const auto b = merged->view(n).bytes;
      return std::vector<std::byte>(b.begin(), b.end());
    });
    // And one untouched tensor: the source's bytes.
    for (const auto& info : base->tensors()) {
      if (plan.find(info.name)) continue;
      const auto a = base->view(info).bytes, b = merged->view(info.name).bytes;
      if (!std::equal(a.begin(), a.end(), b.begin(), b.end())) {
        w.verified = false;
        w.check = fmt::format("untouched '{}' differs from the source", info.name);
      } else if (w.verified) {
        w.check += "; an untouched tensor equals the source";
      }
      break;
    }
  }
  if (ctx.keep) {
    w.output = out.string();
  } else {
    std::error_code ec;
    fs::remove(out, ec);
  }
  return w;
}

// Where a merged SD1 file goes: memory-backed /dev/shm when it has room (so the figure is the
// merge, not the disk), else the cache folder.
fs::path scratch_output(Context& ctx, const std::string& file, uint64_t bytes, std::string& where) {
  std::error_code ec;
  if (!ctx.keep && fs::is_directory("/dev/shm")) {
    // tmpfs pages are memory: the file must fit in what is available, not only in the mount.
    const auto sp = fs::space("/dev/shm", ec);
    if (!ec && sp.available > bytes + (1ull << 30) &&
        memory_shortfall(bytes + (2ull << 30)).empty()) {
      where = "/dev/shm";
      return fs::path("/dev/shm") / fmt::format("lorakit-bench-{}-{}", ::getpid(), file);
    }
  }
  where = "the cache folder";
  return fs::path(ctx.inputs.dir()) / ("out-" + file);
}

// --- the workloads ---

WorkloadResult merge_sd1(Context& ctx) {
  const auto model = ctx.inputs.sd1(), lora = ctx.inputs.sd1_lora();
  auto w = session_switch(ctx, "merge-sd1-r32", model, {}, {{lora, 1.0f}}, 3, session_options());
  return w;
}

WorkloadResult merge_sd1_file(Context& ctx) {
  const auto model = ctx.inputs.sd1(), lora = ctx.inputs.sd1_lora();
  std::string where;
  const auto out = scratch_output(ctx, "sd1-r32.safetensors", fs::file_size(model), where);
  auto w = file_merge(ctx, "merge-sd1-r32-file", model, lora, out, 2);
  w.note = "output in " + where;
  return w;
}

WorkloadResult merge_sdxl(Context& ctx) {
  const auto model = ctx.inputs.sdxl(), lora = ctx.inputs.sdxl_lora_a();
  return session_switch(ctx, "merge-sdxl-r32", model, {}, {{lora, 1.0f}},
                        ctx.inputs.quick() ? 3 : 2, session_options());
}

WorkloadResult switch_sdxl(Context& ctx) {
  const auto model = ctx.inputs.sdxl();
  const auto a = ctx.inputs.sdxl_lora_a(), b = ctx.inputs.sdxl_lora_b();
  return session_switch(ctx, "switch-sdxl", model, {{a, 1.0f}}, {{b, 1.0f}},
                        ctx.inputs.quick() ? 3 : 2, session_options());
}

WorkloadResult strength_sdxl(Context& ctx) {
  const auto model = ctx.inputs.sdxl(), a = ctx.inputs.sdxl_lora_a();
  return session_switch(ctx, "strength-sdxl", model, {{a, 1.0f}}, {{a, 0.5f}},
                        ctx.inputs.quick() ? 3 : 2, session_options());
}

WorkloadResult requant_flux(Context& ctx) {
  const auto model = ctx.inputs.flux_q4k(), lora = ctx.inputs.flux_lora();
  // The overlay of every requantized FLUX weight would be ~6 GB; a 1 GiB budget evicts the rest
  // after computing it (decisions.md s6), so the time is the computation on any machine.
  auto o = session_options(ctx.inputs.quick() ? 0 : (1ull << 30));
  o.patch.quant_policy = patch::QuantPolicy::Requant;
  auto w = session_switch(ctx, "requant-flux-q4k", model, {}, {{lora, 1.0f}},
                          ctx.inputs.quick() ? 2 : 1, o);
  if (!ctx.inputs.quick()) w.note += "; overlay budget 1 GiB (evicted units are still computed)";
  return w;
}

WorkloadResult merge_flux_stream(Context& ctx) {
  if (ctx.inputs.quick()) {
    WorkloadResult w;
    w.name = "merge-flux-bf16-stream";
    w.skipped = "not in --quick (needs the 23.8 GB FLUX BF16 model)";
    return w;
  }
  const auto model = ctx.inputs.flux_bf16(), lora = ctx.inputs.flux_lora();
  const fs::path out = fs::path(ctx.inputs.dir()) / "out-flux-bf16-r32.safetensors";
  std::error_code ec;
  const auto sp = fs::space(ctx.inputs.dir(), ec);
  if (!ec && sp.available < fs::file_size(model) + (1ull << 30)) {
    WorkloadResult w;
    w.name = "merge-flux-bf16-stream";
    w.skipped = fmt::format("{:.1f} GB free in {}, the output needs {:.1f} GB",
                            static_cast<double>(sp.available) / 1e9, ctx.inputs.dir(),
                            static_cast<double>(fs::file_size(model)) / 1e9);
    return w;
  }
  auto w = file_merge(ctx, "merge-flux-bf16-stream", model, lora, out, 1);
  uint64_t largest = 0;
  for (const auto& t : io::open_tensor_source(model)->tensors())
    largest = std::max(largest, t.nbytes);
  w.rss_limit = (2ull << 30) + largest;
  w.note = "input and output on the cache folder's disk";
  return w;
}

WorkloadResult check_flux(Context& ctx) {
  WorkloadResult w;
  w.name = "check-flux-5";
  CheckOptions o;
  o.model_path = ctx.inputs.flux_q4k();
  for (const auto& p : ctx.inputs.flux_check_loras()) o.adapters.push_back({p, 1.0f});
  RssWatch rss;
  Reps t;
  CheckResult r;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    r = check(o);
    t.add(since(t0));
  }
  rss.finish(w);
  t.into(w);
  uint64_t modules = 0, matched = 0;
  std::vector<std::string> formats;
  bool all = true;
  for (const auto& a : r.adapters) {
    modules += a.adapter.report.modules;
    matched += a.adapter.report.matched;
    formats.push_back(a.adapter.report.format_label);
    all = all && a.fully_matched();
  }
  w.verified = all && r.adapters.size() == 5;
  w.check = fmt::format("{} adapters ({}), {} of {} modules matched", r.adapters.size(),
                        fmt::format("{}", fmt::join(formats, ", ")), matched, modules);
  w.bytes_note = "headers only: no tensor data is read, so there is no bound";
  w.note = "model: the FLUX Q4_K GGUF (headers only)";
  return w;
}

}  // namespace

const std::vector<WorkloadDef>& workload_defs() {
  static const std::vector<WorkloadDef> defs = {
      {"merge-sd1-r32", "SD1 F16 UNet+TE + kohya r32 (--te), in memory", true, merge_sd1},
      {"merge-sd1-r32-file", "the same through `merge` to a file", true, merge_sd1_file},
      {"merge-sdxl-r32", "SDXL F16 + kohya r32 (UNet+TEs), in memory", true, merge_sdxl},
      {"switch-sdxl", "SDXL session: r32 LoRA A -> B (changed tensors)", true, switch_sdxl},
      {"strength-sdxl", "SDXL session: A at 1.0 -> 0.5", true, strength_sdxl},
      {"requant-flux-q4k", "FLUX Q4_K + r32, requant, in memory", true, requant_flux},
      {"merge-flux-bf16-stream", "FLUX BF16 + r32 `merge` to disk (streaming)", false,
       merge_flux_stream},
      {"check-flux-5", "`check` FLUX + 5 LoRAs (4 naming families)", true, check_flux},
  };
  return defs;
}

void finish_bound(WorkloadResult& w, Context& ctx) {
  w.sgemm_coverage = ctx.sgemm.time_shapes(w.shapes);
  double t1 = 0, tall = 0;
  for (const auto& s : w.shapes) {
    const double f = 2.0 * static_cast<double>(s.count * s.rows * s.cols * s.rank);
    if (s.gflops_1 > 0) t1 += f / (s.gflops_1 * 1e9);
    if (s.gflops_all > 0) tall += f / (s.gflops_all * 1e9);
  }
  w.sgemm_1 = t1 > 0 ? static_cast<double>(w.flops) / t1 / 1e9 : 0;
  w.sgemm_all = tall > 0 ? static_cast<double>(w.flops) / tall / 1e9 : 0;
  // memcpy_all counts bytes copied; a copied byte is read once and written once, so moving R read
  // plus W written bytes takes (R + W) / (2 · copy rate).
  const double traffic = 2.0 * ctx.machine.memcpy_all * 1e9;
  w.bound_memory_s =
      traffic > 0 ? static_cast<double>(w.read_bytes + w.written_bytes) / traffic : 0;
  w.bound_sgemm_s = tall;
  w.bound_s = w.bound_memory_s + w.bound_sgemm_s;
  w.ratio = w.bound_s > 0 ? w.seconds / w.bound_s : 0;
}

}  // namespace lorakit::tools::bench_detail
