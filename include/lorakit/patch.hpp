// lorakit::patch — the pure function at the centre of lorakit: a patched tensor computed from its
// pristine source bytes and an ordered list of (adapter module, strength)
// (../shared/spec/lora-formats.md §8–§11, file-formats.md §6.5–§6.6, lessons.md R9–R10).
//
// Nothing here keeps state between calls: a merge streams `apply` over a plan's units into a file,
// a session stores `apply`'s output in an overlay, and both get the same bytes for the same inputs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lorakit/adapter.hpp"
#include "lorakit/buffer.hpp"
#include "lorakit/dtype.hpp"
#include "lorakit/io.hpp"
#include "lorakit/model.hpp"

namespace lorakit::patch {

// How patched values are rounded into an fp8 type (file-formats.md §6.5).
enum class Fp8Rounding { Stochastic, Nearest };

// What happens to tensors stored in a ggml block type (lessons.md R9).
enum class QuantPolicy {
  Requant,  // quantize(W + ΔW) back to the tensor's own type (memory-neutral)
  Upcast,   // store the patched tensor as Options::upcast_type (F16, BF16 or Q8_0)
  Runtime,  // leave W untouched; hosts apply the factors from runtime_patch() themselves
};

struct Options {
  // The type every patched tensor is stored in (merge --dtype); nullopt keeps each tensor's type.
  // Tensors a block type cannot hold (fewer than 2 dimensions, rows not a whole number of blocks)
  // keep a float type instead (see output_type).
  std::optional<DType> output_dtype;
  QuantPolicy quant_policy = QuantPolicy::Requant;
  DType upcast_type = DType::F16;
  Fp8Rounding fp8_rounding = Fp8Rounding::Stochastic;
  uint32_t seed = 0;  // user seed of stochastic rounding (file-formats.md §6.5 step 1)
};

// Parses "requant", "upcast:f16|bf16|q8_0", "runtime" and "stochastic[:SEED]", "nearest";
// InvalidArgument naming the accepted forms otherwise.
void parse_quant_policy(std::string_view text, Options& options);
void parse_rounding(std::string_view text, Options& options);

// One adapter of an active set with its strength.
struct AdapterEntry {
  std::shared_ptr<const adapter::Adapter> adapter;
  float strength = 1.0f;
};

// One record applied with its effective strength: modules[module] of entries[entry].
struct Step {
  uint32_t entry = 0;
  uint32_t module = 0;
  float strength = 1.0f;
};

// The tensors that must be computed together and the records that touch them, in application order
// (entries in list order, records in file key order; lora-formats.md §11 step 2). A unit is one
// weight with its bias companion and (for scaled-fp8 models) its scale, or several such groups when
// a record is bound to a virtual concatenation of separate tensors (a fused record on a split
// model, §7.2).
struct Unit {
  std::vector<std::string> tensors;  // model keys this unit writes, in model tensor order
  std::vector<Step> steps;
  // For the weights of this unit: the bias companion (present when a step patches the bias) and the
  // scaled-fp8 scale tensor (`<layer>.scale_weight`, present in scaled-fp8 models).
  std::map<std::string, std::string> bias_of, scale_of;
};

struct Plan {
  std::vector<AdapterEntry> entries;
  std::vector<Unit> units;                            // in model tensor order of their first tensor
  std::unordered_map<std::string, uint32_t> unit_of;  // tensor name → index into units

  const Unit* find(std::string_view tensor) const;
};

// Builds the plan of an active set. Entries with strength 0 and records whose strength is 0 add no
// step (s = 0 is a no-op for every type, §10), so such tensors stay pristine.
Plan make_plan(const model::ModelIndex& model, std::vector<AdapterEntry> entries);

// The type a tensor is stored in under `options`: the output dtype (or the source's type); for a
// patched tensor a ggml-typed result follows the quant policy (Upcast → upcast_type); a block type
// that cannot hold the tensor falls back to F32 for F32/F64 sources and F16 otherwise.
DType output_type(const io::TensorInfo& source, const Options& options, bool patched = true);

// Per patched tensor: how much of the intended change survived rounding (lessons.md §2.5).
// ΔW = W_exact − W₀ (the fp32 result before rounding minus the decoded source); W_eff = decode of
// the stored bytes. retention = ⟨W_eff − W₀, ΔW⟩ / ‖ΔW‖², rel_error = ‖W_eff − W_exact‖ / ‖ΔW‖
// (both 1 and 0 when ΔW = 0).
struct Stats {
  double delta_norm = 0;
  double retention = 1;
  double rel_error = 0;
  uint64_t saturated = 0;  // fp8 elements clamped to ±max finite
};

struct TensorOut {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;  // logical shape (differs from the source's after §8.13 padding)
  std::vector<uint64_t> storage_shape;  // as stored (GGUF orig_shape files keep their stored shape)
  ByteBuffer bytes;                     // not zero-filled on allocation (buffer.hpp)
  bool patched = false;  // false: a companion (bias, scale) that the unit did not change
  Stats stats;
};

struct UnitOut {
  std::vector<TensorOut> tensors;  // one per Unit::tensors, same order
  std::vector<std::string> warnings;
};

// Spare output buffers for apply. Fresh memory costs the kernel a page fault and a zeroing pass
// per page — about a quarter of an SDXL adapter switch on the development machine — so a session
// hands the buffers its last switch released back to the next one (decision p12). Thread-safe.
class BufferPool {
 public:
  // Buffers smaller than this are left to the allocator (its own free lists serve them).
  static constexpr uint64_t kMinBytes = uint64_t{64} << 10;

  // A buffer of exactly `bytes` bytes, contents unspecified: a spare of that size when there is
  // one.
  ByteBuffer take(uint64_t bytes);
  // Keeps `b` (its size, not its capacity, is what take matches) unless it is small or the pool
  // would exceed its limit; then it is freed.
  void give(ByteBuffer&& b);
  // Marks every spare as old; drop_old() later frees those still unused, returning their bytes.
  void age();
  uint64_t drop_old();
  void clear();
  void set_limit(uint64_t bytes);  // 0 = no limit

  uint64_t spare_bytes() const;
  uint64_t reused() const;  // buffers served from spares since construction

 private:
  struct Spare {
    ByteBuffer bytes;
    bool old = false;
  };
  mutable std::mutex mu_;
  std::multimap<uint64_t, Spare> spares_;  // by size
  uint64_t total_ = 0, limit_ = 0, reused_ = 0;
};

// Computes one unit from the pristine `base` bytes: decode to fp32 (scaled fp8 multiplied by its
// scale), apply every step as W ← W + s·(F(W) − W) in fp32, round once into output_type. Throws
// ValueError naming the tensor for non-finite results that a block type cannot hold.
// Output buffers come from `buffers` when given.
UnitOut apply(const Plan& plan, const Unit& unit, const io::TensorSource& base,
              const Options& options, BufferPool* buffers = nullptr);

// Runtime (sidecar) form of a unit's weight tensor (lessons.md R10): the low-rank factors of its
// LoRA-class additive records and a dense residual for everything else, such that
// W′ = W + Σ B·A + residual (up to fp32 rounding) on the tensor's logical [out, in·…] matrix.
struct LowRank {
  uint64_t row_begin = 0;  // rows of the tensor the product covers: [row_begin, row_begin + rows)
  uint64_t rows = 0, rank = 0, cols = 0;
  std::vector<float> a;  // [rank, cols]
  std::vector<float> b;  // [rows, rank], scaled by s·γ, transform applied
};
struct RuntimePatch {
  std::string tensor;
  uint64_t out = 0, in = 0;  // the logical matrix: dim 0 by the product of the others
  std::vector<LowRank> low_rank;
  std::vector<float> residual;    // [out, in] or empty
  std::vector<float> bias_delta;  // [out] or empty
};
std::vector<RuntimePatch> runtime_patch(const Plan& plan, const Unit& unit,
                                        const io::TensorSource& base);

// The reference forward of a linear layer with a runtime patch: y = W·x + Σ B·(A·x) + R·x (+ bias
// and its delta when `bias` is given), x [batch, in], y [batch, out], all fp32. Engines mirror
// this.
void linear_forward(const io::TensorView& weight, const RuntimePatch& patch, const float* x,
                    uint64_t batch, float* y, const io::TensorView* bias = nullptr);

}  // namespace lorakit::patch
