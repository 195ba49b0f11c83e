// The fuzz targets as plain functions: each *_fuzz.cpp defines one and, in the libFuzzer build, the
// LLVMFuzzerTestOneInput entry that calls it. The unit tests compile the same files without the
// entries (LORAKIT_FUZZ_NO_ENTRY) and replay the kept findings and seeds through these functions
// (tests/fuzz_regression_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace lorakit::fuzz {

int safetensors(const uint8_t* data, size_t size);
int gguf(const uint8_t* data, size_t size);
int adapter(const uint8_t* data, size_t size);
int check(const uint8_t* data, size_t size);
int decode(const uint8_t* data, size_t size);

}  // namespace lorakit::fuzz

#ifdef LORAKIT_FUZZ_NO_ENTRY
#define LORAKIT_FUZZ_ENTRY(name)
#else
#define LORAKIT_FUZZ_ENTRY(name)                                            \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    return lorakit::fuzz::name(data, size);                                 \
  }
#endif
