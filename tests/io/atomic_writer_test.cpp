// Atomicity of the streaming writers: a writer that dies mid-file (SIGKILL: no destructor, no
// cleanup) must leave the destination as it was. What it does leave is its temporary file, hidden
// beside the destination as `.NAME.lorakit-tmp-XXXXXX`; nothing removes that but a person (or a
// cleanup tool), which is why it is hidden and named after its destination.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "io/atomic_file.hpp"
#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::io {
namespace {

namespace fs = std::filesystem;
using lorakit::testing::read_file;
using lorakit::testing::TempDir;

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Forks a child that declares a 4 MiB tensor, writes its first 2 MiB, tells the parent, and waits
// to be killed. Returns once the child is dead (by SIGKILL, checked).
void kill_writer_mid_file(const fs::path& dest) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ready[0]);
    try {
      SafetensorsWriter w(dest.string(), {{"big", DType::U8, {4u << 20}}});
      std::vector<std::byte> half(2u << 20, std::byte{0x5a});
      w.write("big", half, 0);
      char c = 'r';
      if (::write(ready[1], &c, 1) != 1) ::_exit(2);
      for (;;) ::pause();  // never returns: the parent kills this process
    } catch (...) {
      ::_exit(1);
    }
  }
  ::close(ready[1]);
  char c = 0;
  const ssize_t n = ::read(ready[0], &c, 1);  // 0 (EOF) when the child failed before writing
  ::close(ready[0]);
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_EQ(n, 1) << "the child failed before writing half of the file";
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

// Checks that the only other entry is the killed writer's hidden temporary file, of the size the
// writer gave it up front, then removes it.
void expect_and_remove_temp(const fs::path& dir, const std::string& dest_name,
                            const std::vector<std::string>& others) {
  std::vector<std::string> temps;
  for (const auto& n : listing(dir))
    if (std::find(others.begin(), others.end(), n) == others.end()) temps.push_back(n);
  ASSERT_EQ(temps.size(), 1u);
  const std::string prefix = "." + dest_name + ".lorakit-tmp-";
  EXPECT_EQ(temps[0].rfind(prefix, 0), 0u) << temps[0];
  EXPECT_EQ(temps[0].size(), prefix.size() + 6) << temps[0];  // mkstemp's XXXXXX
  fs::remove(dir / temps[0]);
}

TEST(AtomicWriter, KilledMidFileLeavesNoDestination) {
  TempDir dir;
  const auto dest = dir / "model.safetensors";
  kill_writer_mid_file(dest);
  EXPECT_FALSE(fs::exists(dest));
  expect_and_remove_temp(dir.path(), "model.safetensors", {});
}

TEST(AtomicWriter, KilledMidFileKeepsThePreviousContent) {
  TempDir dir;
  const auto dest = dir / "model.safetensors";
  lorakit::testing::write_file(dest, std::string("previous content"));
  kill_writer_mid_file(dest);
  const auto after = read_file(dest);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(after.data()), after.size()),
            "previous content");
  expect_and_remove_temp(dir.path(), "model.safetensors", {"model.safetensors"});
}

TEST(AtomicWriter, KilledMidFileLeavesOtherFilesAlone) {
  // The temporary file is hidden and never taken for model weights by the folder reader.
  TempDir dir;
  const auto dest = dir / "diffusion_pytorch_model.safetensors";
  kill_writer_mid_file(dest);
  try {
    open_tensor_source(dir.path().string());
    ADD_FAILURE() << "opened a folder holding only a half-written temporary file";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.category(), "unknown_format");
  }
  expect_and_remove_temp(dir.path(), "diffusion_pytorch_model.safetensors", {});
}

TEST(AtomicWriter, AtomicFileCommitAndDiscard) {
  TempDir dir;
  const auto dest = dir / "f.bin";
  std::vector<std::byte> data(10, std::byte{1});
  {
    AtomicFile f(dest.string());
    f.write_at(0, data);
    EXPECT_TRUE(fs::exists(f.temp_path()));
    EXPECT_EQ(fs::path(f.temp_path()).filename().string().rfind(".f.bin.lorakit-tmp-", 0), 0u);
    EXPECT_FALSE(fs::exists(dest));
  }
  EXPECT_TRUE(listing(dir.path()).empty());  // destroyed without commit: temp removed
  {
    AtomicFile f(dest.string());
    f.truncate(4);
    f.write_at(0, std::span(data).subspan(0, 4));
    f.commit();
  }
  EXPECT_EQ(read_file(dest).size(), 4u);
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"f.bin"}));
}

}  // namespace
}  // namespace lorakit::io
