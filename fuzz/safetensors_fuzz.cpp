// The safetensors reader on arbitrary bytes: either a lorakit::Error naming the problem, or a
// source whose every tensor view lies inside the file and matches its declared size.
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.hpp"
#include "fuzz_targets.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"

int lorakit::fuzz::safetensors(const uint8_t* data, size_t size) {
  lorakit::fuzz::MemFile f(data, size, "model.safetensors");
  try {
    const auto src = lorakit::io::open_safetensors(f.path());
    lorakit::fuzz::check_views(*src);
    for (const auto& m : src->metadata()) (void)m;
  } catch (const lorakit::Error&) {
  }
  return 0;
}

LORAKIT_FUZZ_ENTRY(safetensors)
