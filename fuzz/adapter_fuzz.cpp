// Adapter parsing on arbitrary safetensors bytes: the key grammar, record grouping, factor shapes
// and alpha rules, bound against the built-in SD1, SDXL and FLUX layouts. Either a lorakit::Error,
// or an adapter whose report counts agree with its modules.
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "fuzz_input.hpp"
#include "fuzz_targets.hpp"
#include "lorakit/adapter.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "lorakit/model.hpp"

namespace {
const lorakit::model::ModelIndex& reference_model(int k) {
  static const lorakit::model::ModelIndex models[] = {
      lorakit::model::ModelIndex::reference("sd1"),
      lorakit::model::ModelIndex::reference("sdxl"),
      lorakit::model::ModelIndex::reference("flux"),
  };
  return models[k];
}
}  // namespace

int lorakit::fuzz::adapter(const uint8_t* data, size_t size) {
  lorakit::fuzz::MemFile f(data, size, "lora.safetensors");
  std::shared_ptr<const lorakit::io::TensorSource> src;
  try {
    src = lorakit::io::open_safetensors(f.path());
  } catch (const lorakit::Error&) {
    return 0;
  }
  for (int k = 0; k < 3; ++k) {
    try {
      const auto a = lorakit::adapter::parse(src, reference_model(k));
      if (a.report.matched > a.report.modules) std::abort();
    } catch (const lorakit::Error&) {
    }
  }
  return 0;
}

LORAKIT_FUZZ_ENTRY(adapter)
