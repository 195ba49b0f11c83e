// lorakit::adapter — what an adapter file *means*: every naming family and adapter type of
// ../shared/spec/lora-formats.md §4–§9 parsed into one canonical form, bound to a model's own tensors
// by generating aliases forward from the model's keys (§6). Reads headers only; factor values are
// decoded when the patch layer asks for them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lorakit/io.hpp"
#include "lorakit/model.hpp"

namespace lorakit::adapter {

// The naming family a file is written in (the format label of §4.2).
enum class Format {
  Unknown,
  BflControl,
  XLabs,
  PeftRaw,              // base_model.model. (fal Kontext and others)
  SimpleTunerLycoris,   // lycoris_
  OneTrainer,           // lora_transformer_
  Kohya,
  Lycoris,              // kohya prefixes with LyCORIS suffixes
  DiffusersProcessor,   // old attention-processor names
  DiffusersNonPeft,     // .lora.down.weight / .lora_linear_layer.down.weight
  Peft,                 // lora_A/lora_B under unet./transformer./text_encoder*.
  ComfyGeneric,         // diffusion_model. / text_encoders. (BFL-layout, musubi, diffusion-pipe)
};
std::string_view format_name(Format f);  // e.g. "kohya", "lycoris", "peft", "xlabs", ...

enum class Kind { LoRA, LoHa, LoKr, GLoRA, OFT, BOFT, IA3, Full, Norm, Set };
std::string_view kind_name(Kind k);  // "lora", "loha", ...

// A factor tensor of a record, by key in the adapter file (decode through the adapter's source).
struct Factor {
  std::string key;
  const io::TensorInfo* info = nullptr;
};

// One adapter record (all keys sharing a module prefix), bound to the model.
struct Module {
  std::string prefix;          // module prefix as written in the file
  Kind kind = Kind::LoRA;
  model::Binding target;       // what it patches, in the model's own naming
  // Factors by role. Roles: LoRA "down","up","mid"; LoHa "w1a","w1b","w2a","w2b","t1","t2"; LoKr "w1",
  // "w1a","w1b","w2","w2a","w2b","t2"; GLoRA "a1","a2","b1","b2"; OFT/BOFT "blocks","rescale"; IA3
  // "weight","on_input"; Full "diff"; Norm "w_norm"; Set "set".
  std::map<std::string, Factor> factors;
  // Bias parts patching the binding's bias companion: "diff_b", "b_norm", "lora_B.bias", "lora_A.bias".
  std::map<std::string, Factor> bias;
  std::optional<float> alpha;       // from .alpha, PEFT metadata, or file-level defaults (§9)
  float alpha_scale = 1.0f;         // γ (or the OFT constraint c for OFT/BOFT)
  uint64_t rank = 0;                // r used for γ (0 when not applicable)
  std::optional<Factor> dora_scale; // LyCORIS dora_scale or PEFT lora_magnitude_vector
  enum class DoraAxis { None, Output, Input } dora_axis = DoraAxis::None;
  std::optional<std::vector<uint64_t>> reshape_weight;  // §8.13
  // §8.0 exception: a conv_in delta with fewer input channels than the model's conv_in (inpainting,
  // pix2pix); the delta is zero-padded on the input-channel axis.
  bool pad_input_channels = false;
  bool glora_old = false;           // GLoRA in the old factor layout (§8.5)
  std::vector<std::string> keys;    // every file key of this record, in file order
};

struct ShapeMismatch {
  std::string key;
  std::vector<uint64_t> shape;         // what the record implies
  std::string target;
  std::vector<uint64_t> target_shape;  // what the model has (of the slice, when sliced)
};

// The load report (§6.5). `modules` counts records found in the file; `matched` those bound and
// shape-checked.
struct MatchReport {
  Format format = Format::Unknown;
  std::string format_label;      // format_name plus sub-labels (§4.2): "lycoris+dora", "peft (ai-toolkit)"
  std::string trained_for;       // implied family/variant ("sd1", "sdxl", "flux", ... or "unknown")
  std::string trained_for_detail;  // e.g. "cross-attention dim 768"
  std::string compat_error;      // non-empty when the implied family contradicts the model (§3.4)
  uint64_t modules = 0;
  uint64_t matched = 0;
  std::map<Kind, uint64_t> kinds;
  std::vector<std::string> unmatched;       // module prefixes that bind to nothing
  std::vector<std::string> ambiguous;
  std::vector<ShapeMismatch> shape_mismatch;
  std::vector<std::string> unused_keys;     // keys that belong to no record (unknown suffixes, …)
  std::vector<std::string> incomplete;      // records missing a required factor
  std::vector<std::string> conflicts;       // records mixing adapter types or suffix families
  std::vector<std::string> unsupported;     // known but unsupported targets (e.g. VAE)
  std::vector<std::string> invalid;         // records whose factors or scalars are unusable (factor
                                            // shapes that do not fit together, a non-scalar alpha,
                                            // a negative OFT constraint)
  std::vector<std::string> duplicate_bindings, overlaps;
  std::vector<std::string> warnings;
};

struct Adapter {
  std::string path;
  std::shared_ptr<const io::TensorSource> source;  // owns the mapping the factors point into
  std::vector<Module> modules;                      // bound records, in file key order
  MatchReport report;
};

struct ParseOptions {
  // Bind even when the adapter's implied base contradicts the model (§3.4 `--force`); every record
  // is still shape-checked and compat_error still names the contradiction.
  bool force = false;
};

// Parses and binds an adapter file against a model. Throws FormatError for unreadable files, and
// FormatError("unsupported_model") when the model's family is unknown (nothing to bind to); an
// adapter that binds nothing is not an exception here (the report says so; callers decide). When the
// implied base contradicts the model (compat_error set) nothing is bound unless `force`.
Adapter parse(std::shared_ptr<const io::TensorSource> src, const model::ModelIndex& model,
              const ParseOptions& options = {});
Adapter parse_file(const std::string& path, const model::ModelIndex& model,
                   const ParseOptions& options = {});

// Target naming families for conversion.
enum class TargetFamily { Kohya, Peft, Diffusers, Bfl };

// Writes `a` in another naming family against `model` (§9 "MUST preserve the product", §7.2/§7.3):
// factors copied bit for bit, alpha preserved, fused ↔ split handled exactly (or refused with
// InvalidArgument naming the module and the reason), metadata carried over; atomic output.
void convert(const Adapter& a, const model::ModelIndex& model, TargetFamily to,
             const std::string& out_path);

}  // namespace lorakit::adapter
