#include "session/session_fixtures.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "lorakit/codec.hpp"
#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::testing {

namespace {

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

// n normal(0, sd) values from (seed, name).
std::vector<float> normal(uint64_t seed, const std::string& name, uint64_t n, float sd) {
  uint64_t state = seed * 0x2545F4914F6CDD1Dull ^ name_hash(name);
  std::vector<float> v(n);
  for (uint64_t i = 0; i < n; i += 2) {
    const double u1 = (static_cast<double>(splitmix(state) >> 11) + 1.0) / 9007199254740993.0;
    const double u2 = static_cast<double>(splitmix(state) >> 11) / 9007199254740992.0;
    const double r = std::sqrt(-2.0 * std::log(u1)) * sd;
    v[i] = static_cast<float>(r * std::cos(6.283185307179586 * u2));
    if (i + 1 < n) v[i + 1] = static_cast<float>(r * std::sin(6.283185307179586 * u2));
  }
  return v;
}

std::vector<std::byte> encode(DType t, const std::vector<float>& v) {
  std::vector<std::byte> out(bytes_for(t, v.size()).value());
  codec::encode(t, v.data(), out.data(), v.size());
  return out;
}

uint64_t elements(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

bool is_block(DType t) { return traits(t).block_elements > 1 && traits(t).ggml_id >= 0; }

}  // namespace

void write_small_model(const std::string& ref, const std::vector<std::string>& include,
                       const std::filesystem::path& path, DType dtype, uint64_t seed) {
  const model::ModelIndex r = model::ModelIndex::reference(ref);
  const bool gguf = path.extension() == ".gguf";
  struct Item {
    io::TensorDecl decl;
    std::vector<std::byte> bytes;
  };
  std::vector<Item> items;
  for (const auto& t : r.tensors()) {
    if (std::none_of(include.begin(), include.end(),
                     [&](const std::string& s) { return t.name.find(s) != std::string::npos; }))
      continue;
    std::vector<uint64_t> shape = t.shape;
    if (ref == "flux")
      for (auto& d : shape)
        if (d % 3072 == 0) d /= 48;
    DType dt = dtype;
    const uint64_t n = elements(shape);
    if (gguf) {
      const bool fits = shape.size() == 2 && shape.back() % traits(dtype).block_elements == 0;
      if (!is_block(dtype) || !fits) dt = shape.size() >= 2 ? DType::F16 : DType::F32;
    } else if (shape.size() < 2) {
      dt = DType::F32;
    }
    items.push_back({{t.name, dt, shape}, encode(dt, normal(seed, t.name, n, 0.02f))});
  }
  if (items.empty()) throw std::runtime_error("write_small_model: nothing selected");
  std::vector<io::TensorDecl> decls;
  for (const auto& it : items) decls.push_back(it.decl);
  if (gguf) {
    std::vector<io::MetadataEntry> kv;
    kv.push_back({"general.architecture", io::GgufValue{io::GgufType::STRING, std::string(ref)}});
    io::GgufWriter w(path.string(), kv, decls);
    for (const auto& it : items) w.write(it.decl.name, it.bytes);
    w.commit();
  } else {
    io::SafetensorsWriter w(path.string(), decls);
    for (const auto& it : items) w.write(it.decl.name, it.bytes);
    w.commit();
  }
}

void write_kohya_lora(const model::ModelIndex& m, const std::vector<std::string>& targets,
                      const std::filesystem::path& path, uint64_t seed, uint32_t rank, float alpha,
                      DType factor_dtype, const std::vector<std::string>& unbound) {
  const model::Naming naming =
      m.arch().family == model::Family::Flux ? model::Naming::Original : model::Naming::Diffusers;
  struct Item {
    io::TensorDecl decl;
    std::vector<std::byte> bytes;
  };
  std::vector<Item> items;
  for (const auto& target : targets) {
    const model::ModulePath* found = nullptr;
    for (const auto& p : m.module_paths())
      if (p.component == model::ComponentKind::DiffusionModel && p.naming == naming &&
          p.binding.parts.size() == 1 && !p.binding.parts[0].rows &&
          p.binding.transform == model::DeltaTransform::None &&
          p.binding.parts[0].tensor == target) {
        found = &p;
        break;
      }
    const model::TensorMeta* w = m.find(target);
    if (!found || !w || w->shape.size() < 2)
      throw std::runtime_error("write_kohya_lora: no kohya path for " + target);
    std::string prefix = "lora_unet_" + found->path;
    std::replace(prefix.begin(), prefix.end(), '.', '_');
    std::vector<uint64_t> down{rank}, up{w->shape[0], rank};
    for (size_t d = 1; d < w->shape.size(); ++d) down.push_back(w->shape[d]);
    for (size_t d = 2; d < w->shape.size(); ++d) up.push_back(1);
    const std::string dn = prefix + ".lora_down.weight", un = prefix + ".lora_up.weight";
    items.push_back(
        {{dn, factor_dtype, down}, encode(factor_dtype, normal(seed, dn, elements(down), 0.1f))});
    items.push_back(
        {{un, factor_dtype, up}, encode(factor_dtype, normal(seed, un, elements(up), 0.1f))});
    items.push_back({{prefix + ".alpha", DType::F32, {}}, encode(DType::F32, {alpha})});
  }
  for (const auto& prefix : unbound) {
    const std::string dn = prefix + ".lora_down.weight", un = prefix + ".lora_up.weight";
    items.push_back({{dn, factor_dtype, {rank, 8}},
                     encode(factor_dtype, normal(seed, dn, uint64_t{rank} * 8, 0.1f))});
    items.push_back({{un, factor_dtype, {8, rank}},
                     encode(factor_dtype, normal(seed, un, uint64_t{rank} * 8, 0.1f))});
  }
  std::vector<io::TensorDecl> decls;
  for (const auto& it : items) decls.push_back(it.decl);
  io::SafetensorsWriter wr(
      path.string(), decls,
      std::map<std::string, std::string>{{"ss_network_module", "networks.lora"}});
  for (const auto& it : items) wr.write(it.decl.name, it.bytes);
  wr.commit();
}

namespace {

std::unique_ptr<SessionCorpus> make_corpus() {
  static TempDir dir;
  auto c = std::make_unique<SessionCorpus>();
  c->dir = dir.path();
  const std::vector<std::string> sd1_blocks{"model.diffusion_model.input_blocks.0.0.",
                                            "model.diffusion_model.input_blocks.1.1."};
  c->sd1 = (dir / "sd1.safetensors").string();
  c->sd1_bf16 = (dir / "sd1-bf16.safetensors").string();
  c->sd1_q8 = (dir / "sd1-q8_0.gguf").string();
  write_small_model("sd1", sd1_blocks, c->sd1, DType::F16, 1);
  write_small_model("sd1", sd1_blocks, c->sd1_bf16, DType::BF16, 2);
  write_small_model("sd1", sd1_blocks, c->sd1_q8, DType::Q8_0, 3);

  const std::string tb = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.";
  const std::string blk = "model.diffusion_model.input_blocks.1.1.";
  const std::vector<std::vector<std::string>> sd1_sets{
      {tb + "attn1.to_q.weight", tb + "attn1.to_k.weight", tb + "attn2.to_k.weight",
       tb + "ff.net.2.weight"},
      {tb + "attn1.to_q.weight", tb + "attn1.to_v.weight", tb + "attn2.to_v.weight",
       blk + "proj_in.weight"},
      {tb + "attn1.to_out.0.weight", tb + "attn2.to_k.weight", tb + "ff.net.0.proj.weight"},
      {tb + "attn2.to_q.weight", tb + "attn2.to_out.0.weight", blk + "proj_out.weight",
       tb + "attn1.to_q.weight"},
  };
  const model::ModelIndex sd1 = model::ModelIndex::from_source(*io::open_tensor_source(c->sd1));
  for (size_t i = 0; i < sd1_sets.size(); ++i) {
    const std::string p = (dir / fmt::format("sd1-{}.safetensors", char('a' + i))).string();
    write_kohya_lora(sd1, sd1_sets[i], p, 100 + i, 4, i == 2 ? 4.0f : 2.0f,
                     i == 1 ? DType::F16 : DType::F32);
    c->sd1_loras.push_back(p);
    for (const auto& t : sd1_sets[i])
      if (std::find(c->sd1_targets.begin(), c->sd1_targets.end(), t) == c->sd1_targets.end())
        c->sd1_targets.push_back(t);
  }

  c->sdxl = (dir / "sdxl.safetensors").string();
  const std::string xb = "model.diffusion_model.input_blocks.4.1.";
  const std::string xt = xb + "transformer_blocks.0.";
  write_small_model("sdxl",
                    {"model.diffusion_model.input_blocks.0.0.", xb + "proj_in.", xt + "attn1.",
                     xt + "attn2.to_k.", xt + "attn2.to_q."},
                    c->sdxl, DType::F16, 4);
  const model::ModelIndex sdxl = model::ModelIndex::from_source(*io::open_tensor_source(c->sdxl));
  const std::vector<std::vector<std::string>> sdxl_sets{
      {xt + "attn1.to_q.weight", xt + "attn2.to_k.weight"},
      {xt + "attn1.to_k.weight", xt + "attn1.to_v.weight", xt + "attn1.to_q.weight"},
      {xt + "attn1.to_out.0.weight", xt + "attn2.to_q.weight", xb + "proj_in.weight"},
  };
  for (size_t i = 0; i < sdxl_sets.size(); ++i) {
    const std::string p = (dir / fmt::format("sdxl-{}.safetensors", char('a' + i))).string();
    write_kohya_lora(sdxl, sdxl_sets[i], p, 200 + i);
    c->sdxl_loras.push_back(p);
  }

  c->flux = (dir / "flux.safetensors").string();
  write_small_model("flux", {"img_in.", "double_blocks.0.", "single_blocks.0."}, c->flux,
                    DType::BF16, 5);
  const model::ModelIndex flux = model::ModelIndex::from_source(*io::open_tensor_source(c->flux));
  const std::string fd = "model.diffusion_model.double_blocks.0.";
  const std::string fs = "model.diffusion_model.single_blocks.0.";
  const std::vector<std::vector<std::string>> flux_sets{
      {fd + "img_attn.qkv.weight", fd + "txt_mlp.0.weight", fs + "linear1.weight"},
      {fd + "img_attn.qkv.weight", fs + "linear2.weight", fd + "img_attn.proj.weight"},
  };
  for (size_t i = 0; i < flux_sets.size(); ++i) {
    const std::string p = (dir / fmt::format("flux-{}.safetensors", char('a' + i))).string();
    write_kohya_lora(flux, flux_sets[i], p, 300 + i);
    c->flux_loras.push_back(p);
  }
  return c;
}

}  // namespace

const SessionCorpus& corpus() {
  static const std::unique_ptr<SessionCorpus> c = make_corpus();
  return *c;
}

Snapshot snapshot(const session::Session& s) {
  Snapshot out;
  for (const auto& name : s.tensor_names()) {
    const session::Tensor t = s.read(name);
    out[name] = TensorBytes{t.dtype, t.shape, {t.bytes.begin(), t.bytes.end()}};
  }
  return out;
}

Snapshot fresh(const std::string& model, const std::vector<session::AdapterRequest>& set,
               const session::SessionOptions& options) {
  session::Session s(options);
  s.open_model(model);
  s.set_adapters(set);
  return snapshot(s);
}

Snapshot pristine(const std::string& model) {
  auto src = io::open_tensor_source(model);
  Snapshot out;
  for (const auto& info : src->tensors()) {
    const auto v = src->view(info);
    out[info.name] = TensorBytes{info.dtype, info.shape, {v.bytes.begin(), v.bytes.end()}};
  }
  return out;
}

std::string differing(const Snapshot& a, const Snapshot& b) {
  std::vector<std::string> names;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || !(it->second == t)) names.push_back(name);
  }
  for (const auto& [name, t] : b)
    if (!a.count(name)) names.push_back(name + " (only in the second)");
  if (names.empty()) return {};
  std::string s = fmt::format("{} tensors differ: ", names.size());
  for (size_t i = 0; i < names.size() && i < 4; ++i) {
    if (i) s += ", ";
    s += names[i];
  }
  return s;
}

}  // namespace lorakit::testing
