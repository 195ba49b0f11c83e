// The scenarios of `lorakit demo` (issue 4, S0–S4). Every check reads bytes through the public
// session API and compares them with a fresh session, the base file, or the reference codecs.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>

#include "lorakit/adapter.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "lorakit/session.hpp"
#include "tools/demo_internal.hpp"

namespace lorakit::tools::demo_detail {
namespace {

using session::AdapterRequest;
using session::Session;
using session::SessionOptions;
using Set = std::vector<AdapterRequest>;

// Thrown by a failed check; the driver turns it into a failed scenario with this message.
struct CheckFailed : Error {
  using Error::Error;
};

void require(bool ok, const std::string& what) {
  if (!ok) throw CheckFailed(what);
}

std::string label(const Set& set) {
  if (set.empty()) return "none";
  std::string s;
  for (const auto& r : set) {
    if (!s.empty()) s += " + ";
    s += fmt::format("{}:{:g}", std::filesystem::path(r.path).stem().string(), r.strength);
  }
  return s;
}

bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// Every tensor of `s` is bit-identical (type, shape, bytes) to a fresh session given `set`.
void require_fresh_equal(const Session& s, const std::string& model, const Set& set,
                         const SessionOptions& options = {}) {
  Session fresh(options);
  fresh.open_model(model);
  fresh.set_adapters(set);
  const auto names = s.tensor_names();
  require(names == fresh.tensor_names(), "the tensor lists differ from a fresh session's");
  for (const auto& n : names) {
    const auto a = s.read(n), b = fresh.read(n);
    require(a.dtype == b.dtype && a.shape == b.shape && same(a.bytes, b.bytes),
            fmt::format("after {}: '{}' differs from a fresh session's", label(set), n));
  }
}

// Every tensor of `s` is the base file's bytes.
void require_base(const Session& s, const std::string& model, const std::string& when) {
  const auto src = io::open_tensor_source(model);
  for (const auto& t : src->tensors()) {
    const auto a = s.read(t.name);
    require(a.dtype == t.dtype && !a.patched && same(a.bytes, src->view(t).bytes),
            fmt::format("{}: '{}' is not the base bytes", when, t.name));
  }
}

uint64_t patched_count(const Session& s) {
  uint64_t n = 0;
  for (const auto& name : s.tensor_names()) n += s.read(name).patched ? 1 : 0;
  return n;
}

// Bytes of the model tensors the adapters of `set` write (targets and patched bias companions).
uint64_t touched_bytes(const std::string& model_path, const Set& set) {
  const auto src = io::open_tensor_source(model_path);
  const auto model = model::ModelIndex::from_source(*src);
  std::set<std::string> names;
  for (const auto& r : set) {
    const auto a = adapter::parse_file(r.path, model);
    for (const auto& m : a.modules)
      for (const auto& p : m.target.parts) {
        names.insert(p.tensor);
        if (!m.bias.empty())
          if (const auto* b = model.bias_of(p.tensor)) names.insert(b->name);
      }
  }
  uint64_t total = 0;
  for (const auto& n : names) total += src->find(n)->nbytes;
  return total;
}

std::vector<float> decode(DType t, std::span<const std::byte> bytes, uint64_t n) {
  std::vector<float> f(n);
  codec::decode(t, bytes.data(), f.data(), n);
  return f;
}

std::string mb(uint64_t b) { return fmt::format("{:.1f} MB", static_cast<double>(b) / 1e6); }

}  // namespace

// S0: none → A → none; A+B → A; strength 1 → 0.5 → 1 → 0 on SD1; after every step each tensor is
// bit-identical to a fresh session given that set, and the empty set (or strength 0) is the base.
ScenarioResult s0_switching(const DemoFiles& f) {
  ScenarioResult r{"S0", "SD1: none→A→none, A+B→A, strength 1→0.5→1→0", false, 0, ""};
  const Set steps[] = {{},
                       {{f.sd1_a, 1}},
                       {},
                       {{f.sd1_a, 1}, {f.sd1_b, 1}},
                       {{f.sd1_a, 1}},
                       {{f.sd1_a, 0.5f}},
                       {{f.sd1_a, 1}},
                       {{f.sd1_a, 0}}};
  Session s;
  s.open_model(f.sd1);
  uint64_t most = 0;
  for (const auto& set : steps) {
    s.set_adapters(set);
    require_fresh_equal(s, f.sd1, set);
    bool none = true;
    for (const auto& a : set) none &= a.strength == 0;
    if (none) require_base(s, f.sd1, label(set));
    const uint64_t n = patched_count(s);
    require(none == (n == 0), fmt::format("after {}: {} tensors patched", label(set), n));
    most = std::max(most, n);
  }
  r.detail = fmt::format(
      "{} steps each = fresh session; none and strength 0 = base bytes; up to {} "
      "tensors patched",
      std::size(steps), most);
  return r;
}

// S1: SDXL, A → B → C → none in one session: exact at every step, and the overlay never holds more
// than the bytes of the tensors the current set touches.
ScenarioResult s1_sdxl_sequence(const DemoFiles& f) {
  ScenarioResult r{"S1", "SDXL: A→B→C→none, overlay ≤ touched tensors", false, 0, ""};
  const Set steps[] = {{{f.sdxl_a, 1}}, {{f.sdxl_b, 0.8f}}, {{f.sdxl_c, 1}}, {}};
  Session s;
  s.open_model(f.sdxl);
  std::string sizes;
  for (const auto& set : steps) {
    s.set_adapters(set);
    require_fresh_equal(s, f.sdxl, set);
    const uint64_t held = s.overlay_bytes(), touched = touched_bytes(f.sdxl, set);
    require(held <= touched, fmt::format("after {}: overlay {} bytes > {} bytes touched",
                                         label(set), held, touched));
    if (set.empty()) require_base(s, f.sdxl, "none");
    if (!sizes.empty()) sizes += ", ";
    sizes += fmt::format("{} ≤ {}", mb(held), mb(touched));
  }
  r.detail = "each step = fresh session; overlay " + sizes;
  return r;
}

// S2: a FLUX LoRA in diffusers naming with q and v but no k for a double block's qkv, and q/k/v but
// no proj_mlp for a single block's linear1: it applies, the missing slices stay the base bytes, and
// the result equals the same LoRA in BFL naming.
ScenarioResult s2_flux_partial(const DemoFiles& f) {
  ScenarioResult r{"S2", "FLUX: diffusers LoRA without to_k/proj_mlp = BFL naming", false, 0, ""};
  Session s;
  s.open_model(f.flux);
  const auto rep = s.set_adapters({{f.flux_partial, 1}});
  const auto& m = rep.reports.at(0);
  require(m.modules > 0 && m.matched == m.modules && m.unmatched.empty(),
          fmt::format("partial diffusers LoRA: {} of {} modules bound", m.matched, m.modules));
  require_fresh_equal(s, f.flux, {{f.flux_partial_bfl, 1}});
  const auto src = io::open_tensor_source(f.flux);
  const uint64_t h = s.model().arch().hidden;
  std::string linear1, qkv;
  for (const auto& t : src->tensors()) {
    if (t.name.ends_with("single_blocks.0.linear1.weight")) linear1 = t.name;
    if (t.name.ends_with("double_blocks.0.img_attn.qkv.weight")) qkv = t.name;
  }
  // [begin, end) rows: `patched` says whether they must differ from the base or equal it.
  auto rows = [&](const std::string& name, uint64_t begin, uint64_t end, bool patched) {
    const auto* info = src->find(name);
    const uint64_t row = info->nbytes / info->shape[0];
    const auto base = src->view(*info).bytes.subspan(begin * row, (end - begin) * row);
    const auto now = s.read(name).bytes.subspan(begin * row, (end - begin) * row);
    require(same(base, now) != patched,
            fmt::format("'{}' rows [{}, {}) {}", name, begin, end,
                        patched ? "did not change" : "changed although no record covers them"));
  };
  rows(qkv, 0, h, true);
  rows(qkv, h, 2 * h, false);  // to_k missing
  rows(qkv, 2 * h, 3 * h, true);
  rows(linear1, 0, 3 * h, true);
  rows(linear1, 3 * h, 7 * h, false);  // proj_mlp missing
  r.detail = fmt::format("{} of {} records bound; k and proj_mlp rows = base; = BFL naming",
                         m.matched, m.modules);
  return r;
}

// S3: a LoRA on Q8_0, Q4_K and Q6_K models under each policy: requant = the reference quantizer of
// (dequantized W + ΔW), computed through a session on the dequantized F32 twin; upcast:f16 = F16 of
// the same; runtime leaves the bytes and hands out the factors. Retention is reported.
ScenarioResult s3_quantized(const DemoFiles& f) {
  ScenarioResult r{"S3", "Q8_0/Q4_K/Q6_K × requant/upcast/runtime", false, 0, ""};
  const std::pair<std::string, std::string> models[] = {
      {f.sd1_q8_0, f.sd1_q8_0_f32}, {f.sd1_q4_k, f.sd1_q4_k_f32}, {f.sd1_q6_k, f.sd1_q6_k_f32}};
  const Set set{{f.sd1_a, 1}};
  std::vector<std::string> notes;
  for (const auto& [qfile, twin] : models) {
    Session exact;
    exact.open_model(twin);
    exact.set_adapters(set);
    const auto base = io::open_tensor_source(qfile);
    std::string type;
    for (const char* policy : {"requant", "upcast:f16", "runtime"}) {
      SessionOptions so;
      patch::parse_quant_policy(policy, so.patch);
      Session s(so);
      s.open_model(qfile);
      s.set_adapters(set);
      uint64_t checked = 0;
      double dd = 0, proj = 0;
      for (const auto& t : base->tensors()) {
        const auto& tr = traits(t.dtype);
        if (tr.block_elements == 1) continue;  // F16/F32 tensors of the file: S0 covers them
        type = std::string(tr.name);
        const auto want = exact.read(t.name);
        if (!want.patched) {
          require(same(s.read(t.name).bytes, base->view(t).bytes),
                  fmt::format("{} {}: untouched '{}' changed", type, policy, t.name));
          continue;
        }
        ++checked;
        const uint64_t n = t.elements;
        const auto w = decode(DType::F32, want.bytes, n);
        const auto got = s.read(t.name);
        const std::string who = fmt::format("{} {}: '{}'", type, policy, t.name);
        if (std::string_view(policy) == "runtime") {
          require(same(got.bytes, base->view(t).bytes), who + " is not the base bytes");
          require(!s.runtime_patch(t.name).empty(), who + " has no runtime factors");
          continue;
        }
        const DType out = std::string_view(policy) == "requant" ? t.dtype : DType::F16;
        std::vector<std::byte> expect(*bytes_for(out, n));
        codec::encode(out, w.data(), expect.data(), n);
        require(got.dtype == out && same(got.bytes, expect),
                who + fmt::format(" is not {}(dequantize(W) + ΔW)", name(out)));
        const auto w0 = decode(t.dtype, base->view(t).bytes, n);
        const auto eff = decode(out, got.bytes, n);
        for (uint64_t i = 0; i < n; ++i) {
          const double d = double(w[i]) - w0[i], e = double(eff[i]) - w0[i];
          dd += d * d;
          proj += d * e;
        }
      }
      require(checked > 0, fmt::format("{} {}: no {} tensor was patched", type, policy, type));
      if (std::string_view(policy) != "runtime")
        notes.push_back(fmt::format("{} {} {:.3f}", type, policy, dd > 0 ? proj / dd : 1.0));
    }
  }
  r.detail = "bit-exact; retention " + fmt::format("{}", fmt::join(notes, ", "));
  return r;
}

// S4: SD1 → SDXL → FLUX → SD1 in one session with adapters: each state equals a fresh session; an
// SD1 LoRA on the SDXL model is refused with check's message and the session stays as it was.
ScenarioResult s4_model_switch(const DemoFiles& f) {
  ScenarioResult r{"S4", "SD1→SDXL→FLUX→SD1 in one session, misfit refused", false, 0, ""};
  Session s;
  s.open_model(f.sd1);
  s.set_adapters({{f.sd1_a, 1}});
  require_fresh_equal(s, f.sd1, {{f.sd1_a, 1}});

  s.open_model(f.sdxl);
  require(s.active().empty(), "the active set survived the model switch");
  require_base(s, f.sdxl, "after opening SDXL");
  const Set xl{{f.sdxl_a, 0.7f}};
  s.set_adapters(xl);
  require_fresh_equal(s, f.sdxl, xl);
  std::string refusal;
  try {
    s.set_adapters({{f.sd1_a, 1}});
  } catch (const Error& e) {
    refusal = e.what();
  }
  require(!refusal.empty(), "an SD1 LoRA was accepted on the SDXL model");
  require(refusal.find("sd1") != std::string::npos && refusal.find("sdxl") != std::string::npos,
          "the refusal does not name both architectures: " + refusal);
  require(s.active() == xl, "the refused switch changed the active set");
  require_fresh_equal(s, f.sdxl, xl);

  s.open_model(f.flux);
  s.set_adapters({{f.flux_lora, 1}});
  require_fresh_equal(s, f.flux, {{f.flux_lora, 1}});

  s.open_model(f.sd1);
  const Set both{{f.sd1_a, 1}, {f.sd1_b, -0.5f}};
  s.set_adapters(both);
  require_fresh_equal(s, f.sd1, both);
  s.set_adapters({});
  require_base(s, f.sd1, "none");
  if (refusal.size() > 90) refusal = refusal.substr(0, 87) + "...";
  r.detail = "each model = fresh session; refused: " + refusal;
  return r;
}

}  // namespace lorakit::tools::demo_detail
