#include "tools/check.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "lorakit/error.hpp"
#include "tools/inspect.hpp"
#include "tools/text.hpp"

namespace lorakit::tools {

AdapterArg parse_adapter_arg(const std::string& arg) {
  const auto colon = arg.rfind(':');
  if (colon != std::string::npos && colon + 1 < arg.size()) {
    const std::string tail = arg.substr(colon + 1);
    float v = 0;
    auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), v);
    if (ec == std::errc() && p == tail.data() + tail.size()) return {arg.substr(0, colon), v};
  }
  return {arg, 1.0f};
}

bool CheckedAdapter::fully_matched() const {
  const auto& r = adapter.report;
  return r.compat_error.empty() && r.modules > 0 && r.matched == r.modules &&
         r.shape_mismatch.empty() && r.unmatched.empty();
}

bool CheckedAdapter::clean() const {
  const auto& r = adapter.report;
  return fully_matched() && r.unused_keys.empty() && r.ambiguous.empty() && r.conflicts.empty() &&
         r.incomplete.empty() && r.unsupported.empty() && r.duplicate_bindings.empty() &&
         r.overlaps.empty();
}

CheckResult check(const CheckOptions& opt) {
  if (opt.model_path.empty() == opt.arch.empty())
    throw InvalidArgument("give either a model file or --arch NAME");
  CheckResult r{opt.arch.empty()
                    ? model::ModelIndex::from_source(*io::open_tensor_source(opt.model_path))
                    : model::ModelIndex::reference(opt.arch),
                {}};
  for (const auto& a : opt.adapters) {
    std::shared_ptr<const io::TensorSource> src = io::open_tensor_source(a.path);
    r.adapters.push_back({a, adapter::parse(src, r.model)});
  }
  return r;
}

namespace {

std::string model_label(const model::ModelIndex& m) {
  const auto& a = m.arch();
  return fmt::format("{} ({}, {} layout)", m.origin(),
                     a.variant.empty() ? std::string(model::family_name(a.family)) : a.variant,
                     model::layout_name(m.layout()));
}

// "4, 8 and 16" style summary of a set of numbers.
template <typename T>
std::string value_list(const std::set<T>& v) {
  if (v.empty()) return "-";
  return fmt::format("{}", fmt::join(v, ", "));
}

void list_section(std::string& out, const char* title, const std::vector<std::string>& items,
                  size_t max_items = 50) {
  if (items.empty()) return;
  append_line(out, "  {} ({}):", title, items.size());
  for (size_t i = 0; i < items.size() && i < max_items; ++i) append_line(out, "    {}", items[i]);
  if (items.size() > max_items) append_line(out, "    … {} more", items.size() - max_items);
}

}  // namespace

std::string render_text(const CheckResult& r) {
  std::string out;
  append_line(out, "model: {}", model_label(r.model));
  for (const auto& c : r.adapters) {
    const auto& rep = c.adapter.report;
    const std::string name = std::filesystem::path(c.arg.path).filename().string();
    append_line(out, "");
    append_line(out, "{} (strength {:g})", c.arg.path, c.arg.strength);
    std::vector<std::string> kinds;
    for (const auto& [k, n] : rep.kinds) kinds.push_back(fmt::format("{} {}", adapter::kind_name(k), n));
    std::set<uint64_t> ranks;
    std::set<float> alphas;
    for (const auto& m : c.adapter.modules) {
      if (m.rank) ranks.insert(m.rank);
      if (m.alpha) alphas.insert(*m.alpha);
    }
    append_line(out, "  format:      {}", adapter::format_name(rep.format));
    append_line(out, "  types:       {}", kinds.empty() ? "-" : fmt::format("{}", fmt::join(kinds, ", ")));
    append_line(out, "  ranks:       {}", value_list(ranks));
    append_line(out, "  alphas:      {}", value_list(alphas));
    append_line(out, "  trained for: {}{}", rep.trained_for,
                rep.trained_for_detail.empty() ? "" : " (" + rep.trained_for_detail + ")");
    if (!rep.compat_error.empty()) append_line(out, "  {}", rep.compat_error);
    append_line(out, "  matched {} of {} modules{}", rep.matched, rep.modules,
                c.fully_matched() ? "" : fmt::format("  [{}: incomplete match]", name));
    list_section(out, "unmatched", rep.unmatched);
    if (!rep.shape_mismatch.empty()) {
      append_line(out, "  shape mismatches ({}):", rep.shape_mismatch.size());
      for (const auto& s : rep.shape_mismatch)
        append_line(out, "    {}: {} vs {} {}", s.key, shape_string(s.shape), s.target,
                    shape_string(s.target_shape));
    }
    list_section(out, "unused keys", rep.unused_keys);
    list_section(out, "ambiguous", rep.ambiguous);
    list_section(out, "conflicting records", rep.conflicts);
    list_section(out, "incomplete records", rep.incomplete);
    list_section(out, "unsupported", rep.unsupported);
    list_section(out, "duplicate bindings", rep.duplicate_bindings);
    list_section(out, "overlapping bindings", rep.overlaps);
    list_section(out, "warnings", rep.warnings);
  }
  return out;
}

nlohmann::ordered_json render_json(const CheckResult& r) {
  using J = nlohmann::ordered_json;
  J j;
  J m;
  // A model file is named by its path; a built-in reference layout only by its arch.
  if (r.model.origin().rfind("arch:", 0) != 0) m["path"] = r.model.origin();
  m["arch"] = r.model.arch().variant.empty()
                  ? std::string(model::family_name(r.model.arch().family))
                  : r.model.arch().variant;
  m["family"] = std::string(model::family_name(r.model.arch().family));
  m["layout"] = std::string(model::layout_name(r.model.layout()));
  j["model"] = m;
  J list = J::array();
  for (const auto& c : r.adapters) {
    const auto& rep = c.adapter.report;
    J a;
    a["path"] = c.arg.path;
    a["strength"] = c.arg.strength;
    a["format"] = std::string(adapter::format_name(rep.format));
    a["trained_for"] = rep.trained_for;
    a["compatible"] = rep.compat_error.empty();
    if (!rep.compat_error.empty()) a["error"] = rep.compat_error;
    a["modules"] = rep.modules;
    a["matched"] = rep.matched;
    a["unmatched"] = rep.unmatched;
    J sm = J::array();
    for (const auto& s : rep.shape_mismatch)
      sm.push_back({{"key", s.key}, {"shape", s.shape}, {"target", s.target},
                    {"target_shape", s.target_shape}});
    a["shape_mismatch"] = sm;
    a["unused_keys"] = rep.unused_keys;
    a["ambiguous"] = rep.ambiguous;
    a["conflicts"] = rep.conflicts;
    a["incomplete"] = rep.incomplete;
    a["unsupported"] = rep.unsupported;
    a["duplicate_bindings"] = rep.duplicate_bindings;
    a["overlaps"] = rep.overlaps;
    a["warnings"] = rep.warnings;
    J targets = J::array();
    for (const auto& mod : c.adapter.modules) {
      for (const auto& p : mod.target.parts) {
        J t{{"module", mod.prefix}, {"type", std::string(adapter::kind_name(mod.kind))}};
        t["rank"] = mod.rank ? J(mod.rank) : J(nullptr);
        t["alpha"] = mod.alpha ? J(*mod.alpha) : J(nullptr);
        t["target"] = p.tensor;
        t["slice"] = p.rows ? J::array({p.rows->begin, p.rows->end}) : J(nullptr);
        if (mod.target.transform == model::DeltaTransform::SwapScaleShift)
          t["transform"] = "swap_scale_shift";
        else if (mod.target.transform == model::DeltaTransform::Transpose)
          t["transform"] = "transpose";
        targets.push_back(std::move(t));
      }
    }
    a["targets"] = targets;
    list.push_back(std::move(a));
  }
  j["adapters"] = list;
  return j;
}

}  // namespace lorakit::tools
