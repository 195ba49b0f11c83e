// SD UNet: LDM/SGM ↔ diffusers (lora-formats.md §2.3). With R res blocks per level:
//   input_blocks.n (n = 1 + (R+1)·x + i)  ↔ down_blocks.x.{resnets,attentions}.i
//   input_blocks.(R+1)(x+1).0.op           ↔ down_blocks.x.downsamplers.0.conv
//   output_blocks.n (n = (R+1)·x + i)      ↔ up_blocks.x.{resnets,attentions}.i
//   output_blocks.(R+1)x+R.c.conv          ↔ up_blocks.x.upsamplers.0.conv (c = 2 with attention,
//   else 1)
// R and the levels come from the keys the model has, so SSD-1B, Vega and the refiner need no table.
#include <array>
#include <optional>

#include "model/key_util.hpp"
#include "model/name_map.hpp"

namespace lorakit::model::detail {

namespace {

// Inside a resnet (§2.3), LDM name ↔ diffusers name.
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kResnet{{
    {"in_layers.0", "norm1"},
    {"in_layers.2", "conv1"},
    {"emb_layers.1", "time_emb_proj"},
    {"out_layers.0", "norm2"},
    {"out_layers.3", "conv2"},
    {"skip_connection", "conv_shortcut"},
}};

// Top-level modules (§2.3). label_emb has two diffusers names (add_embedding for SDXL; the
// reference also emits class_embedding, which SD2 unCLIP uses).
constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kTop{{
    {"input_blocks.0.0", "conv_in"},
    {"out.0", "conv_norm_out"},
    {"out.2", "conv_out"},
    {"time_embed.0", "time_embedding.linear_1"},
    {"time_embed.2", "time_embedding.linear_2"},
    {"label_emb.0.0", "add_embedding.linear_1"},
    {"label_emb.0.2", "add_embedding.linear_2"},
    {"label_emb.0.0", "class_embedding.linear_1"},
    {"label_emb.0.2", "class_embedding.linear_2"},
}};

// `rest` names something at `from` (exactly, or below it after a dot)? Then returns what follows.
std::optional<std::string_view> under(std::string_view rest, std::string_view from) {
  if (!rest.starts_with(from)) return std::nullopt;
  rest.remove_prefix(from.size());
  if (rest.empty()) return rest;
  if (rest.front() != '.') return std::nullopt;
  rest.remove_prefix(1);
  return rest;
}

std::string join(std::string base, std::string_view rest) {
  if (!rest.empty()) base += '.', base += rest;
  return base;
}

// Renames the resnet-internal part of `rest` in the given direction; nullopt when unknown.
std::optional<std::string> resnet(std::string_view rest, bool to_diffusers) {
  for (const auto& [ldm, dif] : kResnet) {
    std::string_view from = to_diffusers ? ldm : dif, to = to_diffusers ? dif : ldm;
    if (auto tail = under(rest, from)) return join(std::string(to), *tail);
  }
  return std::nullopt;
}

class UnetMap final : public NameMap {
 public:
  explicit UnetMap(const ComponentKeys& ck)
      : ck_(ck), original_(ck.comp.naming == Naming::Original) {
    // R = index of the first downsampler − 1 (LDM), or the resnets of down level 0 (diffusers).
    if (original_) {
      for (uint32_t n = 1; n < 64; ++n) {
        if (ck.has(fmt_block("input_blocks.", n, ".0.op.weight"))) {
          r_ = n - 1;
          break;
        }
      }
    } else {
      uint32_t r = count_indices(ck, "down_blocks.0.resnets.");
      if (r) r_ = r;
    }
  }

  void equivalents(std::string_view path, const TensorMeta& t,
                   std::vector<Equivalent>& out) const override {
    Naming other = original_ ? Naming::Diffusers : Naming::Original;
    for (const auto& [ldm, dif] : kTop) {
      std::string_view from = original_ ? ldm : dif, to = original_ ? dif : ldm;
      if (auto tail = under(path, from))
        out.push_back({other, join(std::string(to), *tail), whole(t)});
    }
    if (auto p = original_ ? to_diffusers(path) : to_ldm(path))
      out.push_back({other, *p, whole(t)});
  }

 private:
  std::optional<std::string> to_diffusers(std::string_view s) const {
    const uint32_t g = r_ + 1;  // blocks per level in input/output_blocks
    if (consume(s, "input_blocks.")) {
      auto n = consume_index(s), k = consume_index(s);
      if (!n || !k || *n == 0) return std::nullopt;
      uint32_t x = (*n - 1) / g, i = (*n - 1) % g;
      std::string level = fmt_block("down_blocks.", x, ".");
      if (i < r_ && *k == 0) return prefixed(level + fmt_block("resnets.", i, ""), resnet(s, true));
      if (i < r_ && *k == 1) return join(level + fmt_block("attentions.", i, ""), s);
      if (i == r_ && *k == 0)
        if (auto tail = under(s, "op")) return join(level + "downsamplers.0.conv", *tail);
      return std::nullopt;
    }
    if (consume(s, "middle_block.")) {
      auto k = consume_index(s);
      if (!k) return std::nullopt;
      if (*k == 0) return prefixed("mid_block.resnets.0", resnet(s, true));
      if (*k == 1) return join("mid_block.attentions.0", s);
      if (*k == 2) return prefixed("mid_block.resnets.1", resnet(s, true));
      return std::nullopt;
    }
    if (consume(s, "output_blocks.")) {
      auto n = consume_index(s), k = consume_index(s);
      if (!n || !k) return std::nullopt;
      uint32_t x = *n / g, i = *n % g;
      std::string level = fmt_block("up_blocks.", x, ".");
      if (*k == 0) return prefixed(level + fmt_block("resnets.", i, ""), resnet(s, true));
      // An attention block has no direct `conv` child, so `.1.conv` or `.2.conv` is the upsampler.
      if (auto tail = under(s, "conv"); tail && i == r_)
        return join(level + "upsamplers.0.conv", *tail);
      if (*k == 1) return join(level + fmt_block("attentions.", i, ""), s);
      return std::nullopt;
    }
    return std::nullopt;
  }

  std::optional<std::string> to_ldm(std::string_view s) const {
    const uint32_t g = r_ + 1;
    if (consume(s, "down_blocks.")) {
      auto x = consume_index(s);
      if (!x) return std::nullopt;
      if (consume(s, "resnets.")) {
        auto i = consume_index(s);
        if (!i) return std::nullopt;
        return prefixed(fmt_block("input_blocks.", 1 + g * *x + *i, ".0"), resnet(s, false));
      }
      if (consume(s, "attentions.")) {
        auto i = consume_index(s);
        if (!i) return std::nullopt;
        return join(fmt_block("input_blocks.", 1 + g * *x + *i, ".1"), s);
      }
      if (auto tail = under(s, "downsamplers.0.conv"))
        return join(fmt_block("input_blocks.", g * (*x + 1), ".0.op"), *tail);
      return std::nullopt;
    }
    if (consume(s, "mid_block.")) {
      if (auto tail = under(s, "resnets.0"))
        return prefixed("middle_block.0", resnet(*tail, false));
      if (auto tail = under(s, "attentions.0")) return join("middle_block.1", *tail);
      if (auto tail = under(s, "resnets.1"))
        return prefixed("middle_block.2", resnet(*tail, false));
      return std::nullopt;
    }
    if (consume(s, "up_blocks.")) {
      auto x = consume_index(s);
      if (!x) return std::nullopt;
      if (consume(s, "resnets.")) {
        auto i = consume_index(s);
        if (!i) return std::nullopt;
        return prefixed(fmt_block("output_blocks.", g * *x + *i, ".0"), resnet(s, false));
      }
      if (consume(s, "attentions.")) {
        auto i = consume_index(s);
        if (!i) return std::nullopt;
        return join(fmt_block("output_blocks.", g * *x + *i, ".1"), s);
      }
      if (auto tail = under(s, "upsamplers.0.conv")) {
        // The upsampler follows the level's last block: slot 2 when that block has attention.
        bool attn =
            any_with_prefix(ck_, fmt_block(fmt_block("up_blocks.", *x, ".attentions."), r_, "."));
        return join(fmt_block("output_blocks.", g * *x + r_, attn ? ".2.conv" : ".1.conv"), *tail);
      }
      return std::nullopt;
    }
    return std::nullopt;
  }

  static std::optional<std::string> prefixed(const std::string& base,
                                             std::optional<std::string> rest) {
    if (!rest) return std::nullopt;
    return base + "." + *rest;
  }

  const ComponentKeys& ck_;
  bool original_;
  uint32_t r_ = 2;  // SD1/SD2/SDXL all use 2; only a UNet without any downsampler keeps the default
};

}  // namespace

std::unique_ptr<NameMap> make_unet_map(const ComponentKeys& ck) {
  return std::make_unique<UnetMap>(ck);
}

}  // namespace lorakit::model::detail
