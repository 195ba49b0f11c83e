// synth_model: a reference layout's tensors (or a detectable subset) filled with deterministic
// normal values, generated in chunks over the thread pool and written atomically.
#include <fmt/format.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "tools/synth.hpp"
#include "tools/synth_random.hpp"
#include "tools/tensor_stream.hpp"

namespace lorakit::tools {
namespace {

bool is_gguf_path(const std::string& path) {
  const auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".gguf") return true;
  if (ext == ".safetensors") return false;
  throw InvalidArgument(path + ": output must end in .gguf or .safetensors");
}

// Diffusion-model keys detection reads (model/detect_diffusion.cpp), by suffix.
constexpr std::string_view kDiffusionAnchors[] = {
    "input_blocks.0.0.weight",                        // SD UNets: conv_in (channels, in_ch)
    "label_emb.0.0.weight",                           // SDXL / unCLIP: adm width
    "joint_blocks.0.context_block.attn.qkv.weight",   // SD3
    "joint_blocks.0.context_block.attn.ln_q.weight",  // SD3.5 qk-norm
    "x_embedder.proj.weight",                         // SD3 depth
    "double_blocks.0.img_attn.norm.key_norm.scale",   // FLUX
    "double_blocks.0.img_mod.lin.weight",             // FLUX (and its ComfyUI layout)
    "img_in.weight",                                  // FLUX width and variant
    "guidance_in.in_layer.weight",                    // FLUX dev
};

// Keys detection reads for an encoder or VAE component, after the component's prefix.
std::string_view component_anchor(const model::Component& c) {
  switch (c.naming) {
    case model::Naming::HfClip:
      return "text_model.encoder.layers.0.self_attn.q_proj.weight";
    case model::Naming::OpenClip:
      return "transformer.resblocks.0.attn.in_proj_weight";
    case model::Naming::HfT5:
      return "encoder.block.0.layer.0.SelfAttention.q.weight";
    case model::Naming::Vae:
      return "encoder.down.0.block.0.conv1.weight";
    default:
      return "";
  }
}

bool contains_any(std::string_view name, const std::vector<std::string>& subs) {
  return std::any_of(subs.begin(), subs.end(),
                     [&](const std::string& s) { return name.find(s) != std::string_view::npos; });
}

DType stored_type(const model::TensorMeta& t, DType want) {
  if (!traits(t.dtype).is_float) return t.dtype;
  const auto& tr = traits(want);
  if (tr.block_elements == 1) return want;
  if (t.shape.size() >= 2 && t.shape.back() % tr.block_elements == 0) return want;
  return t.shape.size() >= 2 ? DType::F16 : DType::F32;
}

void check_dtype(DType t, bool gguf, const std::string& out) {
  const auto& tr = traits(t);
  if (!tr.is_float || !codec::can_encode(t))
    throw InvalidArgument(fmt::format("synth: cannot write model tensors as {}", tr.name));
  if (gguf ? tr.ggml_id < 0 : (!tr.in_safetensors || tr.block_elements != 1))
    throw InvalidArgument(fmt::format("{}: a {} file cannot hold {} tensors", out,
                                      gguf ? "GGUF" : "safetensors", tr.name));
}

std::string options_json(const SynthModelOptions& o) {
  nlohmann::ordered_json j{{"reference", o.reference},
                           {"include", o.include},
                           {"dtype", std::string(name(o.dtype))},
                           {"stddev", o.stddev},
                           {"seed", o.seed}};
  return j.dump();
}

}  // namespace

std::vector<model::TensorMeta> synth_model_tensors(const SynthModelOptions& opt) {
  const auto ref = model::ModelIndex::reference(opt.reference);
  const auto& all = ref.tensors();  // name order
  std::vector<bool> keep(all.size(), opt.include.empty());
  for (size_t i = 0; i < all.size(); ++i)
    if (!keep[i]) keep[i] = contains_any(all[i].name, opt.include);
  if (!opt.include.empty()) {
    // The diffusion model's anchors, and one cross-attention key for an SD UNet's context width.
    bool context = false;
    for (size_t i = 0; i < all.size(); ++i) {
      std::string_view n = all[i].name;
      for (auto a : kDiffusionAnchors)
        if (n.ends_with(a) && (n.size() == a.size() || n[n.size() - a.size() - 1] == '.'))
          keep[i] = true;
      if (!context && n.find("input_blocks.") != std::string_view::npos &&
          n.ends_with(".transformer_blocks.0.attn2.to_k.weight"))
        keep[i] = context = true;
    }
    // A component with any tensor kept keeps the key that detects it.
    for (const auto& c : ref.components()) {
      const auto anchor = component_anchor(c);
      if (anchor.empty()) continue;
      bool used = false;
      for (size_t i = 0; i < all.size() && !used; ++i)
        used = keep[i] && all[i].name.starts_with(c.prefix);
      if (!used) continue;
      if (const auto* t = ref.find(c.prefix + std::string(anchor)))
        keep[static_cast<size_t>(t - all.data())] = true;
    }
  }
  std::vector<model::TensorMeta> out;
  for (size_t i = 0; i < all.size(); ++i) {
    if (!keep[i]) continue;
    out.push_back(all[i]);
    out.back().dtype = stored_type(all[i], opt.dtype);
  }
  // The subset must still be the same architecture in the same layout.
  const auto got = model::ModelIndex::from_tensors("synth", out);
  const auto& want = ref.arch();
  if (got.arch().family != want.family || got.arch().variant != want.variant ||
      got.layout() != ref.layout())
    throw Error(fmt::format("synth: the selected tensors of {} detect as {} ({} layout), not {}",
                            opt.reference, got.arch().variant, model::layout_name(got.layout()),
                            want.variant));
  return out;
}

SynthModelResult synth_model(const SynthModelOptions& opt, const std::string& out_path) {
  const auto t0 = std::chrono::steady_clock::now();
  const bool gguf = is_gguf_path(out_path);
  check_dtype(opt.dtype, gguf, out_path);
  const auto tensors = synth_model_tensors(opt);

  SynthModelResult res;
  std::vector<io::TensorDecl> decls;
  for (const auto& t : tensors) {
    decls.push_back({t.name, t.dtype, t.shape});
    uint64_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    res.parameters += n;
    res.tensor_bytes += *bytes_for(t.dtype, n);
  }
  res.tensors = tensors.size();

  std::optional<io::SafetensorsWriter> st;
  std::optional<io::GgufWriter> gg;
  if (gguf) {
    std::vector<io::MetadataEntry> kv{
        {"lorakit.synth", io::GgufValue{io::GgufType::STRING, options_json(opt), {}}}};
    gg.emplace(out_path, std::move(kv), decls);
  } else {
    st.emplace(
        out_path, decls,
        std::map<std::string, std::string>{{"format", "pt"}, {"lorakit.synth", options_json(opt)}});
  }

  // Work items: chunks of whole blocks of every tensor.
  struct Job {
    const model::TensorMeta* t;
    uint64_t elements, begin, n;
  };
  std::vector<Job> jobs;
  for (const auto& t : tensors) {
    uint64_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    const uint64_t chunk = chunk_elements(n, traits(t.dtype).block_elements, uint64_t{1} << 20);
    for (uint64_t b = 0; b < n; b += chunk) jobs.push_back({&t, n, b, std::min(chunk, n - b)});
  }

  std::atomic<uint64_t> written{0};
  std::mutex progress_mutex;
  tbb::parallel_for(tbb::blocked_range<size_t>(0, jobs.size(), 1), [&](const auto& range) {
    std::vector<float> f;
    std::vector<std::byte> b;
    for (size_t j = range.begin(); j != range.end(); ++j) {
      const Job& job = jobs[j];
      const auto& tr = traits(job.t->dtype);
      const uint64_t off = job.begin / tr.block_elements * tr.block_bytes;
      b.assign(job.n / tr.block_elements * tr.block_bytes, std::byte{0});
      if (tr.is_float) {
        f.resize(job.n);
        synth_normal(synth_stream_key(opt.seed, job.t->name), job.begin, job.n, opt.stddev,
                     f.data());
        codec::encode(job.t->dtype, f.data(), b.data(), job.n);
      }
      if (gg)
        gg->write(job.t->name, b, off);
      else
        st->write(job.t->name, b, off);
      written += b.size();
      if (opt.progress) {
        std::lock_guard lock(progress_mutex);
        opt.progress(written.load(), res.tensor_bytes);
      }
    }
  });
  if (gg)
    gg->commit();
  else
    st->commit();

  res.arch = model::ModelIndex::from_tensors(out_path, tensors).arch();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace lorakit::tools
