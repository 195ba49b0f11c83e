// lorakit_synth: writes a synthetic F16/BF16/F32 safetensors model of a given size, for benchmarks of
// whole-file tools (quantize, diff, merge). Tensors are [rows, 3072]-style linear weights with
// normal(0, 0.02) values plus a few 1-D biases, generated deterministically from a seed, streamed tensor
// by tensor so that the generator itself needs little memory.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <random>
#include <vector>

#include "lorakit/codec.hpp"
#include "lorakit/io.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Write a synthetic safetensors model for benchmarks", "lorakit_synth"};
  std::string out, type = "F16";
  double gb = 2.2;
  uint64_t cols = 3072, rows = 3072;
  app.add_option("OUT", out)->required();
  app.add_option("--gb", gb, "Approximate size in GB (1e9 bytes)");
  app.add_option("--type", type, "F16, BF16 or F32");
  app.add_option("--rows", rows);
  app.add_option("--cols", cols);
  CLI11_PARSE(app, argc, argv);
  auto dt = lorakit::dtype_from_user_name(type);
  if (!dt) return 2;
  const uint64_t esize = lorakit::traits(*dt).block_bytes;
  const uint64_t per_tensor = rows * cols * esize;
  const uint64_t n = std::max<uint64_t>(1, static_cast<uint64_t>(gb * 1e9) / per_tensor);
  std::vector<lorakit::io::TensorDecl> decls;
  for (uint64_t i = 0; i < n; ++i) {
    decls.push_back({fmt::format("blocks.{}.weight", i), *dt, {rows, cols}});
    decls.push_back({fmt::format("blocks.{}.bias", i), *dt, {rows}});
  }
  lorakit::io::SafetensorsWriter w(out, decls);
  std::mt19937_64 rng(1234);
  std::normal_distribution<float> nd(0.f, 0.02f);
  std::vector<float> f(rows * cols);
  std::vector<std::byte> b(rows * cols * esize);
  for (uint64_t i = 0; i < n; ++i) {
    for (auto& x : f) x = nd(rng);
    lorakit::codec::encode(*dt, f.data(), b.data(), f.size());
    w.write(fmt::format("blocks.{}.weight", i), b);
    lorakit::codec::encode(*dt, f.data(), b.data(), rows);
    w.write(fmt::format("blocks.{}.bias", i), std::span(b.data(), rows * esize));
  }
  w.commit();
  fmt::print("{}: {} tensors, {:.2f} GB\n", out, 2 * n, static_cast<double>(n * (per_tensor + rows * esize)) / 1e9);
  return 0;
}
