// `lorakit check` on arbitrary files: the first byte chooses whether the rest is a model (format by
// content: safetensors or GGUF) or an adapter checked against a built-in layout. Either a
// lorakit::Error, or a report that renders as text and JSON.
#include <cstdint>

#include "fuzz_input.hpp"
#include "fuzz_targets.hpp"
#include "lorakit/error.hpp"
#include "tools/check.hpp"

int lorakit::fuzz::check(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kArchs[] = {"sd1", "sdxl", "flux", "sd3"};
  const uint8_t mode = data[0];
  lorakit::fuzz::MemFile f(data + 1, size - 1, "input");
  lorakit::tools::CheckOptions o;
  if (mode < 64) {
    o.model_path = f.path();
  } else {
    o.arch = kArchs[mode % 4];
    o.adapters.push_back({f.path(), 1.0f});
  }
  try {
    const auto r = lorakit::tools::check(o);
    (void)lorakit::tools::render_text(r);
    (void)lorakit::tools::render_json(r).dump();
  } catch (const lorakit::Error&) {
  }
  return 0;
}

LORAKIT_FUZZ_ENTRY(check)
