// lorakit::session — the live lifecycle of adapters on one base model (lessons.md R1–R8): a
// declarative active set, an overlay that holds patched tensors only (never a model backup), every
// patched tensor recomputed from the pristine mapped source, adapters cached by content hash.
//
// Threads: read(), tensor_names(), active(), runtime_patch() and the byte counters may be called
// from any number of threads, also while another thread runs set_adapters() or open_model(); a
// reader sees either the state before a switch or the one after it, never a mix within one tensor.
// Calls that change the state (set_adapters, open_model) serialize.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/adapter.hpp"
#include "lorakit/dtype.hpp"
#include "lorakit/model.hpp"
#include "lorakit/patch.hpp"

namespace lorakit::session {

// One requested adapter: a file and its strength.
struct AdapterRequest {
  std::string path;
  float strength = 1.0f;
  bool operator==(const AdapterRequest&) const = default;
};

struct SessionOptions {
  patch::Options patch;  // quant policy, rounding, seed (output_dtype is ignored: types are kept)
  uint64_t memory_budget = 0;  // overlay bytes; 0 = unlimited. Beyond it, entries are evicted
                               // (deterministically, see Session) and recomputed when read.
  uint64_t adapter_cache_bytes = 1ull << 30;  // bound of the parsed-adapter cache (file bytes)
  bool strict = false;  // refuse adapters with any unmatched, mismatched or conflicting item
  // Keep the overlay buffers a switch releases for the next switch to fill (decision p12): the old
  // and the new overlay coexist during every switch anyway, so this holds that peak instead of
  // returning it, and saves the kernel's page faults and zeroing on each switch. Spares the next
  // switch does not reuse are freed at its end; at most memory_budget bytes are kept when a budget
  // is set. release_spare_buffers() frees them at any time; false frees them at once.
  bool reuse_buffers = true;
};

// What set_adapters did. Counts are tensors.
struct SwitchReport {
  uint64_t recomputed = 0;  // tensors computed from the pristine source in this call
  uint64_t restored = 0;    // tensors that went back to the pristine bytes
  uint64_t kept = 0;        // patched tensors whose patch list did not change
  uint64_t evicted = 0;     // patched tensors left out of the overlay by the memory budget
                            // (recomputed on read)
  uint64_t adapters_parsed = 0, adapters_cached = 0;  // per request: parsed now / from the cache
  std::vector<adapter::MatchReport> reports;          // one per request, in order
  double seconds = 0;
};

// A tensor's current effective content. `bytes` stays valid until the Tensor is destroyed, even if
// another thread switches adapters or models meanwhile (it shares ownership of the overlay entry or
// the mapping).
struct Tensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;          // logical, PyTorch order
  std::vector<uint64_t> storage_shape;  // as stored (differs for GGUF files with orig_shape)
  std::span<const std::byte> bytes;
  bool patched = false;
  std::shared_ptr<const void> keepalive;
};

// Counters over the session's life (since construction).
struct SessionStats {
  uint64_t adapters_parsed = 0;       // adapter files parsed
  uint64_t adapters_cached = 0;       // requests served by the parsed-adapter cache
  uint64_t adapters_hashed = 0;       // adapter files whose content was hashed
  uint64_t cache_evictions = 0;       // parsed adapters dropped by the cache bound
  uint64_t overlay_evictions = 0;     // sum of SwitchReport::evicted over every switch
  uint64_t on_demand_recomputes = 0;  // units recomputed by read() because they were evicted
  uint64_t models_opened = 0;
  uint64_t spare_bytes = 0;     // released overlay buffers kept for reuse (reuse_buffers)
  uint64_t buffers_reused = 0;  // output buffers served from those spares
};

// The session. Overlay policy under a memory budget: after every switch, the units (a weight with
// its companions) of the active plan are taken in model tensor order and kept while their predicted
// size fits the budget (first fit); the rest are evicted. A read of an evicted tensor recomputes
// its unit from the pristine source and the current plan (same bytes) and keeps it only if it still
// fits.
class Session {
 public:
  explicit Session(SessionOptions options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Opens (or switches to) a base model: every overlay, plan and cache entry tied to the previous
  // model is dropped and the active set becomes empty. On error the previous model stays open and
  // unchanged.
  void open_model(const std::string& path);
  bool has_model() const;
  // The open model (InvalidArgument when none). The reference stays valid until the next
  // open_model().
  const model::ModelIndex& model() const;

  // Declarative: makes `set` the active set (in order). Only tensors whose patch list changed are
  // recomputed, always from the pristine source; tensors no longer touched read pristine again; an
  // empty set restores everything. Atomic: on any error (an adapter that does not fit the model,
  // one that binds nothing, an unreadable file, strict-mode failure, a non-finite strength) the
  // previous state stays in force and the error says why (the message of `lorakit check`).
  SwitchReport set_adapters(const std::vector<AdapterRequest>& set);
  std::vector<AdapterRequest> active() const;

  // Current effective bytes of a tensor (patched or pristine). Safe to call from many threads, also
  // concurrently with set_adapters. InvalidArgument for unknown names or when no model is open.
  Tensor read(std::string_view name) const;
  // The model's tensors in file order (empty when no model is open).
  std::vector<std::string> tensor_names() const;

  // Under QuantPolicy::Runtime: the factors of a block-quantized weight that the active set touches
  // (its reads stay pristine; the host applies these), see patch::runtime_patch. Empty for tensors
  // that are not patched at runtime (float weights are patched in the overlay instead).
  std::vector<patch::RuntimePatch> runtime_patch(std::string_view weight) const;

  uint64_t overlay_bytes() const;    // bytes currently held by patched tensors
  uint64_t overlay_tensors() const;  // patched tensors currently held
  // Frees the spare overlay buffers kept for reuse (SessionOptions::reuse_buffers).
  void release_spare_buffers();
  SessionStats stats() const;
  const SessionOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lorakit::session
