#include "patch/patch_fixtures.hpp"

#include <algorithm>
#include <random>

#include "lorakit/codec.hpp"
#include "lorakit/model.hpp"

namespace lorakit::testing {

std::vector<float> randn(uint64_t n, uint64_t seed, float sigma) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

void write_tensors(const std::filesystem::path& p, const std::vector<FileTensor>& tensors,
                   const std::vector<io::MetadataEntry>& gguf_kv) {
  std::vector<io::TensorDecl> decls;
  for (const auto& t : tensors) decls.push_back({t.name, t.dtype, t.shape});
  auto encoded = [](const FileTensor& t) {
    std::vector<std::byte> b(*bytes_for(t.dtype, t.values.size()));
    codec::encode(t.dtype, t.values.data(), b.data(), t.values.size());
    return b;
  };
  if (p.extension() == ".gguf") {
    io::GgufWriter w(p.string(), gguf_kv, decls);
    for (const auto& t : tensors) w.write(t.name, encoded(t));
    w.commit();
  } else {
    io::SafetensorsWriter w(p.string(), decls);
    for (const auto& t : tensors) w.write(t.name, encoded(t));
    w.commit();
  }
}

std::vector<FileTensor> mini_model(const std::string& reference,
                                   const std::vector<std::string>& keep, DType dtype, uint64_t seed,
                                   uint64_t shrink) {
  const auto ref = model::ModelIndex::reference(reference);
  std::vector<FileTensor> out;
  uint64_t i = 0;
  for (const auto& t : ref.tensors()) {
    ++i;
    if (!std::any_of(keep.begin(), keep.end(),
                     [&](const std::string& k) { return t.name.find(k) != std::string::npos; }))
      continue;
    FileTensor f;
    f.name = t.name;
    f.dtype = dtype;
    f.shape = t.shape;
    for (auto& d : f.shape)
      if (shrink > 1 && d % 3072 == 0) d /= shrink;
    uint64_t n = 1;
    for (auto d : f.shape) n *= d;
    f.values = randn(n, seed * 1000003 + i, 0.05f);
    if (f.shape.size() == 1 && !t.name.ends_with(".bias"))
      for (auto& x : f.values) x += 1.0f;
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<float> read_f32(const io::TensorSource& src, const std::string& name) {
  const auto v = src.view(name);
  std::vector<float> out(v.info->elements);
  codec::decode(v.info->dtype, v.bytes.data(), out.data(), out.size());
  return out;
}

}  // namespace lorakit::testing
