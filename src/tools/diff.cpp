#include "tools/diff.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "tools/text.hpp"

#include "lorakit/codec.hpp"
#include "lorakit/io.hpp"
#include "tools/inspect.hpp"
#include "tools/tensor_stream.hpp"

namespace lorakit::tools {
namespace {

void compare_values(const io::TensorView& va, const io::TensorView& vb, TensorDiff& d) {
  const auto& ia = *va.info;
  const uint64_t granule = std::lcm<uint64_t>(traits(ia.dtype).block_elements,
                                              traits(vb.info->dtype).block_elements);
  const uint64_t chunk = chunk_elements(ia.elements, granule);
  std::vector<float> a, b;
  double max_abs = 0, diff2 = 0, norm2 = 0;
  // Sequential double sums in element order: the result does not depend on the thread count.
  for (uint64_t begin = 0; begin < ia.elements; begin += chunk) {
    const uint64_t n = std::min(chunk, ia.elements - begin);
    a.resize(n);
    b.resize(n);
    decode_range(va, begin, n, a.data());
    decode_range(vb, begin, n, b.data());
    for (uint64_t i = 0; i < n; ++i) {
      const double x = a[i], y = b[i];
      double e = std::fabs(x - y);
      if (std::isnan(e)) {
        // Two NaNs in the same place agree; anything else involving NaN is an infinite error.
        e = (std::isnan(x) && std::isnan(y)) ? 0.0 : std::numeric_limits<double>::infinity();
      } else if (x == y) {
        e = 0;  // also inf == inf
      }
      max_abs = std::max(max_abs, e);
      diff2 += e * e;
      if (std::isfinite(x)) norm2 += x * x;
    }
  }
  d.compared = true;
  d.max_abs = max_abs;
  if (diff2 == 0)
    d.rel_frobenius = 0;
  else
    d.rel_frobenius = norm2 > 0 ? std::sqrt(diff2) / std::sqrt(norm2)
                                : std::numeric_limits<double>::infinity();
}

}  // namespace

DiffResult diff(const std::string& path_a, const std::string& path_b) {
  auto a = io::open_tensor_source(path_a);
  auto b = io::open_tensor_source(path_b);
  DiffResult r;
  r.path_a = path_a;
  r.path_b = path_b;
  for (const auto& ta : a->tensors()) {
    const auto* tb = b->find(ta.name);
    if (!tb) {
      r.only_a.push_back(ta.name);
      continue;
    }
    TensorDiff d;
    d.name = ta.name;
    d.dtype_a = ta.dtype;
    d.dtype_b = tb->dtype;
    d.shape_a = ta.shape;
    d.shape_b = tb->shape;
    d.dtype_differs = ta.dtype != tb->dtype;
    d.shape_differs = ta.shape != tb->shape;
    const auto va = a->view(ta);
    const auto vb = b->view(*tb);
    if (!d.dtype_differs && !d.shape_differs && va.bytes.size() == vb.bytes.size() &&
        std::memcmp(va.bytes.data(), vb.bytes.data(), va.bytes.size()) == 0) {
      d.bit_identical = true;
      d.compared = true;
      ++r.identical;
    } else if (d.shape_differs) {
      d.note = "shapes differ";
    } else if (!codec::can_decode(ta.dtype) || !codec::can_decode(tb->dtype)) {
      d.note = fmt::format("values not compared: lorakit cannot decode {}",
                           codec::can_decode(ta.dtype) ? name(tb->dtype) : name(ta.dtype));
    } else {
      compare_values(va, vb, d);
    }
    r.common.push_back(std::move(d));
  }
  for (const auto& tb : b->tensors())
    if (!a->find(tb.name)) r.only_b.push_back(tb.name);
  return r;
}

std::string render_text(const DiffResult& r) {
  std::string out;
  append_line(out, "A: {}", r.path_a);
  append_line(out, "B: {}", r.path_b);
  append_line(out, "{} tensors in common: {} bit-identical, {} differ; {} only in A, {} only in B",
       r.common.size(), r.identical, r.common.size() - r.identical, r.only_a.size(),
       r.only_b.size());
  for (const auto& d : r.common) {
    if (d.bit_identical) continue;
    std::string kind;
    if (d.shape_differs)
      kind = fmt::format("shape {} vs {}", shape_string(d.shape_a), shape_string(d.shape_b));
    else if (d.dtype_differs)
      kind = fmt::format("dtype {} vs {}", name(d.dtype_a), name(d.dtype_b));
    else
      kind = fmt::format("values differ ({})", name(d.dtype_a));
    if (d.compared)
      append_line(out, "  differs  {}: {}; max abs error {:.6g}, relative Frobenius error {:.6g}", d.name, kind,
           d.max_abs, d.rel_frobenius);
    else
      append_line(out, "  differs  {}: {}{}", d.name, kind, d.note.empty() ? "" : "; " + d.note);
  }
  for (const auto& n : r.only_a) append_line(out, "  only in A  {}", n);
  for (const auto& n : r.only_b) append_line(out, "  only in B  {}", n);
  out += r.same() ? "identical\n" : "different\n";
  return out;
}

nlohmann::ordered_json render_json(const DiffResult& r) {
  nlohmann::ordered_json j;
  j["a"] = r.path_a;
  j["b"] = r.path_b;
  j["identical"] = r.same();
  j["summary"] = {{"common", r.common.size()},
                  {"bit_identical", r.identical},
                  {"differ", r.common.size() - r.identical},
                  {"only_in_a", r.only_a.size()},
                  {"only_in_b", r.only_b.size()}};
  auto& ts = j["tensors"] = nlohmann::ordered_json::array();
  auto num = [](double v) -> nlohmann::ordered_json {
    if (std::isfinite(v)) return v;
    return nullptr;  // JSON has no infinity; null means "unbounded"
  };
  for (const auto& d : r.common) {
    nlohmann::ordered_json t{{"name", d.name},
                             {"bit_identical", d.bit_identical},
                             {"dtype_a", std::string(name(d.dtype_a))},
                             {"dtype_b", std::string(name(d.dtype_b))},
                             {"shape_a", d.shape_a},
                             {"shape_b", d.shape_b},
                             {"shape_differs", d.shape_differs},
                             {"dtype_differs", d.dtype_differs},
                             {"compared", d.compared}};
    if (d.compared) {
      t["max_abs_error"] = num(d.max_abs);
      t["rel_frobenius_error"] = num(d.rel_frobenius);
    }
    if (!d.note.empty()) t["note"] = d.note;
    ts.push_back(std::move(t));
  }
  j["only_in_a"] = r.only_a;
  j["only_in_b"] = r.only_b;
  return j;
}

}  // namespace lorakit::tools
