// Small model files for the tool tests, written with lorakit's own writers (whose byte layout is
// pinned by the io tests against the reference corpora).
#pragma once

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::testing {

struct FixtureTensor {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
  std::vector<std::byte> bytes;
};

inline std::vector<std::byte> as_bytes(const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

inline std::vector<float> as_floats(std::span<const std::byte> b) {
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

inline void write_safetensors(const std::filesystem::path& p, const std::vector<FixtureTensor>& ts,
                              std::map<std::string, std::string> meta = {{"format", "pt"}}) {
  std::vector<io::TensorDecl> decls;
  for (const auto& t : ts) decls.push_back({t.name, t.dtype, t.shape});
  io::SafetensorsWriter w(p.string(), decls, meta);
  for (const auto& t : ts) w.write(t.name, t.bytes);
  w.commit();
}

inline void write_gguf(const std::filesystem::path& p, const std::vector<FixtureTensor>& ts,
                       std::vector<io::MetadataEntry> kv = {}) {
  std::vector<io::TensorDecl> decls;
  for (const auto& t : ts) decls.push_back({t.name, t.dtype, t.shape});
  io::GgufWriter w(p.string(), kv, decls);
  for (const auto& t : ts) w.write(t.name, t.bytes);
  w.commit();
}

// The float32 input of a quant reference family (testdata/quants/<family>.f32).
inline std::vector<float> quant_input(const std::string& family) {
  auto b = read_file(testdata("quants/" + family + ".f32"));
  return as_floats(b);
}

// Runs `lorakit ARGS` through the shell, after `setup` (shell commands: environment, limits) when
// given; returns its exit status and captures stdout/stderr into files in `dir`.
struct CommandResult {
  int status;
  std::string out, err;
};
CommandResult run_lorakit(const std::string& args, const std::filesystem::path& dir,
                          const std::string& setup = "");

}  // namespace lorakit::testing
