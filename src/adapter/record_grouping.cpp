#include "adapter/record_grouping.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "adapter/key_grammar.hpp"

namespace lorakit::adapter::detail {

namespace {

struct Resolution {
  enum class What { Accepted, Ambiguous, Unbound, Unused } what = What::Unused;
  std::string prefix;
  const Suffix* suffix = nullptr;
  const AliasEntry* alias = nullptr;
  std::string note;
};

Resolution resolve(std::string_view key, const std::unordered_set<std::string_view>& keys,
                   const AliasMap& aliases) {
  std::vector<Split> accepted;
  std::vector<const AliasEntry*> entries;
  std::optional<Split> readable;  // most specific non-raw reading, for unbound keys
  for (const Split& s : candidate_splits(key)) {
    const Suffix& suf = *s.suffix;
    if (suf.family == SuffixFamily::IA3 && suf.role == "weight" &&
        !keys.contains(std::string(s.prefix) + ".on_input"))
      continue;  // `.weight` is (IA)³ only beside `.on_input` (§5.2)
    if (suf.family != SuffixFamily::Raw && !readable) readable = s;
    const AliasEntry* e = aliases.find(s.prefix);
    if (e && accepts(*e, suf)) {
      accepted.push_back(s);
      entries.push_back(e);
    }
  }
  Resolution r;
  if (accepted.size() == 1) {
    r.what = entries[0]->ambiguous ? Resolution::What::Ambiguous : Resolution::What::Accepted;
    r.prefix = std::string(accepted[0].prefix);
    r.suffix = accepted[0].suffix;
    r.alias = entries[0];
    if (entries[0]->ambiguous) r.note = "alias bound to more than one model tensor";
    return r;
  }
  if (accepted.size() > 1) {
    r.what = Resolution::What::Ambiguous;
    r.prefix = std::string(accepted[0].prefix);
    r.suffix = accepted[0].suffix;
    std::vector<std::string> readings;
    for (const Split& s : accepted)
      readings.push_back(fmt::format("{} + \"{}\"", s.prefix, s.suffix->text));
    r.note = fmt::format("reads as {}", fmt::join(readings, " or "));
    return r;
  }
  if (readable) {
    r.what = Resolution::What::Unbound;
    r.prefix = std::string(readable->prefix);
    r.suffix = readable->suffix;
  }
  return r;
}

}  // namespace

Grouping group_keys(const std::vector<io::TensorInfo>& tensors, const AliasMap& aliases) {
  std::unordered_set<std::string_view> names;
  for (const auto& t : tensors) names.insert(t.name);

  std::vector<Resolution> res;
  res.reserve(tensors.size());
  std::unordered_set<std::string> bound_prefixes;
  for (const auto& t : tensors) {
    res.push_back(resolve(t.name, names, aliases));
    if (res.back().what != Resolution::What::Unbound && res.back().what != Resolution::What::Unused)
      bound_prefixes.insert(res.back().prefix);
  }

  Grouping g;
  // Records keyed by (state class, prefix): a prefix that some keys bind with never also forms an
  // unbound record; its refused keys are unused instead.
  std::map<std::pair<int, std::string>, size_t> index;
  for (size_t i = 0; i < tensors.size(); ++i) {
    Resolution& r = res[i];
    if (r.what == Resolution::What::Unused ||
        (r.what == Resolution::What::Unbound && bound_prefixes.contains(r.prefix))) {
      g.unused_keys.push_back(tensors[i].name);
      continue;
    }
    const Record::State st = r.what == Resolution::What::Accepted    ? Record::State::Bound
                             : r.what == Resolution::What::Ambiguous ? Record::State::Ambiguous
                                                                     : Record::State::Unbound;
    const int cls = st == Record::State::Unbound ? 1 : 0;
    auto [it, fresh] = index.try_emplace({cls, r.prefix}, g.records.size());
    if (fresh) {
      Record rec;
      rec.prefix = r.prefix;
      rec.state = st;
      rec.alias = r.alias;
      g.records.push_back(std::move(rec));
    }
    Record& rec = g.records[it->second];
    // One ambiguous key makes the whole record ambiguous: it cannot be applied half-way.
    if (st == Record::State::Ambiguous) {
      rec.state = Record::State::Ambiguous;
      if (rec.note.empty()) rec.note = fmt::format("{}: {}", tensors[i].name, r.note);
    }
    rec.keys.push_back({&tensors[i], r.suffix});
  }
  return g;
}

namespace {

std::string_view type_name(WeightType t) {
  switch (t) {
    case WeightType::LoRA:
      return "lora";
    case WeightType::LoHa:
      return "loha";
    case WeightType::LoKr:
      return "lokr";
    case WeightType::GLoRA:
      return "glora";
    case WeightType::OFT:
      return "oft";
    case WeightType::IA3:
      return "ia3";
    case WeightType::Full:
      return "diff";
    case WeightType::Norm:
      return "norm";
    case WeightType::Set:
      return "set";
    case WeightType::None:
      break;
  }
  return "extra";
}

std::string_view family_name(SuffixFamily f) {
  switch (f) {
    case SuffixFamily::Kohya:
      return "lora_down/lora_up";
    case SuffixFamily::Processor:
      return "_lora.down/_lora.up";
    case SuffixFamily::DiffusersLora:
      return "lora.down/lora.up";
    case SuffixFamily::LinearLayer:
      return "lora_linear_layer";
    case SuffixFamily::Peft:
      return "lora_A/lora_B";
    case SuffixFamily::PeftNamed:
      return "lora_A.default/lora_B.default";
    case SuffixFamily::PeftBare:
      return "bare lora_A/lora_B";
    case SuffixFamily::XLabs:
      return "down/up";
    default:
      return "other";
  }
}

}  // namespace

Typing classify(const Record& r) {
  Typing t;
  std::set<WeightType> types;
  std::set<SuffixFamily> pair_families;
  std::set<std::string_view> roles;
  bool peft_extra = false, dora_scale = false, magnitude = false, diff_b = false;
  std::vector<uint64_t> oft_shape;
  for (const KeyRef& k : r.keys) {
    const Suffix& s = *k.suffix;
    if (s.family == SuffixFamily::Unsupported) {
      t.status = Typing::Status::Unsupported;
      t.reason = fmt::format("{} (sparse LyCORIS bias is not supported)", k.info->name);
      return t;
    }
    if (s.type != WeightType::None) types.insert(s.type);
    if (is_lora_pair_family(s.family)) pair_families.insert(s.family);
    if (s.family == SuffixFamily::PeftExtra) peft_extra = true;
    if (s.role == "dora_scale") dora_scale = true;
    if (s.role == "lora_magnitude_vector") magnitude = true;
    if (s.role == "diff_b") diff_b = true;
    if (s.role == "blocks") oft_shape = k.info->shape;
    if (s.slot == Slot::Factor) roles.insert(s.role);
  }
  auto fail = [&](Typing::Status st, std::string why) {
    t.status = st;
    t.reason = std::move(why);
    return t;
  };
  if (types.size() > 1) {
    std::vector<std::string_view> names;
    for (WeightType w : types) names.push_back(type_name(w));
    return fail(Typing::Status::Conflict,
                fmt::format("mixes adapter types {}", fmt::join(names, " and ")));
  }
  if (types.empty()) {
    if (diff_b && !dora_scale) {  // a bias-only full delta
      t.kind = Kind::Full;
      return t;
    }
    return fail(Typing::Status::Incomplete, "no weight factors (only alpha/extras)");
  }
  const WeightType w = *types.begin();
  auto has = [&](std::string_view role) { return roles.contains(role); };
  if ((dora_scale || magnitude) && (w == WeightType::IA3 || w == WeightType::Full ||
                                    w == WeightType::Norm || w == WeightType::Set))
    return fail(Typing::Status::Conflict,
                fmt::format("a DoRA magnitude on a {} record", type_name(w)));
  if (dora_scale && magnitude)
    return fail(Typing::Status::Conflict, "both dora_scale and lora_magnitude_vector");
  switch (w) {
    case WeightType::LoRA: {
      t.kind = Kind::LoRA;
      if (pair_families.size() > 1) {
        std::vector<std::string_view> names;
        for (SuffixFamily f : pair_families) names.push_back(family_name(f));
        return fail(Typing::Status::Conflict,
                    fmt::format("mixes suffix families {}", fmt::join(names, " and ")));
      }
      if (pair_families.empty()) return fail(Typing::Status::Incomplete, "no lora down/up factors");
      t.lora_family = *pair_families.begin();
      if (peft_extra && !is_peft_family(t.lora_family))
        return fail(Typing::Status::Conflict,
                    fmt::format("PEFT extras with {} factors", family_name(t.lora_family)));
      if (!has("down")) return fail(Typing::Status::Incomplete, "up without down");
      if (!has("up")) return fail(Typing::Status::Incomplete, "down without up");
      return t;
    }
    case WeightType::LoHa:
      t.kind = Kind::LoHa;
      for (auto role : {"w1a", "w1b", "w2a", "w2b"})
        if (!has(role))
          return fail(Typing::Status::Incomplete, fmt::format("missing hada factor {}", role));
      if (has("t1") != has("t2"))
        return fail(Typing::Status::Incomplete, "hada_t1 and hada_t2 must come together");
      return t;
    case WeightType::LoKr:
      t.kind = Kind::LoKr;
      for (std::string_view side : {"w1", "w2"}) {
        const std::string a = std::string(side) + "a", b = std::string(side) + "b";
        if (has(side) && (has(a) || has(b)))
          return fail(Typing::Status::Conflict,
                      fmt::format("lokr_{} given both whole and factored", side));
        if (!has(side) && !(has(a) && has(b)))
          return fail(Typing::Status::Incomplete, fmt::format("missing lokr_{}", side));
      }
      if (has("t2") && !has("w2a"))
        return fail(Typing::Status::Incomplete, "lokr_t2 without lokr_w2_a/lokr_w2_b");
      return t;
    case WeightType::GLoRA:
      t.kind = Kind::GLoRA;
      for (auto role : {"a1", "a2", "b1", "b2"})
        if (!has(role))
          return fail(Typing::Status::Incomplete, fmt::format("missing glora factor {}", role));
      return t;
    case WeightType::OFT:
      if (!has("blocks")) return fail(Typing::Status::Incomplete, "rescale without oft_blocks");
      if (oft_shape.size() == 3)
        t.kind = Kind::OFT;
      else if (oft_shape.size() == 4)
        t.kind = Kind::BOFT;
      else
        return fail(
            Typing::Status::Invalid,
            fmt::format("oft_blocks has {} dimensions (3 for OFT, 4 for BOFT)", oft_shape.size()));
      return t;
    case WeightType::IA3:
      t.kind = Kind::IA3;
      if (!has("weight")) return fail(Typing::Status::Incomplete, "on_input without weight");
      return t;
    case WeightType::Full:
      t.kind = Kind::Full;
      return t;
    case WeightType::Norm:
      t.kind = Kind::Norm;
      if (!has("w_norm")) return fail(Typing::Status::Incomplete, "b_norm without w_norm");
      return t;
    case WeightType::Set:
      t.kind = Kind::Set;
      return t;
    case WeightType::None:
      break;
  }
  return fail(Typing::Status::Incomplete, "no weight factors");
}

}  // namespace lorakit::adapter::detail
