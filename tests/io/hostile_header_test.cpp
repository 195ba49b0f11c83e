// Hostile headers (issue 6): files built to exhaust a reader — a header at the size limit, nesting
// a million levels deep, a million tiny tensors, GGUF counts far beyond the file — must be
// rejected or read with bounded memory, never crash. Each open runs in a forked child so that its
// peak RSS can be measured on its own (wait4) and a crash is seen as a signal, not as our crash.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::testing {
namespace {

struct ChildResult {
  bool exited = false;     // false: killed by a signal (a crash)
  int status = 0;          // 0 opened, 1 FormatError/IoError, 2 any other exception
  std::string category;    // FormatError category
  uint64_t extra_rss = 0;  // peak RSS beyond a child that does nothing, bytes
};

uint64_t peak_rss_of(pid_t pid, int& status) {
  struct rusage ru {};
  ::wait4(pid, &status, 0, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

// Opens `path` with the reader of its format in a child process.
ChildResult open_in_child(const std::string& path, bool gguf) {
  int status = 0;
  const pid_t idle = ::fork();
  if (idle == 0) ::_exit(0);
  const uint64_t base = peak_rss_of(idle, status);

  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    std::string category;
    try {
      auto src = gguf ? io::open_gguf(path) : io::open_safetensors(path);
      (void)src->tensors().size();
    } catch (const FormatError& e) {
      code = 1, category = e.category();
    } catch (const Error& e) {
      code = 1, category = "error";
    } catch (...) {
      code = 2;
    }
    if (!category.empty()) (void)!::write(fds[1], category.data(), category.size());
    ::_exit(code);
  }
  ::close(fds[1]);
  ChildResult r;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.category.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  const uint64_t peak = peak_rss_of(pid, status);
  r.exited = WIFEXITED(status);
  r.status = r.exited ? WEXITSTATUS(status) : -1;
  r.extra_rss = peak > base ? peak - base : 0;
  std::printf("[ hostile ] %s: %s, peak RSS +%.1f MiB\n", path.c_str(),
              !r.exited       ? "crashed"
              : r.status == 0 ? "opened"
                              : ("refused: " + r.category).c_str(),
              r.extra_rss / 1048576.0);
  return r;
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

void write_safetensors(const std::string& path, const std::string& header, uint64_t data_bytes) {
  write_file(path, le64(header.size()) + header + std::string(data_bytes, '\0'));
}

constexpr uint64_t kMiB = 1ull << 20;

TEST(HostileHeaders, HeaderAtTheSizeLimitIsReadInBoundedMemory) {
  // 100,000,000 bytes of header (the limit), nearly all one metadata string.
  TempDir dir;
  const std::string path = (dir / "big.safetensors").string();
  std::string header = R"({"__metadata__":{"note":")";
  const std::string tail = R"("},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  header.append(100'000'000 - header.size() - tail.size(), 'x');
  header += tail;
  ASSERT_EQ(header.size(), 100'000'000u);
  write_safetensors(path, header, 4);
  const auto r = open_in_child(path, false);
  ASSERT_TRUE(r.exited) << "crashed";
  EXPECT_EQ(r.status, 0) << r.category;
  // The mapped header plus a few copies of the string (about 290 MiB here; sanitizer builds more).
  EXPECT_LT(r.extra_rss, 1024 * kMiB);

  // One byte more is refused before anything is parsed.
  write_safetensors(path, header + " ", 4);
  const auto over = open_in_child(path, false);
  ASSERT_TRUE(over.exited);
  EXPECT_EQ(over.category, "header_too_large");
  EXPECT_LT(over.extra_rss, 64 * kMiB);
}

TEST(HostileHeaders, DeepNestingIsAnErrorNotAStackOverflow) {
  TempDir dir;
  const std::string path = (dir / "deep.safetensors").string();
  for (const char* open_close : {"[]", "{}"}) {
    const size_t depth = 1'000'000;
    std::string nest;
    for (size_t i = 0; i < depth; ++i) {
      nest += open_close[0];
      if (open_close[0] == '{') nest += "\"a\":";
    }
    nest += "1";
    nest.append(depth, open_close[1]);
    write_safetensors(path, R"({"__metadata__":{"k":)" + nest + "}}", 0);
    const auto r = open_in_child(path, false);
    ASSERT_TRUE(r.exited) << "crashed (stack overflow?) at nesting " << open_close;
    EXPECT_EQ(r.status, 1);
    EXPECT_FALSE(r.category.empty());
    EXPECT_LT(r.extra_rss, 256 * kMiB);
  }
}

TEST(HostileHeaders, AMillionTinyTensorsAreReadInBoundedMemory) {
  TempDir dir;
  const std::string path = (dir / "many.safetensors").string();
  const uint64_t count = 1'000'000;
  std::string header = "{";
  for (uint64_t i = 0; i < count; ++i) {
    header += "\"t" + std::to_string(i) + R"(":{"dtype":"U8","shape":[1],"data_offsets":[)" +
              std::to_string(i) + "," + std::to_string(i + 1) + "]}";
    header += i + 1 < count ? "," : "}";
  }
  write_safetensors(path, header, count);
  const auto r = open_in_child(path, false);
  ASSERT_TRUE(r.exited) << "crashed";
  EXPECT_EQ(r.status, 0) << r.category;
  // ~57 MB of header; a million entries of name, shape and offsets.
  EXPECT_LT(r.extra_rss, 2048 * kMiB);  // about 355 MiB here
}

TEST(HostileHeaders, GgufCountsBeyondTheFileFailFast) {
  // Tensor and key/value counts of 2^62 in a 32-byte file: refused from the counts and the file
  // size, without reserving anything near them.
  TempDir dir;
  const std::string path = (dir / "counts.gguf").string();
  std::string f = "GGUF";
  f += std::string("\x03\x00\x00\x00", 4);
  f += le64(1ull << 62);  // tensors
  f += le64(1ull << 62);  // key/values
  f += std::string(8, '\0');
  write_file(path, f);
  const auto r = open_in_child(path, true);
  ASSERT_TRUE(r.exited) << "crashed";
  EXPECT_EQ(r.status, 1);
  EXPECT_LT(r.extra_rss, 64 * kMiB);

  // An array of 2^40 U8 elements declared in a small file.
  std::string a = "GGUF";
  a += std::string("\x03\x00\x00\x00", 4);
  a += le64(0);  // tensors
  a += le64(1);  // one key/value
  a += le64(3) + "arr";
  a += std::string("\x09\x00\x00\x00", 4);  // ARRAY
  a += std::string("\x00\x00\x00\x00", 4);  // of UINT8
  a += le64(1ull << 40);
  a += std::string(64, '\0');
  write_file(path, a);
  const auto ra = open_in_child(path, true);
  ASSERT_TRUE(ra.exited) << "crashed";
  EXPECT_EQ(ra.status, 1);
  EXPECT_LT(ra.extra_rss, 64 * kMiB);
}

}  // namespace
}  // namespace lorakit::testing
