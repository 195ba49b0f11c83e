// lorakit::model — what a checkpoint *is*: its architecture, its layout, its components, and for every
// weight the names it has in every other layout of its family (../shared/spec/lora-formats.md §2–§3).
// Works from names and shapes only, so a header (or a built-in reference layout) is enough.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/dtype.hpp"
#include "lorakit/io.hpp"

namespace lorakit::model {

enum class Family { Unknown, SD1, SD2, SDXL, SD3, Flux };
std::string_view family_name(Family f);  // "unknown", "sd1", "sd2", "sdxl", "sd3", "flux"

// What detection found (lora-formats.md §3). Values not applicable to the family stay 0/empty.
struct Architecture {
  Family family = Family::Unknown;
  // Finer name: "sd1", "sd1-inpaint", "sd2", "sd2-unclip", "sdxl", "sdxl-refiner", "sd3-medium",
  // "sd3.5-medium", "sd3.5-large", "flux-dev", "flux-schnell", "flux-fill", "flux-depth-canny".
  std::string variant;
  uint32_t context_dim = 0;    // SD UNets: cross-attention width (768, 1024, 2048, 1280)
  uint32_t hidden = 0;         // DiT hidden width (FLUX 3072; SD3 64·depth)
  uint32_t depth = 0;          // SD3 depth; FLUX double-block count
  uint32_t single_depth = 0;   // FLUX single-block count
  uint32_t in_channels = 0;
  // A recognised family that lorakit does not bind (e.g. "chroma", "flux2", "controlnet",
  // "z-image", "anima", "qwen-image", "ip-adapter"); family is then Unknown. Empty otherwise.
  std::string unsupported;
  bool scaled_fp8 = false;  // a `scaled_fp8` marker tensor: ComfyUI scaled-fp8 weights (§3.1 test 4)
};

// How the file names its tensors (lora-formats.md §2.1).
enum class Layout {
  Unknown,
  LdmSgm,       // single-file SD1/SD2 (LDM) or SDXL (SGM): model.diffusion_model. + cond_stage_model/conditioner
  Sd3Single,    // SD3 single file: model.diffusion_model.joint_blocks + text_encoders.*
  ComfyUI,      // ComfyUI all-in-one (FLUX): model.diffusion_model. + text_encoders.* + vae.
  Bfl,          // bare original names (BFL FLUX transformer, UNet-only LDM, most GGUF files)
  Diffusers,    // diffusers names (component file, or folder opened as <component>.<name>)
};
std::string_view layout_name(Layout l);

enum class ComponentKind { DiffusionModel, ClipL, ClipH, ClipG, T5xxl, Vae };
std::string_view component_name(ComponentKind k);  // "diffusion_model","clip_l","clip_h","clip_g","t5xxl","vae"

// The naming scheme of the keys inside one component.
enum class Naming {
  Original,   // LDM/SGM UNet, MMDiT, BFL
  Diffusers,  // diffusers UNet2DConditionModel / SD3Transformer2DModel / FluxTransformer2DModel
  HfClip,     // transformers CLIPTextModel(WithProjection): text_model.encoder.layers.N…
  OpenClip,   // OpenCLIP: transformer.resblocks.N.attn.in_proj_weight…
  HfT5,       // transformers T5EncoderModel
  Vae,
};

struct Component {
  ComponentKind kind;
  Naming naming;
  std::string prefix;  // key prefix in this file, e.g. "conditioner.embedders.1.model." ("" if bare)
  uint32_t width = 0;  // text encoders: hidden width (768, 1024, 1280, 4096)
  uint32_t depth = 0;  // text encoders: layer count
};

struct TensorMeta {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;  // logical, PyTorch order
};

// Rows [begin, end) along dimension 0 of a fused tensor.
struct RowSlice {
  uint64_t begin = 0, end = 0;
  bool operator==(const RowSlice&) const = default;
};

// A transform applied to a delta (or to B's rows only for a LoRA) before it is added (§6.2, §7.4, §7.5).
enum class DeltaTransform { None, SwapScaleShift, Transpose };

// One model tensor, or a row slice of one, that a module writes into.
struct BindingPart {
  std::string tensor;              // the model key of the weight (e.g. "…img_attn.qkv.weight"), or of
                                   // the tensor itself for keys without .weight (norm scales, pos_embed)
  std::optional<RowSlice> rows;    // nullopt: the whole tensor
  bool operator==(const BindingPart&) const = default;
};

// What a module path points at: one part (plain or slice) or several parts forming a virtual
// concatenation along dimension 0 (a fused record on a model that stores the parts separately).
struct Binding {
  std::vector<BindingPart> parts;
  DeltaTransform transform = DeltaTransform::None;
  bool operator==(const Binding&) const = default;
};

// One module path of a component in one naming of its family, with its binding in this model's own
// tensors. For every module the model has, there is one entry in the model's own naming (binding =
// the tensor itself) and one per equivalent naming (§2.7). Paths have no component prefix and no
// trailing ".weight"; e.g. {DiffusionModel, Diffusers, "transformer_blocks.0.attn.to_q"} bound to
// rows [0, 3072) of "model.diffusion_model.double_blocks.0.img_attn.qkv.weight".
struct ModulePath {
  ComponentKind component;
  Naming naming;
  std::string path;
  Binding binding;
};

class ModelIndex {
 public:
  // Detects the architecture and layout from names and shapes (never the file name), and builds the
  // module paths. Throws FormatError("unsupported_model") for families out of scope (e.g. Chroma)
  // when asked to bind; an unknown file still gives an index with Family::Unknown.
  static ModelIndex from_source(const io::TensorSource& src);
  static ModelIndex from_tensors(std::string origin, std::vector<TensorMeta> tensors,
                                 const std::vector<io::MetadataEntry>& metadata = {});
  // Built-in reference layouts (generated at build time from data/ files): "sd1", "sd2", "sdxl",
  // "sd3", "flux". Throws InvalidArgument for other names.
  static ModelIndex reference(std::string_view name);
  static std::vector<std::string> reference_names();

  const std::string& origin() const { return origin_; }  // path, or "arch:<name>"
  const Architecture& arch() const { return arch_; }
  Layout layout() const { return layout_; }
  const std::vector<Component>& components() const { return components_; }
  const std::vector<TensorMeta>& tensors() const { return tensors_; }
  const TensorMeta* find(std::string_view name) const;
  // The bias companion of a weight tensor ("x.weight" -> "x.bias", OpenCLIP "in_proj_weight" ->
  // "in_proj_bias"), or nullptr when the model has none.
  const TensorMeta* bias_of(std::string_view weight_tensor) const;
  // Throws FormatError(origin, "unsupported_model", ...) unless the diffusion model's family is
  // known and supported; what the adapter layer calls before binding diffusion-model records.
  void require_supported() const;
  const std::vector<ModulePath>& module_paths() const { return module_paths_; }

 private:
  std::string origin_;
  Architecture arch_;
  Layout layout_ = Layout::Unknown;
  std::vector<Component> components_;
  std::vector<TensorMeta> tensors_;  // sorted by name
  std::vector<ModulePath> module_paths_;
};

}  // namespace lorakit::model
