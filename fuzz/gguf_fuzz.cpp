// The GGUF reader on arbitrary bytes: either a lorakit::Error, or a source whose tensor views lie
// inside the file, and whose metadata prints.
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.hpp"
#include "fuzz_targets.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"

int lorakit::fuzz::gguf(const uint8_t* data, size_t size) {
  lorakit::fuzz::MemFile f(data, size, "model.gguf");
  try {
    const auto src = lorakit::io::open_gguf(f.path());
    lorakit::fuzz::check_views(*src);
    for (const auto& m : src->metadata()) (void)lorakit::io::to_string(m.value);
  } catch (const lorakit::Error&) {
  }
  return 0;
}

LORAKIT_FUZZ_ENTRY(gguf)
