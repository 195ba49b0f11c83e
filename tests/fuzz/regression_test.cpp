// The fuzz targets' invariants on every kept finding (fuzz/regressions/<target>/) and on the seed
// corpora from ../shared/testdata, run as ordinary tests: a finding fixed once stays fixed. A
// target reports a violated invariant by aborting, which fails the test binary.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fuzz_targets.hpp"
#include "test_util.hpp"

namespace lorakit::testing {
namespace {

namespace fs = std::filesystem;
using Target = std::function<int(const uint8_t*, size_t)>;

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Feeds every file (and, with `prefixes`, every file behind each prefix byte) to the target.
size_t replay(const Target& target, const std::vector<fs::path>& files,
              const std::vector<uint8_t>& prefixes = {}) {
  size_t runs = 0;
  for (const auto& p : files) {
    SCOPED_TRACE(p.string());
    const auto bytes = read_file(p);
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    if (prefixes.empty()) {
      EXPECT_EQ(target(data, bytes.size()), 0);
      ++runs;
      continue;
    }
    for (uint8_t b : prefixes) {
      std::vector<uint8_t> in{b};
      in.insert(in.end(), data, data + bytes.size());
      EXPECT_EQ(target(in.data(), in.size()), 0);
      ++runs;
    }
  }
  return runs;
}

fs::path regressions(const std::string& target) {
  return fs::path(LORAKIT_SOURCE_DIR) / "fuzz" / "regressions" / target;
}

TEST(FuzzRegressions, Safetensors) {
  auto files = files_under(regressions("safetensors"));
  for (const auto& p : files_under(testdata("safetensors"))) files.push_back(p);
  EXPECT_GT(replay(fuzz::safetensors, files), 100u);
  EXPECT_EQ(fuzz::safetensors(nullptr, 0), 0);
}

TEST(FuzzRegressions, Gguf) {
  auto files = files_under(regressions("gguf"));
  for (const auto& p : files_under(testdata("gguf"))) files.push_back(p);
  EXPECT_GT(replay(fuzz::gguf, files), 40u);
  EXPECT_EQ(fuzz::gguf(nullptr, 0), 0);
}

TEST(FuzzRegressions, Adapter) {
  auto files = files_under(regressions("adapter"));
  for (const auto& p : files_under(testdata("safetensors/samples"))) files.push_back(p);
  EXPECT_GT(replay(fuzz::adapter, files), 5u);
}

TEST(FuzzRegressions, Check) {
  // Kept findings carry their mode byte; seeds get both modes (model, adapter against each arch).
  replay(fuzz::check, files_under(regressions("check")));
  std::vector<fs::path> seeds = files_under(testdata("safetensors/samples"));
  for (const auto& p : files_under(testdata("gguf"))) seeds.push_back(p);
  EXPECT_GT(replay(fuzz::check, seeds, {0, 64, 65, 66, 67}), 100u);
}

TEST(FuzzRegressions, Decode) {
  replay(fuzz::decode, files_under(regressions("decode")));
  // Every reference quant vector behind every type byte: SIMD = scalar on real blocks too.
  std::vector<fs::path> seeds;
  for (const auto& p : files_under(testdata("quants")))
    if (p.extension() == ".bin") seeds.push_back(p);
  std::vector<uint8_t> prefixes;
  for (int b = 0; b < 64; ++b) prefixes.push_back(static_cast<uint8_t>(b));
  EXPECT_GT(replay(fuzz::decode, seeds, prefixes), 1000u);
}

}  // namespace
}  // namespace lorakit::testing
