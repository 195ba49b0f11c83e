#include "adapter/format_label.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace lorakit::adapter::detail {

namespace {

bool any_key(const std::vector<io::TensorInfo>& t, auto pred) {
  return std::any_of(t.begin(), t.end(), [&](const io::TensorInfo& i) { return pred(i.name); });
}

bool starts_any(std::string_view k, std::initializer_list<std::string_view> heads) {
  return std::any_of(heads.begin(), heads.end(), [&](auto h) { return k.starts_with(h); });
}

// LyCORIS-only suffixes (§4.2 rule 6).
bool lycoris_suffix(std::string_view k) {
  for (std::string_view s :
       {".hada_", ".lokr_", ".lora_mid.", ".oft_blocks", ".on_input", ".a1.weight", ".w_norm"})
    if (k.find(s) != std::string_view::npos) return true;
  return k.ends_with(".diff") || k.ends_with(".diff_b");
}

bool ai_toolkit(const std::vector<io::MetadataEntry>& md) {
  for (const auto& e : md) {
    const auto* s = std::get_if<std::string>(&e.value.value);
    if (!s) continue;
    if (e.key == "software.name" && *s == "ai-toolkit") return true;
    if (e.key == "software") {
      auto j = nlohmann::json::parse(*s, nullptr, false);
      if (j.is_object() && j.contains("name") && j["name"] == "ai-toolkit") return true;
    }
  }
  return false;
}

}  // namespace

FormatLabel format_label(const std::vector<io::TensorInfo>& t,
                         const std::vector<io::MetadataEntry>& md) {
  auto make = [](Format f, std::string extra = {}) {
    return FormatLabel{f, std::string(format_name(f)) + extra};
  };
  const bool has_img_in_a =
      any_key(t, [](std::string_view k) { return k == "img_in.lora_A.weight"; });
  if (has_img_in_a && any_key(t, [](std::string_view k) {
        return k.ends_with("norm.key_norm.scale") || k.ends_with("norm.query_norm.scale");
      }))
    return make(Format::BflControl);
  if (any_key(t, [](std::string_view k) {
        return k.find(".processor.qkv_lora") != std::string_view::npos ||
               k.find(".processor.proj_lora") != std::string_view::npos;
      }))
    return make(Format::XLabs);
  if (any_key(t, [](std::string_view k) { return k.starts_with("base_model.model."); }))
    return make(Format::PeftRaw);
  if (any_key(t, [](std::string_view k) { return k.starts_with("lycoris_"); }))
    return make(Format::SimpleTunerLycoris);
  if (any_key(t, [](std::string_view k) { return k.starts_with("lora_transformer_"); }))
    return make(Format::OneTrainer);
  if (any_key(t, [](std::string_view k) {
        return starts_any(k, {"lora_unet_", "lora_te_", "lora_te1_", "lora_te2_", "lora_te3_"});
      })) {
    const bool dora = any_key(t, [](std::string_view k) { return k.ends_with(".dora_scale"); });
    const Format f = any_key(t, lycoris_suffix) ? Format::Lycoris : Format::Kohya;
    return make(f, dora ? "+dora" : "");
  }
  if (any_key(t, [](std::string_view k) {
        return k.find(".processor.") != std::string_view::npos &&
               k.find("_lora.") != std::string_view::npos;
      }))
    return make(Format::DiffusersProcessor);
  if (any_key(t, [](std::string_view k) {
        return k.ends_with(".lora.down.weight") || k.ends_with(".lora_linear_layer.down.weight");
      }))
    return make(Format::DiffusersNonPeft);
  if (any_key(t, [](std::string_view k) {
        // `text_encoder.`, `text_encoder_2.`, … but not ComfyUI's `text_encoders.` (rule 10).
        return k.find(".lora_A") != std::string_view::npos &&
               starts_any(k, {"unet.", "transformer.", "text_encoder.", "text_encoder_"});
      }))
    return make(Format::Peft, ai_toolkit(md) ? " (ai-toolkit)" : "");
  if (any_key(t, [](std::string_view k) {
        return starts_any(k, {"diffusion_model.", "text_encoders."});
      }))
    return make(Format::ComfyGeneric);
  return make(Format::Unknown);
}

}  // namespace lorakit::adapter::detail
