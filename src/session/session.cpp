#include "lorakit/session.hpp"

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <unordered_set>

#include "lorakit/error.hpp"
#include "session/adapter_cache.hpp"
#include "session/state.hpp"

namespace lorakit::session {

using detail::ModelCtx;
using detail::Slot;
using detail::State;
using detail::StepKey;

namespace {

bool is_block_type(DType t) { return t >= DType::Q4_0 && t < DType::kCount; }

std::string file_name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// "3 unmatched (a, b, …)" for a non-empty problem list.
void add_problem(std::vector<std::string>& out, const char* what,
                 const std::vector<std::string>& items) {
  if (items.empty()) return;
  std::string s = fmt::format("{} {} ({}", items.size(), what, items.front());
  if (items.size() > 1) s += items.size() == 2 ? ", " + items[1] : ", …";
  s += ")";
  out.push_back(std::move(s));
}

// Refuses an adapter that does not fit the model (lessons.md R13–R15), in the words of `check`.
void check_fits(const adapter::Adapter& a, const model::ModelIndex& model, bool strict) {
  const auto& r = a.report;
  const std::string name = file_name(a.path);
  if (!r.compat_error.empty()) throw InvalidArgument(r.compat_error);
  const auto& arch = model.arch();
  const std::string model_name =
      arch.variant.empty() ? std::string(model::family_name(arch.family)) : arch.variant;
  if (r.matched == 0 || a.modules.empty()) {
    std::string msg =
        fmt::format("{}: 0 of {} modules match the model ({})", name, r.modules, model_name);
    if (!r.unmatched.empty()) msg += fmt::format("; first unmatched: {}", r.unmatched.front());
    throw InvalidArgument(msg);
  }
  if (!strict) return;
  std::vector<std::string> problems;
  add_problem(problems, "unmatched", r.unmatched);
  std::vector<std::string> mismatched;
  for (const auto& s : r.shape_mismatch) mismatched.push_back(s.key);
  add_problem(problems, "shape mismatches", mismatched);
  add_problem(problems, "unused keys", r.unused_keys);
  add_problem(problems, "ambiguous", r.ambiguous);
  add_problem(problems, "incomplete", r.incomplete);
  add_problem(problems, "conflicting", r.conflicts);
  add_problem(problems, "invalid", r.invalid);
  add_problem(problems, "unsupported", r.unsupported);
  add_problem(problems, "duplicate bindings", r.duplicate_bindings);
  add_problem(problems, "overlapping", r.overlaps);
  if (problems.empty()) return;
  throw InvalidArgument(fmt::format("{}: strict mode: {} of {} modules match; {}", name, r.matched,
                                    r.modules, fmt::join(problems, "; ")));
}

// A computed unit with its unpatched companions' bytes dropped (they read pristine).
struct Computed {
  std::shared_ptr<const patch::UnitOut> out;
  std::vector<uint8_t> patched;
  uint64_t bytes = 0, count = 0;
};

// Deleter of overlay entries: their patched buffers go back to the pool (when it still exists)
// once the last reader and state let go of them.
struct Recycle {
  std::weak_ptr<patch::BufferPool> pool;
  void operator()(const patch::UnitOut* entry) const {
    std::unique_ptr<patch::UnitOut> owned(const_cast<patch::UnitOut*>(entry));
    if (auto p = pool.lock())
      for (auto& t : owned->tensors)
        if (t.patched) p->give(std::move(t.bytes));
  }
};

Computed compute_unit(const State& st, size_t unit, const patch::Options& options,
                      const std::shared_ptr<patch::BufferPool>& pool) {
  patch::UnitOut out =
      patch::apply(*st.plan, st.plan->units[unit], *st.model->source, options, pool.get());
  Computed c;
  c.patched.resize(out.tensors.size());
  for (size_t k = 0; k < out.tensors.size(); ++k) {
    auto& t = out.tensors[k];
    if (t.patched) {
      c.patched[k] = 1;
      c.bytes += t.bytes.size();
      ++c.count;
    } else {
      ByteBuffer().swap(t.bytes);
    }
  }
  if (pool)
    c.out =
        std::shared_ptr<const patch::UnitOut>(new patch::UnitOut(std::move(out)), Recycle{pool});
  else
    c.out = std::make_shared<const patch::UnitOut>(std::move(out));
  return c;
}

}  // namespace

struct Session::Impl {
  SessionOptions options;
  // Declared before `state`, so it outlives the overlay entries whose buffers return to it.
  std::shared_ptr<patch::BufferPool> spares = std::make_shared<patch::BufferPool>();
  mutable std::mutex mu;  // guards `state`, every published Slot::out and the counters below
  std::shared_ptr<const State> state = std::make_shared<State>();
  mutable uint64_t resident_bytes = 0, resident_tensors = 0;
  mutable SessionStats stats;

  std::mutex switch_mu;  // serializes set_adapters and open_model
  detail::AdapterCache cache;
  uint64_t generation = 0;

  explicit Impl(SessionOptions o) : options(std::move(o)), cache(options.adapter_cache_bytes) {
    options.patch.output_dtype.reset();
    spares->set_limit(options.memory_budget);
  }

  // The pool apply draws output buffers from, or null when reuse is off.
  std::shared_ptr<patch::BufferPool> pool() const {
    return options.reuse_buffers ? spares : nullptr;
  }

  std::shared_ptr<const State> snapshot() const {
    std::lock_guard lock(mu);
    return state;
  }

  // Publishes `next` and recounts what the overlay holds. Caller holds switch_mu.
  void publish(std::shared_ptr<const State> next) {
    uint64_t bytes = 0, tensors = 0;
    std::lock_guard lock(mu);
    for (const auto& s : next->slots)
      if (s && s->out) bytes += s->bytes, tensors += s->patched_count;
    state = std::move(next);
    resident_bytes = bytes;
    resident_tensors = tensors;
    sync_cache_counters();
  }

  void sync_cache_counters() {  // caller holds mu (and switch_mu, which guards the cache)
    const auto& c = cache.counters();
    stats.adapters_parsed = c.parsed;
    stats.adapters_cached = c.cached;
    stats.adapters_hashed = c.hashed;
    stats.cache_evictions = c.evictions;
  }

  // The overlay entry of unit `i` of `st`, recomputed when the budget evicted it; kept again only
  // while `st` is current and the entry fits.
  std::shared_ptr<const patch::UnitOut> unit_out(const std::shared_ptr<const State>& st,
                                                 size_t i) const {
    Slot& slot = *st->slots[i];
    {
      std::lock_guard lock(mu);
      if (slot.out) return slot.out;
    }
    Computed c = compute_unit(*st, i, options.patch, pool());
    std::lock_guard lock(mu);
    ++stats.on_demand_recomputes;
    if (slot.out) return slot.out;
    if (state == st && resident_bytes + c.bytes <= options.memory_budget) {
      slot.out = c.out;
      resident_bytes += c.bytes;
      resident_tensors += c.count;
    }
    return c.out;
  }
};

Session::Session(SessionOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Session::~Session() = default;

const SessionOptions& Session::options() const { return impl_->options; }

void Session::open_model(const std::string& path) {
  std::lock_guard sw(impl_->switch_mu);
  auto ctx = std::make_shared<ModelCtx>();
  ctx->source = io::open_tensor_source(path);
  ctx->index = model::ModelIndex::from_source(*ctx->source);
  ctx->arch_seed = detail::architecture_seed(ctx->index);
  ctx->names.reserve(ctx->source->tensors().size());
  for (const auto& t : ctx->source->tensors()) ctx->names.push_back(t.name);
  ctx->generation = ++impl_->generation;

  auto st = std::make_shared<State>();
  st->model = std::move(ctx);
  impl_->cache.clear();  // bindings belong to the old model
  impl_->publish(std::move(st));
  impl_->spares->clear();  // sized for the old model's tensors
  std::lock_guard lock(impl_->mu);
  ++impl_->stats.models_opened;
}

bool Session::has_model() const { return impl_->snapshot()->model != nullptr; }

const model::ModelIndex& Session::model() const {
  auto st = impl_->snapshot();
  if (!st->model) throw InvalidArgument("no model is open");
  // The ModelCtx lives as long as the current state refers to it, i.e. until the next open_model.
  return st->model->index;
}

SwitchReport Session::set_adapters(const std::vector<AdapterRequest>& set) {
  using Clock = std::chrono::steady_clock;
  std::lock_guard sw(impl_->switch_mu);
  const auto t0 = Clock::now();
  Impl& im = *impl_;
  // Counters of the cache move even when the switch is refused.
  struct SyncCounters {
    Impl& im;
    ~SyncCounters() {
      std::lock_guard lock(im.mu);
      im.sync_cache_counters();
    }
  } sync{im};

  std::shared_ptr<const State> old = im.snapshot();
  SwitchReport rep;
  if (!old->model) {
    if (set.empty()) return rep;
    throw InvalidArgument("set_adapters: no model is open");
  }
  const std::shared_ptr<const ModelCtx> model = old->model;
  for (const auto& r : set)
    if (!std::isfinite(r.strength))
      throw InvalidArgument(
          fmt::format("{}: strength {} is not a finite number", r.path, r.strength));

  // 1. The adapters: from the cache or parsed; each must fit the model.
  std::vector<patch::AdapterEntry> entries;
  std::vector<detail::CachedAdapter> accepted;
  for (const auto& r : set) {
    detail::CachedAdapter c = im.cache.get(r.path, model->index, model->arch_seed);
    check_fits(*c.adapter, model->index, im.options.strict);
    // Cached at once (even if a later request fails): the cache is no part of the visible state,
    // and a file requested twice in one set is parsed once.
    im.cache.insert(c);
    rep.reports.push_back(c.adapter->report);
    ++(c.from_cache ? rep.adapters_cached : rep.adapters_parsed);
    entries.push_back({c.adapter, r.strength});
    accepted.push_back(std::move(c));
  }

  // 2. The plan and one slot per unit that the set changes.
  auto next = std::make_shared<State>();
  next->model = model;
  next->active = set;
  for (const auto& c : accepted) next->ids.push_back(c.id);
  if (!set.empty())
    next->plan = std::make_shared<const patch::Plan>(patch::make_plan(model->index, entries));
  const size_t units = next->plan ? next->plan->units.size() : 0;
  next->slots.resize(units);
  next->runtime.assign(units, 0);
  const patch::Options& popt = im.options.patch;
  std::vector<uint8_t> kept(units, 0);
  {
    std::lock_guard lock(im.mu);  // previous slots' `out` may be written by readers
    for (size_t i = 0; i < units; ++i) {
      const patch::Unit& u = next->plan->units[i];
      if (u.steps.empty()) continue;
      bool runtime = false;
      auto slot = std::make_shared<Slot>();
      slot->tensors = u.tensors;
      for (const auto& t : u.tensors) {
        const io::TensorInfo* info = model->source->find(t);
        if (!info)
          throw Error(fmt::format("{}: plan names unknown tensor '{}'", model->index.origin(), t));
        if (popt.quant_policy == patch::QuantPolicy::Runtime && is_block_type(info->dtype))
          runtime = true;
        slot->predicted +=
            bytes_for(patch::output_type(*info, popt), info->elements).value_or(info->nbytes);
      }
      if (runtime) {
        next->runtime[i] = 1;
        continue;
      }
      slot->steps.reserve(u.steps.size());
      for (const auto& s : u.steps)
        slot->steps.push_back(
            {next->ids.at(s.entry), s.module, std::bit_cast<uint32_t>(s.strength)});
      const int64_t j = old->unit_index(u.tensors.front());
      if (j >= 0 && old->slots[j] && old->slots[j]->same_signature(*slot)) {
        const Slot& prev = *old->slots[j];
        slot->patched = prev.patched;
        slot->bytes = prev.bytes;
        slot->patched_count = prev.patched_count;
        slot->out = prev.out;
        kept[i] = 1;
      }
      next->slots[i] = std::move(slot);
    }
  }

  // 3. The memory budget: first fit in unit (model tensor) order by predicted size.
  const uint64_t budget = im.options.memory_budget;
  std::vector<uint8_t> resident(units, 0), recompute(units, 0);
  std::vector<size_t> todo;
  uint64_t used = 0;
  for (size_t i = 0; i < units; ++i) {
    Slot* s = next->slots[i].get();
    if (!s) continue;
    if (budget == 0 || used + s->predicted <= budget) {
      resident[i] = 1;
      used += s->predicted;
    }
    if (!kept[i] || (resident[i] && !s->out)) {
      recompute[i] = 1;
      todo.push_back(i);
    }
    if (!resident[i]) s->out.reset();
  }

  // Spares left over from earlier switches serve this one or are freed at its end.
  im.spares->age();

  // 4. Compute in parallel, each unit from the pristine source. Units beyond the budget are
  // computed too (so that an error surfaces here, before anything changes) and then dropped.
  tbb::parallel_for(tbb::blocked_range<size_t>(0, todo.size(), 1), [&](const auto& r) {
    for (size_t k = r.begin(); k != r.end(); ++k) {
      const size_t i = todo[k];
      Computed c = compute_unit(*next, i, popt, im.pool());
      Slot& s = *next->slots[i];
      s.patched = std::move(c.patched);
      s.bytes = c.bytes;
      s.patched_count = c.count;
      if (resident[i]) s.out = std::move(c.out);
    }
  });

  // 5. The report.
  std::unordered_set<std::string> now_patched;
  for (size_t i = 0; i < units; ++i) {
    const Slot* s = next->slots[i].get();
    if (!s) continue;
    for (size_t k = 0; k < s->tensors.size(); ++k)
      if (s->patched[k]) now_patched.insert(s->tensors[k]);
    if (!resident[i]) rep.evicted += s->patched_count;
  }
  for (size_t k = 0; k < todo.size(); ++k) rep.recomputed += next->slots[todo[k]]->patched_count;
  for (size_t i = 0; i < units; ++i)
    if (kept[i] && !recompute[i]) rep.kept += next->slots[i]->patched_count;
  for (const auto& s : old->slots) {
    if (!s) continue;
    for (size_t k = 0; k < s->tensors.size(); ++k)
      if (s->patched[k] && !now_patched.count(s->tensors[k])) ++rep.restored;
  }

  // 6. Publish. The old state's entries that the new one does not share return their buffers to
  // the pool as they go (unless a reader still holds them); older spares are freed.
  im.publish(next);
  next.reset();
  old.reset();
  im.spares->drop_old();
  {
    std::lock_guard lock(im.mu);
    im.stats.overlay_evictions += rep.evicted;
  }
  rep.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return rep;
}

std::vector<AdapterRequest> Session::active() const { return impl_->snapshot()->active; }

Tensor Session::read(std::string_view name) const {
  std::shared_ptr<const State> st = impl_->snapshot();
  if (!st->model) throw InvalidArgument("read: no model is open");
  const ModelCtx& m = *st->model;
  const io::TensorInfo* info = m.source->find(name);
  if (!info) throw InvalidArgument(fmt::format("{}: no tensor named '{}'", m.index.origin(), name));

  const int64_t i = st->unit_index(name);
  if (i >= 0 && st->slots[i]) {
    const Slot& slot = *st->slots[i];
    for (size_t k = 0; k < slot.tensors.size(); ++k) {
      if (slot.tensors[k] != name || !slot.patched[k]) continue;
      std::shared_ptr<const patch::UnitOut> out = impl_->unit_out(st, static_cast<size_t>(i));
      const patch::TensorOut& t = out->tensors.at(k);
      return Tensor{t.name,
                    t.dtype,
                    t.shape,
                    t.storage_shape,
                    std::span<const std::byte>(t.bytes),
                    true,
                    std::shared_ptr<const void>(out, &t)};
    }
  }
  const io::TensorView v = m.source->view(*info);
  return Tensor{info->name,
                info->dtype,
                info->shape,
                info->storage_shape,
                v.bytes,
                false,
                std::shared_ptr<const void>(st->model, info)};
}

std::vector<std::string> Session::tensor_names() const {
  auto st = impl_->snapshot();
  return st->model ? st->model->names : std::vector<std::string>{};
}

std::vector<patch::RuntimePatch> Session::runtime_patch(std::string_view weight) const {
  auto st = impl_->snapshot();
  const int64_t i = st->unit_index(weight);
  if (i < 0 || !st->runtime[i]) return {};
  std::vector<patch::RuntimePatch> all =
      patch::runtime_patch(*st->plan, st->plan->units[i], *st->model->source);
  std::vector<patch::RuntimePatch> out;
  for (auto& p : all)
    if (p.tensor == weight) out.push_back(std::move(p));
  return out;
}

uint64_t Session::overlay_bytes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->resident_bytes;
}

uint64_t Session::overlay_tensors() const {
  std::lock_guard lock(impl_->mu);
  return impl_->resident_tensors;
}

SessionStats Session::stats() const {
  SessionStats s;
  {
    std::lock_guard lock(impl_->mu);
    s = impl_->stats;
  }
  s.spare_bytes = impl_->spares->spare_bytes();
  s.buffers_reused = impl_->spares->reused();
  return s;
}

void Session::release_spare_buffers() { impl_->spares->clear(); }

}  // namespace lorakit::session
