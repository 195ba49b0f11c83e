// SD3 / SD3.5 MMDiT ↔ diffusers SD3Transformer2DModel (lora-formats.md §2.4). H = 64·depth.
#include <array>

#include "model/dit_map.hpp"

namespace lorakit::model::detail {

namespace {

constexpr std::array<DitPair, 9> kTop{{
    {"x_embedder.proj", "pos_embed.proj"},
    {"pos_embed", "pos_embed.pos_embed"},
    {"context_embedder", "context_embedder"},
    {"t_embedder.mlp.0", "time_text_embed.timestep_embedder.linear_1"},
    {"t_embedder.mlp.2", "time_text_embed.timestep_embedder.linear_2"},
    {"y_embedder.mlp.0", "time_text_embed.text_embedder.linear_1"},
    {"y_embedder.mlp.2", "time_text_embed.text_embedder.linear_2"},
    {"final_layer.linear", "proj_out"},
    {"final_layer.adaLN_modulation.1", "norm_out.linear", true},
}};

// In the last block the context stream is pre-only: its adaLN holds (shift, scale) and diffusers'
// AdaLayerNormContinuous holds (scale, shift), hence the swap there only.
constexpr std::array<DitPair, 15> kJoint{{
    {"x_block.attn.proj", "attn.to_out.0"},
    {"x_block.attn2.proj", "attn2.to_out.0"},
    {"context_block.attn.proj", "attn.to_add_out"},
    {"x_block.mlp.fc1", "ff.net.0.proj"},
    {"x_block.mlp.fc2", "ff.net.2"},
    {"context_block.mlp.fc1", "ff_context.net.0.proj"},
    {"context_block.mlp.fc2", "ff_context.net.2"},
    {"x_block.adaLN_modulation.1", "norm1.linear"},
    {"context_block.adaLN_modulation.1", "norm1_context.linear", false, true},
    {"x_block.attn.ln_q", "attn.norm_q"},
    {"x_block.attn.ln_k", "attn.norm_k"},
    {"context_block.attn.ln_q", "attn.norm_added_q"},
    {"context_block.attn.ln_k", "attn.norm_added_k"},
    {"x_block.attn2.ln_q", "attn2.norm_q"},
    {"x_block.attn2.ln_k", "attn2.norm_k"},
}};

constexpr std::array<DitFused, 3> kJointFused{{
    {"x_block.attn.qkv", {"attn.to_q", "attn.to_k", "attn.to_v"}},
    {"context_block.attn.qkv", {"attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"}},
    {"x_block.attn2.qkv", {"attn2.to_q", "attn2.to_k", "attn2.to_v"}},
}};

constexpr std::array<DitBlocks, 1> kBlocks{
    {{"joint_blocks.", "transformer_blocks.", kJoint, kJointFused}}};

}  // namespace

std::unique_ptr<NameMap> make_mmdit_map(const ComponentKeys& ck, const Architecture& a) {
  return make_dit_map(ck, DitTables{kTop, kBlocks}, a.hidden, 0);
}

}  // namespace lorakit::model::detail
