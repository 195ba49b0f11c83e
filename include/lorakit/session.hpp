// lorakit::session — the live lifecycle of adapters on one base model (lessons.md R1–R8): a
// declarative active set, an overlay that holds patched tensors only (never a model backup), every
// patched tensor recomputed from the pristine mapped source, adapters cached by content hash.
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
};

struct SessionOptions {
  patch::Options patch;                  // quant policy, rounding, seed (output_dtype is ignored)
  uint64_t memory_budget = 0;            // overlay bytes; 0 = unlimited. Beyond it, entries are
                                         // evicted and recomputed when read.
  uint64_t adapter_cache_bytes = 1ull << 30;  // bound of the parsed-adapter cache (file bytes)
  bool strict = false;                   // refuse adapters with unmatched/mismatched records
};

// What set_adapters did.
struct SwitchReport {
  uint64_t recomputed = 0;   // tensors computed from the pristine source in this call
  uint64_t restored = 0;     // tensors that went back to the pristine bytes
  uint64_t kept = 0;         // patched tensors whose patch list did not change
  uint64_t adapters_parsed = 0, adapters_cached = 0;
  std::vector<adapter::MatchReport> reports;  // one per request, in order
  double seconds = 0;
};

// A tensor's current effective content. `bytes` stays valid until the Tensor is destroyed, even if
// another thread switches adapters meanwhile (it shares ownership of the overlay entry or the mapping).
struct Tensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::span<const std::byte> bytes;
  bool patched = false;
  std::shared_ptr<const void> keepalive;
};

class Session {
 public:
  explicit Session(SessionOptions options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Opens (or switches to) a base model: every overlay, plan and cache entry tied to the previous
  // model is dropped. On error the previous model stays open and unchanged.
  void open_model(const std::string& path);
  bool has_model() const;
  const model::ModelIndex& model() const;

  // Declarative: makes `set` the active set (in order). Only tensors whose patch list changed are
  // recomputed, always from the pristine source; tensors no longer touched read pristine again; an
  // empty set restores everything. Atomic: on any error (an adapter that does not fit the model,
  // unreadable file, strict-mode failure) the previous state stays in force and the error says why.
  SwitchReport set_adapters(const std::vector<AdapterRequest>& set);
  std::vector<AdapterRequest> active() const;

  // Current effective bytes of a tensor (patched or pristine). Safe to call from many threads, also
  // concurrently with set_adapters. InvalidArgument for unknown names.
  Tensor read(std::string_view name) const;
  std::vector<std::string> tensor_names() const;

  // Runtime-policy factors of a weight (empty when unpatched); see patch::runtime_patch.
  std::vector<patch::RuntimePatch> runtime_patch(std::string_view weight) const;

  uint64_t overlay_bytes() const;  // bytes currently held by patched tensors
  uint64_t overlay_tensors() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lorakit::session
