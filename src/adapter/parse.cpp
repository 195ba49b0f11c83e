// parse(): the load of lora-formats.md §6.1 step 5 and the report of §6.5. Resolve every key
// through the alias map, group records, type them, check the implied base against the model, then
// bind each record and check its shapes and scalars. Headers only, except the few scalars of §9.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "adapter/alias_map.hpp"
#include "adapter/alpha_rules.hpp"
#include "adapter/format_label.hpp"
#include "adapter/implied_base.hpp"
#include "adapter/overlaps.hpp"
#include "adapter/parse_internal.hpp"
#include "adapter/record_grouping.hpp"
#include "adapter/scalars.hpp"
#include "adapter/shape_rules.hpp"
#include "lorakit/error.hpp"

namespace lorakit::adapter {

namespace detail {

namespace {

// Builds the canonical Module of a typed record (factors by role; no binding yet).
Module assemble(const Record& r, const Typing& t) {
  Module m;
  m.prefix = r.prefix;
  m.kind = t.kind;
  for (const KeyRef& k : r.keys) {
    m.keys.push_back(k.info->name);
    const Suffix& s = *k.suffix;
    const Factor f{k.info->name, k.info};
    switch (s.slot) {
      case Slot::Factor:
        m.factors[std::string(s.role)] = f;
        break;
      case Slot::Bias:
        m.bias[std::string(s.role)] = f;
        break;
      case Slot::Dora:
        m.dora_scale = f;
        break;
      case Slot::Alpha:
      case Slot::Reshape:
      case Slot::Ignored:
        break;
    }
  }
  return m;
}

const io::TensorInfo* key_with_slot(const Record& r, Slot slot) {
  for (const KeyRef& k : r.keys)
    if (k.suffix->slot == slot) return k.info;
  return nullptr;
}

bool ends_with_name(std::string_view tensor, std::string_view name) {
  return tensor == name ||
         (tensor.ends_with(name) && tensor[tensor.size() - name.size() - 1] == '.');
}

const model::BindingPart* single_whole_part(const model::Binding& b) {
  return b.parts.size() == 1 && !b.parts[0].rows ? &b.parts[0] : nullptr;
}

bool is_flux_img_in(const model::Binding& b, const ModelView& m) {
  const auto* p = single_whole_part(b);
  return p && m.arch.family == model::Family::Flux &&
         (ends_with_name(p->tensor, "img_in.weight") ||
          ends_with_name(p->tensor, "x_embedder.weight"));
}

bool is_conv_in(const model::Binding& b, const ModelView& m) {
  const auto* p = single_whole_part(b);
  return p && m.is_sd_unet() &&
         (ends_with_name(p->tensor, "input_blocks.0.0.weight") ||
          ends_with_name(p->tensor, "conv_in.weight"));
}

bool looks_like_vae(std::string_view prefix) {
  for (std::string_view h : {"vae.", "first_stage_model.", "lora_vae_", "lycoris_vae_",
                             "text_encoders.vae.", "diffusion_model.vae."})
    if (prefix.starts_with(h)) return true;
  return false;
}

bool looks_like_text_encoder(std::string_view prefix) {
  for (std::string_view h : {"lora_te", "text_encoder", "lora_prior_te_"})
    if (prefix.starts_with(h)) return true;
  return false;
}

class Binder {
 public:
  Binder(const io::TensorSource& src, const ModelView& m, const PeftMetadata& peft, Format format,
         MatchReport& rep)
      : src_(src), m_(m), peft_(peft), format_(format), rep_(rep) {}

  // Binds one typed, bound record; returns false after reporting why it cannot be used.
  bool bind(const Record& r, const Typing& t, Module& mod) {
    mod.target = r.alias->binding;
    const auto model_shape = binding_shape(mod.target, m_);
    if (!model_shape) {
      invalid(r.prefix, fmt::format("target {} is not in the model", describe(mod.target)));
      return false;
    }
    // What the record sees: the binding's rows, transposed when the binding transposes (§7.5).
    Shape target = *model_shape;
    if (mod.target.transform == model::DeltaTransform::Transpose && target.size() == 2)
      std::swap(target[0], target[1]);

    std::optional<float> alpha;
    if (const io::TensorInfo* a = key_with_slot(r, Slot::Alpha)) {
      std::string why;
      if (a->elements != 1) {
        invalid(r.prefix,
                fmt::format("{} has shape {}, not one element", a->name, shape_text(a->shape)));
        return false;
      }
      auto v = read_small(src_, *a, 1, why);
      if (!v) return invalid(r.prefix, why), false;
      if (!std::isfinite((*v)[0]))
        return invalid(r.prefix, fmt::format("{} is not finite", a->name)), false;
      alpha = (*v)[0];
    }

    Implied imp = implied_shape(mod, target);
    if (!imp.error.empty()) return invalid(r.prefix, imp.error), false;
    mod.glora_old = imp.glora_old;

    if (mod.kind == Kind::IA3 && !check_ia3(r, mod, target)) return false;

    // reshape_weight (§8.13): only FLUX img_in, only growing dimension 1. BFL Control files that
    // carry an `img_in` factor wider than the model imply it (ComfyUI's converter adds the key).
    Shape fit_target = target;
    std::optional<Shape> reshape;
    if (const io::TensorInfo* rw = key_with_slot(r, Slot::Reshape)) {
      std::string why;
      auto v = read_small(src_, *rw, 8, why);
      if (!v) return invalid(r.prefix, why), false;
      reshape = Shape();
      for (float x : *v) {
        if (!(x >= 0) || x != std::floor(x))
          return invalid(r.prefix, fmt::format("{} holds {}, not a shape", rw->name, x)), false;
        reshape->push_back(static_cast<uint64_t>(x));
      }
    } else if (format_ == Format::BflControl && is_flux_img_in(mod.target, m_) &&
               imp.shape.size() == 2 && target.size() == 2 && imp.shape[0] == target[0] &&
               imp.shape[1] > target[1]) {
      reshape = imp.shape;
    }
    if (reshape && *reshape != target) {
      const bool allowed = is_flux_img_in(mod.target, m_) && reshape->size() == 2 &&
                           target.size() == 2 && (*reshape)[0] == target[0] &&
                           (*reshape)[1] > target[1];
      if (!allowed) {
        mismatch(r.prefix, imp.shape, mod.target, target,
                 fmt::format("reshape_weight {} is allowed only to widen FLUX img_in",
                             shape_text(*reshape)));
        return false;
      }
      fit_target = *reshape;
      mod.reshape_weight = reshape;
    }

    if (!fits(imp.shape, fit_target)) {
      const bool pad = is_conv_in(mod.target, m_) && imp.shape.size() == 4 && target.size() == 4 &&
                       imp.shape[0] == target[0] && imp.shape[1] < target[1] &&
                       imp.shape[2] == target[2] && imp.shape[3] == target[3];
      if (!pad) {
        mismatch(r.prefix, imp.shape, mod.target, fit_target);
        return false;
      }
      mod.pad_input_channels = true;
      rep_.warnings.push_back(
          fmt::format("{}: conv_in delta {} zero-padded to the model's {} input channels", r.prefix,
                      shape_text(imp.shape), target[1]));
    }
    if (mod.reshape_weight)
      rep_.warnings.push_back(fmt::format("{}: {} padded to {} (reshape_weight)", r.prefix,
                                          describe(mod.target), shape_text(*mod.reshape_weight)));

    if (!check_bias(r, mod, target, imp)) return false;
    if (!check_dora(r, mod, fit_target)) return false;

    AlphaInput ai;
    ai.kind = mod.kind;
    ai.lora_family = t.lora_family;
    ai.stored_alpha = alpha;
    ai.rank = imp.rank;
    ai.out_rows = target.empty() ? 0 : target[0];
    ai.prefix = r.prefix;
    AlphaResult ar = alpha_scale(ai, peft_);
    if (!ar.error.empty()) return invalid(r.prefix, ar.error), false;
    if (!ar.warning.empty()) rep_.warnings.push_back(fmt::format("{}: {}", r.prefix, ar.warning));
    mod.alpha = ar.alpha;
    mod.alpha_scale = ar.scale;
    mod.rank = imp.rank;
    return true;
  }

 private:
  void invalid(const std::string& prefix, const std::string& why) {
    rep_.invalid.push_back(fmt::format("{}: {}", prefix, why));
  }

  void mismatch(const std::string& key, const Shape& implied, const model::Binding& b,
                const Shape& target, const std::string& why = {}) {
    rep_.shape_mismatch.push_back({key, implied, describe(b), target});
    if (!why.empty()) rep_.warnings.push_back(fmt::format("{}: {}", key, why));
  }

  bool check_ia3(const Record& r, const Module& mod, const Shape& target) {
    const Factor& on = mod.factors.at("on_input");
    std::string why;
    auto v = read_small(src_, *on.info, 1, why);
    if (!v || v->size() != 1)
      return invalid(r.prefix, v ? on.key + " must have one element" : why), false;
    const bool on_input = (*v)[0] != 0;
    const Factor& w = mod.factors.at("weight");
    const uint64_t want = on_input ? (target.size() >= 2 ? target[1] : 0) : target[0];
    if (w.info->elements != want) {
      rep_.shape_mismatch.push_back({w.key, w.info->shape, describe(mod.target), target});
      return false;
    }
    return true;
  }

  bool check_bias(const Record& r, const Module& mod, const Shape& target, const Implied& imp) {
    for (const auto& [role, f] : mod.bias) {
      const uint64_t want = role == "lora_A.bias" ? imp.rank : target[0];
      if (f.info->shape != Shape{want}) {
        rep_.shape_mismatch.push_back({f.key, f.info->shape, describe(mod.target), Shape{want}});
        return false;
      }
      if (role == "lora_A.bias") continue;  // B·a lands on the bias companion, checked below
    }
    if (mod.bias.empty()) return true;
    for (const auto& p : mod.target.parts) {
      const std::string b = bias_companion(p.tensor);
      if (b.empty() || !m_.find(b)) {
        invalid(r.prefix, fmt::format("bias delta on {}, which has no bias", p.tensor));
        return false;
      }
    }
    return true;
  }

  bool check_dora(const Record& r, Module& mod, const Shape& target) {
    if (!mod.dora_scale) return true;
    const bool peft = mod.dora_scale->key.ends_with(".lora_magnitude_vector");
    DoraAxisResult d = dora_axis(mod.dora_scale->info->shape, peft, target);
    if (!d.error.empty()) {
      rep_.shape_mismatch.push_back(
          {mod.dora_scale->key, mod.dora_scale->info->shape, describe(mod.target), target});
      return false;
    }
    if (!d.warning.empty()) rep_.warnings.push_back(fmt::format("{}: {}", r.prefix, d.warning));
    mod.dora_axis = d.axis;
    return true;
  }

  const io::TensorSource& src_;
  const ModelView& m_;
  const PeftMetadata& peft_;
  Format format_;
  MatchReport& rep_;
};

uint64_t rows_of(const ModelView& m, const std::string& tensor) {
  const model::TensorMeta* t = m.find(tensor);
  return t && !t->shape.empty() ? t->shape[0] : 0;
}

}  // namespace

Adapter parse_view(std::shared_ptr<const io::TensorSource> src, const ModelView& m,
                   const ParseOptions& options) {
  if (!src) throw InvalidArgument("adapter::parse: no tensor source");
  if (m.arch.family == model::Family::Unknown)
    throw FormatError(
        m.origin, "unsupported_model",
        "the model's architecture was not recognised; adapters cannot be bound to it");
  Adapter a;
  a.path = src->path();
  a.source = src;
  MatchReport& rep = a.report;
  const auto& tensors = src->tensors();

  const FormatLabel label = format_label(tensors, src->metadata());
  rep.format = label.format;
  rep.format_label = label.label;
  const PeftMetadata peft = read_peft_metadata(src->metadata());
  if (!peft.error.empty()) rep.warnings.push_back(peft.error + "; ignored");

  const AliasMap aliases = build_alias_map(m);
  Grouping g = group_keys(tensors, aliases);
  rep.unused_keys = std::move(g.unused_keys);
  rep.modules = g.records.size();

  // Type every record first: the base guard (§3.4) reads the factor shapes of all of them, bound
  // or not, before anything is bound.
  std::vector<Typing> typing;
  std::vector<Module> mods;
  std::vector<RecordWidth> widths;
  typing.reserve(g.records.size());
  mods.reserve(g.records.size());
  for (const Record& r : g.records) {
    typing.push_back(classify(r));
    mods.push_back(assemble(r, typing.back()));
    const bool ok = typing.back().status == Typing::Status::Ok;
    if (ok) ++rep.kinds[typing.back().kind];
    widths.push_back({r.prefix, ok ? input_width(mods.back()) : 0});
  }
  const ImpliedBase base = implied_base(widths);
  rep.trained_for = base.trained_for;
  rep.trained_for_detail = base.detail;
  if (!base.warning.empty()) rep.warnings.push_back(base.warning);
  const std::string file_name = std::filesystem::path(a.path).filename().string();
  if (!compat_error(base, m, file_name, 0, rep.modules).empty() && !options.force) {
    rep.compat_error = compat_error(base, m, file_name, 0, rep.modules);
    return a;
  }

  Binder binder(*src, m, peft, rep.format, rep);
  uint64_t te_unmatched = 0;
  for (size_t i = 0; i < g.records.size(); ++i) {
    const Record& r = g.records[i];
    const Typing& t = typing[i];
    if (r.state == Record::State::Unbound) {
      if (looks_like_vae(r.prefix)) {
        rep.unsupported.push_back(fmt::format("{}: VAE adapters are not supported", r.prefix));
      } else {
        rep.unmatched.push_back(r.prefix);
        if (looks_like_text_encoder(r.prefix)) ++te_unmatched;
      }
      continue;
    }
    if (r.state == Record::State::Ambiguous) {
      rep.ambiguous.push_back(fmt::format("{} ({})", r.prefix, r.note));
      continue;
    }
    switch (t.status) {
      case Typing::Status::Ok:
        break;
      case Typing::Status::Conflict:
        rep.conflicts.push_back(fmt::format("{}: {}", r.prefix, t.reason));
        continue;
      case Typing::Status::Incomplete:
        rep.incomplete.push_back(fmt::format("{}: {}", r.prefix, t.reason));
        continue;
      case Typing::Status::Unsupported:
        rep.unsupported.push_back(fmt::format("{}: {}", r.prefix, t.reason));
        continue;
      case Typing::Status::Invalid:
        rep.invalid.push_back(fmt::format("{}: {}", r.prefix, t.reason));
        continue;
    }
    Module& mod = mods[i];
    if (!binder.bind(r, t, mod)) continue;
    a.modules.push_back(std::move(mod));
  }
  rep.matched = a.modules.size();

  const OverlapReport ov =
      find_overlaps(a.modules, [&m](const std::string& t) { return rows_of(m, t); });
  rep.duplicate_bindings = ov.duplicates;
  rep.overlaps = ov.overlaps;

  bool has_te = false;
  for (const auto& c : m.components)
    if (c.kind != model::ComponentKind::DiffusionModel && c.kind != model::ComponentKind::Vae)
      has_te = true;
  if (te_unmatched && !has_te)
    rep.warnings.push_back(fmt::format(
        "{} text-encoder records: the model has no text encoders to bind them to", te_unmatched));
  rep.compat_error = compat_error(base, m, file_name, rep.matched, rep.modules);
  if (rep.matched == 0 && rep.modules > 0)
    rep.warnings.push_back("no record of this adapter binds to the model");
  if (rep.modules == 0) rep.warnings.push_back("the file holds no adapter records");
  return a;
}

}  // namespace detail

Adapter parse(std::shared_ptr<const io::TensorSource> src, const model::ModelIndex& model,
              const ParseOptions& options) {
  model.require_supported();  // names the out-of-scope family (Chroma, FLUX.2, …) when it can
  return detail::parse_view(std::move(src), detail::ModelView::of(model), options);
}

Adapter parse_file(const std::string& path, const model::ModelIndex& model,
                   const ParseOptions& options) {
  std::shared_ptr<const io::TensorSource> src = io::open_tensor_source(path);
  return parse(std::move(src), model, options);
}

}  // namespace lorakit::adapter
