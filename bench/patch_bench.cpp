// patch::apply over every unit a rank-32 kohya LoRA touches in a slice of SD1 (two UNet levels and
// one text-encoder layer, f16), units spread over the threads as a Session does. Counters: patched
// elements per second and the GFLOP/s of the LoRA products (2·rows·cols·rank per record), to set
// against BM_sgemm_lora (the product alone) and memcpy (the streaming alone).
#include <benchmark/benchmark.h>
#include <tbb/parallel_for.h>

#include <filesystem>
#include <memory>

#include "lorakit/adapter.hpp"
#include "lorakit/io.hpp"
#include "lorakit/model.hpp"
#include "lorakit/patch.hpp"
#include "tools/synth.hpp"

namespace {

namespace fs = std::filesystem;
using namespace lorakit;

struct Sd1Slice {
  std::unique_ptr<io::TensorSource> base;
  std::unique_ptr<model::ModelIndex> model;
  patch::Plan plan;
  uint64_t elements = 0;
  double flops = 0;

  Sd1Slice() {
    const fs::path dir = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    const std::string m = (dir / "lorakit_patch_bench_sd1.safetensors").string();
    const std::string a = (dir / "lorakit_patch_bench_r32.safetensors").string();
    tools::SynthModelOptions mo;
    mo.reference = "sd1";
    mo.include = {"input_blocks.4.", "output_blocks.3.", "middle_block.",
                  "transformer.text_model.encoder.layers.0."};
    tools::synth_model(mo, m);
    base = io::open_tensor_source(m);
    model = std::make_unique<model::ModelIndex>(model::ModelIndex::from_source(*base));
    tools::SynthAdapterOptions ao;
    ao.rank = 32;
    ao.alpha = 16;
    ao.text_encoder = true;
    tools::synth_adapter(*model, ao, a);
    auto ad = std::make_shared<adapter::Adapter>(adapter::parse_file(a, *model));
    plan = patch::make_plan(*model, {{ad, 1.0f}});
    for (const auto& u : plan.units) {
      for (const auto& t : u.tensors) elements += base->find(t)->elements;
      for (const auto& st : u.steps) {
        const auto& mod = plan.entries[st.entry].adapter->modules[st.module];
        const auto& up = mod.factors.at("up").info->shape;
        const auto& down = mod.factors.at("down").info->shape;
        uint64_t cols = 1;
        for (size_t i = 1; i < down.size(); ++i) cols *= down[i];
        flops += 2.0 * up[0] * cols * down[0];
      }
    }
    fs::remove(a);  // the adapter is parsed; the model stays mapped (unlinked below)
    fs::remove(m);
  }
};

void BM_apply_sd1_slice_r32(benchmark::State& state) {
  static Sd1Slice s;
  patch::Options opt;
  for (auto _ : state) {
    tbb::parallel_for(size_t{0}, s.plan.units.size(), [&](size_t i) {
      auto out = patch::apply(s.plan, s.plan.units[i], *s.base, opt);
      benchmark::DoNotOptimize(out.tensors.data());
    });
  }
  state.counters["Melem/s"] = benchmark::Counter(static_cast<double>(s.elements) / 1e6,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(s.flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_apply_sd1_slice_r32)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
