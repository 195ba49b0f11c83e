// The math of one adapter record (lora-formats.md §8–§9): its factors decoded to fp32 and the rule
// W ← W + s·(F(W) − W) applied to the running fp32 value of its target view. The unit driver
// (apply.cpp) gathers the view (rows of one tensor, or several tensors concatenated along dim 0),
// undoes the binding's transform so that the kernel sees W in the record's own frame, and scatters
// the result back; kernels here never see transforms, slices or dtypes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lorakit/adapter.hpp"

namespace lorakit::patch::detail {

struct Tensor32 {
  std::vector<uint64_t> shape;  // logical, PyTorch order
  std::vector<float> data;      // row-major
};

// A record's factors by role (adapter::Module::factors / ::bias roles) and its magnitude, decoded to
// fp32 through the adapter's source.
struct RecordFactors {
  const adapter::Module* module = nullptr;
  std::map<std::string, Tensor32> factors;
  std::map<std::string, Tensor32> bias;
  std::optional<Tensor32> dora_scale;
};

// Decodes every factor of `m` (FormatError naming the adapter file and key when a factor cannot be
// decoded).
RecordFactors decode_factors(const adapter::Adapter& a, const adapter::Module& m);

// W ← W + s·(F(W) − W) for one record (§8.0, §10). `w` holds the view row-major with logical shape
// `shape` (dim 0 = the view's rows; a padded shape already when the record has reshape_weight).
// Additive types add s·γ·ΔW (reshaped per §8.0, zero-padded on the input-channel axis when
// module->pad_input_channels); DoRA normalises V on its axis; OFT/BOFT/(IA)³/GLoRA/set use W.
// Appends human-readable warnings (e.g. a non-finite result) to `warnings`. Throws ValueError naming
// the record's prefix for factors that do not fit `shape` (the adapter layer checks shapes, so this
// is a second line of defence, not a normal path).
void apply_record(const RecordFactors& rec, float s, std::span<float> w,
                  std::span<const uint64_t> shape, std::vector<std::string>& warnings);

// bias ← bias + s·Δb for the record's bias parts (§8.10 diff_b / b_norm, §8.11 lora_B.bias as s·γ·β,
// lora_A.bias as s·γ·(B·a)). `bias` is the view's rows of the bias companion.
void apply_bias(const RecordFactors& rec, float s, std::span<float> bias);

// True for records whose whole effect on the weight is s·γ·B·A (LoRA/LoCon without DoRA, Tucker mid
// or input-channel padding), which the runtime form exposes as low-rank factors.
bool is_low_rank(const RecordFactors& rec);
// For an is_low_rank record: A as [r, cols] and B·(s·γ) as [rows, r] where rows × cols is the view's
// logical matrix.
void low_rank_factors(const RecordFactors& rec, float s, std::vector<float>& a,
                      std::vector<float>& b_scaled, uint64_t& rank);

// For an is_low_rank record: rows [row_begin, row_begin + rows) of its view get += s·γ·B[rows]·A,
// `dst` holding those rows (row stride `cols`). The same product and rounding as apply_record for
// those rows, so a tensor streamed in row tiles gets the bytes of the whole-tensor path.
void lora_rows(const RecordFactors& rec, float s, uint64_t row_begin, uint64_t rows, float* dst,
               uint64_t cols);

}  // namespace lorakit::patch::detail
