// synth_adapter: a kohya LoRA over the usual attention and MLP targets of a model, with factors
// sized so that ΔW is a few per cent of the weights.
#include <fmt/format.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "tools/synth.hpp"
#include "tools/synth_random.hpp"

namespace lorakit::tools {
namespace {

using model::ComponentKind;
using model::Family;
using model::Naming;

bool ends_with_any(std::string_view s, std::initializer_list<std::string_view> tails) {
  return std::any_of(tails.begin(), tails.end(),
                     [&](std::string_view t) { return s.ends_with(t); });
}

bool is_target(Family f, ComponentKind c, std::string_view path, bool modulation) {
  if (c != ComponentKind::DiffusionModel)
    return ends_with_any(path, {".self_attn.q_proj", ".self_attn.k_proj", ".self_attn.v_proj",
                                ".self_attn.out_proj", ".mlp.fc1", ".mlp.fc2"});
  switch (f) {
    case Family::SD1:
    case Family::SD2:
    case Family::SDXL:  // diffusers names
      return path.find("attentions.") != std::string_view::npos &&
             ends_with_any(path, {".to_q", ".to_k", ".to_v", ".to_out.0", ".ff.net.0.proj",
                                  ".ff.net.2", ".proj_in", ".proj_out"});
    case Family::Flux:  // BFL names
      return ends_with_any(
                 path, {"_attn.qkv", "_attn.proj", "_mlp.0", "_mlp.2", ".linear1", ".linear2"}) ||
             (modulation && ends_with_any(path, {"_mod.lin", ".modulation.lin"}));
    case Family::SD3:  // MMDiT names
      return path.starts_with("joint_blocks.") &&
             (ends_with_any(path, {".attn.qkv", ".attn.proj", ".attn2.qkv", ".attn2.proj",
                                   ".mlp.fc1", ".mlp.fc2"}) ||
              (modulation && path.ends_with(".adaLN_modulation.1")));
    case Family::Unknown:
      return false;
  }
  return false;
}

// The kohya prefix of a module path, or nullopt when this synthesizer does not write it.
std::optional<std::string> kohya_head(const model::ModelIndex& m, const model::ModulePath& mp,
                                      bool text_encoder) {
  const Family f = m.arch().family;
  const bool sd_unet = f == Family::SD1 || f == Family::SD2 || f == Family::SDXL;
  switch (mp.component) {
    case ComponentKind::DiffusionModel:
      // sd-scripts writes SD UNets in diffusers names, DiTs in their original names.
      if (mp.naming != (sd_unet ? Naming::Diffusers : Naming::Original)) return std::nullopt;
      return "lora_unet_";
    case ComponentKind::ClipL:
      if (!text_encoder || mp.naming != Naming::HfClip) return std::nullopt;
      return (f == Family::SD1 || f == Family::SD2) ? "lora_te_" : "lora_te1_";
    case ComponentKind::ClipH:
      if (!text_encoder || mp.naming != Naming::HfClip) return std::nullopt;
      return "lora_te_";
    case ComponentKind::ClipG:
      if (!text_encoder || mp.naming != Naming::HfClip) return std::nullopt;
      return "lora_te2_";
    default:
      return std::nullopt;
  }
}

std::string flat(std::string_view dotted) {
  std::string s(dotted);
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

struct Record {
  std::string key;           // module prefix in the file
  uint64_t out = 0;          // rows of the (possibly concatenated / sliced) target
  std::vector<uint64_t> in;  // the target's shape after dimension 0
};

}  // namespace

SynthAdapterResult synth_adapter(const model::ModelIndex& model, const SynthAdapterOptions& opt,
                                 const std::string& out_path) {
  model.require_supported();
  if (opt.rank == 0) throw InvalidArgument("synth: rank must be at least 1");
  if (opt.dtype != DType::F32 && opt.dtype != DType::F16 && opt.dtype != DType::BF16)
    throw InvalidArgument(
        fmt::format("synth: LoRA factors are F32, F16 or BF16, not {}", name(opt.dtype)));
  const Family family = model.arch().family;

  std::vector<Record> records;
  for (const auto& mp : model.module_paths()) {
    const auto head = kohya_head(model, mp, opt.text_encoder);
    if (!head || !is_target(family, mp.component, mp.path, opt.modulation)) continue;
    if (!opt.include.empty() &&
        std::none_of(opt.include.begin(), opt.include.end(),
                     [&](const std::string& s) { return mp.path.find(s) != std::string::npos; }))
      continue;
    if (mp.binding.transform != model::DeltaTransform::None || mp.binding.parts.empty()) continue;
    Record r{*head + flat(mp.path), 0, {}};
    bool ok = true;
    for (const auto& part : mp.binding.parts) {
      const auto* t = model.find(part.tensor);
      if (!t || t->shape.size() < 2) {
        ok = false;
        break;
      }
      std::vector<uint64_t> in(t->shape.begin() + 1, t->shape.end());
      if (!r.in.empty() && r.in != in) ok = false;
      r.in = in;
      r.out += part.rows ? part.rows->end - part.rows->begin : t->shape[0];
    }
    if (ok) records.push_back(std::move(r));
  }
  if (records.empty())
    throw InvalidArgument(
        fmt::format("synth: no LoRA target in {} matches the options", model.origin()));
  std::sort(records.begin(), records.end(),
            [](const Record& a, const Record& b) { return a.key < b.key; });
  records.erase(std::unique(records.begin(), records.end(),
                            [](const Record& a, const Record& b) { return a.key == b.key; }),
                records.end());

  // Tensors: down [r, in, k…], up [out, r, 1…], alpha [].
  struct Factor {
    std::string key;
    std::vector<uint64_t> shape;
    float stddev;  // 0: the alpha scalar
  };
  std::vector<Factor> factors;
  std::vector<io::TensorDecl> decls;
  const float r = static_cast<float>(opt.rank);
  for (const auto& rec : records) {
    uint64_t fan_in = 1;
    for (uint64_t d : rec.in) fan_in *= d;
    const float sd_down = 1.0f / std::sqrt(static_cast<float>(fan_in));
    // RMS(ΔW) = (α/√r)·σ_up·σ_down = delta_ratio·weight_std.
    const float sd_up = opt.delta_ratio * opt.weight_std * std::sqrt(r) / (opt.alpha * sd_down);
    std::vector<uint64_t> down{opt.rank}, up{rec.out, opt.rank};
    down.insert(down.end(), rec.in.begin(), rec.in.end());
    for (size_t i = 1; i < rec.in.size(); ++i) up.push_back(1);
    factors.push_back({rec.key + ".lora_down.weight", down, sd_down});
    factors.push_back({rec.key + ".lora_up.weight", up, sd_up});
    factors.push_back({rec.key + ".alpha", {}, 0.0f});
    decls.push_back({factors[factors.size() - 3].key, opt.dtype, down});
    decls.push_back({factors[factors.size() - 2].key, opt.dtype, up});
    decls.push_back({factors.back().key, DType::F32, {}});
  }

  const nlohmann::ordered_json info{{"rank", opt.rank},
                                    {"alpha", opt.alpha},
                                    {"seed", opt.seed},
                                    {"text_encoder", opt.text_encoder},
                                    {"modulation", opt.modulation},
                                    {"include", opt.include},
                                    {"dtype", std::string(name(opt.dtype))},
                                    {"delta_ratio", opt.delta_ratio}};
  io::SafetensorsWriter w(
      out_path, decls,
      std::map<std::string, std::string>{{"format", "pt"},
                                         {"ss_network_module", "networks.lora"},
                                         {"ss_network_dim", std::to_string(opt.rank)},
                                         {"ss_network_alpha", fmt::format("{}", opt.alpha)},
                                         {"lorakit.synth", info.dump()}});
  SynthAdapterResult res;
  res.modules = records.size();
  std::atomic<uint64_t> bytes{0};
  tbb::parallel_for(tbb::blocked_range<size_t>(0, factors.size(), 1), [&](const auto& range) {
    std::vector<float> f;
    std::vector<std::byte> b;
    for (size_t i = range.begin(); i != range.end(); ++i) {
      const Factor& fac = factors[i];
      uint64_t n = 1;
      for (uint64_t d : fac.shape) n *= d;
      f.resize(n);
      const DType t = fac.stddev == 0.0f ? DType::F32 : opt.dtype;
      if (fac.stddev == 0.0f)
        f[0] = opt.alpha;
      else
        synth_normal(synth_stream_key(opt.seed, fac.key), 0, n, fac.stddev, f.data());
      b.resize(*bytes_for(t, n));
      codec::encode(t, f.data(), b.data(), n);
      w.write(fac.key, b);
      bytes += b.size();
    }
  });
  w.commit();
  res.tensor_bytes = bytes;
  return res;
}

}  // namespace lorakit::tools
