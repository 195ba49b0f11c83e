// The table-driven DiT map (see dit_map.hpp).
#include "model/dit_map.hpp"

#include <optional>

#include "model/key_table.hpp"
#include "model/key_util.hpp"

namespace lorakit::model::detail {

namespace {

class DitMap final : public NameMap {
 public:
  DitMap(const ComponentKeys& ck, const DitTables& t, uint64_t hidden, uint64_t mlp)
      : ck_(ck), t_(t), h_(hidden), m_(mlp), original_(ck.comp.naming == Naming::Original) {
    for (const auto& b : t.blocks) {
      uint32_t n = count_indices(ck, original_ ? b.orig_head : b.diff_head);
      last_.push_back(n ? n - 1 : 0);
    }
  }

  void equivalents(std::string_view path, const TensorMeta& t,
                   std::vector<Equivalent>& out) const override {
    for (const auto& p : t_.top) {
      if (path == (original_ ? p.orig : p.diff))
        out.push_back({other(), std::string(original_ ? p.diff : p.orig),
                       whole(t, p.swap ? DeltaTransform::SwapScaleShift : DeltaTransform::None)});
    }
    for (size_t bi = 0; bi < t_.blocks.size(); ++bi) {
      const DitBlocks& b = t_.blocks[bi];
      std::string_view rest = path;
      if (!consume(rest, original_ ? b.orig_head : b.diff_head)) continue;
      auto n = consume_index(rest);
      if (!n) continue;
      std::string to_head = fmt_block(original_ ? b.diff_head : b.orig_head, *n, ".");
      for (const auto& p : b.pairs) {
        if (rest != (original_ ? p.orig : p.diff)) continue;
        bool swap = p.swap || (p.swap_last && *n == last_[bi]);
        out.push_back({other(), to_head + std::string(original_ ? p.diff : p.orig),
                       whole(t, swap ? DeltaTransform::SwapScaleShift : DeltaTransform::None)});
      }
      for (const auto& f : b.fused) {
        if (original_)
          split(f, rest, to_head, fmt_block(b.orig_head, *n, "."), t, out);
        else
          gather(f, rest, to_head, fmt_block(b.diff_head, *n, "."), out);
      }
    }
  }

 private:
  Naming other() const { return original_ ? Naming::Diffusers : Naming::Original; }

  uint64_t part_rows(const DitFused& f, size_t j, const TensorMeta& fused) const {
    if (f.mlp_last && j + 1 == f.n) {
      // M from the fused tensor when its shape is known, else the table's default.
      uint64_t total = dim(&fused, 0);
      return total > 3 * h_ ? total - 3 * h_ : m_;
    }
    return h_;
  }

  // Original model: the fused tensor's rows, one diffusers name per part; or, for a virtual group,
  // the original-naming virtual name bound to the leading rows.
  void split(const DitFused& f, std::string_view rest, const std::string& diff_head,
             const std::string& orig_head, const TensorMeta& t,
             std::vector<Equivalent>& out) const {
    if (!f.virtual_of.empty()) {
      if (rest != f.virtual_of) return;
      uint64_t end = 0;
      for (size_t j = 0; j < f.n; ++j) end += part_rows(f, j, t);
      out.push_back({Naming::Original, orig_head + std::string(f.orig), rows(t, 0, end)});
      return;
    }
    if (rest != f.orig) return;
    uint64_t begin = 0;
    for (size_t j = 0; j < f.n; ++j) {
      uint64_t end = begin + part_rows(f, j, t);
      out.push_back({Naming::Diffusers, diff_head + std::string(f.parts[j]), rows(t, begin, end)});
      begin = end;
    }
  }

  // Diffusers model: the original fused name as a virtual concatenation of the parts, when the
  // model has every part (a fused delta cannot be split onto parts that are not there).
  void gather(const DitFused& f, std::string_view rest, const std::string& orig_head,
              const std::string& diff_head, std::vector<Equivalent>& out) const {
    bool mine = false;
    for (size_t j = 0; j < f.n; ++j) mine |= rest == f.parts[j];
    if (!mine) return;
    Binding b;
    for (size_t j = 0; j < f.n; ++j) {
      const TensorMeta* part = ck_.get(diff_head + std::string(f.parts[j]) + ".weight");
      if (!part) return;
      b.parts.push_back({part->name, std::nullopt});
    }
    out.push_back({Naming::Original, orig_head + std::string(f.orig), std::move(b)});
  }

  const ComponentKeys& ck_;
  DitTables t_;
  uint64_t h_, m_;
  bool original_;
  std::vector<uint32_t> last_;  // last block index per block table
};

}  // namespace

std::unique_ptr<NameMap> make_dit_map(const ComponentKeys& ck, const DitTables& tables,
                                      uint64_t hidden, uint64_t mlp) {
  return std::make_unique<DitMap>(ck, tables, hidden, mlp);
}

}  // namespace lorakit::model::detail
