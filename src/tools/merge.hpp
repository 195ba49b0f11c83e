// `lorakit merge`: a model with adapters applied, written as a new file. Streams unit by unit in
// the model's tensor order through a bounded oneTBB pipeline (a few units in flight; peak memory a
// few tensors, not the model): patched units go through patch::apply from the pristine mapping,
// every other tensor is copied (or converted to the output type) straight from the mapping.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lorakit/dtype.hpp"
#include "lorakit/error.hpp"
#include "lorakit/patch.hpp"
#include "tools/check.hpp"

namespace lorakit::tools {

struct MergeOptions {
  std::string model_path;
  std::vector<AdapterArg> adapters;  // applied in this order
  std::string output;                // ".safetensors" or ".gguf"
  // patch.output_dtype: nullopt keeps each tensor's type ("same"); quant policy Requant or Upcast
  // (Runtime leaves weights untouched and is refused here); fp8 rounding and its seed.
  patch::Options patch;
  bool strict = false;  // refuse adapters that check --strict would flag
  bool force = false;   // bind adapters whose implied base contradicts the model (check's §3.4)
  // Called with (input bytes done, input bytes in all) from one thread at a time.
  std::function<void(uint64_t, uint64_t)> progress;
};

struct PatchedTensor {
  std::string name;
  DType dtype;  // as written
  patch::Stats stats;
};

struct MergeResult {
  CheckResult check;                // the model and every adapter as `lorakit check` reports them
  std::vector<std::string> hashes;  // per adapter: XXH3-64 of the file, 16 hex digits
  std::string output;
  std::string metadata;    // the JSON recorded under "lorakit.merge"
  uint64_t tensors = 0;    // written in all
  uint64_t units = 0;      // patch units computed
  uint64_t patched = 0;    // tensors whose values changed
  uint64_t copied = 0;     // byte copies of the source
  uint64_t converted = 0;  // untouched tensors re-encoded to the output type
  uint64_t input_bytes = 0, output_bytes = 0;
  double seconds = 0;
  std::vector<PatchedTensor> patched_tensors;  // in output order
  std::vector<std::string> warnings;
};

// An adapter that does not fit: thrown before anything is written. `check` holds every adapter as
// `lorakit check` reports it, so a front end can show why.
class MergeRefused : public InvalidArgument {
 public:
  MergeRefused(const std::string& what, CheckResult check)
      : InvalidArgument(what), check_(std::move(check)) {}
  const CheckResult& check() const { return check_; }

 private:
  CheckResult check_;
};

// Refuses (MergeRefused, nothing written) adapters that do not fit the model: a contradicting
// implied base (unless `force`), no record bound, or with `strict` anything check --strict flags.
MergeResult merge(const MergeOptions& options);

std::string render_text(const MergeResult& r);
nlohmann::ordered_json render_json(const MergeResult& r);

}  // namespace lorakit::tools
