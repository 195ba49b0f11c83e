// Test inputs for the session layer: small models with a built-in reference layout's real names (a
// few blocks, detected as the same architecture), kohya LoRAs bound to them, written once per test
// binary; and whole-model snapshots to compare a session with a fresh one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lorakit/dtype.hpp"
#include "lorakit/model.hpp"
#include "lorakit/session.hpp"

namespace lorakit::testing {

// Writes the tensors of reference layout `ref` ("sd1", "sdxl", "flux") whose names contain one of
// `include`, with deterministic normal(0, 0.02) values from (seed, name), in `dtype` (float tensors
// of fewer than 2 dimensions stay F32). ".gguf" paths are written as GGUF: 2-D weights whose rows
// are whole blocks get `dtype` (a block type), the rest F16/F32. FLUX shapes are scaled down: every
// dimension that is a multiple of 3072 is divided by 48 (hidden 64; names and structure unchanged).
void write_small_model(const std::string& ref, const std::vector<std::string>& include,
                       const std::filesystem::path& path, DType dtype = DType::F16,
                       uint64_t seed = 1);

// Writes a kohya LoRA (`lora_unet_<module path with _>.lora_down.weight` / `.lora_up.weight` /
// `.alpha`) with one record per weight in `targets` (model tensor names of `m`), in the naming
// kohya uses for the family (diffusers paths for SD UNets, original paths for FLUX). Convolutions
// get LoCon factors. Values are deterministic from `seed`. `unbound` adds records under module
// prefixes the model does not have (e.g. "lora_unet_no_such_block"), with [rank, 8] / [8, rank]
// factors.
void write_kohya_lora(const model::ModelIndex& m, const std::vector<std::string>& targets,
                      const std::filesystem::path& path, uint64_t seed, uint32_t rank = 4,
                      float alpha = 2.0f, DType factor_dtype = DType::F32,
                      const std::vector<std::string>& unbound = {});

// The shared inputs of the session tests (written on first use into a temporary folder).
struct SessionCorpus {
  std::filesystem::path dir;
  std::string sd1, sdxl, flux;           // F16 safetensors models
  std::string sd1_bf16;                  // the SD1 subset in BF16
  std::string sd1_q8;                    // the SD1 subset as GGUF, Q8_0 2-D weights
  std::vector<std::string> sd1_loras;    // 4 adapters over overlapping targets (A, B, C, D)
  std::vector<std::string> sdxl_loras;   // 3 adapters
  std::vector<std::string> flux_loras;   // 2 adapters
  std::vector<std::string> sd1_targets;  // every weight some SD1 adapter touches
};
const SessionCorpus& corpus();

// A tensor as a session reads it.
struct TensorBytes {
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::vector<std::byte> bytes;
  bool operator==(const TensorBytes&) const = default;
};
using Snapshot = std::map<std::string, TensorBytes>;

// Every tensor of the session's model.
Snapshot snapshot(const session::Session& s);
// Every tensor of a fresh session on `model` given `set`.
Snapshot fresh(const std::string& model, const std::vector<session::AdapterRequest>& set,
               const session::SessionOptions& options = {});
// The pristine tensors of a model file.
Snapshot pristine(const std::string& model);
// Names of the tensors that differ between two snapshots of the same model ("" when equal), at
// most a few, for assertion messages.
std::string differing(const Snapshot& a, const Snapshot& b);

}  // namespace lorakit::testing
