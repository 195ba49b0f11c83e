#include "adapter/shape_rules.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace lorakit::adapter::detail {

namespace {

uint64_t numel(const Shape& s) {
  uint64_t n = 1;
  for (uint64_t d : s) n *= d;
  return n;
}

// flat2 of §1: [shape[0], numel/shape[0]].
Shape flat2(const Shape& s) {
  if (s.empty()) return {1, 1};
  return {s[0], s[0] ? numel(s) / s[0] : 0};
}

const Shape* factor(const Module& m, std::string_view role) {
  auto it = m.factors.find(std::string(role));
  return it == m.factors.end() || !it->second.info ? nullptr : &it->second.info->shape;
}

bool trailing_ones(const Shape& s, size_t from) {
  return std::all_of(s.begin() + std::min(from, s.size()), s.end(),
                     [](uint64_t d) { return d == 1; });
}

Implied bad(std::string why) {
  Implied r;
  r.error = std::move(why);
  return r;
}

Implied lora_shape(const Module& m) {
  const Shape& a = *factor(m, "down");
  const Shape& b = *factor(m, "up");
  const Shape* mid = factor(m, "mid");
  if (a.size() < 2 || b.size() < 2)
    return bad(fmt::format("lora factors must have 2 or more dimensions (down {}, up {})",
                           shape_text(a), shape_text(b)));
  if (!trailing_ones(b, 2))
    return bad(fmt::format("lora up {} is not [out, r] or [out, r, 1, 1]", shape_text(b)));
  Implied r;
  r.rank = a[0];
  if (mid) {
    // Tucker: A [r, in, 1, 1], M [r, r, kh, kw], B [out, r, 1, 1] (§8.2).
    if (mid->size() != 4 || !trailing_ones(a, 2) || (*mid)[0] != b[1] || (*mid)[1] != a[0])
      return bad(fmt::format("lora_mid {} does not fit down {} and up {}", shape_text(*mid),
                             shape_text(a), shape_text(b)));
    r.shape = {b[0], a[1], (*mid)[2], (*mid)[3]};
    return r;
  }
  if (b[1] != a[0])
    return bad(fmt::format("lora up {} does not fit down {} (rank {} vs {})", shape_text(b),
                           shape_text(a), b[1], a[0]));
  r.shape = a;
  r.shape[0] = b[0];
  return r;
}

Implied loha_shape(const Module& m) {
  const Shape &w1a = *factor(m, "w1a"), &w1b = *factor(m, "w1b");
  const Shape &w2a = *factor(m, "w2a"), &w2b = *factor(m, "w2b");
  const Shape *t1 = factor(m, "t1"), *t2 = factor(m, "t2");
  if (w1a.size() != 2 || w2a.size() != 2 || w1b.empty() || w2b.empty())
    return bad("hada_w1_a/hada_w2_a must be 2-D");
  Implied r;
  r.rank = w1b[0];
  if (t1 && t2) {
    // Tucker: w_a [r, out], w_b [r, in], t [r, r, kh, kw] (§8.3).
    auto side = [](const Shape& wa, const Shape& wb, const Shape& t) -> std::optional<Shape> {
      if (t.size() != 4 || wb.size() != 2 || t[0] != wa[0] || t[1] != wb[0]) return std::nullopt;
      return Shape{wa[1], wb[1], t[2], t[3]};
    };
    auto r1 = side(w1a, w1b, *t1), r2 = side(w2a, w2b, *t2);
    if (!r1 || !r2 || *r1 != *r2)
      return bad(fmt::format("hada Tucker factors do not fit ({} {} {} / {} {} {})",
                             shape_text(w1a), shape_text(w1b), shape_text(*t1), shape_text(w2a),
                             shape_text(w2b), shape_text(*t2)));
    r.shape = *r1;
    return r;
  }
  const Shape f1 = flat2(w1b), f2 = flat2(w2b);
  if (w1a[1] != f1[0] || w2a[1] != f2[0] || w1a[0] != w2a[0] || f1[1] != f2[1])
    return bad(fmt::format("hada factors do not fit (w1 {}·{}, w2 {}·{})", shape_text(w1a),
                           shape_text(w1b), shape_text(w2a), shape_text(w2b)));
  r.shape = {w1a[0], f1[1]};
  return r;
}

Implied lokr_shape(const Module& m) {
  Implied r;
  uint64_t o1 = 0, i1 = 0;
  if (const Shape* w1 = factor(m, "w1")) {
    if (w1->size() < 2) return bad(fmt::format("lokr_w1 {} is not 2-D", shape_text(*w1)));
    const Shape f = flat2(*w1);
    o1 = f[0];
    i1 = f[1];
  } else {
    const Shape &a = *factor(m, "w1a"), &b = *factor(m, "w1b");
    if (a.size() != 2 || b.size() < 2 || a[1] != b[0])
      return bad(
          fmt::format("lokr_w1_a {} does not fit lokr_w1_b {}", shape_text(a), shape_text(b)));
    o1 = a[0];
    i1 = flat2(b)[1];
    r.rank = b[0];
  }
  Shape w2;
  if (const Shape* whole = factor(m, "w2")) {
    w2 = *whole;
    if (w2.size() < 2) return bad(fmt::format("lokr_w2 {} is not 2-D", shape_text(w2)));
  } else if (const Shape* t2 = factor(m, "t2")) {
    // w2[p,q,h,w] = Σ t2[a,b,h,w]·w2_b[b,q]·w2_a[a,p]: w2_a [r, o2], w2_b [r, i2] (§8.4).
    const Shape &a = *factor(m, "w2a"), &b = *factor(m, "w2b");
    if (t2->size() != 4 || a.size() != 2 || b.size() != 2 || (*t2)[0] != a[0] || (*t2)[1] != b[0])
      return bad(fmt::format("lokr_t2 {} does not fit lokr_w2_a {} and lokr_w2_b {}",
                             shape_text(*t2), shape_text(a), shape_text(b)));
    w2 = {a[1], b[1], (*t2)[2], (*t2)[3]};
    r.rank = b[0];
  } else {
    const Shape &a = *factor(m, "w2a"), &b = *factor(m, "w2b");
    if (a.size() != 2 || b.size() < 2 || a[1] != b[0])
      return bad(
          fmt::format("lokr_w2_a {} does not fit lokr_w2_b {}", shape_text(a), shape_text(b)));
    w2 = {a[0], flat2(b)[1]};
    r.rank = b[0];
  }
  if (w2.size() == 4) {
    r.shape = {o1 * w2[0], i1 * w2[1], w2[2], w2[3]};
  } else {
    const Shape f = flat2(w2);
    r.shape = {o1 * f[0], i1 * f[1]};
  }
  return r;
}

Implied glora_shape(const Module& m, const Shape& target) {
  const Shape a1 = flat2(*factor(m, "a1")), a2 = flat2(*factor(m, "a2"));
  const Shape b1 = flat2(*factor(m, "b1")), b2 = flat2(*factor(m, "b2"));
  if (target.size() < 2) return bad("GLoRA needs a 2-D or 4-D target");
  const uint64_t out = target[0], in = target[1], cols = numel(target) / target[0];
  const bool old_form = b2[1] == b1[0] && b1[0] == a1[0] && a1[0] == a2[1];
  const bool new_form = b2[0] == b1[1] && b1[1] == a1[1] && a1[1] == a2[0];
  Implied r;
  // A file passing both tests stays old when a2.shape[0] = W.shape[0] and W is square (§8.5).
  if (old_form && (!new_form || (a2[0] == out && target.size() == 2 && out == in))) {
    // ΔW = b2·b1 + (flat2(W)·a2)·a1: b2 [out, r], b1 [r, in·k], a2 [in·k, r], a1 [r, in·k].
    if (a2[0] != cols || a1[1] != cols)
      return bad(fmt::format("GLoRA (old) a1 {} / a2 {} do not fit the target {}", shape_text(a1),
                             shape_text(a2), shape_text(target)));
    r.glora_old = true;
    r.rank = a1[0];
    r.shape = {b2[0], b1[1]};
    return r;
  }
  if (new_form) {
    // ΔW = (W·a1)·a2 + b1·b2, contracting the input-channel axis: a1 [in, r], a2 [r, in].
    if (a1[0] != in || a2[1] != in)
      return bad(fmt::format("GLoRA a1 {} / a2 {} do not fit the target's {} input channels",
                             shape_text(a1), shape_text(a2), in));
    r.rank = a2[0];
    r.shape = {b1[0], b2[1]};
    return r;
  }
  return bad(fmt::format("GLoRA factors fit neither layout (a1 {}, a2 {}, b1 {}, b2 {})",
                         shape_text(a1), shape_text(a2), shape_text(b1), shape_text(b2)));
}

Implied oft_shape(const Module& m, const Shape& target, bool butterfly) {
  const Shape& b = *factor(m, "blocks");
  if (target.empty()) return bad("OFT needs a target with rows");
  const uint64_t out = target[0];
  const size_t k_at = butterfly ? 1 : 0;
  const uint64_t k = b[k_at], bs = b[k_at + 1];
  if (b[k_at + 2] != bs) return bad(fmt::format("oft_blocks {} are not square", shape_text(b)));
  if (k * bs != out)
    return bad(fmt::format("oft_blocks {}: {} blocks of {} rows do not cover {} rows",
                           shape_text(b), k, bs, out));
  if (butterfly) {
    const uint64_t stages = b[0];
    if (bs % 2 != 0) return bad(fmt::format("BOFT block size {} is odd", bs));
    if (stages == 0 || stages > 63 || out % ((uint64_t{1} << (stages - 1)) * bs) != 0)
      return bad(fmt::format("BOFT: {} rows are not divisible by 2^({}-1)·{}", out, stages, bs));
  }
  if (const Shape* rs = factor(m, "rescale"))
    if (rs->empty() || (*rs)[0] != out || numel(*rs) != out)
      return bad(fmt::format("rescale {} does not have {} rows", shape_text(*rs), out));
  Implied r;
  r.shape = target;
  return r;
}

}  // namespace

std::string shape_text(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

Implied implied_shape(const Module& m, const Shape& target) {
  switch (m.kind) {
    case Kind::LoRA:
      return lora_shape(m);
    case Kind::LoHa:
      return loha_shape(m);
    case Kind::LoKr:
      return lokr_shape(m);
    case Kind::GLoRA:
      return glora_shape(m, target);
    case Kind::OFT:
      return oft_shape(m, target, false);
    case Kind::BOFT:
      return oft_shape(m, target, true);
    case Kind::IA3: {
      // The vector covers the output axis (on_input = 0) or the input axis (on_input = 1); the
      // caller checks its length once on_input is known, so here it only needs a target.
      Implied r;
      r.shape = target;
      return r;
    }
    case Kind::Full:
    case Kind::Norm:
    case Kind::Set: {
      const Shape* v = factor(m, m.kind == Kind::Full   ? "diff"
                                 : m.kind == Kind::Norm ? "w_norm"
                                                        : "set");
      Implied r;
      if (!v) {  // a bias-only record writes nothing into the weight
        r.shape = target;
        return r;
      }
      r.shape = *v;
      return r;
    }
  }
  return bad("unknown adapter type");
}

uint64_t input_width(const Module& m) {
  auto second = [&](std::string_view role) -> uint64_t {
    const Shape* s = factor(m, role);
    return s && s->size() >= 2 ? (*s)[1] : 0;
  };
  switch (m.kind) {
    case Kind::LoRA:
      return second("down");
    case Kind::LoHa:
      return second("w1b");
    case Kind::LoKr: {
      const uint64_t i1 = factor(m, "w1") ? second("w1") : second("w1b");
      const uint64_t i2 = factor(m, "w2") ? second("w2") : second("w2b");
      return i1 * i2;
    }
    case Kind::GLoRA: {
      const Shape* a1 = factor(m, "a1");
      return a1 && !a1->empty() ? (*a1)[0] : 0;  // new layout: a1 is [in, r]
    }
    case Kind::Full:
      return second("diff");
    default:
      return 0;
  }
}

bool fits(const Shape& implied, const Shape& target) {
  if (target.size() <= 1) return implied == target;
  return !implied.empty() && implied[0] == target[0] && numel(implied) == numel(target);
}

DoraAxisResult dora_axis(const Shape& mag, bool peft_magnitude, const Shape& target) {
  DoraAxisResult r;
  const uint64_t out = target.empty() ? 0 : target[0];
  const uint64_t in = target.size() >= 2 ? target[1] : 0;
  const uint64_t n = numel(mag);
  auto fail = [&] {
    r.error = fmt::format("magnitude {} fits neither the output ({}) nor the input ({}) axis of {}",
                          shape_text(mag), out, in, shape_text(target));
    return r;
  };
  if (peft_magnitude) {
    if (mag.size() != 1 || n != out) return fail();
    r.axis = Module::DoraAxis::Output;
    return r;
  }
  if (mag.size() >= 2) {
    if (mag[0] == n && trailing_ones(mag, 1) && n == out) {
      r.axis = Module::DoraAxis::Output;
    } else if (mag[0] == 1 && mag[1] == n && trailing_ones(mag, 2) && n == in) {
      r.axis = Module::DoraAxis::Input;
    } else {
      return fail();
    }
    return r;
  }
  if (mag.size() == 1) {
    if (n == out && n != in) {
      r.axis = Module::DoraAxis::Output;
    } else if (n == in && n != out) {
      r.axis = Module::DoraAxis::Input;
    } else if (n == out && n == in) {
      r.axis = Module::DoraAxis::Output;
      r.warning = fmt::format("1-D dora_scale [{}] on a square target: output axis assumed", n);
    } else {
      return fail();
    }
    return r;
  }
  return fail();
}

}  // namespace lorakit::adapter::detail
