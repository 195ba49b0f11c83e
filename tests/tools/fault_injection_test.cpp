// Faults while writing (issue 6): `merge` and `quantize` run as a user runs them, with writes made
// to fail part-way as on a full disk (tests/support/fail_writes.c preloaded: pwrite → ENOSPC after
// N bytes, fsync → EIO) or with the file size limited (`ulimit -f`). Each must exit with a
// one-line error naming the output and the cause, leave nothing at the destination (or its
// previous content), and remove its temporary file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "tools/synth.hpp"
#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

namespace fs = std::filesystem;

struct Inputs {
  TempDir dir;
  std::string model = (dir / "m.safetensors").string();
  std::string lora = (dir / "l.safetensors").string();
  Inputs() {
    tools::SynthModelOptions m;
    m.include = {"input_blocks.1.1.transformer_blocks.0"};
    tools::synth_model(m, model);
    tools::SynthAdapterOptions a;
    a.rank = 4;
    tools::synth_adapter(model::ModelIndex::from_source(*io::open_tensor_source(model)), a, lora);
  }
};

// pwrite fails with ENOSPC after `bytes` bytes (a short write first), as a disk filling up.
std::string disk_full_after(uint64_t bytes) {
  // A sanitizer runtime insists on coming first in the library list; the shim does not mind.
  return "export LD_PRELOAD=" + std::string(LORAKIT_FAIL_WRITES) +
         " LORAKIT_FAIL_WRITES_AFTER=" + std::to_string(bytes) +
         " ASAN_OPTIONS=\"$ASAN_OPTIONS:verify_asan_link_order=0\"";
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "cmd.stdout" && e.path().filename() != "cmd.stderr")
      out.insert(e.path().filename().string());
  return out;
}

void expect_clean_failure(const CommandResult& r, const std::string& out_name,
                          const std::string& cause) {
  EXPECT_EQ(r.status, 2) << r.err;  // an error, not a signal
  EXPECT_NE(r.err.find(out_name), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(cause), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(FaultInjection, MergeDiskFullMidWriteLeavesNothing) {
  Inputs in;
  ASSERT_GT(fs::file_size(in.model), 1u << 20);
  const auto before = names_in(in.dir.path());
  for (const char* out : {"out.safetensors", "out.gguf"}) {
    SCOPED_TRACE(out);
    const auto r = run_lorakit(
        "merge " + in.model + " -l " + in.lora + " -o " + (in.dir / out).string() + " --threads 2",
        in.dir.path(), disk_full_after(300000));
    expect_clean_failure(r, out, "No space left on device");
    EXPECT_EQ(names_in(in.dir.path()), before) << "no destination, no temporary file";
  }
  // With room the same command works: the failure above was the fault, not the input.
  const auto ok = run_lorakit(
      "merge " + in.model + " -l " + in.lora + " -o " + (in.dir / "ok.safetensors").string(),
      in.dir.path(), disk_full_after(1ull << 40));
  EXPECT_EQ(ok.status, 0) << ok.err;
}

TEST(FaultInjection, MergeDiskFullKeepsThePreviousVersion) {
  Inputs in;
  const auto dest = in.dir / "out.safetensors";
  { std::ofstream(dest) << "the previous version"; }
  const auto r = run_lorakit("merge " + in.model + " -l " + in.lora + " -o " + dest.string(),
                             in.dir.path(), disk_full_after(300000));
  expect_clean_failure(r, "out.safetensors", "No space left on device");
  std::ifstream f(dest);
  std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "the previous version");
}

TEST(FaultInjection, QuantizeDiskFullMidWriteLeavesNothing) {
  Inputs in;
  const auto before = names_in(in.dir.path());
  for (const char* out : {"q.gguf", "q.safetensors"}) {
    SCOPED_TRACE(out);
    const std::string type = std::string(out) == "q.gguf" ? "q8_0" : "f32";
    const auto r =
        run_lorakit("quantize " + in.model + " --type " + type + " -o " + (in.dir / out).string(),
                    in.dir.path(), disk_full_after(200000));
    expect_clean_failure(r, out, "No space left on device");
    EXPECT_EQ(names_in(in.dir.path()), before);
  }
}

TEST(FaultInjection, FsyncFailureLeavesNothing) {
  Inputs in;
  const auto before = names_in(in.dir.path());
  const auto r =
      run_lorakit("merge " + in.model + " -l " + in.lora + " -o " + (in.dir / "o.gguf").string(),
                  in.dir.path(), disk_full_after(1ull << 40) + " LORAKIT_FAIL_FSYNC=1");
  expect_clean_failure(r, "o.gguf", "fsync failed");
  EXPECT_EQ(names_in(in.dir.path()), before);
}

TEST(FaultInjection, InputTruncatedWhileMappedIsAnErrorNotACrash) {
  // The model is cut to zero bytes at merge's first write, while it is mapped: the next read of
  // its pages raises SIGBUS, which the guard turns into the one-line error (io.hpp).
  Inputs in;
  const auto before = names_in(in.dir.path());
  const auto r = run_lorakit(
      "merge " + in.model + " -l " + in.lora + " -o " + (in.dir / "out.safetensors").string() +
          " --threads 1",
      in.dir.path(), disk_full_after(1ull << 40) + " LORAKIT_TRUNCATE_ON_WRITE=" + in.model);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("m.safetensors: the file changed while it was being read"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(fs::file_size(in.model), 0u);  // the fault happened
  EXPECT_EQ(names_in(in.dir.path()), before) << "no destination, no temporary file";
}

TEST(FaultInjection, BusErrorOnATruncatedInputIsAnErrorNotACrash) {
  // `quantize` decodes every tensor from the mapping: after the cut, that read raises SIGBUS and
  // the guard reports it, removes the temporary output and exits 2.
  Inputs in;
  const auto victim = in.dir / "victim.safetensors";
  fs::copy_file(in.model, victim);
  const auto before = names_in(in.dir.path());
  const auto r = run_lorakit(
      "quantize " + victim.string() + " --type f32 -o " + (in.dir / "q.safetensors").string() +
          " --threads 1",
      in.dir.path(), disk_full_after(1ull << 40) + " LORAKIT_TRUNCATE_ON_WRITE=" + victim.string());
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("victim.safetensors: the file changed while it was being read"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("bus error at byte"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(fs::file_size(victim), 0u);
  EXPECT_EQ(names_in(in.dir.path()), before) << "no destination, no temporary file";
}

TEST(FaultInjection, FileSizeLimitRefusedBeforeWriting) {
  // `ulimit -f` (SIGXFSZ ignored): sizing the output fails with EFBIG before any data is written.
  Inputs in;
  const auto before = names_in(in.dir.path());
  const auto r = run_lorakit(
      "merge " + in.model + " -l " + in.lora + " -o " + (in.dir / "out.safetensors").string(),
      in.dir.path(), "ulimit -f 512; trap \"\" XFSZ");
  expect_clean_failure(r, "out.safetensors", "File too large");
  EXPECT_EQ(names_in(in.dir.path()), before);
}

}  // namespace
}  // namespace lorakit::testing
