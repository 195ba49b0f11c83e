// The forward alias map of lora-formats.md §6: every module path of the model, in each of its
// namings, expanded through the templates of §6.3 into the strings an adapter file may use as a
// module prefix. Prefixes are looked up here; they are never parsed back into model names (§5.4).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "adapter/model_view.hpp"
#include "adapter/suffixes.hpp"

namespace lorakit::adapter::detail {

struct AliasEntry {
  model::Binding binding;
  model::ComponentKind component = model::ComponentKind::DiffusionModel;
  bool xlabs = false;      // an XLabs template: the only aliases that take `.down/.up.weight`
  bool raw = false;        // a bare or diffusion_model. norm-scale alias: takes the empty suffix
  bool ambiguous = false;  // received two different bindings: binds nothing
  std::string source;      // the module path it was generated from (first one), for messages
};

// Does this alias take this suffix (the two restrictions of §6.3 that make the split unique)?
bool accepts(const AliasEntry& a, const Suffix& s);

class AliasMap {
 public:
  // Registers `alias`; a second registration with a different binding marks it ambiguous.
  void add(std::string alias, const model::Binding& b, model::ComponentKind comp,
           std::string_view source, bool xlabs = false, bool raw = false);
  const AliasEntry* find(std::string_view alias) const;
  size_t size() const { return map_.size(); }
  std::vector<std::string> ambiguous() const;  // sorted

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, AliasEntry, Hash, std::equal_to<>> map_;
};

// Expands every module path of `m` through the templates of §6.3.
AliasMap build_alias_map(const ModelView& m);

}  // namespace lorakit::adapter::detail
