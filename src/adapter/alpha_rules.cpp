#include "adapter/alpha_rules.hpp"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace lorakit::adapter::detail {

namespace {

using json = nlohmann::json;

std::optional<double> number(const json& j) {
  if (j.is_number()) return j.get<double>();
  return std::nullopt;
}

std::vector<std::pair<std::string, double>> patterns(const json& j) {
  std::vector<std::pair<std::string, double>> v;
  if (!j.is_object()) return v;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (auto n = number(it.value())) v.emplace_back(it.key(), *n);
  return v;
}

PeftConfig config_from(const json& j) {
  PeftConfig c;
  if (j.contains("r")) c.r = number(j["r"]);
  if (j.contains("lora_alpha")) c.lora_alpha = number(j["lora_alpha"]);
  if (j.contains("rank_pattern")) c.rank_pattern = patterns(j["rank_pattern"]);
  if (j.contains("alpha_pattern")) c.alpha_pattern = patterns(j["alpha_pattern"]);
  if (j.contains("use_rslora") && j["use_rslora"].is_boolean()) c.use_rslora = j["use_rslora"];
  return c;
}

bool is_config_field(std::string_view k) {
  return k == "r" || k == "lora_alpha" || k == "rank_pattern" || k == "alpha_pattern" ||
         k == "use_rslora";
}

// PEFT's pattern lookup: a pattern names a module it ends with, at a '.' boundary (PEFT reads it
// as the regular expression "(.*\.)?(pattern)$"). diffusers writes plain module names, so the
// pattern is compared literally; regular-expression syntax is not interpreted.
bool pattern_matches(const std::string& pattern, const std::string& name) {
  return name == pattern || name.ends_with("." + pattern);
}

const PeftConfig* config_for(const PeftMetadata& md, const std::string& prefix, std::string& name) {
  static const char* kHeads[] = {"base_model.model.", "transformer.",    "unet.",
                                 "text_encoder_2.",   "text_encoder_3.", "text_encoder."};
  name = prefix;
  for (const auto& [comp, cfg] : md.configs) {
    if (!comp.empty() && prefix.starts_with(comp + ".")) {
      name = prefix.substr(comp.size() + 1);
      return &cfg;
    }
  }
  for (const char* h : kHeads)
    if (name.starts_with(h)) {
      name = name.substr(std::string_view(h).size());
      break;
    }
  auto it = md.configs.find("");
  return it == md.configs.end() ? nullptr : &it->second;
}

}  // namespace

PeftMetadata read_peft_metadata(const std::vector<io::MetadataEntry>& metadata) {
  PeftMetadata md;
  for (const auto& e : metadata) {
    if (e.key != "lora_adapter_metadata") continue;
    const auto* text = std::get_if<std::string>(&e.value.value);
    if (!text) {
      md.error = "lora_adapter_metadata is not a string";
      return md;
    }
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      md.error = "lora_adapter_metadata is not a JSON object";
      return md;
    }
    // Three shapes occur: a plain LoraConfig; diffusers' packed form with "<component>.<field>"
    // keys; and one nested object per component.
    json plain = json::object();
    std::map<std::string, json> packed;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      const auto dot = k.rfind('.');
      if (is_config_field(k)) {
        plain[k] = it.value();
      } else if (dot != std::string::npos && is_config_field(k.substr(dot + 1))) {
        packed[k.substr(0, dot)][k.substr(dot + 1)] = it.value();
      } else if (it.value().is_object() &&
                 (it.value().contains("r") || it.value().contains("lora_alpha"))) {
        packed[k] = it.value();
      }
    }
    if (!plain.empty()) md.configs[""] = config_from(plain);
    for (const auto& [comp, cj] : packed) md.configs[comp] = config_from(cj);
  }
  return md;
}

AlphaResult alpha_scale(const AlphaInput& in, const PeftMetadata& peft) {
  AlphaResult r;
  r.alpha = in.stored_alpha;
  switch (in.kind) {
    case Kind::IA3:
    case Kind::Full:
    case Kind::Norm:
    case Kind::Set:
      if (in.stored_alpha) r.warning = "alpha ignored (this adapter type has none)";
      r.alpha.reset();
      return r;
    case Kind::OFT:
    case Kind::BOFT:
      // alpha is the constraint; provisional scale c = α·out (§8.7, §13.1).
      if (in.stored_alpha && *in.stored_alpha < 0) {
        r.error = fmt::format("negative OFT constraint {}", *in.stored_alpha);
        return r;
      }
      r.scale = in.stored_alpha ? *in.stored_alpha * static_cast<float>(in.out_rows) : 0.0f;
      return r;
    default:
      break;
  }
  bool rslora = false;
  if (in.kind == Kind::LoRA && is_peft_family(in.lora_family) && !peft.empty()) {
    std::string name;
    if (const PeftConfig* cfg = config_for(peft, in.prefix, name)) {
      rslora = cfg->use_rslora;
      if (!r.alpha) {
        for (const auto& [pat, a] : cfg->alpha_pattern)
          if (pattern_matches(pat, name)) {
            r.alpha = static_cast<float>(a);
            break;
          }
      }
      if (!r.alpha && cfg->lora_alpha) r.alpha = static_cast<float>(*cfg->lora_alpha);
      // r for γ is lora_A's own row count; the config's r (rank_pattern, then r) only confirms
      // it. PEFT itself could not load a file where they differ, so say so.
      std::optional<double> cfg_rank = cfg->r;
      for (const auto& [pat, rk] : cfg->rank_pattern)
        if (pattern_matches(pat, name)) {
          cfg_rank = rk;
          break;
        }
      if (cfg_rank && in.rank && *cfg_rank != static_cast<double>(in.rank))
        r.warning =
            fmt::format("lora_adapter_metadata gives rank {} but lora_A has {} rows; {} used",
                        *cfg_rank, in.rank, in.rank);
    }
  }
  if (!r.alpha || in.rank == 0) {
    // α absent (PEFT: α = r), or a LoKr record whose factors are all whole: γ = 1; with rsLoRA
    // an absent α is still r, so γ = r/√r.
    r.scale = rslora && !r.alpha && in.rank
                  ? static_cast<float>(std::sqrt(static_cast<double>(in.rank)))
                  : 1.0f;
    return r;
  }
  if (*r.alpha == 0) {
    r.scale = 1.0f;
    r.warning = "alpha = 0 read as alpha = rank (scale 1)";
    return r;
  }
  const double rank = static_cast<double>(in.rank);
  r.scale = static_cast<float>(*r.alpha / (rslora ? std::sqrt(rank) : rank));
  return r;
}

}  // namespace lorakit::adapter::detail
