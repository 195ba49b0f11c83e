// The files `lorakit demo` builds and the scenario checks it runs over them (demo_scenarios.cpp).
#pragma once

#include <string>

#include "tools/demo.hpp"

namespace lorakit::tools::demo_detail {

struct DemoFiles {
  std::string sd1, sd1_a, sd1_b;               // small SD1 model (F16) and two LoRAs
  std::string sdxl, sdxl_a, sdxl_b, sdxl_c;    // small SDXL model and three LoRAs
  std::string flux, flux_lora;                 // small FLUX model (BF16) and a kohya LoRA
  std::string flux_partial, flux_partial_bfl;  // diffusers naming without to_k / proj_mlp, and BFL
  std::string sd1_q8_0, sd1_q4_k, sd1_q6_k;    // the SD1 model as GGUF in ggml types
  std::string sd1_q8_0_f32, sd1_q4_k_f32, sd1_q6_k_f32;  // their dequantized F32 twins
};

// Builds every file in `dir`.
DemoFiles build_files(const std::string& dir);

ScenarioResult s0_switching(const DemoFiles& f);
ScenarioResult s1_sdxl_sequence(const DemoFiles& f);
ScenarioResult s2_flux_partial(const DemoFiles& f);
ScenarioResult s3_quantized(const DemoFiles& f);
ScenarioResult s4_model_switch(const DemoFiles& f);

}  // namespace lorakit::tools::demo_detail
