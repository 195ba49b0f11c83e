// lorakit_synth: synthetic inputs for benchmarks and manual tests.
//  - `lorakit_synth OUT --gb N`: a safetensors model of about N GB made of [rows, cols] linear
//    weights and 1-D biases (for whole-file timings of quantize, diff, merge).
//  - `lorakit_synth OUT --reference sd1|sd2|sdxl|sd3|flux [--include SUBSTR]...`: a model with that
//    built-in layout's names and shapes (whole, or the matching tensors plus the ones architecture
//    detection needs), in --type (a ggml type for .gguf output).
//  - `lorakit_synth OUT --lora (--reference NAME | --model FILE) [--rank R --alpha A --te]`: a
//  kohya
//    LoRA over the usual attention/MLP targets of that model.
// Values are deterministic normal(0, --std) draws from --seed, streamed tensor by tensor.
#include <fmt/core.h>
#include <tbb/global_control.h>

#include <CLI/CLI.hpp>
#include <optional>
#include <random>
#include <vector>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "tools/synth.hpp"

namespace {

int write_plain(const std::string& out, lorakit::DType dt, double gb, uint64_t rows,
                uint64_t cols) {
  const uint64_t esize = lorakit::traits(dt).block_bytes;
  const uint64_t per_tensor = rows * cols * esize;
  const uint64_t n = std::max<uint64_t>(1, static_cast<uint64_t>(gb * 1e9) / per_tensor);
  std::vector<lorakit::io::TensorDecl> decls;
  for (uint64_t i = 0; i < n; ++i) {
    decls.push_back({fmt::format("blocks.{}.weight", i), dt, {rows, cols}});
    decls.push_back({fmt::format("blocks.{}.bias", i), dt, {rows}});
  }
  lorakit::io::SafetensorsWriter w(out, decls);
  std::mt19937_64 rng(1234);
  std::normal_distribution<float> nd(0.f, 0.02f);
  std::vector<float> f(rows * cols);
  std::vector<std::byte> b(rows * cols * esize);
  for (uint64_t i = 0; i < n; ++i) {
    for (auto& x : f) x = nd(rng);
    lorakit::codec::encode(dt, f.data(), b.data(), f.size());
    w.write(fmt::format("blocks.{}.weight", i), b);
    lorakit::codec::encode(dt, f.data(), b.data(), rows);
    w.write(fmt::format("blocks.{}.bias", i), std::span(b.data(), rows * esize));
  }
  w.commit();
  fmt::print("{}: {} tensors, {:.2f} GB\n", out, 2 * n,
             static_cast<double>(n * (per_tensor + rows * esize)) / 1e9);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write a synthetic model or LoRA for benchmarks and tests", "lorakit_synth"};
  std::string out, type = "F16", reference, model_path;
  double gb = 2.2;
  uint64_t cols = 3072, rows = 3072;
  int threads = 0;
  bool lora = false;
  lorakit::tools::SynthModelOptions mopt;
  lorakit::tools::SynthAdapterOptions aopt;
  app.add_option("OUT", out)->required();
  app.add_option("--gb", gb, "Approximate size in GB (1e9 bytes) of the plain model");
  app.add_option("--type", type,
                 "Tensor type: F16, BF16, F32, F8_E4M3, F8_E5M2 or (.gguf) a ggml type");
  app.add_option("--rows", rows, "Plain model: rows per weight");
  app.add_option("--cols", cols, "Plain model: columns per weight");
  app.add_option("--reference", reference, "Built-in layout: sd1 sd2 sdxl sd3 flux");
  app.add_option("--include", mopt.include,
                 "Keep only tensors (model) or targets (--lora) whose name contains this");
  app.add_option("--seed", mopt.seed, "Seed of the values");
  app.add_option("--std", mopt.stddev, "Standard deviation of the model's values");
  app.add_flag("--lora", lora, "Write a kohya LoRA instead of a model");
  app.add_option("--model", model_path, "--lora: bind to this model file instead of --reference");
  app.add_option("--rank", aopt.rank, "--lora: rank");
  app.add_option("--alpha", aopt.alpha, "--lora: alpha");
  app.add_flag("--te", aopt.text_encoder, "--lora: also the text encoders");
  app.add_flag("--modulation", aopt.modulation, "--lora: also the FLUX/SD3 modulation linears");
  app.add_option("--threads", threads, "Worker threads (default: all cores)");
  CLI11_PARSE(app, argc, argv);
  std::optional<tbb::global_control> limit;
  if (threads > 0) limit.emplace(tbb::global_control::max_allowed_parallelism, threads);
  auto dt = lorakit::dtype_from_user_name(type);
  if (!dt) {
    fmt::print(stderr, "lorakit_synth: unknown type {}\n", type);
    return 2;
  }
  try {
    if (lora) {
      if (reference.empty() == model_path.empty())
        throw lorakit::InvalidArgument("--lora needs --reference NAME or --model FILE");
      aopt.seed = mopt.seed;
      aopt.weight_std = mopt.stddev;
      if (type != "F16") aopt.dtype = *dt;
      std::optional<lorakit::model::ModelIndex> model;
      if (!model_path.empty()) {
        aopt.include = mopt.include;
        model =
            lorakit::model::ModelIndex::from_source(*lorakit::io::open_tensor_source(model_path));
      } else {
        // --include picks targets among the reference layout's modules.
        aopt.include = mopt.include;
        model = lorakit::model::ModelIndex::reference(reference);
      }
      auto r = lorakit::tools::synth_adapter(*model, aopt, out);
      fmt::print("{}: {} LoRA modules, rank {}, alpha {:g}, {:.3f} GB\n", out, r.modules, aopt.rank,
                 aopt.alpha, static_cast<double>(r.tensor_bytes) / 1e9);
      return 0;
    }
    if (!reference.empty()) {
      mopt.reference = reference;
      mopt.dtype = *dt;
      auto r = lorakit::tools::synth_model(mopt, out);
      fmt::print("{}: {} ({}), {} tensors, {} parameters, {:.3f} GB in {:.2f} s\n", out,
                 r.arch.variant, lorakit::model::family_name(r.arch.family), r.tensors,
                 r.parameters, static_cast<double>(r.tensor_bytes) / 1e9, r.seconds);
      return 0;
    }
    return write_plain(out, *dt, gb, rows, cols);
  } catch (const lorakit::Error& e) {
    fmt::print(stderr, "lorakit_synth: error: {}\n", e.what());
    return 2;
  }
}
