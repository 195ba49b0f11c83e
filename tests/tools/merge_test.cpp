// lorakit merge: strength-0 identity, thread-count independence, recorded metadata, refusals that
// leave nothing behind, exactness against a float64 reference, GGUF block-type output.
#include "tools/merge.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <tbb/global_control.h>
#include <xxhash.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "lorakit/adapter.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/io.hpp"
#include "tools/synth.hpp"
#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

// A small SD1-layout F16 model (one transformer block of the UNet, the first CLIP layer; ~5 MB) and
// two LoRAs over it.
struct Fixture {
  TempDir dir;
  std::string model = (dir / "model.safetensors").string();
  std::string a = (dir / "a.safetensors").string();
  std::string b = (dir / "b.safetensors").string();
  std::optional<model::ModelIndex> index;

  Fixture() {
    tools::SynthModelOptions m;
    m.reference = "sd1";
    m.include = {"input_blocks.1.1.", "cond_stage_model.transformer.text_model.encoder.layers.0."};
    tools::synth_model(m, model);
    index = model::ModelIndex::from_source(*io::open_tensor_source(model));
    tools::SynthAdapterOptions o;
    o.rank = 8;
    o.alpha = 4;
    o.text_encoder = true;
    tools::synth_adapter(*index, o, a);
    o.seed = 1;
    o.rank = 4;
    o.alpha = 4;
    o.text_encoder = false;
    o.include = {"attn1", "ff.net"};
    tools::synth_adapter(*index, o, b);
  }

  tools::MergeOptions options(std::string out, std::vector<tools::AdapterArg> adapters) const {
    tools::MergeOptions o;
    o.model_path = model;
    o.adapters = std::move(adapters);
    o.output = (dir / out).string();
    return o;
  }
};

std::string metadata_value(const io::TensorSource& s, const std::string& key) {
  for (const auto& m : s.metadata())
    if (m.key == key) return std::get<std::string>(m.value.value);
  return {};
}

std::vector<float> decode_all(const io::TensorSource& s, const std::string& name) {
  auto v = s.view(name);
  std::vector<float> f(v.info->elements);
  codec::decode(v.info->dtype, v.bytes.data(), f.data(), f.size());
  return f;
}

bool same_bytes(const io::TensorView& x, const io::TensorView& y) {
  return x.info->dtype == y.info->dtype && x.info->shape == y.info->shape &&
         std::equal(x.bytes.begin(), x.bytes.end(), y.bytes.begin(), y.bytes.end());
}

TEST(Merge, StrengthZeroReproducesEveryTensorsBytes) {
  Fixture f;
  auto opt = f.options("out.safetensors", {{f.a, 0.0f}, {f.b, 0.0f}});
  auto r = tools::merge(opt);
  EXPECT_EQ(r.patched, 0u);
  EXPECT_EQ(r.units, 0u);
  auto in = io::open_tensor_source(f.model), out = io::open_tensor_source(opt.output);
  ASSERT_EQ(in->tensors().size(), out->tensors().size());
  EXPECT_EQ(r.copied, in->tensors().size());
  for (const auto& t : in->tensors())
    EXPECT_TRUE(same_bytes(in->view(t), out->view(t.name))) << t.name;
  // A GGUF copy keeps the bytes too.
  opt.output = (f.dir / "out.gguf").string();
  tools::merge(opt);
  auto g = io::open_tensor_source(opt.output);
  for (const auto& t : in->tensors())
    EXPECT_TRUE(same_bytes(in->view(t), g->view(t.name))) << t.name;
}

TEST(Merge, OneAndTwoThreadsWriteIdenticalFiles) {
  Fixture f;
  for (const char* ext : {".safetensors", ".gguf"}) {
    std::vector<std::vector<std::byte>> files;
    for (int threads : {1, 2}) {
      tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
      auto opt =
          f.options(std::string("t") + std::to_string(threads) + ext, {{f.a, 0.8f}, {f.b, -0.5f}});
      if (std::string(ext) == ".gguf") opt.patch.output_dtype = DType::Q8_0;
      auto r = tools::merge(opt);
      EXPECT_GT(r.patched, 0u);
      files.push_back(read_file(opt.output));
    }
    EXPECT_TRUE(files[0] == files[1]) << ext;
  }
}

TEST(Merge, RecordsAdaptersHashesAndStrengthsInTheMetadata) {
  Fixture f;
  auto opt = f.options("out.safetensors", {{f.a, 0.75f}, {f.b, 1.0f}});
  auto r = tools::merge(opt);
  auto out = io::open_tensor_source(opt.output);
  const auto j = nlohmann::json::parse(metadata_value(*out, "lorakit.merge"));
  ASSERT_EQ(j["adapters"].size(), 2u);
  EXPECT_EQ(j["adapters"][0]["file"], "a.safetensors");
  EXPECT_EQ(j["adapters"][0]["strength"], 0.75);
  EXPECT_EQ(j["adapters"][1]["file"], "b.safetensors");
  const auto bytes = read_file(f.a);
  EXPECT_EQ(j["adapters"][0]["xxh3_64"],
            fmt::format("{:016x}", XXH3_64bits(bytes.data(), bytes.size())));
  EXPECT_EQ(j["adapters"][0]["xxh3_64"], r.hashes[0]);
  EXPECT_EQ(j["base"], "model.safetensors");
  EXPECT_EQ(j["dtype"], "same");
  EXPECT_EQ(metadata_value(*out, "format"), "pt");
  // GGUF: a string KV.
  opt.output = (f.dir / "out.gguf").string();
  tools::merge(opt);
  auto g = io::open_tensor_source(opt.output);
  EXPECT_EQ(nlohmann::json::parse(metadata_value(*g, "lorakit.merge"))["adapters"][1]["strength"],
            1.0);
}

TEST(Merge, RefusedAdaptersLeaveNoOutputFile) {
  Fixture f;
  // Trained for FLUX: contradicts the SD1 model.
  const auto flux = (f.dir / "flux.safetensors").string();
  tools::SynthAdapterOptions o;
  o.rank = 2;
  o.include = {"double_blocks.0.img_attn"};
  tools::synth_adapter(model::ModelIndex::reference("flux"), o, flux);
  // SD1 targets the small model does not have: binds nothing.
  const auto elsewhere = (f.dir / "elsewhere.safetensors").string();
  o.include = {"down_blocks.1.attentions.0.transformer_blocks.0.attn1"};
  tools::synth_adapter(model::ModelIndex::reference("sd1"), o, elsewhere);
  for (const auto& bad : {flux, elsewhere}) {
    SCOPED_TRACE(bad);
    auto opt = f.options("out.safetensors", {{f.a, 1.0f}, {bad, 1.0f}});
    try {
      tools::merge(opt);
      ADD_FAILURE() << "not refused";
    } catch (const tools::MergeRefused& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(std::filesystem::path(bad).filename().string()), std::string::npos)
          << what;
      EXPECT_EQ(e.check().adapters.size(), 2u);
    }
    EXPECT_FALSE(std::filesystem::exists(opt.output));
  }
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(f.dir.path())) ++files;
  EXPECT_EQ(files, 5u) << "a temporary file was left behind";
  // --strict refuses an adapter that binds only partly.
  auto opt = f.options("out.safetensors", {{f.a, 1.0f}});
  const auto partly = (f.dir / "partly.safetensors").string();
  o.include = {"transformer_blocks.0.attn1"};
  tools::synth_adapter(model::ModelIndex::reference("sd1"), o, partly);
  opt.adapters = {{partly, 1.0f}};
  EXPECT_GT(tools::merge(opt).patched, 0u);
  opt.strict = true;
  EXPECT_THROW(tools::merge(opt), tools::MergeRefused);
}

// Float merge against a float64 reference W0 + Σ s·(α/r)·up·down: every patched element within half
// an F16 ulp plus the fp32 accumulation bound ((Σr + 4)·2⁻²⁴·Σ|terms|), and all but 0.1 % exactly
// the correctly rounded float64 value; untouched tensors byte-identical.
TEST(Merge, FloatMergeIsWithinHalfAnUlpOfAFloat64Reference) {
  Fixture f;
  const std::vector<tools::AdapterArg> set{{f.a, 0.8f}, {f.b, 1.5f}};
  auto opt = f.options("out.safetensors", set);
  auto r = tools::merge(opt);
  auto in = io::open_tensor_source(f.model), out = io::open_tensor_source(opt.output);

  struct Ref {
    std::vector<double> value, mag;
    uint64_t ranks = 0;
  };
  std::map<std::string, Ref> want;  // target → float64 result
  for (const auto& arg : set) {
    const auto ad = adapter::parse_file(arg.path, *f.index);
    for (const auto& m : ad.modules) {
      ASSERT_EQ(m.target.parts.size(), 1u);
      const std::string target = m.target.parts[0].tensor;
      auto& w = want[target];
      if (w.value.empty()) {
        const auto w0 = decode_all(*in, target);
        w.value.assign(w0.begin(), w0.end());
        for (double x : w.value) w.mag.push_back(std::fabs(x));
      }
      const auto up = decode_all(*ad.source, m.factors.at("up").key);
      const auto down = decode_all(*ad.source, m.factors.at("down").key);
      const uint64_t rank = m.rank, rows = up.size() / rank, cols = down.size() / rank;
      ASSERT_EQ(rows * cols, w.value.size());
      w.ranks += rank;
      const double scale = double(arg.strength) * double(*m.alpha) / double(rank);
      for (uint64_t i = 0; i < rows; ++i)
        for (uint64_t j = 0; j < cols; ++j) {
          double d = 0, a = 0;
          for (uint64_t k = 0; k < rank; ++k) {
            const double p = double(up[i * rank + k]) * down[k * cols + j];
            d += p;
            a += std::fabs(p);
          }
          w.value[i * cols + j] += scale * d;
          w.mag[i * cols + j] += std::fabs(scale) * a;
        }
    }
  }
  EXPECT_EQ(r.patched, want.size());
  for (const auto& [name, w] : want) {
    SCOPED_TRACE(name);
    EXPECT_EQ(out->find(name)->dtype, DType::F16);
    const auto got = decode_all(*out, name);
    ASSERT_EQ(got.size(), w.value.size());
    uint64_t bad = 0, nearest = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      // F16 spacing at the exact value (subnormal spacing below 2^-14).
      const double x = w.value[i], mag = std::fabs(x);
      const double half_ulp =
          std::ldexp(1.0, (mag > 0 ? std::max(std::ilogb(mag), -14) : -14) - 11);
      const double fp32 = double(w.ranks + 4) * std::ldexp(1.0, -24) * w.mag[i];
      const double err = std::fabs(double(got[i]) - x);
      if (err > half_ulp + fp32) ++bad;
      if (err <= half_ulp) ++nearest;
    }
    EXPECT_EQ(bad, 0u);
    EXPECT_GE(nearest, got.size() - got.size() / 1000);
  }
  for (const auto& t : in->tensors()) {
    if (want.contains(t.name)) continue;
    EXPECT_TRUE(same_bytes(in->view(t), out->view(t.name))) << t.name;
  }
}

TEST(Merge, GgufOutputWithQ8_0) {
  Fixture f;
  auto opt = f.options("out.gguf", {{f.b, 1.0f}});  // attn1, attn2 and ff of the UNet block
  opt.patch.output_dtype = DType::Q8_0;
  auto r = tools::merge(opt);
  auto in = io::open_tensor_source(f.model), out = io::open_tensor_source(opt.output);
  EXPECT_EQ(model::ModelIndex::from_source(*out).arch().variant, "sd1");
  const std::string p = "model.diffusion_model.input_blocks.1.1.";
  EXPECT_EQ(out->find(p + "transformer_blocks.0.attn1.to_q.weight")->dtype, DType::Q8_0);
  EXPECT_EQ(out->find(p + "transformer_blocks.0.ff.net.2.bias")->dtype, DType::F16);  // 1-D
  EXPECT_EQ(out->find(p + "proj_in.weight")->dtype, DType::F16);  // [320, 320, 1, 1]: rows of 1
  EXPECT_EQ(out->find("model.diffusion_model.input_blocks.0.0.weight")->dtype, DType::F16);  // 3x3
  // Untouched 2-D tensors are the reference quantizer's bytes of the decoded source.
  for (const std::string k :
       {"cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight",
        "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc2.weight"}) {
    ASSERT_EQ(out->find(k)->dtype, DType::Q8_0) << k;
    const auto w = decode_all(*in, k);
    std::vector<std::byte> want(w.size() / 32 * 34);
    codec::encode(DType::Q8_0, w.data(), want.data(), w.size());
    const auto got = out->view(k).bytes;
    EXPECT_TRUE(std::equal(want.begin(), want.end(), got.begin(), got.end())) << k;
  }
  // Retention of the Q8_0 tensors is reported.
  uint64_t q8 = 0;
  for (const auto& t : r.patched_tensors)
    if (t.dtype == DType::Q8_0) {
      ++q8;
      EXPECT_GT(t.stats.retention, 0.5) << t.name;
      EXPECT_LT(t.stats.retention, 1.5) << t.name;
      EXPECT_GT(t.stats.delta_norm, 0.0) << t.name;
    }
  EXPECT_EQ(q8, 6u);  // attn1 q, k, v, out and ff 0, 2
  auto j = tools::render_json(r);
  EXPECT_EQ(j["retention"]["tensors"], q8);
  EXPECT_NE(tools::render_text(r).find("retention over"), std::string::npos);
  bool file_type = false;
  for (const auto& m : out->metadata())
    if (m.key == "general.file_type") file_type = std::get<uint64_t>(m.value.value) == 7;
  EXPECT_TRUE(file_type);
  // A ggml type cannot go into safetensors; nothing is written.
  opt.output = (f.dir / "bad.safetensors").string();
  EXPECT_THROW(tools::merge(opt), InvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(opt.output));
}

TEST(Merge, UntouchedTensorsConvertToTheOutputType) {
  Fixture f;
  auto opt = f.options("out.safetensors", {{f.b, 1.0f}});
  opt.patch.output_dtype = DType::BF16;
  auto r = tools::merge(opt);
  auto in = io::open_tensor_source(f.model), out = io::open_tensor_source(opt.output);
  EXPECT_EQ(r.copied, 0u);
  EXPECT_EQ(r.converted + r.patched, in->tensors().size());
  for (const auto& t : in->tensors()) {
    ASSERT_EQ(out->find(t.name)->dtype, DType::BF16) << t.name;
    bool patched = false;
    for (const auto& p : r.patched_tensors) patched |= p.name == t.name;
    if (patched) continue;
    const auto w = decode_all(*in, t.name);
    std::vector<std::byte> want(w.size() * 2);
    codec::encode(DType::BF16, w.data(), want.data(), w.size());
    const auto got = out->view(t.name).bytes;
    EXPECT_TRUE(std::equal(want.begin(), want.end(), got.begin(), got.end())) << t.name;
  }
}

TEST(Merge, JsonReport) {
  Fixture f;
  auto r = tools::merge(f.options("out.safetensors", {{f.a, 1.0f}}));
  auto j = tools::render_json(r);
  EXPECT_EQ(j["model"]["arch"], "sd1");
  ASSERT_EQ(j["adapters"].size(), 1u);
  EXPECT_EQ(j["adapters"][0]["format"], "kohya");
  EXPECT_EQ(j["adapters"][0]["matched"], j["adapters"][0]["modules"]);
  EXPECT_EQ(j["adapters"][0]["xxh3_64"].get<std::string>().size(), 16u);
  EXPECT_EQ(j["summary"]["patched"], r.patched);
  EXPECT_EQ(j["summary"]["tensors"], r.tensors);
  EXPECT_EQ(j["patched_tensors"].size(), r.patched);
  EXPECT_EQ(j["metadata"]["lorakit.merge"]["adapters"][0]["file"], "a.safetensors");
  EXPECT_EQ(j["retention"]["tensors"], 0);  // F16 output: nothing quantized
}

}  // namespace
}  // namespace lorakit::testing
