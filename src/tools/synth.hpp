// Synthetic inputs for tests, benchmarks and `lorakit demo`: models with a built-in reference
// layout's names and shapes (whole or a subset that still detects as the same architecture), and
// kohya LoRAs over the usual attention and MLP targets of a model. Values are deterministic
// normal(0, σ) draws from (seed, tensor name), so the same options always give the same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lorakit/dtype.hpp"
#include "lorakit/model.hpp"

namespace lorakit::tools {

struct SynthModelOptions {
  std::string reference =
      "sd1";  // a ModelIndex::reference name: sd1 sd2 sdxl sd3 flux (sd3.5-large)
  // Name substrings: keep only tensors containing one of them (empty: every tensor). The tensors
  // that architecture detection reads are always kept, so the result detects as `reference`.
  std::vector<std::string> include;
  // Type of the float tensors: F32 F16 BF16 F8_E4M3 F8_E5M2, or (".gguf" output only) a ggml block
  // type for tensors of >= 2 dimensions whose rows are a whole number of blocks; the other float
  // tensors are then F16 (>= 2 dimensions) or F32. Integer tensors keep their type (0, 1, 2, ...
  // along the last dimension).
  DType dtype = DType::F16;
  float stddev = 0.02f;
  uint64_t seed = 0;
  // Called with (bytes written, total bytes) as tensors are generated; from one thread at a time.
  std::function<void(uint64_t, uint64_t)> progress;
};

struct SynthModelResult {
  uint64_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t tensor_bytes = 0;
  model::Architecture arch;  // as detected from the written names and shapes
  double seconds = 0;
};

// Writes the model to `out_path` (".safetensors" or ".gguf", chosen by extension), atomically,
// generating tensor by tensor in chunks over the thread pool (memory: a few chunks per thread).
SynthModelResult synth_model(const SynthModelOptions& options, const std::string& out_path);

// The tensors synth_model writes for `options`, in name order, with their stored types.
std::vector<model::TensorMeta> synth_model_tensors(const SynthModelOptions& options);

struct SynthAdapterOptions {
  uint32_t rank = 16;
  float alpha = 8.0f;
  uint64_t seed = 0;
  bool text_encoder = false;  // also the CLIP text encoders' q/k/v/out and MLP linears
  bool modulation = false;    // FLUX/SD3: also the modulation linears
  // Module path substrings (in the naming written, e.g. "attn1", "double_blocks.0."): keep only
  // targets containing one of them (empty: every usual target).
  std::vector<std::string> include;
  DType dtype = DType::F16;  // factor type (F32, F16 or BF16); alphas are F32 scalars
  // ΔW = (alpha / rank)·up·down is sized so that its RMS is about delta_ratio × weight_std.
  float weight_std = 0.02f;
  float delta_ratio = 0.03f;
};

struct SynthAdapterResult {
  uint64_t modules = 0;
  uint64_t tensor_bytes = 0;
};

// Writes a kohya LoRA (`lora_unet_…`, `lora_te_`/`lora_te1_`/`lora_te2_…`; `.lora_down.weight`,
// `.lora_up.weight`, `.alpha`) over the usual targets of `model`: SD UNets their transformer
// blocks' attention q/k/v/out, feed-forward and proj_in/proj_out (diffusers names, as sd-scripts
// writes them); FLUX qkv, proj, mlp, linear1, linear2; SD3 qkv, proj, mlp. Every record binds to
// `model`. InvalidArgument when no target is left.
SynthAdapterResult synth_adapter(const model::ModelIndex& model, const SynthAdapterOptions& options,
                                 const std::string& out_path);

}  // namespace lorakit::tools
