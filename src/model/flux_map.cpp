// FLUX.1 BFL ↔ diffusers FluxTransformer2DModel (lora-formats.md §2.5, §7.6). H = 3072 and
// M = 4·H for FLUX.1; both are read from the model's shapes when it has them.
#include <array>

#include "model/dit_map.hpp"

namespace lorakit::model::detail {

namespace {

constexpr std::array<DitPair, 10> kTop{{
    {"img_in", "x_embedder"},
    {"txt_in", "context_embedder"},
    {"time_in.in_layer", "time_text_embed.timestep_embedder.linear_1"},
    {"time_in.out_layer", "time_text_embed.timestep_embedder.linear_2"},
    {"vector_in.in_layer", "time_text_embed.text_embedder.linear_1"},
    {"vector_in.out_layer", "time_text_embed.text_embedder.linear_2"},
    {"guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1"},
    {"guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2"},
    {"final_layer.linear", "proj_out"},
    {"final_layer.adaLN_modulation.1", "norm_out.linear", true},
}};

constexpr std::array<DitPair, 12> kDouble{{
    {"img_attn.proj", "attn.to_out.0"},
    {"txt_attn.proj", "attn.to_add_out"},
    {"img_mod.lin", "norm1.linear"},
    {"txt_mod.lin", "norm1_context.linear"},
    {"img_mlp.0", "ff.net.0.proj"},
    {"img_mlp.2", "ff.net.2"},
    {"txt_mlp.0", "ff_context.net.0.proj"},
    {"txt_mlp.2", "ff_context.net.2"},
    {"img_attn.norm.query_norm.scale", "attn.norm_q"},
    {"img_attn.norm.key_norm.scale", "attn.norm_k"},
    {"txt_attn.norm.query_norm.scale", "attn.norm_added_q"},
    {"txt_attn.norm.key_norm.scale", "attn.norm_added_k"},
}};

constexpr std::array<DitFused, 2> kDoubleFused{{
    {"img_attn.qkv", {"attn.to_q", "attn.to_k", "attn.to_v"}},
    {"txt_attn.qkv", {"attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"}},
}};

constexpr std::array<DitPair, 4> kSingle{{
    {"linear2", "proj_out"},
    {"modulation.lin", "norm.linear"},
    {"norm.query_norm.scale", "attn.norm_q"},
    {"norm.key_norm.scale", "attn.norm_k"},
}};

// linear1 rows: q | k | v | mlp-in. `linear1_qkv` (XLabs, §7.6) is rows [0, 3H) of linear1.
constexpr std::array<DitFused, 2> kSingleFused{{
    {"linear1", {"attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"}, 4, true},
    {"linear1_qkv", {"attn.to_q", "attn.to_k", "attn.to_v"}, 3, false, "linear1"},
}};

constexpr std::array<DitBlocks, 2> kBlocks{{
    {"double_blocks.", "transformer_blocks.", kDouble, kDoubleFused},
    {"single_blocks.", "single_transformer_blocks.", kSingle, kSingleFused},
}};

}  // namespace

std::unique_ptr<NameMap> make_flux_map(const ComponentKeys& ck, const Architecture& a) {
  uint64_t h = a.hidden ? a.hidden : 3072;
  return make_dit_map(ck, DitTables{kTop, kBlocks}, h, 4 * h);
}

}  // namespace lorakit::model::detail
