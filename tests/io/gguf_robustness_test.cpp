// GGUF reader robustness: every prefix and many random corruptions of valid files either open or
// fail with a FormatError; nothing else escapes, and whatever opens only points inside its file.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <random>
#include <string>
#include <vector>

#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::io {
namespace {

using lorakit::testing::read_file;
using lorakit::testing::TempDir;
using lorakit::testing::testdata;
using lorakit::testing::write_file;

// Thousands of small files: on tmpfs when there is one (a disk makes this ~30x slower), else in the
// usual temporary folder.
class Scratch {
 public:
  Scratch() {
    std::error_code ec;
    if (std::filesystem::is_directory("/dev/shm", ec)) {
      std::string templ = "/dev/shm/lorakit-gguf-XXXXXX";
      if (::mkdtemp(templ.data())) path_ = templ;
    }
    if (path_.empty()) path_ = fallback_.path();
  }
  ~Scratch() {
    std::error_code ec;
    if (path_ != fallback_.path()) std::filesystem::remove_all(path_, ec);
  }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  TempDir fallback_;
  std::filesystem::path path_;
};

// Opens `bytes` as a file; returns "" when it opens, else the FormatError category.
std::string verdict(const std::filesystem::path& p, const std::vector<std::byte>& bytes) {
  write_file(p, bytes);
  try {
    auto src = open_gguf(p.string());
    for (const auto& t : src->tensors()) {
      auto v = src->view(t);
      EXPECT_EQ(v.bytes.size(), t.nbytes);
      EXPECT_LE(t.file_offset + t.nbytes, bytes.size());
    }
    return "";
  } catch (const FormatError& e) {
    EXPECT_FALSE(e.category().empty()) << e.what();
    return e.category();
  }
}

const char* kFiles[] = {"ok_flux_f32_f16_q8_q4k.gguf", "ok_comfy_orig_shape.gguf",
                        "ok_comfy_5d_f32.gguf",        "ok_sdxl_alignment64.gguf",
                        "ok_min_one_tensor.gguf",      "ok_alignment_1.gguf"};

TEST(GgufRobustness, EveryPrefix) {
  Scratch dir;
  for (const char* name : kFiles) {
    SCOPED_TRACE(name);
    auto bytes = read_file(testdata(std::string("gguf/") + name));
    for (size_t len = 0; len < bytes.size(); len += len < 1024 ? 1 : 61) {
      std::vector<std::byte> prefix(bytes.begin(), bytes.begin() + static_cast<long>(len));
      std::string v = verdict(dir / "p.gguf", prefix);
      // A cut inside the header is a truncation; a cut in the data, missing data. Only the padding
      // after the last tensor may go.
      if (!v.empty()) {
        EXPECT_TRUE(v == "truncated" || v == "data_truncated") << len << ": " << v;
      }
    }
  }
}

TEST(GgufRobustness, RandomCorruption) {
  Scratch dir;
  std::mt19937 rng(1234);
  int opened = 0, rejected = 0;
  for (const char* name : kFiles) {
    SCOPED_TRACE(name);
    auto bytes = read_file(testdata(std::string("gguf/") + name));
    // Mostly the header, where the structure is.
    size_t header = std::min<size_t>(bytes.size(), 600);
    for (int iter = 0; iter < 400; ++iter) {
      auto copy = bytes;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        size_t at = rng() % (rng() % 4 ? header : copy.size());
        switch (rng() % 4) {
          case 0:
            copy[at] = static_cast<std::byte>(rng() & 0xFF);
            break;
          case 1:
            copy[at] = std::byte{0xFF};
            break;
          case 2:
            copy[at] = std::byte{0};
            break;
          default:
            copy[at] ^= static_cast<std::byte>(1u << (rng() % 8));
            break;
        }
      }
      (verdict(dir / "c.gguf", copy).empty() ? opened : rejected)++;
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(opened, 0);
}

}  // namespace
}  // namespace lorakit::io
