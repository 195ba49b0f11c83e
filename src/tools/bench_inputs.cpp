// The inputs of `lorakit bench`: synthetic models and LoRAs in a cache folder, each built once and
// reused while the stamp beside it (how it was made, and by which lorakit) still matches.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "lorakit/adapter.hpp"
#include "lorakit/error.hpp"
#include "tools/bench_internal.hpp"
#include "tools/version.hpp"

namespace lorakit::tools::bench_detail {
namespace {

namespace fs = std::filesystem;

std::string model_stamp(const SynthModelOptions& o) {
  return fmt::format("reference={}\ninclude={}\ndtype={}\nstddev={}\nseed={}\n", o.reference,
                     fmt::join(o.include, ","), name(o.dtype), o.stddev, o.seed);
}

std::string adapter_stamp(const SynthAdapterOptions& o) {
  return fmt::format(
      "rank={}\nalpha={}\nseed={}\ntext_encoder={}\nmodulation={}\ninclude={}\n"
      "dtype={}\nweight_std={}\ndelta_ratio={}\n",
      o.rank, o.alpha, o.seed, o.text_encoder, o.modulation, fmt::join(o.include, ","),
      name(o.dtype), o.weight_std, o.delta_ratio);
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return {};
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Writes `text` to `p` through a temporary file and a rename, so a stamp never describes a file
// that was not completely built.
void write_text_atomic(const fs::path& p, const std::string& text) {
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) throw IoError(fmt::format("{}: cannot write the stamp file", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) throw IoError(fmt::format("{}: cannot rename into place: {}", p.string(), ec.message()));
}

model::ModelIndex index_of(const SynthModelOptions& o) {
  return model::ModelIndex::from_tensors("synthetic:" + o.reference, synth_model_tensors(o));
}

uint64_t synth_bytes(const SynthModelOptions& o) {
  uint64_t n = 0;
  for (const auto& t : synth_model_tensors(o)) {
    uint64_t e = 1;
    for (auto d : t.shape) e *= d;
    n += bytes_for(t.dtype, e).value_or(e * 4);
  }
  return n;
}

std::string human(uint64_t bytes) {
  return bytes >= (1ull << 30) ? fmt::format("{:.1f} GB", static_cast<double>(bytes) / 1e9)
                               : fmt::format("{:.0f} MB", static_cast<double>(bytes) / 1e6);
}

}  // namespace

InputCache::InputCache(std::string dir, bool quick, std::function<void(const std::string&)> log)
    : dir_(std::move(dir)), quick_(quick), log_(std::move(log)) {
  if (quick_) dir_ = (fs::path(dir_) / "quick").string();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || ::access(dir_.c_str(), W_OK) != 0)
    throw IoError(fmt::format("{}: cannot create or write the bench cache folder ({})", dir_,
                              ec ? ec.message() : "not writable"));
}

std::string InputCache::ensure(const std::string& file, const std::string& stamp_body,
                               uint64_t expected_bytes,
                               const std::function<void(const std::string&)>& make) {
  const fs::path path = fs::path(dir_) / file;
  const fs::path stamp_path = path.string() + ".stamp";
  const std::string stamp =
      fmt::format("lorakit={}\nquick={}\n{}", version(), quick_ ? 1 : 0, stamp_body);
  if (stamps_.contains(path.string())) return path.string();
  if (fs::exists(path) && read_text(stamp_path) == stamp) {
    stamps_[path.string()] = stamp;
    return path.string();
  }
  std::error_code ec;
  fs::remove(stamp_path, ec);
  fs::remove(path, ec);
  const auto space = fs::space(dir_, ec);
  // Room for the file and a margin for the rest of the run (merge outputs are checked separately).
  if (!ec && space.available < expected_bytes + (1ull << 30))
    throw IoError(fmt::format("{}: {} needed to build {}, {} free", dir_,
                              human(expected_bytes + (1ull << 30)), file, human(space.available)));
  if (log_) log_(fmt::format("synthesizing {} ({})", file, human(expected_bytes)));
  const auto t0 = std::chrono::steady_clock::now();
  make(path.string());
  synth_seconds_ += since(t0);
  write_text_atomic(stamp_path, stamp);
  synthesized_.push_back(file);
  stamps_[path.string()] = stamp;
  return path.string();
}

std::string InputCache::model(const std::string& stem, const SynthModelOptions& o,
                              const std::string& ext) {
  return ensure(stem + ext, model_stamp(o), synth_bytes(o),
                [&](const std::string& p) { synth_model(o, p); });
}

std::string InputCache::lora(const std::string& stem, const std::string& model_stem,
                             const SynthModelOptions& model_options, const SynthAdapterOptions& o) {
  const std::string body =
      fmt::format("lora over {}:\n{}{}", model_stem, model_stamp(model_options), adapter_stamp(o));
  // A LoRA is a small fraction of its model; rank 128 over FLUX is about 1 GB.
  return ensure(stem + ".safetensors", body, 1ull << 30,
                [&](const std::string& p) { synth_adapter(index_of(model_options), o, p); });
}

std::string InputCache::converted(const std::string& stem, const std::string& source,
                                  const std::string& source_stamp,
                                  const SynthModelOptions& model_options,
                                  const std::string& family) {
  const std::string body = fmt::format("converted to {} from:\n{}", family, source_stamp);
  return ensure(stem + ".safetensors", body, 1ull << 30, [&](const std::string& p) {
    const auto index = index_of(model_options);
    const auto fam = family == "peft"        ? adapter::TargetFamily::Peft
                     : family == "diffusers" ? adapter::TargetFamily::Diffusers
                                             : adapter::TargetFamily::Bfl;
    adapter::convert(adapter::parse_file(source, index), index, fam, p);
  });
}

SynthModelOptions InputCache::sd1_options() const {
  SynthModelOptions o;
  o.reference = "sd1";
  o.dtype = DType::F16;
  // Quick: one transformer block at each UNet width (320, 640, 1280) and the first CLIP layer.
  if (quick_)
    o.include = {"model.diffusion_model.input_blocks.1.1.",
                 "model.diffusion_model.input_blocks.4.1.",
                 "model.diffusion_model.input_blocks.7.1.",
                 "cond_stage_model.transformer.text_model.encoder.layers.0."};
  return o;
}

SynthModelOptions InputCache::sdxl_options() const {
  SynthModelOptions o;
  o.reference = "sdxl";
  o.dtype = DType::F16;
  if (quick_)
    o.include = {"model.diffusion_model.input_blocks.4.1.transformer_blocks.0.",
                 "model.diffusion_model.input_blocks.7.1.transformer_blocks.0.",
                 "conditioner.embedders.0.transformer.text_model.encoder.layers.0.",
                 "conditioner.embedders.1.model.transformer.resblocks.0."};
  return o;
}

SynthModelOptions InputCache::flux_options(bool q4k) const {
  SynthModelOptions o;
  o.reference = "flux";
  o.dtype = q4k ? DType::Q4_K : DType::BF16;
  // The diffusion model alone (the reference checkpoint also holds T5-XXL, CLIP-L and the VAE).
  // Quick: double block 0's image attention and single block 0's linear1, plus the keys detection
  // keeps.
  if (quick_)
    o.include = {"model.diffusion_model.double_blocks.0.img_attn.",
                 "model.diffusion_model.single_blocks.0.linear1"};
  else
    o.include = {"model.diffusion_model."};
  return o;
}

std::string InputCache::sd1() { return model("sd1-f16", sd1_options(), ".safetensors"); }
std::string InputCache::sdxl() { return model("sdxl-f16", sdxl_options(), ".safetensors"); }
std::string InputCache::flux_q4k() { return model("flux-q4_k", flux_options(true), ".gguf"); }
std::string InputCache::flux_bf16() {
  if (quick_) throw InvalidArgument("bench: the FLUX BF16 model is not built in --quick");
  return model("flux-bf16", flux_options(false), ".safetensors");
}

std::string InputCache::sd1_lora() {
  SynthAdapterOptions a;
  a.rank = 32, a.alpha = 16, a.seed = 1, a.text_encoder = true;
  return lora("sd1-r32", "sd1", sd1_options(), a);
}

std::string InputCache::sdxl_lora_a() {
  SynthAdapterOptions a;
  a.rank = 32, a.alpha = 16, a.seed = 11, a.text_encoder = true;
  return lora("sdxl-r32-a", "sdxl", sdxl_options(), a);
}

std::string InputCache::sdxl_lora_b() {
  SynthAdapterOptions a;
  a.rank = 32, a.alpha = 32, a.seed = 12, a.text_encoder = true;
  return lora("sdxl-r32-b", "sdxl", sdxl_options(), a);
}

std::string InputCache::flux_lora() {
  SynthAdapterOptions a;
  a.rank = 32, a.alpha = 16, a.seed = 21;
  return lora("flux-r32", "flux", flux_options(false), a);
}

std::vector<std::string> InputCache::flux_check_loras() {
  const auto mo = flux_options(false);
  std::vector<std::string> out;
  out.push_back(flux_lora());
  SynthAdapterOptions a;
  a.rank = 128, a.alpha = 64, a.seed = 22;
  out.push_back(lora("flux-r128", "flux", mo, a));
  a = {};
  a.rank = 8, a.alpha = 8, a.seed = 23;
  const std::string r8 = lora("flux-r8", "flux", mo, a);
  out.push_back(converted("flux-r8-peft", r8, stamps_.at(r8), mo, "peft"));
  out.push_back(converted("flux-r32-diffusers", out[0], stamps_.at(out[0]), mo, "diffusers"));
  a = {};
  a.rank = 16, a.alpha = 16, a.seed = 24, a.modulation = true;
  const std::string r16 = lora("flux-r16-mod", "flux", mo, a);
  out.push_back(converted("flux-r16-mod-bfl", r16, stamps_.at(r16), mo, "bfl"));
  return out;
}

}  // namespace lorakit::tools::bench_detail
