// convert(): writing an adapter in another naming family (§7.2, §7.3, §9). The plan is made and
// every refusal collected first; then the output is written through the atomic writer, so a refused
// or failed conversion leaves no file behind.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "adapter/convert_plan.hpp"
#include "adapter/convert_targets.hpp"
#include "lorakit/adapter.hpp"
#include "lorakit/error.hpp"

namespace lorakit::adapter {

namespace {

// Keys of the file that the parse left out: converting without them would silently drop them.
std::vector<std::string> dropped(const MatchReport& r) {
  std::vector<std::string> out;
  auto add = [&](const std::vector<std::string>& v, std::string_view what) {
    for (const auto& s : v) out.push_back(fmt::format("{} ({})", s, what));
  };
  add(r.unmatched, "binds to nothing");
  add(r.ambiguous, "ambiguous");
  add(r.unused_keys, "unknown key");
  add(r.incomplete, "incomplete");
  add(r.conflicts, "conflict");
  add(r.unsupported, "unsupported");
  add(r.invalid, "invalid");
  for (const auto& m : r.shape_mismatch) out.push_back(fmt::format("{} (shape mismatch)", m.key));
  return out;
}

std::string listing(const std::vector<std::string>& v) {
  constexpr size_t kShown = 8;
  std::string s;
  for (size_t i = 0; i < std::min(v.size(), kShown); ++i) s += "\n  " + v[i];
  if (v.size() > kShown) s += fmt::format("\n  … and {} more", v.size() - kShown);
  return s;
}

void write_rows(io::SafetensorsWriter& w, const io::TensorSource& src, const detail::OutTensor& t) {
  uint64_t at = 0;
  std::vector<std::byte> buf;
  for (const detail::Piece& p : t.pieces) {
    if (!p.bytes.empty()) {
      w.write(t.name, p.bytes, at);
      at += p.bytes.size();
      continue;
    }
    std::span<const std::byte> data;
    if (!p.key.empty()) data = src.view(p.key).bytes;
    const uint64_t row = p.lead + p.len + p.trail;
    if (p.lead == 0 && p.trail == 0 && (p.count == 1 || p.stride == p.len)) {
      w.write(t.name, data.subspan(p.offset, p.len * p.count), at);  // one contiguous copy
      at += p.len * p.count;
      continue;
    }
    // Rows with zero fill (block-diagonal B, zero parts) or strided column chunks (sparse split):
    // assembled in bounded batches.
    constexpr uint64_t kBatch = 8u << 20;
    const uint64_t per = std::max<uint64_t>(1, kBatch / std::max<uint64_t>(row, 1));
    for (uint64_t r0 = 0; r0 < p.count; r0 += per) {
      const uint64_t n = std::min(per, p.count - r0);
      buf.assign(n * row, std::byte{0});
      if (p.len)
        for (uint64_t r = 0; r < n; ++r)
          std::copy_n(data.data() + p.offset + (r0 + r) * p.stride, p.len,
                      buf.data() + r * row + p.lead);
      w.write(t.name, buf, at);
      at += buf.size();
    }
  }
}

void write_transposed(io::SafetensorsWriter& w, const io::TensorSource& src,
                      const detail::OutTensor& t) {
  const io::TensorView v = src.view(t.transpose_of);
  const uint64_t rows = v.info->shape[0], cols = v.info->shape[1];
  const uint64_t n = rows * cols;
  const uint64_t eb = n ? v.bytes.size() / n : 0;
  std::vector<std::byte> buf(v.bytes.size());
  for (uint64_t i = 0; i < rows; ++i)
    for (uint64_t j = 0; j < cols; ++j)
      std::copy_n(v.bytes.data() + (i * cols + j) * eb, eb, buf.data() + (j * rows + i) * eb);
  w.write(t.name, buf, 0);
}

}  // namespace

void convert(const Adapter& a, const model::ModelIndex& model, TargetFamily to,
             const std::string& out_path) {
  const std::string_view fam = detail::family_info(to).name;
  if (!a.source) throw InvalidArgument(a.path + ": adapter has no tensor source");
  if (!a.report.compat_error.empty())
    throw InvalidArgument(fmt::format("{}: {}", a.path, a.report.compat_error));
  if (auto d = dropped(a.report); !d.empty())
    throw InvalidArgument(
        fmt::format("{}: {} record(s) or key(s) did not bind to {}; converting would drop them:{}",
                    a.path, d.size(), model.origin(), listing(d)));
  if (a.modules.empty()) throw InvalidArgument(fmt::format("{}: no record to convert", a.path));

  const detail::ModelView view = detail::ModelView::of(model);
  detail::Plan plan = detail::plan_conversion(a, view, to);
  if (!plan.refusals.empty())
    throw InvalidArgument(
        fmt::format("{}: cannot convert to {}:{}", a.path, fam, listing(plan.refusals)));

  std::map<std::string, std::string> meta;
  for (const io::MetadataEntry& e : a.source->metadata())
    if (const auto* s = std::get_if<std::string>(&e.value.value)) meta.emplace(e.key, *s);
  meta["lorakit.converted_from"] = std::string(format_name(a.report.format));
  meta["lorakit.converted_to"] = std::string(fam);

  std::vector<io::TensorDecl> decls;
  decls.reserve(plan.tensors.size());
  for (const auto& t : plan.tensors) {
    decls.push_back({t.name, t.dtype, t.shape});
    uint64_t n = 0;
    for (const auto& p : t.pieces) n += p.size();
    const auto want = bytes_for(t.dtype, detail::element_count(t.shape));
    if (t.transpose_of.empty() && (!want || *want != n))
      throw Error(fmt::format("{}: internal: {} planned with {} bytes for shape of {} bytes",
                              a.path, t.name, n, want ? *want : 0));
  }
  io::SafetensorsWriter w(out_path, std::move(decls), std::move(meta));
  for (const auto& t : plan.tensors) {
    if (t.transpose_of.empty())
      write_rows(w, *a.source, t);
    else
      write_transposed(w, *a.source, t);
  }
  w.commit();
}

}  // namespace lorakit::adapter
