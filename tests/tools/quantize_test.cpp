#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <cmath>
#include <random>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "tools/quantize.hpp"
#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

tools::QuantizeOptions options(const std::filesystem::path& in, const std::filesystem::path& out,
                               DType type) {
  tools::QuantizeOptions o;
  o.input = in.string();
  o.output = out.string();
  o.type = type;
  return o;
}

std::vector<std::byte> tensor_bytes(const std::filesystem::path& p, const std::string& name) {
  auto src = io::open_tensor_source(p.string());
  auto v = src->view(name);
  return {v.bytes.begin(), v.bytes.end()};
}

// The quantize tool must produce exactly the reference quantizer's bytes (testdata/quants, produced by
// ggml itself) for a [64, 256] weight built from the reference input.
TEST(Quantize, MatchesReferenceVectorsForEveryGgmlType) {
  TempDir dir;
  auto w = quant_input("weights");
  ASSERT_EQ(w.size(), 16384u);
  write_safetensors(dir / "in.safetensors", {{"model.w", DType::F32, {64, 256}, as_bytes(w)},
                                             {"model.b", DType::F32, {4}, as_bytes({1, 2, 3, 4})}});
  for (const char* type : {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                           "Q6_K", "F16", "BF16"}) {
    SCOPED_TRACE(type);
    tools::QuantizeOptions opt;
    opt.input = (dir / "in.safetensors").string();
    opt.output = (dir / "out.gguf").string();
    opt.type = *dtype_from_user_name(type);
    auto r = tools::quantize(opt);
    EXPECT_EQ(r.converted, 1u);
    ASSERT_EQ(r.kept.size(), 1u);
    EXPECT_EQ(r.kept[0].name, "model.b");
    auto src = io::open_tensor_source(opt.output);
    ASSERT_EQ(src->find("model.w")->dtype, opt.type);
    EXPECT_EQ(src->find("model.w")->shape, (std::vector<uint64_t>{64, 256}));
    EXPECT_EQ(src->find("model.b")->dtype, DType::F32);
    auto got = tensor_bytes(opt.output, "model.w");
    auto want = read_file(testdata(std::string("quants/weights.") + type + ".bin"));
    EXPECT_TRUE(got == want);
  }
}

TEST(Quantize, ChunkingAndThreadCountDoNotChangeBytes) {
  TempDir dir;
  // 4608 x 1024 = 4.7 M elements: more than one 4 M-element chunk.
  std::vector<float> w(4608 * 1024);
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 0.02f);
  for (auto& x : w) x = nd(rng);
  write_safetensors(dir / "in.safetensors", {{"w", DType::F32, {4608, 1024}, as_bytes(w)}});
  std::vector<std::byte> whole((w.size() / 256) * 144);
  codec::encode(DType::Q4_K, w.data(), whole.data(), w.size());
  for (int threads : {1, 2}) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    auto opt = options(dir / "in.safetensors", dir / ("t" + std::to_string(threads) + ".gguf"), DType::Q4_K);
    uint64_t last = 0, calls = 0;
    opt.progress = [&](uint64_t done, uint64_t total) {
      EXPECT_GE(done, last);
      EXPECT_LE(done, total);
      last = done;
      ++calls;
    };
    tools::quantize(opt);
    EXPECT_GE(calls, 2u);
    EXPECT_TRUE(tensor_bytes(opt.output, "w") == whole) << threads << " threads";
  }
}

TEST(Quantize, KeepsTensorsThatCannotBeQuantizedAndSaysWhy) {
  TempDir dir;
  write_safetensors(dir / "in.safetensors",
                    {{"conv", DType::F16, {320, 4, 3, 3}, std::vector<std::byte>(320 * 36 * 2)},
                     {"idx", DType::I32, {2, 2}, std::vector<std::byte>(16)},
                     {"lin", DType::F16, {64, 64}, std::vector<std::byte>(64 * 64 * 2)}});
  auto opt = options(dir / "in.safetensors", dir / "out.gguf", DType::Q8_0);
  auto r = tools::quantize(opt);
  EXPECT_EQ(r.converted, 1u);
  ASSERT_EQ(r.kept.size(), 2u);
  std::map<std::string, std::string> why;  // kept tensors come in data order (I32 before F16 here)
  for (const auto& k : r.kept) why[k.name] = k.reason;
  EXPECT_NE(why["conv"].find("row length 3"), std::string::npos) << why["conv"];
  EXPECT_NE(why["idx"].find("not a float tensor"), std::string::npos) << why["idx"];
  auto src = io::open_tensor_source(opt.output);
  EXPECT_EQ(src->find("conv")->dtype, DType::F16);
  EXPECT_EQ(src->find("conv")->shape, (std::vector<uint64_t>{320, 4, 3, 3}));
  EXPECT_EQ(src->find("lin")->dtype, DType::Q8_0);
  // general.file_type 7 = mostly Q8_0
  bool found = false;
  for (const auto& m : src->metadata())
    if (m.key == "general.file_type") {
      found = true;
      EXPECT_EQ(std::get<uint64_t>(m.value.value), 7u);
    }
  EXPECT_TRUE(found);
}

TEST(Quantize, FloatTargetToSafetensorsAndBackFromGguf) {
  TempDir dir;
  auto w = quant_input("normal");  // 16384 values
  write_gguf(dir / "in.gguf", {{"w", DType::F32, {64, 256}, as_bytes(w)}});
  auto opt = options(dir / "in.gguf", dir / "out.safetensors", DType::F16);
  tools::quantize(opt);
  EXPECT_TRUE(tensor_bytes(opt.output, "w") == read_file(testdata("quants/normal.F16.bin")));
  // A ggml block type cannot go into safetensors.
  opt.type = DType::Q8_0;
  opt.output = (dir / "bad.safetensors").string();
  EXPECT_THROW(tools::quantize(opt), InvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(opt.output));
}

TEST(Quantize, NonFiniteInputFailsAndLeavesTheDestinationIntact) {
  TempDir dir;
  std::vector<float> w(256, 0.5f);
  w[100] = std::nanf("");
  write_safetensors(dir / "in.safetensors", {{"bad.weight", DType::F32, {1, 256}, as_bytes(w)}});
  write_file(dir / "out.gguf", std::string("previous content"));
  auto opt = options(dir / "in.safetensors", dir / "out.gguf", DType::Q4_K);
  try {
    tools::quantize(opt);
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.weight"), std::string::npos) << e.what();
  }
  auto left = read_file(dir / "out.gguf");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(left.data()), left.size()), "previous content");
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 2u) << "a temporary file was left behind";
}

}  // namespace
}  // namespace lorakit::testing
