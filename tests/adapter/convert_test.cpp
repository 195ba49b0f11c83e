// adapter::convert: renames, exact fused ↔ split (§7.2, §7.3), swap_scale_shift (§7.4), alpha and
// metadata carried over, refusals, atomic output, and byte-identical round trips between every pair
// of families, on synthetic adapters written to disk.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "lorakit/adapter.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "lorakit/model.hpp"
#include "model/corpus_util.hpp"
#include "test_util.hpp"

namespace lorakit::testing {
namespace {

using adapter::TargetFamily;
namespace fs = std::filesystem;

constexpr uint64_t H = 4;  // hidden width of the tiny FLUX model

// A FLUX model in bare BFL names with H = 4 (MLP 4H): enough keys for detection and for every
// fused case (double-block qkv, single-block linear1, the swapped final modulation).
const model::ModelIndex& tiny_flux() {
  static const model::ModelIndex m = [] {
    std::vector<model::TensorMeta> t = {
        {"img_in.weight", DType::F32, {H, 64}},
        {"double_blocks.0.img_mod.lin.weight", DType::F32, {6 * H, H}},
        {"double_blocks.0.img_attn.qkv.weight", DType::F32, {3 * H, H}},
        {"double_blocks.0.img_attn.proj.weight", DType::F32, {H, H}},
        {"double_blocks.0.img_attn.norm.key_norm.scale", DType::F32, {2}},
        {"double_blocks.0.img_attn.norm.query_norm.scale", DType::F32, {2}},
        {"double_blocks.0.txt_attn.qkv.weight", DType::F32, {3 * H, H}},
        {"single_blocks.0.linear1.weight", DType::F32, {7 * H, H}},
        {"single_blocks.0.linear2.weight", DType::F32, {H, 5 * H}},
        {"final_layer.linear.weight", DType::F32, {64, H}},
        {"final_layer.adaLN_modulation.1.weight", DType::F32, {2 * H, H}},
    };
    return model::ModelIndex::from_tensors("test:flux", std::move(t));
  }();
  return m;
}

struct T {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
  std::vector<float> values;  // empty: a distinct non-zero pattern from `seed`
};

uint64_t count(const std::vector<uint64_t>& s) {
  uint64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::vector<std::byte> encode(const T& t, int seed) {
  std::vector<float> v = t.values;
  if (v.empty())
    for (uint64_t i = 0; i < count(t.shape); ++i) v.push_back(1.0f + seed * 64 + i);
  std::vector<std::byte> out(*bytes_for(t.dtype, v.size()));
  codec::encode(t.dtype, v.data(), out.data(), v.size());
  return out;
}

void write_adapter(const fs::path& p, const std::vector<T>& tensors,
                   std::map<std::string, std::string> meta = {{"format", "pt"}}) {
  std::vector<io::TensorDecl> decls;
  for (const T& t : tensors) decls.push_back({t.name, t.dtype, t.shape});
  io::SafetensorsWriter w(p.string(), decls, meta);
  int seed = 1;
  for (const T& t : tensors) w.write(t.name, encode(t, seed++));
  w.commit();
}

T f32(std::string name, std::vector<uint64_t> shape, std::vector<float> v = {}) {
  return T{std::move(name), DType::F32, std::move(shape), std::move(v)};
}
T alpha(std::string prefix, float a, DType dt = DType::F32) {
  return T{prefix + ".alpha", dt, {}, {a}};
}
// A LoRA pair of rank r on an [out, in] target, in the given suffix family.
void lora(std::vector<T>& v, const std::string& prefix, uint64_t out, uint64_t in, uint64_t r,
          const std::string& down = ".lora_down.weight",
          const std::string& up = ".lora_up.weight") {
  v.push_back(f32(prefix + down, {r, in}));
  v.push_back(f32(prefix + up, {out, r}));
}

struct Stored {
  DType dtype;
  std::vector<uint64_t> shape;
  std::vector<std::byte> bytes;
  bool operator==(const Stored&) const = default;
};
using Contents = std::map<std::string, Stored>;

Contents contents(const fs::path& p) {
  auto src = io::open_safetensors(p.string());
  Contents c;
  for (const auto& t : src->tensors()) {
    auto b = src->view(t).bytes;
    c[t.name] = Stored{t.dtype, t.shape, {b.begin(), b.end()}};
  }
  return c;
}

std::map<std::string, std::string> metadata(const fs::path& p) {
  auto src = io::open_safetensors(p.string());
  std::map<std::string, std::string> m;
  for (const auto& e : src->metadata()) m[e.key] = std::get<std::string>(e.value.value);
  return m;
}

std::vector<std::byte> rows_of(const Stored& s, uint64_t r0, uint64_t r1) {
  const uint64_t rb = s.bytes.size() / s.shape[0];
  return {s.bytes.begin() + r0 * rb, s.bytes.begin() + r1 * rb};
}

fs::path convert(const fs::path& in, TargetFamily to, const fs::path& out,
                 const model::ModelIndex& m = tiny_flux()) {
  auto a = adapter::parse_file(in.string(), m);
  adapter::convert(a, m, to, out.string());
  return out;
}

std::string_view fam(TargetFamily f) {
  switch (f) {
    case TargetFamily::Kohya:
      return "kohya";
    case TargetFamily::Peft:
      return "peft";
    case TargetFamily::Diffusers:
      return "diffusers";
    case TargetFamily::Bfl:
      return "bfl";
  }
  return "";
}

constexpr TargetFamily kAll[] = {TargetFamily::Kohya, TargetFamily::Peft, TargetFamily::Diffusers,
                                 TargetFamily::Bfl};

// A kohya FLUX LoRA covering every case: fused qkv and linear1, a plain module, the swapped final
// modulation, BF16 alphas.
std::vector<T> kohya_flux() {
  std::vector<T> v;
  lora(v, "lora_unet_double_blocks_0_img_attn_qkv", 3 * H, H, 2);
  v.push_back(alpha("lora_unet_double_blocks_0_img_attn_qkv", 1.0f, DType::BF16));
  lora(v, "lora_unet_single_blocks_0_linear1", 7 * H, H, 2);
  v.push_back(alpha("lora_unet_single_blocks_0_linear1", 3.0f, DType::BF16));
  lora(v, "lora_unet_double_blocks_0_img_attn_proj", H, H, 2);
  lora(v, "lora_unet_final_layer_adaLN_modulation_1", 2 * H, H, 2);
  v.push_back(alpha("lora_unet_final_layer_adaLN_modulation_1", 2.0f));
  return v;
}

TEST(ConvertFlux, TinyModelIsFlux) {
  EXPECT_EQ(tiny_flux().arch().family, model::Family::Flux);
  EXPECT_EQ(tiny_flux().arch().hidden, H);
}

TEST(ConvertFlux, KohyaQkvToPeftSplitsBByRows) {
  TempDir d;
  write_adapter(d / "k.safetensors", kohya_flux(), {{"ss_network_dim", "2"}});
  const Contents src = contents(d / "k.safetensors");
  convert(d / "k.safetensors", TargetFamily::Peft, d / "p.safetensors");
  const Contents out = contents(d / "p.safetensors");

  const Stored& a = src.at("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight");
  const Stored& b = src.at("lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight");
  const Stored& al = src.at("lora_unet_double_blocks_0_img_attn_qkv.alpha");
  const char* parts[] = {"to_q", "to_k", "to_v"};
  for (uint64_t j = 0; j < 3; ++j) {
    const std::string p = std::string("transformer.transformer_blocks.0.attn.") + parts[j];
    SCOPED_TRACE(p);
    EXPECT_EQ(out.at(p + ".lora_A.weight"), a);  // A copied to every part
    const Stored& bj = out.at(p + ".lora_B.weight");
    EXPECT_EQ(bj.shape, (std::vector<uint64_t>{H, 2}));
    EXPECT_EQ(bj.bytes, rows_of(b, j * H, (j + 1) * H));  // B rows [jH, (j+1)H)
    EXPECT_EQ(out.at(p + ".alpha"), al);                  // same alpha, same dtype (BF16)
  }
  // linear1 → q, k, v (H rows each) and proj_mlp (4H rows).
  const Stored& b1 = src.at("lora_unet_single_blocks_0_linear1.lora_up.weight");
  const std::string s = "transformer.single_transformer_blocks.0.";
  EXPECT_EQ(out.at(s + "attn.to_k.lora_B.weight").bytes, rows_of(b1, H, 2 * H));
  EXPECT_EQ(out.at(s + "proj_mlp.lora_B.weight").bytes, rows_of(b1, 3 * H, 7 * H));
  // swap_scale_shift: B's halves swapped, A untouched.
  const Stored& bf = src.at("lora_unet_final_layer_adaLN_modulation_1.lora_up.weight");
  auto swapped = rows_of(bf, H, 2 * H);
  auto first = rows_of(bf, 0, H);
  swapped.insert(swapped.end(), first.begin(), first.end());
  EXPECT_EQ(out.at("transformer.norm_out.linear.lora_B.weight").bytes, swapped);
  EXPECT_EQ(out.at("transformer.norm_out.linear.lora_A.weight"),
            src.at("lora_unet_final_layer_adaLN_modulation_1.lora_down.weight"));
  EXPECT_EQ(out.at("transformer.transformer_blocks.0.attn.to_out.0.lora_A.weight"),
            src.at("lora_unet_double_blocks_0_img_attn_proj.lora_down.weight"));
  EXPECT_EQ(out.size(), 3u * 3 + 4 * 3 + 2 + 3);

  // Metadata carried over, with where it came from.
  auto meta = metadata(d / "p.safetensors");
  EXPECT_EQ(meta["ss_network_dim"], "2");
  EXPECT_EQ(meta["lorakit.converted_from"], "kohya");
  EXPECT_EQ(meta["lorakit.converted_to"], "peft");

  // ... and the output binds to the same rows with the same scale.
  auto back = adapter::parse_file((d / "p.safetensors").string(), tiny_flux());
  EXPECT_EQ(back.report.matched, 3u + 4 + 1 + 1);
  // And back to kohya: fused again, byte-identical to the source.
  convert(d / "p.safetensors", TargetFamily::Kohya, d / "k2.safetensors");
  EXPECT_EQ(contents(d / "k2.safetensors"), src);
}

TEST(ConvertFlux, EveryFamilyPairRoundTripsByteIdentical) {
  TempDir d;
  write_adapter(d / "k.safetensors", kohya_flux());
  std::map<TargetFamily, fs::path> first;
  for (TargetFamily f : kAll)
    first[f] = convert(d / "k.safetensors", f, d / (std::string(fam(f)) + ".safetensors"));
  EXPECT_EQ(contents(first[TargetFamily::Kohya]), contents(d / "k.safetensors"));
  for (TargetFamily f : kAll) {
    for (TargetFamily g : kAll) {
      SCOPED_TRACE(std::string(fam(f)) + " -> " + std::string(fam(g)));
      const std::string tag = std::string(fam(f)) + "_" + std::string(fam(g));
      auto mid = convert(first[f], g, d / (tag + ".mid.safetensors"));
      auto back = convert(mid, f, d / (tag + ".back.safetensors"));
      EXPECT_EQ(contents(back), contents(first[f]));
    }
  }
}

// Separately trained q/k/v parts (different A) fuse into one block-diagonal record whose alpha is
// multiplied by the part count; the sparse split restores them exactly.
TEST(ConvertFlux, PeftPartsFuseBlockDiagonalAndSplitBack) {
  TempDir d;
  std::vector<T> v;
  const std::string p = "transformer.transformer_blocks.0.attn.";
  for (const char* q : {"to_q", "to_k", "to_v"}) {
    lora(v, p + q, H, H, 2, ".lora_A.weight", ".lora_B.weight");
    v.push_back(alpha(p + q, 2.0f, DType::F16));
  }
  write_adapter(d / "p.safetensors", v);
  const Contents src = contents(d / "p.safetensors");
  convert(d / "p.safetensors", TargetFamily::Kohya, d / "k.safetensors");
  const Contents k = contents(d / "k.safetensors");
  const std::string f = "lora_unet_double_blocks_0_img_attn_qkv";
  ASSERT_EQ(k.size(), 3u);
  const Stored& a = k.at(f + ".lora_down.weight");
  EXPECT_EQ(a.shape, (std::vector<uint64_t>{6, H}));
  for (uint64_t j = 0; j < 3; ++j) {
    const std::string q = p + (j == 0 ? "to_q" : j == 1 ? "to_k" : "to_v");
    EXPECT_EQ(rows_of(a, 2 * j, 2 * j + 2), src.at(q + ".lora_A.weight").bytes);
  }
  const Stored& b = k.at(f + ".lora_up.weight");
  EXPECT_EQ(b.shape, (std::vector<uint64_t>{3 * H, 6}));
  // Row 0 of the k part (row H): zeros, its own B row, zeros.
  std::vector<float> row(6);
  codec::decode(DType::F32, rows_of(b, H, H + 1).data(), row.data(), 6);
  const auto& bk = src.at(p + "to_k.lora_B.weight");
  std::vector<float> bk0(2);
  codec::decode(DType::F32, bk.bytes.data(), bk0.data(), 2);
  EXPECT_EQ(row, (std::vector<float>{0, 0, bk0[0], bk0[1], 0, 0}));
  const Stored& al = k.at(f + ".alpha");
  EXPECT_EQ(al.dtype, DType::F16);
  EXPECT_EQ(codec::fp16_to_fp32(static_cast<uint16_t>(static_cast<unsigned>(al.bytes[0]) |
                                                      static_cast<unsigned>(al.bytes[1]) << 8)),
            6.0f);  // γ = 6/6 = 2/2
  convert(d / "k.safetensors", TargetFamily::Peft, d / "p2.safetensors");
  EXPECT_EQ(contents(d / "p2.safetensors"), src);
}

// A partial set (no to_v; linear1 without proj_mlp, as ai-toolkit trains it): missing parts are
// zero rows when fused and are not written back when split.
TEST(ConvertFlux, PartialSetsRoundTrip) {
  TempDir d;
  std::vector<T> v;
  for (const char* q : {"to_q", "to_k"})
    lora(v, std::string("transformer.transformer_blocks.0.attn.") + q, H, H, 2, ".lora_A.weight",
         ".lora_B.weight");
  for (const char* q : {"attn.to_q", "attn.to_k", "attn.to_v"})
    lora(v, std::string("transformer.single_transformer_blocks.0.") + q, H, H, 2, ".lora_A.weight",
         ".lora_B.weight");
  write_adapter(d / "p.safetensors", v);
  const Contents src = contents(d / "p.safetensors");
  for (TargetFamily f : {TargetFamily::Kohya, TargetFamily::Bfl}) {
    SCOPED_TRACE(fam(f));
    auto mid = convert(d / "p.safetensors", f, d / (std::string(fam(f)) + ".safetensors"));
    const Contents m = contents(mid);
    const std::string l1 = f == TargetFamily::Kohya
                               ? "lora_unet_single_blocks_0_linear1.lora_up.weight"
                               : "diffusion_model.single_blocks.0.linear1.lora_B.weight";
    const Stored& b = m.at(l1);
    EXPECT_EQ(b.shape, (std::vector<uint64_t>{7 * H, 6}));
    auto tail = rows_of(b, 3 * H, 7 * H);
    EXPECT_TRUE(
        std::all_of(tail.begin(), tail.end(), [](std::byte x) { return x == std::byte{0}; }));
    convert(mid, TargetFamily::Peft, d / "back.safetensors");
    EXPECT_EQ(contents(d / "back.safetensors"), src);
  }
}

TEST(ConvertFlux, RefusesWhatDoesNotConvertExactlyAndWritesNothing) {
  TempDir d;
  auto expect_refused = [&](const std::vector<T>& v, TargetFamily to,
                            std::vector<std::string> words) {
    write_adapter(d / "in.safetensors", v);
    const fs::path out = d / "out.safetensors";
    try {
      convert(d / "in.safetensors", to, out);
      ADD_FAILURE() << "converted";
    } catch (const InvalidArgument& e) {
      for (const auto& w : words)
        EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what() << " lacks " << w;
    }
    EXPECT_FALSE(fs::exists(out));
    for (const auto& e : fs::directory_iterator(d.path()))
      EXPECT_EQ(e.path().filename().string().find("lorakit-tmp"), std::string::npos);
  };
  const std::string qkv = "lora_unet_double_blocks_0_img_attn_qkv";
  // LoHa has no PEFT keys; it also would not split.
  std::vector<T> loha = {f32(qkv + ".hada_w1_a", {3 * H, 2}), f32(qkv + ".hada_w1_b", {2, H}),
                         f32(qkv + ".hada_w2_a", {3 * H, 2}), f32(qkv + ".hada_w2_b", {2, H})};
  expect_refused(loha, TargetFamily::Peft, {qkv, "LoRA records only"});
  // DoRA normalises the whole fused weight: no exact split.
  std::vector<T> dora;
  lora(dora, qkv, 3 * H, H, 2);
  dora.push_back(f32(qkv + ".dora_scale", {3 * H, 1}));
  expect_refused(dora, TargetFamily::Peft, {qkv, "DoRA"});
  // Parts with different alphas cannot be fused without rescaling A.
  std::vector<T> mixed;
  const std::string p = "transformer.transformer_blocks.0.attn.";
  for (const char* q : {"to_q", "to_k", "to_v"})
    lora(mixed, p + q, H, H, 2, ".lora_A.weight", ".lora_B.weight");
  mixed.push_back(alpha(p + "to_q", 1.0f));
  mixed.push_back(alpha(p + "to_k", 2.0f));
  mixed.push_back(alpha(p + "to_v", 2.0f));
  expect_refused(mixed, TargetFamily::Kohya, {p + "to_q", "alphas differ"});
  // Keys that bind to nothing would be dropped.
  std::vector<T> stray;
  lora(stray, "lora_unet_double_blocks_0_img_attn_proj", H, H, 2);
  lora(stray, "lora_unet_no_such_module", H, H, 2);
  expect_refused(stray, TargetFamily::Peft, {"lora_unet_no_such_module"});
}

TEST(ConvertFlux, LycorisKindsRenameToBfl) {
  TempDir d;
  const std::string qkv = "lora_unet_double_blocks_0_img_attn_qkv";
  std::vector<T> v = {f32(qkv + ".hada_w1_a", {3 * H, 2}), f32(qkv + ".hada_w1_b", {2, H}),
                      f32(qkv + ".hada_w2_a", {3 * H, 2}), f32(qkv + ".hada_w2_b", {2, H}),
                      alpha(qkv, 2.0f)};
  write_adapter(d / "k.safetensors", v);
  convert(d / "k.safetensors", TargetFamily::Bfl, d / "b.safetensors");
  const Contents b = contents(d / "b.safetensors");
  const Contents k = contents(d / "k.safetensors");
  EXPECT_EQ(b.at("diffusion_model.double_blocks.0.img_attn.qkv.hada_w2_a"),
            k.at(qkv + ".hada_w2_a"));
  convert(d / "b.safetensors", TargetFamily::Kohya, d / "k2.safetensors");
  EXPECT_EQ(contents(d / "k2.safetensors"), k);
}

// SD1 (kohya uses diffusers names there) and a text encoder, on a real layout from the corpus.
TEST(ConvertSd1, UnetAndTextEncoderRoundTrip) {
  const model::ModelIndex m = corpus_model("arenasys_assembled_sd15_ldm_full.txt");
  ASSERT_EQ(m.arch().family, model::Family::SD1);
  auto shape = [&](const std::string& key) { return m.find(key)->shape; };
  TempDir d;
  std::vector<T> v;
  const auto pin = shape("model.diffusion_model.input_blocks.1.1.proj_in.weight");
  const std::string u = "lora_unet_down_blocks_0_attentions_0_proj_in";
  v.push_back(f32(u + ".lora_down.weight", {2, pin[1], 1, 1}));
  v.push_back(f32(u + ".lora_up.weight", {pin[0], 2, 1, 1}));
  v.push_back(alpha(u, 1.0f));
  const auto q =
      shape("cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight");
  lora(v, "lora_te_text_model_encoder_layers_0_self_attn_q_proj", q[0], q[1], 2);
  write_adapter(d / "k.safetensors", v);
  const Contents k = contents(d / "k.safetensors");
  for (TargetFamily f : kAll) {
    SCOPED_TRACE(fam(f));
    auto mid = convert(d / "k.safetensors", f, d / (std::string(fam(f)) + ".safetensors"), m);
    const Contents c = contents(mid);
    if (f == TargetFamily::Peft) {
      EXPECT_TRUE(c.contains("unet.down_blocks.0.attentions.0.proj_in.lora_A.weight"));
      EXPECT_TRUE(
          c.contains("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight"));
    }
    if (f == TargetFamily::Diffusers) {
      EXPECT_TRUE(c.contains("unet.down_blocks.0.attentions.0.proj_in.lora.down.weight"));
      EXPECT_TRUE(c.contains(
          "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.up.weight"));
    }
    if (f == TargetFamily::Bfl) {
      EXPECT_TRUE(c.contains("diffusion_model.input_blocks.1.1.proj_in.lora_A.weight"));
      EXPECT_TRUE(
          c.contains("text_encoders.clip_l.transformer.text_model.encoder.layers.0.self_attn.q_"
                     "proj.lora_A.weight"));
    }
    convert(mid, TargetFamily::Kohya, d / "back.safetensors", m);
    EXPECT_EQ(contents(d / "back.safetensors"), k);
  }
}

}  // namespace
}  // namespace lorakit::testing

namespace lorakit::testing {
namespace {

// Kohya records on real SDXL (OpenCLIP bigG: q/k/v slices of in_proj, transposed text_projection)
// and SD3 (fused MMDiT qkv, swapped final modulation) layouts: every family and back.
struct Rec {
  std::string prefix;
  std::vector<uint64_t> target;  // [out, in] as the adapter sees it
};

void round_trip_all(const model::ModelIndex& m, const std::vector<Rec>& recs,
                    std::vector<TargetFamily> families) {
  TempDir d;
  std::vector<T> v;
  for (const Rec& r : recs) {
    lora(v, r.prefix, r.target[0], r.target[1], 2);
    v.push_back(alpha(r.prefix, 1.0f));
  }
  write_adapter(d / "k.safetensors", v);
  auto parsed = adapter::parse_file((d / "k.safetensors").string(), m);
  ASSERT_EQ(parsed.report.matched, recs.size()) << parsed.report.invalid.size();
  const Contents k = contents(d / "k.safetensors");
  for (TargetFamily f : families) {
    SCOPED_TRACE(fam(f));
    auto mid = convert(d / "k.safetensors", f, d / (std::string(fam(f)) + ".safetensors"), m);
    EXPECT_EQ(adapter::parse_file(mid.string(), m).report.matched, contents(mid).size() / 3);
    convert(mid, TargetFamily::Kohya, d / "back.safetensors", m);
    EXPECT_EQ(contents(d / "back.safetensors"), k);
  }
}

TEST(ConvertSdxl, OpenClipSlicesAndTextProjection) {
  const model::ModelIndex m = corpus_model("arenasys_assembled_sdxl_base_ldm_full.txt");
  ASSERT_EQ(m.arch().family, model::Family::SDXL);
  round_trip_all(
      m,
      {{"lora_unet_input_blocks_4_1_proj_in", {640, 640}},
       {"lora_te2_text_model_encoder_layers_0_self_attn_k_proj", {1280, 1280}},
       {"lora_te2_text_projection", {1280, 1280}},
       {"lora_te1_text_model_encoder_layers_0_mlp_fc1", {3072, 768}}},
      {TargetFamily::Kohya, TargetFamily::Peft, TargetFamily::Diffusers, TargetFamily::Bfl});
}

TEST(ConvertSd3, FusedQkvAndSwappedModulation) {
  const model::ModelIndex m = corpus_model("sdmecha_sd3_comfyui.txt");
  ASSERT_EQ(m.arch().family, model::Family::SD3);
  const uint64_t h = m.arch().hidden;
  round_trip_all(
      m,
      {{"lora_unet_joint_blocks_0_x_block_attn_qkv", {3 * h, h}},
       {"lora_unet_final_layer_adaLN_modulation_1", {2 * h, h}}},
      {TargetFamily::Kohya, TargetFamily::Peft, TargetFamily::Diffusers, TargetFamily::Bfl});
}

}  // namespace
}  // namespace lorakit::testing
