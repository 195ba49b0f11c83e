// `lorakit demo`: every scenario passes, the JSON report lists them, and the temporary folder is
// removed afterwards.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

TEST(DemoCli, AllScenariosPassAndTheTempFolderIsRemoved) {
  // The demo's FLUX model is about 250 MB: build it in memory-backed /dev/shm when there is one.
  const std::filesystem::path root = std::filesystem::is_directory("/dev/shm")
                                         ? "/dev/shm"
                                         : std::filesystem::temp_directory_path();
  std::string tmp = (root / "lorakit-demo-test-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmp.data()), nullptr);
  TempDir out;
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", tmp.c_str(), 1);
  auto r = run_lorakit("demo --json --threads 2", out.path());
  if (old)
    ::setenv("TMPDIR", saved.c_str(), 1);
  else
    ::unsetenv("TMPDIR");
  EXPECT_TRUE(std::filesystem::is_empty(tmp)) << "the demo left files in " << tmp;
  std::filesystem::remove_all(tmp);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["passed"].get<bool>());
  ASSERT_EQ(j["scenarios"].size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(j["scenarios"][i]["id"], fmt::format("S{}", i));
    EXPECT_TRUE(j["scenarios"][i]["pass"].get<bool>()) << j["scenarios"][i]["detail"];
  }
}

}  // namespace
}  // namespace lorakit::testing
