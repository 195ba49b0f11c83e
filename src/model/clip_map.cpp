// OpenCLIP ↔ HF CLIP text encoders (lora-formats.md §2.6, §7.5), for ViT-H (SD2) and bigG (SDXL,
// SD3): in_proj_weight = q | k | v rows, and text_projection stored as P (x·P) in OpenCLIP but as
// Pᵀ in HF, hence the transpose.
#include <array>

#include "model/key_util.hpp"
#include "model/name_map.hpp"

namespace lorakit::model::detail {

namespace {

// Per layer, OpenCLIP (under transformer.resblocks.b.) ↔ HF (under text_model.encoder.layers.b.).
constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kLayer{{
    {"attn.out_proj", "self_attn.out_proj"},
    {"ln_1", "layer_norm1"},
    {"ln_2", "layer_norm2"},
    {"mlp.c_fc", "mlp.fc1"},
    {"mlp.c_proj", "mlp.fc2"},
}};

constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kTop{{
    {"token_embedding", "text_model.embeddings.token_embedding"},
    {"positional_embedding", "text_model.embeddings.position_embedding"},
    {"ln_final", "text_model.final_layer_norm"},
}};

constexpr std::array<std::string_view, 3> kQkv{"q_proj", "k_proj", "v_proj"};

constexpr std::string_view kOcLayer = "transformer.resblocks.";
constexpr std::string_view kHfLayer = "text_model.encoder.layers.";

class ClipMap final : public NameMap {
 public:
  explicit ClipMap(const ComponentKeys& ck)
      : ck_(ck), openclip_(ck.comp.naming == Naming::OpenClip) {
    // w from the model when it has shapes; else the width of its kind.
    w_ = ck.comp.width ? ck.comp.width : ck.comp.kind == ComponentKind::ClipG ? 1280 : 1024;
  }

  void equivalents(std::string_view path, const TensorMeta& t,
                   std::vector<Equivalent>& out) const override {
    if (path == "text_projection") {
      out.push_back({openclip_ ? Naming::HfClip : Naming::OpenClip, "text_projection",
                     whole(t, DeltaTransform::Transpose)});
      return;
    }
    if (openclip_)
      from_openclip(path, t, out);
    else
      from_hf(path, out, t);
  }

 private:
  void from_openclip(std::string_view path, const TensorMeta& t,
                     std::vector<Equivalent>& out) const {
    for (const auto& [oc, hf] : kTop)
      if (path == oc) out.push_back({Naming::HfClip, std::string(hf), whole(t)});
    std::string_view rest = path;
    if (!consume(rest, kOcLayer)) return;
    auto b = consume_index(rest);
    if (!b) return;
    std::string head = fmt_block(kHfLayer, *b, ".");
    if (rest == "attn.in_proj_weight") {
      for (size_t j = 0; j < 3; ++j)
        out.push_back({Naming::HfClip, head + "self_attn." + std::string(kQkv[j]),
                       rows(t, j * w_, (j + 1) * w_)});
      return;
    }
    for (const auto& [oc, hf] : kLayer)
      if (rest == oc) out.push_back({Naming::HfClip, head + std::string(hf), whole(t)});
  }

  void from_hf(std::string_view path, std::vector<Equivalent>& out, const TensorMeta& t) const {
    for (const auto& [oc, hf] : kTop)
      if (path == hf) out.push_back({Naming::OpenClip, std::string(oc), whole(t)});
    std::string_view rest = path;
    if (!consume(rest, kHfLayer)) return;
    auto b = consume_index(rest);
    if (!b) return;
    std::string head = fmt_block(kOcLayer, *b, ".");
    for (const auto& [oc, hf] : kLayer)
      if (rest == hf) out.push_back({Naming::OpenClip, head + std::string(oc), whole(t)});
    bool qkv = false;
    for (auto p : kQkv) qkv |= rest == "self_attn." + std::string(p);
    if (!qkv) return;
    // in_proj_weight as the concatenation of the separate q, k, v weights (when all three exist).
    Binding cat;
    for (auto p : kQkv) {
      const TensorMeta* part =
          ck_.get(fmt_block(kHfLayer, *b, ".self_attn.") + std::string(p) + ".weight");
      if (!part) return;
      cat.parts.push_back({part->name, std::nullopt});
    }
    out.push_back({Naming::OpenClip, head + "attn.in_proj_weight", std::move(cat)});
  }

  const ComponentKeys& ck_;
  bool openclip_;
  uint64_t w_;
};

}  // namespace

std::unique_ptr<NameMap> make_clip_map(const ComponentKeys& ck) {
  return std::make_unique<ClipMap>(ck);
}

}  // namespace lorakit::model::detail
