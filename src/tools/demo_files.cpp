// The demo's inputs: small models in three layouts (plus the SD1 model in three ggml types and
// their dequantized twins) and LoRAs for them, including a FLUX LoRA in diffusers naming with parts
// missing.
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "lorakit/adapter.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "tools/demo_internal.hpp"
#include "tools/quantize.hpp"
#include "tools/synth.hpp"

namespace lorakit::tools::demo_detail {
namespace {

model::ModelIndex index_of(const std::string& path) {
  return model::ModelIndex::from_source(*io::open_tensor_source(path));
}

// Copies an adapter file without the records `drop` picks (every key of theirs).
void write_without(const std::string& in, const std::string& out, const model::ModelIndex& model,
                   const std::function<bool(const adapter::Module&)>& drop) {
  const auto a = adapter::parse_file(in, model);
  std::set<std::string> dropped;
  for (const auto& m : a.modules)
    if (drop(m)) dropped.insert(m.keys.begin(), m.keys.end());
  const auto& src = *a.source;
  std::vector<io::TensorDecl> decls;
  for (const auto& t : src.tensors())
    if (!dropped.contains(t.name)) decls.push_back({t.name, t.dtype, t.shape});
  std::map<std::string, std::string> meta;
  for (const auto& m : src.metadata())
    if (m.value.type == io::GgufType::STRING) meta[m.key] = std::get<std::string>(m.value.value);
  io::SafetensorsWriter w(out, decls, meta);
  for (const auto& d : decls) w.write(d.name, src.view(d.name).bytes);
  w.commit();
}

}  // namespace

DemoFiles build_files(const std::string& dir) {
  auto path = [&](const char* name) { return (std::filesystem::path(dir) / name).string(); };
  DemoFiles f;

  // SD1: one transformer block of the UNet and the first CLIP layer (about 5 MB in F16).
  SynthModelOptions m;
  m.reference = "sd1";
  m.include = {"input_blocks.1.1.", "cond_stage_model.transformer.text_model.encoder.layers.0."};
  f.sd1 = path("sd1.safetensors");
  synth_model(m, f.sd1);
  const auto sd1 = index_of(f.sd1);
  SynthAdapterOptions a;
  a.rank = 8, a.alpha = 4, a.seed = 1, a.text_encoder = true;
  synth_adapter(sd1, a, f.sd1_a = path("sd1_a.safetensors"));
  a = {};
  a.rank = 4, a.alpha = 4, a.seed = 2, a.include = {"attn"};
  synth_adapter(sd1, a, f.sd1_b = path("sd1_b.safetensors"));

  // The same SD1 subset in three ggml types, and each dequantized to F32.
  const std::pair<DType, std::string*> quant[] = {
      {DType::Q8_0, &f.sd1_q8_0}, {DType::Q4_K, &f.sd1_q4_k}, {DType::Q6_K, &f.sd1_q6_k}};
  std::string* twins[] = {&f.sd1_q8_0_f32, &f.sd1_q4_k_f32, &f.sd1_q6_k_f32};
  for (size_t i = 0; i < 3; ++i) {
    const std::string base = "sd1_" + std::string(name(quant[i].first));
    *quant[i].second = path((base + ".gguf").c_str());
    m.dtype = quant[i].first;
    synth_model(m, *quant[i].second);
    QuantizeOptions q;
    q.input = *quant[i].second;
    q.output = *twins[i] = path((base + "_f32.safetensors").c_str());
    q.type = DType::F32;
    quantize(q);
  }

  // SDXL: the first attention of the first transformer block, the first CLIP-L layer.
  m = {};
  m.reference = "sdxl";
  m.include = {"input_blocks.4.1.transformer_blocks.0.attn1.",
               "conditioner.embedders.0.transformer.text_model.encoder.layers.0."};
  f.sdxl = path("sdxl.safetensors");
  synth_model(m, f.sdxl);
  const auto sdxl = index_of(f.sdxl);
  a = {};
  a.rank = 8, a.alpha = 8, a.seed = 11, a.text_encoder = true;
  synth_adapter(sdxl, a, f.sdxl_a = path("sdxl_a.safetensors"));
  a = {};
  a.rank = 4, a.alpha = 2, a.seed = 12, a.include = {"attn1"};
  synth_adapter(sdxl, a, f.sdxl_b = path("sdxl_b.safetensors"));
  a = {};
  a.rank = 4, a.alpha = 4, a.seed = 13, a.text_encoder = true, a.include = {"text_model."};
  synth_adapter(sdxl, a, f.sdxl_c = path("sdxl_c.safetensors"));

  // FLUX (BF16): the image attention of double block 0 and single block 0's linear1, with the keys
  // detection needs (img_mod alone is 110 MB).
  m = {};
  m.reference = "flux";
  m.dtype = DType::BF16;
  m.include = {"double_blocks.0.img_attn.", "single_blocks.0.linear1"};
  f.flux = path("flux.safetensors");
  synth_model(m, f.flux);
  const auto flux = index_of(f.flux);
  a = {};
  a.rank = 4, a.alpha = 4, a.seed = 21;
  synth_adapter(flux, a, f.flux_lora = path("flux_lora.safetensors"));
  // The same LoRA in diffusers naming (fused records split by rows), then without the k part of
  // the double block's qkv and without the single block's proj_mlp; and that partial set in BFL
  // naming (fused again, missing parts as zero rows).
  const auto full = path("flux_diffusers.safetensors");
  adapter::convert(adapter::parse_file(f.flux_lora, flux), flux, adapter::TargetFamily::Diffusers,
                   full);
  const uint64_t h = flux.arch().hidden;
  f.flux_partial = path("flux_partial_diffusers.safetensors");
  write_without(full, f.flux_partial, flux, [&](const adapter::Module& mod) {
    if (mod.target.parts.size() != 1 || !mod.target.parts[0].rows) return false;
    const auto& p = mod.target.parts[0];
    return (p.tensor.ends_with("img_attn.qkv.weight") && p.rows->begin == h) ||
           (p.tensor.ends_with("linear1.weight") && p.rows->begin == 3 * h);
  });
  f.flux_partial_bfl = path("flux_partial_bfl.safetensors");
  adapter::convert(adapter::parse_file(f.flux_partial, flux), flux, adapter::TargetFamily::Bfl,
                   f.flux_partial_bfl);
  return f;
}

}  // namespace lorakit::tools::demo_detail
