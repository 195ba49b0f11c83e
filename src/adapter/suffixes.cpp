#include "adapter/suffixes.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace lorakit::adapter::detail {

namespace {

using F = SuffixFamily;
using T = WeightType;
using S = Slot;

// The table of §5.2. Order does not matter here; all_suffixes() sorts it.
constexpr std::array kTable = {
    // LoRA, kohya family.
    Suffix{".lora_down.weight", "down", S::Factor, T::LoRA, F::Kohya},
    Suffix{".lora_up.weight", "up", S::Factor, T::LoRA, F::Kohya},
    Suffix{".lora_mid.weight", "mid", S::Factor, T::LoRA, F::Kohya},
    // LoRA, diffusers attention processor: the prefix ends in `processor.to_q` etc.
    Suffix{"_lora.down.weight", "down", S::Factor, T::LoRA, F::Processor},
    Suffix{"_lora.up.weight", "up", S::Factor, T::LoRA, F::Processor},
    // LoRA, diffusers non-PEFT and transformers text encoders.
    Suffix{".lora.down.weight", "down", S::Factor, T::LoRA, F::DiffusersLora},
    Suffix{".lora.up.weight", "up", S::Factor, T::LoRA, F::DiffusersLora},
    Suffix{".lora_linear_layer.down.weight", "down", S::Factor, T::LoRA, F::LinearLayer},
    Suffix{".lora_linear_layer.up.weight", "up", S::Factor, T::LoRA, F::LinearLayer},
    // LoRA, PEFT (plain, with the default adapter name, bare) and its extras.
    Suffix{".lora_A.weight", "down", S::Factor, T::LoRA, F::Peft},
    Suffix{".lora_B.weight", "up", S::Factor, T::LoRA, F::Peft},
    Suffix{".lora_A.default.weight", "down", S::Factor, T::LoRA, F::PeftNamed},
    Suffix{".lora_B.default.weight", "up", S::Factor, T::LoRA, F::PeftNamed},
    Suffix{".lora_A", "down", S::Factor, T::LoRA, F::PeftBare},
    Suffix{".lora_B", "up", S::Factor, T::LoRA, F::PeftBare},
    Suffix{".lora_B.bias", "lora_B.bias", S::Bias, T::LoRA, F::PeftExtra},
    Suffix{".lora_A.bias", "lora_A.bias", S::Bias, T::LoRA, F::PeftExtra},
    Suffix{".lora_magnitude_vector", "lora_magnitude_vector", S::Dora, T::LoRA, F::PeftExtra},
    // LoRA, XLabs (accepted only on XLabs aliases, §6.3).
    Suffix{".down.weight", "down", S::Factor, T::LoRA, F::XLabs},
    Suffix{".up.weight", "up", S::Factor, T::LoRA, F::XLabs},
    // Scalars and extras of any LoRA-class record; diff_b may accompany any weight type.
    Suffix{".alpha", "alpha", S::Alpha, T::None, F::Generic},
    Suffix{".dora_scale", "dora_scale", S::Dora, T::None, F::Generic},
    Suffix{".reshape_weight", "reshape_weight", S::Reshape, T::None, F::Generic},
    Suffix{".diff_b", "diff_b", S::Bias, T::None, F::Generic},
    // LoHa.
    Suffix{".hada_w1_a", "w1a", S::Factor, T::LoHa, F::LoHa},
    Suffix{".hada_w1_b", "w1b", S::Factor, T::LoHa, F::LoHa},
    Suffix{".hada_w2_a", "w2a", S::Factor, T::LoHa, F::LoHa},
    Suffix{".hada_w2_b", "w2b", S::Factor, T::LoHa, F::LoHa},
    Suffix{".hada_t1", "t1", S::Factor, T::LoHa, F::LoHa},
    Suffix{".hada_t2", "t2", S::Factor, T::LoHa, F::LoHa},
    // LoKr.
    Suffix{".lokr_w1", "w1", S::Factor, T::LoKr, F::LoKr},
    Suffix{".lokr_w1_a", "w1a", S::Factor, T::LoKr, F::LoKr},
    Suffix{".lokr_w1_b", "w1b", S::Factor, T::LoKr, F::LoKr},
    Suffix{".lokr_w2", "w2", S::Factor, T::LoKr, F::LoKr},
    Suffix{".lokr_w2_a", "w2a", S::Factor, T::LoKr, F::LoKr},
    Suffix{".lokr_w2_b", "w2b", S::Factor, T::LoKr, F::LoKr},
    Suffix{".lokr_t2", "t2", S::Factor, T::LoKr, F::LoKr},
    // GLoRA.
    Suffix{".a1.weight", "a1", S::Factor, T::GLoRA, F::GLoRA},
    Suffix{".a2.weight", "a2", S::Factor, T::GLoRA, F::GLoRA},
    Suffix{".b1.weight", "b1", S::Factor, T::GLoRA, F::GLoRA},
    Suffix{".b2.weight", "b2", S::Factor, T::GLoRA, F::GLoRA},
    // OFT / BOFT (told apart by the rank of oft_blocks).
    Suffix{".oft_blocks", "blocks", S::Factor, T::OFT, F::OFT},
    Suffix{".rescale", "rescale", S::Factor, T::OFT, F::OFT},
    // (IA)³: `.weight` only counts when `.on_input` exists for the same prefix (key_grammar).
    Suffix{".weight", "weight", S::Factor, T::IA3, F::IA3},
    Suffix{".on_input", "on_input", S::Factor, T::IA3, F::IA3},
    // Full deltas, norm deltas, replacements.
    Suffix{".diff", "diff", S::Factor, T::Full, F::Full},
    Suffix{".w_norm", "w_norm", S::Factor, T::Norm, F::Norm},
    Suffix{".b_norm", "b_norm", S::Bias, T::Norm, F::Norm},
    Suffix{".set_weight", "set", S::Factor, T::Set, F::Set},
    // Sparse LyCORIS bias (§13.10): recognised so that it is reported as unsupported, not unused.
    Suffix{".bias_indices", "bias_indices", S::Ignored, T::None, F::Unsupported},
    Suffix{".bias_values", "bias_values", S::Ignored, T::None, F::Unsupported},
    Suffix{".bias_size", "bias_size", S::Ignored, T::None, F::Unsupported},
    // Raw replacement: the key is itself a model norm-scale name.
    Suffix{"", "set", S::Factor, T::Set, F::Raw},
};

std::vector<Suffix> sorted_table() {
  std::vector<Suffix> v(kTable.begin(), kTable.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const Suffix& a, const Suffix& b) { return a.text.size() > b.text.size(); });
  return v;
}

}  // namespace

std::span<const Suffix> all_suffixes() {
  static const std::vector<Suffix> table = sorted_table();
  return table;
}

bool is_lora_pair_family(SuffixFamily f) {
  switch (f) {
    case F::Kohya:
    case F::Processor:
    case F::DiffusersLora:
    case F::LinearLayer:
    case F::Peft:
    case F::PeftNamed:
    case F::PeftBare:
    case F::XLabs:
      return true;
    default:
      return false;
  }
}

bool is_peft_family(SuffixFamily f) {
  return f == F::Peft || f == F::PeftNamed || f == F::PeftBare || f == F::PeftExtra;
}

}  // namespace lorakit::adapter::detail
