// How each bound record maps onto the target family's names (§7.2, §7.3, §7.4, §7.5):
//  1. a target name with exactly the record's binding: a rename, with the transform that differs
//     between the two names applied to B's rows (swap_scale_shift) or to both factors (transpose);
//  2. target names whose bindings tile the record's rows: a split (A copied, B split by rows, or
//  the
//     exact "sparse" split when B is block-diagonal);
//  3. a target name whose binding contains the record's rows: the record is a part, fused with the
//     other parts of that name (shared A and stacked B, or concatenated A and block-diagonal B).
// Every case copies bytes; the only new bytes are zero fill and an alpha multiplied or divided by a
// part count, written only when that arithmetic is exact in the alpha's own dtype.
#include "adapter/convert_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "adapter/convert_targets.hpp"
#include "lorakit/codec.hpp"

namespace lorakit::adapter::detail {

namespace {

struct Seg {
  std::string tensor;
  uint64_t begin = 0, end = 0;
  auto operator<=>(const Seg&) const = default;
};
using Segs = std::vector<Seg>;

// A binding as row ranges of model tensors, adjacent ranges of one tensor merged, so that a whole
// tensor and a concatenation of its slices compare equal.
std::optional<Segs> segments(const model::Binding& b, const ModelView& m) {
  Segs out;
  for (const auto& p : b.parts) {
    const model::TensorMeta* t = m.find(p.tensor);
    if (!t || t->shape.empty()) return std::nullopt;
    const uint64_t b0 = p.rows ? p.rows->begin : 0, e0 = p.rows ? p.rows->end : t->shape[0];
    if (!out.empty() && out.back().tensor == p.tensor && out.back().end == b0)
      out.back().end = e0;
    else
      out.push_back({p.tensor, b0, e0});
  }
  return out;
}

uint64_t total_rows(const Segs& s) {
  uint64_t n = 0;
  for (const Seg& g : s) n += g.end - g.begin;
  return n;
}

struct Target {
  std::string prefix;
  Segs segs;
  model::DeltaTransform transform = model::DeltaTransform::None;
  bool te = false;
};

// A record that is one part of a fused target name.
struct Part {
  const Module* mod;
  uint64_t offset, rows;  // its rows inside the target
};

// One key of a record with the role it plays (factor, bias, or scalar role).
struct RoleKey {
  std::string role;
  const io::TensorInfo* info;
};

uint64_t elem_bytes(DType t) { return traits(t).block_bytes / traits(t).block_elements; }

bool plain(const io::TensorInfo& t) {
  return traits(t.dtype).block_elements == 1 && !t.shape.empty() && t.shape[0] > 0 &&
         t.nbytes % t.shape[0] == 0;
}

uint64_t row_bytes(const io::TensorInfo& t) { return t.nbytes / t.shape[0]; }

Piece source(std::string key, uint64_t offset, uint64_t len, uint64_t stride = 0,
             uint64_t count = 1, uint64_t lead = 0, uint64_t trail = 0) {
  Piece p;
  p.key = std::move(key);
  p.offset = offset;
  p.len = len;
  p.stride = stride;
  p.count = count;
  p.lead = lead;
  p.trail = trail;
  return p;
}

Piece literal(std::vector<std::byte> bytes) {
  Piece p;
  p.bytes = std::move(bytes);
  return p;
}

Piece whole(const io::TensorInfo& t) { return source(t.name, 0, t.nbytes); }

Piece rows(const io::TensorInfo& t, uint64_t r0, uint64_t r1) {
  return source(t.name, r0 * row_bytes(t), (r1 - r0) * row_bytes(t));
}

Piece zeros(uint64_t n) { return source({}, 0, 0, 0, 1, n, 0); }

class Planner {
 public:
  Planner(const Adapter& a, const ModelView& m, TargetFamily to)
      : a_(a), m_(m), to_(to), fam_(family_info(to)) {
    for (const model::ModulePath& p : m.paths) {
      auto prefix = target_prefix(to, p, m);
      auto segs = prefix ? segments(p.binding, m) : std::nullopt;
      if (!segs) continue;
      targets_.push_back(Target{std::move(*prefix), std::move(*segs), p.binding.transform,
                                p.component != model::ComponentKind::DiffusionModel});
    }
    for (size_t i = 0; i < targets_.size(); ++i) {
      exact_.emplace(targets_[i].segs, i);  // the first name of a binding wins
      starts_[{targets_[i].segs[0].tensor, targets_[i].segs[0].begin}].push_back(i);
      for (const Seg& s : targets_[i].segs) by_tensor_[s.tensor].push_back(i);
    }
  }

  Plan run() {
    std::map<size_t, std::vector<Part>> fuse;
    for (const Module& mod : a_.modules) {
      auto segs = segments(mod.target, m_);
      if (!segs) {
        refuse(mod, "its binding is not in the model");
        continue;
      }
      if (auto it = exact_.find(*segs); it != exact_.end()) {
        rename(mod, targets_[it->second]);
      } else if (auto cover = tile(*segs); cover.size() > 1) {
        split(mod, cover);
      } else if (auto in = container(*segs)) {
        fuse[in->first].push_back(Part{&mod, in->second, total_rows(*segs)});
      } else {
        refuse(mod, fmt::format("{} has no name for {}", fam_.name, describe(mod.target)));
      }
    }
    for (auto& [t, parts] : fuse) fuse_parts(targets_[t], parts);
    return std::move(plan_);
  }

 private:
  // ---- matching ---------------------------------------------------------------------------------

  // Target names, in row order, that together are exactly `s` (each name a run of `s`).
  std::vector<std::pair<size_t, uint64_t>> tile(const Segs& s) const {
    std::vector<std::pair<size_t, uint64_t>> out;
    size_t i = 0;
    uint64_t at = s.empty() ? 0 : s[0].begin, offset = 0;
    while (i < s.size()) {
      auto st = starts_.find({s[i].tensor, at});
      if (st == starts_.end()) return {};
      std::optional<size_t> best;
      size_t best_i = 0;
      uint64_t best_at = 0, best_rows = 0;
      for (size_t t : st->second) {
        const Segs& ts = targets_[t].segs;
        size_t j = i;
        uint64_t pos = at;
        bool ok = true;
        for (size_t k = 0; k < ts.size() && ok; ++k, ++j) {
          ok = j < s.size() && ts[k].tensor == s[j].tensor && ts[k].begin == pos &&
               ts[k].end <= s[j].end && (k + 1 == ts.size() || ts[k].end == s[j].end);
          if (ok && k + 1 < ts.size() && j + 1 < s.size()) pos = s[j + 1].begin;
        }
        if (!ok) continue;
        const uint64_t rows = total_rows(ts);
        if (best && rows <= best_rows) continue;
        best = t;
        best_rows = rows;
        const Seg& last = ts.back();
        best_i = j - 1;
        best_at = last.end;
        if (best_at == s[best_i].end) {
          ++best_i;
          best_at = best_i < s.size() ? s[best_i].begin : 0;
        }
      }
      if (!best) return {};
      out.emplace_back(*best, offset);
      offset += best_rows;
      i = best_i;
      at = best_at;
    }
    return out;
  }

  // The largest target name whose rows contain `s` as one contiguous run, and where `s` starts.
  std::optional<std::pair<size_t, uint64_t>> container(const Segs& s) const {
    auto it = by_tensor_.find(s[0].tensor);
    if (it == by_tensor_.end()) return std::nullopt;
    std::optional<std::pair<size_t, uint64_t>> best;
    for (size_t t : it->second) {
      const Segs& ts = targets_[t].segs;
      std::optional<uint64_t> start, expect;
      uint64_t before = 0;
      size_t matched = 0;
      for (const Seg& g : ts) {
        for (size_t k = matched; k < s.size() && k == matched; ++k) {
          if (s[k].tensor != g.tensor || s[k].begin < g.begin || s[k].end > g.end) break;
          const uint64_t off = before + (s[k].begin - g.begin);
          if (expect && off != *expect) break;
          if (!start) start = off;
          expect = off + (s[k].end - s[k].begin);
          ++matched;
        }
        before += g.end - g.begin;
      }
      if (matched != s.size() || !start) continue;
      if (!best || total_rows(ts) > total_rows(targets_[best->first].segs)) best = {t, *start};
    }
    return best;
  }

  // ---- records
  // ------------------------------------------------------------------------------------

  void refuse(const Module& mod, const std::string& why) {
    plan_.refusals.push_back(fmt::format("{}: {}", mod.prefix, why));
  }

  const io::TensorInfo* key_info(const Module& mod, const std::string& suffix) const {
    const std::string key = mod.prefix + suffix;
    if (std::find(mod.keys.begin(), mod.keys.end(), key) == mod.keys.end()) return nullptr;
    return a_.source->find(key);
  }

  // Every key of a record with its role; nullopt (after refusing) when a key has no known role.
  std::optional<std::vector<RoleKey>> role_keys(const Module& mod) {
    std::vector<RoleKey> out;
    for (const auto& [role, f] : mod.factors) out.push_back({role, f.info});
    for (const auto& [role, f] : mod.bias) out.push_back({role, f.info});
    if (mod.dora_scale)
      out.push_back({mod.dora_scale->key.ends_with(".lora_magnitude_vector")
                         ? "lora_magnitude_vector"
                         : "dora_scale",
                     mod.dora_scale->info});
    for (const char* role : {"alpha", "reshape_weight"})
      if (const io::TensorInfo* t = key_info(mod, std::string(".") + role))
        out.push_back({role, t});
    if (out.size() != mod.keys.size()) {
      for (const std::string& k : mod.keys) {
        bool known = false;
        for (const RoleKey& r : out) known = known || r.info->name == k;
        if (!known) {
          refuse(mod, fmt::format("key {} has no counterpart in {}", k, fam_.name));
          return std::nullopt;
        }
      }
    }
    return out;
  }

  std::optional<std::string> name_for(const Module& mod, const Target& t, std::string_view role) {
    auto suffix = target_suffix(to_, mod.kind, role, t.te);
    if (!suffix) {
      refuse(mod,
             fmt::format("{} has no key for its {} ({} {})", fam_.name, role, kind_name(mod.kind),
                         role == "lora_magnitude_vector" ? "DoRA magnitude; PEFT suffixes only"
                                                         : "record"));
      return std::nullopt;
    }
    return t.prefix + std::string(*suffix);
  }

  // The stored alpha is copied; an alpha that came from PEFT metadata (no `.alpha` key) is written
  // as a key, because the target may not read that metadata and γ must survive (§9).
  bool metadata_alpha(const Module& mod, double factor, std::vector<std::byte>& bytes) {
    if (mod.kind != Kind::LoRA || key_info(mod, ".alpha") || !mod.alpha || mod.alpha_scale == 1.0f)
      return true;
    const float a = *mod.alpha;
    if (mod.rank == 0 || a / static_cast<float>(mod.rank) != mod.alpha_scale) {
      refuse(mod, "its scale is not alpha/rank (use_rslora?); no alpha key can express it");
      return false;
    }
    const double v = static_cast<double>(a) * factor;
    const float f = static_cast<float>(v);
    if (static_cast<double>(f) != v) {
      refuse(mod, fmt::format("alpha {} times {} is not exact in F32", a, factor));
      return false;
    }
    bytes.resize(4);
    codec::encode(DType::F32, &f, bytes.data(), 1);
    return true;
  }

  // Alpha times `factor` in the alpha's own dtype, when exact.
  std::optional<std::vector<std::byte>> scaled_alpha(const io::TensorInfo& t, double factor) const {
    if (!codec::can_decode(t.dtype) || !codec::can_encode(t.dtype) || t.elements != 1)
      return std::nullopt;
    const io::TensorView v = a_.source->view(t);
    float x = 0;
    codec::decode(t.dtype, v.bytes.data(), &x, 1);
    const double want = static_cast<double>(x) * factor;
    const float f = static_cast<float>(want);
    if (static_cast<double>(f) != want || !std::isfinite(f)) return std::nullopt;
    std::vector<std::byte> out(t.nbytes);
    codec::encode(t.dtype, &f, out.data(), 1);
    float back = 0;
    codec::decode(t.dtype, out.data(), &back, 1);
    if (back != f) return std::nullopt;
    return out;
  }

  void emit(OutTensor t) {
    if (!names_.emplace(t.name, plan_.tensors.size()).second) {
      plan_.refusals.push_back(
          fmt::format("{}: two records would be written under this key", t.name));
      return;
    }
    plan_.tensors.push_back(std::move(t));
  }

  static OutTensor copy_of(std::string name, const io::TensorInfo& t) {
    return OutTensor{std::move(name), t.dtype, t.shape, {whole(t)}, {}};
  }

  // Row permutation [H, 2H) ↔ [0, H) of a tensor's dimension 0 (§7.4).
  static OutTensor swapped(std::string name, const io::TensorInfo& t) {
    const uint64_t h = t.shape[0] / 2;
    return OutTensor{std::move(name), t.dtype, t.shape, {rows(t, h, 2 * h), rows(t, 0, h)}, {}};
  }

  static OutTensor transposed(std::string name, const io::TensorInfo& t) {
    return OutTensor{std::move(name), t.dtype, {t.shape[1], t.shape[0]}, {}, t.name};
  }

  void rename(const Module& mod, const Target& t) {
    if (auto why = kind_refusal(to_, mod.kind)) return refuse(mod, *why);
    using model::DeltaTransform;
    DeltaTransform tr = mod.target.transform;
    if (t.transform != DeltaTransform::None) {
      if (tr != DeltaTransform::None && tr != t.transform)
        return refuse(mod, "its binding and the target name transform the delta differently");
      tr = tr == t.transform ? DeltaTransform::None : t.transform;
    }
    auto keys = role_keys(mod);
    if (!keys) return;
    std::vector<OutTensor> out;
    for (const RoleKey& k : *keys) {
      std::string role = k.role;
      if (tr == DeltaTransform::Transpose && mod.kind == Kind::LoRA)
        role = role == "down" ? "up" : role == "up" ? "down" : role;
      auto name = name_for(mod, t, role);
      if (!name) return;
      const bool delta_rows = role == "up" || role == "diff" || mod.bias.contains(k.role);
      const bool factor = role == "up" || role == "down" || role == "diff";
      const bool scalar = role == "alpha";
      if (tr == DeltaTransform::None || scalar) {
        out.push_back(copy_of(*name, *k.info));
      } else if (tr == DeltaTransform::SwapScaleShift) {
        // swap(B)·A = swap(B·A): B's rows and bias rows only, never A (§7.4).
        if (!(mod.kind == Kind::LoRA || mod.kind == Kind::Full) || role == "mid" || mod.dora_scale)
          return refuse(mod, fmt::format("swap_scale_shift of a {} record{} is not a row "
                                         "permutation of its factors",
                                         kind_name(mod.kind), mod.dora_scale ? " with DoRA" : ""));
        if (!delta_rows) {
          out.push_back(copy_of(*name, *k.info));
        } else if (!plain(*k.info) || k.info->shape[0] % 2) {
          return refuse(mod, fmt::format("{} cannot be split into two row halves", k.info->name));
        } else {
          out.push_back(swapped(*name, *k.info));
        }
      } else {  // Transpose (§7.5): (B·A)ᵀ = Aᵀ·Bᵀ
        if (!(mod.kind == Kind::LoRA || mod.kind == Kind::Full) || !factor ||
            k.info->shape.size() != 2 || !plain(*k.info))
          return refuse(mod, fmt::format("the transposed binding needs plain 2-D LoRA or full "
                                         "factors; {} is not one",
                                         k.info->name));
        out.push_back(transposed(*name, *k.info));
      }
    }
    std::vector<std::byte> alpha;
    if (!metadata_alpha(mod, 1.0, alpha)) return;
    if (!alpha.empty())
      if (auto name = name_for(mod, t, "alpha"))
        out.push_back(OutTensor{*name, DType::F32, {}, {literal(alpha)}, {}});
    for (auto& o : out) emit(std::move(o));
  }

  // Why a LoRA record cannot be split or fused exactly, or nullopt.
  std::optional<std::string> row_op_refusal(const Module& mod, std::string_view op) const {
    if (mod.kind != Kind::LoRA)
      return fmt::format("a {} record does not {} exactly (only LoRA's B·A splits by rows)",
                         kind_name(mod.kind), op);
    if (mod.dora_scale) return fmt::format("DoRA normalises the whole weight; it does not {}", op);
    if (mod.factors.contains("mid"))
      return fmt::format("a Tucker (lora_mid) record does not {}", op);
    if (mod.reshape_weight || mod.pad_input_channels)
      return fmt::format("a record that reshapes its target does not {}", op);
    if (mod.bias.contains("lora_A.bias")) return fmt::format("lora_A.bias does not {}", op);
    if (mod.target.transform != model::DeltaTransform::None)
      return fmt::format("a transformed binding does not {}", op);
    const io::TensorInfo& a = *mod.factors.at("down").info;
    const io::TensorInfo& b = *mod.factors.at("up").info;
    if (!plain(a) || !plain(b) || b.shape.size() < 2)
      return fmt::format("its factors are not plain row-major tensors");
    for (size_t i = 2; i < b.shape.size(); ++i)
      if (b.shape[i] != 1) return fmt::format("a conv up factor does not {}", op);
    return std::nullopt;
  }

  bool all_zero(const io::TensorInfo& t, uint64_t offset, uint64_t len, uint64_t stride,
                uint64_t count) const {
    const io::TensorView v = a_.source->view(t);
    for (uint64_t r = 0; r < count; ++r) {
      const std::byte* p = v.bytes.data() + offset + r * stride;
      if (std::any_of(p, p + len, [](std::byte b) { return b != std::byte{0}; })) return false;
    }
    return true;
  }

  void split(const Module& mod, const std::vector<std::pair<size_t, uint64_t>>& cover) {
    if (auto why = kind_refusal(to_, mod.kind)) return refuse(mod, *why);
    if (auto why = row_op_refusal(mod, "split")) return refuse(mod, *why);
    for (const auto& [t, off] : cover)
      if (targets_[t].transform != model::DeltaTransform::None)
        return refuse(mod, fmt::format("the part {} transforms its delta", targets_[t].prefix));
    auto keys = role_keys(mod);
    if (!keys) return;
    const io::TensorInfo& b = *mod.factors.at("up").info;
    const uint64_t r = b.shape[1], eb = elem_bytes(b.dtype);
    struct Span {
      const Target* t;
      uint64_t off, rows;
    };
    std::vector<Span> parts;
    for (size_t i = 0; i < cover.size(); ++i) {
      const uint64_t end = i + 1 < cover.size() ? cover[i + 1].second : b.shape[0];
      parts.push_back({&targets_[cover[i].first], cover[i].second, end - cover[i].second});
    }
    // A part whose rows of B and of every bias delta are zero is a missing part (§7.1, §7.3): it is
    // not written, so that a fused record built from fewer parts splits back into those parts.
    auto zero_part = [&](const Span& p) {
      if (!all_zero(b, p.off * row_bytes(b), p.rows * row_bytes(b), 0, 1)) return false;
      for (const auto& [role, f] : mod.bias)
        if (!all_zero(*f.info, p.off * row_bytes(*f.info), p.rows * row_bytes(*f.info), 0, 1))
          return false;
      return true;
    };
    std::vector<Span> live;
    for (const Span& p : parts)
      if (!zero_part(p)) live.push_back(p);
    if (live.empty()) live = parts;

    // The sparse case of §7.2: B block-diagonal over equal column chunks, one per live part.
    const uint64_t k = live.size();
    std::optional<std::vector<std::byte>> alpha_k;
    const io::TensorInfo* alpha_key = key_info(mod, ".alpha");
    bool sparse = k >= 2 && r % k == 0;
    const uint64_t c = sparse ? r / k : r;
    for (uint64_t i = 0; sparse && i < k; ++i) {
      const uint64_t rb = row_bytes(b), base = live[i].off * rb;
      sparse = all_zero(b, base, i * c * eb, rb, live[i].rows) &&
               all_zero(b, base + (i + 1) * c * eb, (r - (i + 1) * c) * eb, rb, live[i].rows);
    }
    std::vector<std::byte> meta_alpha;
    if (sparse && alpha_key) {
      alpha_k = scaled_alpha(*alpha_key, 1.0 / static_cast<double>(k));
      sparse = alpha_k.has_value() && scaled_alpha_roundtrips(*alpha_key, *alpha_k, k);
    }
    if (!metadata_alpha(mod, sparse ? 1.0 / static_cast<double>(k) : 1.0, meta_alpha)) return;

    for (uint64_t i = 0; i < k; ++i) {
      const Span& p = live[i];
      const Target& t = *p.t;
      for (const RoleKey& rk : *keys) {
        auto name = name_for(mod, t, rk.role);
        if (!name) return;
        const io::TensorInfo& f = *rk.info;
        if (rk.role == "down") {
          if (sparse) {
            auto shape = f.shape;
            shape[0] = c;
            emit(OutTensor{*name, f.dtype, shape, {rows(f, i * c, (i + 1) * c)}, {}});
          } else {
            emit(copy_of(*name, f));
          }
        } else if (rk.role == "up") {
          auto shape = f.shape;
          shape[0] = p.rows;
          if (sparse) {
            shape[1] = c;
            const uint64_t rb = row_bytes(f);
            emit(OutTensor{*name,
                           f.dtype,
                           shape,
                           {source(f.name, p.off * rb + i * c * eb, c * eb, rb, p.rows)},
                           {}});
          } else {
            emit(OutTensor{*name, f.dtype, shape, {rows(f, p.off, p.off + p.rows)}, {}});
          }
        } else if (rk.role == "alpha") {
          if (sparse)
            emit(OutTensor{*name, f.dtype, f.shape, {literal(*alpha_k)}, {}});
          else
            emit(copy_of(*name, f));
        } else if (mod.bias.contains(rk.role) && plain(f)) {
          emit(OutTensor{*name, f.dtype, {p.rows}, {rows(f, p.off, p.off + p.rows)}, {}});
        } else {
          return refuse(mod, fmt::format("{} does not split by rows", f.name));
        }
      }
      if (!meta_alpha.empty())
        if (auto name = name_for(mod, t, "alpha"))
          emit(OutTensor{*name, DType::F32, {}, {literal(meta_alpha)}, {}});
    }
  }

  // α/k written back times k gives α again (so that fusing the parts restores the file).
  bool scaled_alpha_roundtrips(const io::TensorInfo& t, const std::vector<std::byte>& part,
                               uint64_t k) const {
    float x = 0, y = 0;
    codec::decode(t.dtype, a_.source->view(t).bytes.data(), &x, 1);
    codec::decode(t.dtype, part.data(), &y, 1);
    return static_cast<double>(y) * static_cast<double>(k) == static_cast<double>(x);
  }

  bool same_bytes(const io::TensorInfo& x, const io::TensorInfo& y) const {
    if (x.dtype != y.dtype || x.shape != y.shape) return false;
    auto a = a_.source->view(x).bytes, b = a_.source->view(y).bytes;
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

  // Same alpha key bytes (or none on every part) and the same γ.
  bool same_alpha(const std::vector<Part>& parts) const {
    const io::TensorInfo* first = key_info(*parts[0].mod, ".alpha");
    for (const Part& p : parts) {
      const io::TensorInfo* a = key_info(*p.mod, ".alpha");
      if (p.mod->alpha_scale != parts[0].mod->alpha_scale || (a == nullptr) != (first == nullptr))
        return false;
      if (a && !same_bytes(*a, *first)) return false;
    }
    return true;
  }

  void fuse_parts(const Target& t, std::vector<Part>& parts) {
    std::sort(parts.begin(), parts.end(),
              [](const Part& x, const Part& y) { return x.offset < y.offset; });
    std::string names;
    for (const Part& p : parts) names += (names.empty() ? "" : ", ") + p.mod->prefix;
    auto fail = [&](const std::string& why) {
      plan_.refusals.push_back(
          fmt::format("{}: {} names only the fused {}, and these parts cannot be fused exactly: {}",
                      names, fam_.name, t.prefix, why));
    };
    const uint64_t total = total_rows(t.segs);
    for (size_t i = 0; i < parts.size(); ++i) {
      if (auto why = row_op_refusal(*parts[i].mod, "fuse")) return fail(*why);
      if (auto why = kind_refusal(to_, parts[i].mod->kind)) return fail(*why);
      if (i && parts[i].offset < parts[i - 1].offset + parts[i - 1].rows)
        return fail("two records write the same rows");
    }
    if (t.transform != model::DeltaTransform::None)
      return fail("the fused name transforms its delta");
    const Module& m0 = *parts[0].mod;
    const io::TensorInfo& a0 = *m0.factors.at("down").info;
    const io::TensorInfo& b0 = *m0.factors.at("up").info;
    for (const Part& p : parts) {
      const io::TensorInfo& a = *p.mod->factors.at("down").info;
      const io::TensorInfo& b = *p.mod->factors.at("up").info;
      if (a.dtype != a0.dtype || b.dtype != b0.dtype)
        return fail("their factors have different dtypes");
      if (!std::equal(a.shape.begin() + 1, a.shape.end(), a0.shape.begin() + 1, a0.shape.end()) ||
          b.shape.size() != b0.shape.size())
        return fail("their factors have different shapes");
      for (const auto& [role, f] : p.mod->bias)
        if (role != "diff_b" && role != "lora_B.bias") return fail(role + " does not fuse");
    }
    if (!same_alpha(parts)) return fail("their alphas differ (fusing would rescale A, §7.3)");

    bool shared_a = true;
    for (const Part& p : parts)
      shared_a = shared_a && same_bytes(*p.mod->factors.at("down").info, a0);
    uint64_t r = 0;
    for (const Part& p : parts) {
      const uint64_t rank = p.mod->factors.at("up").info->shape[1];
      if (!shared_a && r && rank != r)
        return fail("their ranks differ (fusing would rescale A, §7.3)");
      r = rank;
    }
    const uint64_t k = shared_a ? 1 : parts.size();
    const uint64_t eb = elem_bytes(b0.dtype);

    std::vector<OutTensor> out;
    auto name = [&](std::string_view role) {
      auto s = target_suffix(to_, Kind::LoRA, role, t.te);
      return s ? std::optional<std::string>(t.prefix + std::string(*s)) : std::nullopt;
    };
    // A: one copy (shared) or the parts' A stacked.
    OutTensor a{*name("down"), a0.dtype, a0.shape, {}, {}};
    a.shape[0] = k * r;
    if (shared_a)
      a.pieces.push_back(whole(a0));
    else
      for (const Part& p : parts) a.pieces.push_back(whole(*p.mod->factors.at("down").info));
    out.push_back(std::move(a));
    // B: each part's rows at its offset (block-diagonal columns when A is stacked), zero rows for
    // the parts that are missing.
    OutTensor b{*name("up"), b0.dtype, b0.shape, {}, {}};
    b.shape[0] = total;
    b.shape[1] = k * r;
    const uint64_t out_row = k * r * eb;
    uint64_t at = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      const Part& p = parts[i];
      if (p.offset > at) b.pieces.push_back(zeros((p.offset - at) * out_row));
      const io::TensorInfo& f = *p.mod->factors.at("up").info;
      const uint64_t lead = shared_a ? 0 : i * r * eb;
      b.pieces.push_back(
          source(f.name, 0, r * eb, row_bytes(f), p.rows, lead, out_row - lead - r * eb));
      at = p.offset + p.rows;
    }
    if (total > at) b.pieces.push_back(zeros((total - at) * out_row));
    out.push_back(std::move(b));
    // Bias deltas: rows concatenated, zero for parts without one.
    for (std::string_view role : {"diff_b", "lora_B.bias"}) {
      const io::TensorInfo* any = nullptr;
      for (const Part& p : parts)
        if (auto it = p.mod->bias.find(std::string(role)); it != p.mod->bias.end())
          any = it->second.info;
      if (!any) continue;
      auto n = name(role);
      if (!n) return fail(fmt::format("{} has no key for {}", fam_.name, role));
      OutTensor o{*n, any->dtype, {total}, {}, {}};
      const uint64_t rb = elem_bytes(any->dtype);
      uint64_t pos = 0;
      for (const Part& p : parts) {
        auto it = p.mod->bias.find(std::string(role));
        if (p.offset > pos) o.pieces.push_back(zeros((p.offset - pos) * rb));
        if (it == p.mod->bias.end()) {
          o.pieces.push_back(zeros(p.rows * rb));
        } else {
          if (it->second.info->dtype != any->dtype)
            return fail(std::string(role) + " dtypes differ");
          o.pieces.push_back(whole(*it->second.info));
        }
        pos = p.offset + p.rows;
      }
      if (total > pos) o.pieces.push_back(zeros((total - pos) * rb));
      out.push_back(std::move(o));
    }
    // Alpha: γ_f = α_f / (k·r) must equal α / r, so α_f = k·α, written only when exact.
    if (const io::TensorInfo* al = key_info(m0, ".alpha")) {
      if (k == 1) {
        out.push_back(copy_of(*name("alpha"), *al));
      } else {
        auto v = scaled_alpha(*al, static_cast<double>(k));
        if (!v)
          return fail(fmt::format("alpha times {} is not exact in {}", k, name_of(al->dtype)));
        out.push_back(OutTensor{*name("alpha"), al->dtype, al->shape, {literal(*v)}, {}});
      }
    } else {
      std::vector<std::byte> meta;
      if (!metadata_alpha(m0, static_cast<double>(k), meta)) return;
      if (!meta.empty())
        out.push_back(OutTensor{*name("alpha"), DType::F32, {}, {literal(meta)}, {}});
    }
    for (auto& o : out) emit(std::move(o));
  }

  static std::string_view name_of(DType t) { return traits(t).name; }

  const Adapter& a_;
  const ModelView& m_;
  TargetFamily to_;
  const FamilyInfo& fam_;
  std::vector<Target> targets_;
  std::map<Segs, size_t> exact_;
  std::map<std::pair<std::string, uint64_t>, std::vector<size_t>> starts_;
  std::map<std::string, std::vector<size_t>> by_tensor_;
  std::map<std::string, size_t> names_;
  Plan plan_;
};

}  // namespace

Plan plan_conversion(const Adapter& a, const ModelView& m, TargetFamily to) {
  return Planner(a, m, to).run();
}

}  // namespace lorakit::adapter::detail
