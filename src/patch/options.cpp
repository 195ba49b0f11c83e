// Option parsing and the output-type rule of the patch layer.
#include <charconv>
#include <string>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "lorakit/patch.hpp"

namespace lorakit::patch {
namespace {

bool is_block_type(DType t) { return traits(t).ggml_id >= 0 && traits(t).block_elements > 1; }

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

}  // namespace

void parse_quant_policy(std::string_view text, Options& options) {
  const std::string t = lower(text);
  if (t == "requant") {
    options.quant_policy = QuantPolicy::Requant;
  } else if (t == "runtime") {
    options.quant_policy = QuantPolicy::Runtime;
  } else if (t.starts_with("upcast:")) {
    const auto dt = dtype_from_user_name(t.substr(7));
    if (!dt || (*dt != DType::F16 && *dt != DType::BF16 && *dt != DType::Q8_0))
      throw InvalidArgument("--quant-policy upcast:TYPE takes f16, bf16 or q8_0, not '" +
                            std::string(text.substr(7)) + "'");
    options.quant_policy = QuantPolicy::Upcast;
    options.upcast_type = *dt;
  } else {
    throw InvalidArgument("unknown quant policy '" + std::string(text) +
                          "' (expected requant, upcast:f16|bf16|q8_0 or runtime)");
  }
}

void parse_rounding(std::string_view text, Options& options) {
  const std::string t = lower(text);
  if (t == "nearest") {
    options.fp8_rounding = Fp8Rounding::Nearest;
    return;
  }
  if (t == "stochastic") {
    options.fp8_rounding = Fp8Rounding::Stochastic;
    return;
  }
  if (t.starts_with("stochastic:")) {
    const std::string_view num = std::string_view(t).substr(11);
    uint32_t seed = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), seed);
    if (ec == std::errc() && p == num.data() + num.size() && !num.empty()) {
      options.fp8_rounding = Fp8Rounding::Stochastic;
      options.seed = seed;
      return;
    }
    throw InvalidArgument("rounding seed must be an unsigned 32-bit integer, not '" +
                          std::string(num) + "'");
  }
  throw InvalidArgument("unknown rounding '" + std::string(text) +
                        "' (expected stochastic, stochastic:SEED or nearest)");
}

DType output_type(const io::TensorInfo& source, const Options& options, bool patched) {
  DType t = options.output_dtype.value_or(source.dtype);
  if (is_block_type(t)) {
    if (patched && options.quant_policy == QuantPolicy::Upcast) t = options.upcast_type;
    const uint64_t block = traits(t).block_elements;
    const auto& st = source.storage_shape.empty() ? source.shape : source.storage_shape;
    const bool fits = st.size() >= 2 && block > 0 && st.back() % block == 0;
    if (is_block_type(t) && !fits) {
      const DType src = source.dtype;
      t = (src == DType::F32 || src == DType::F64) ? DType::F32 : DType::F16;
    }
  }
  return t;
}

}  // namespace lorakit::patch
