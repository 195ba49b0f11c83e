// docs/formats.md is generated from the converter's own tables; this test fails when the checked-in
// doc differs (run with LORAKIT_UPDATE_DOCS=1 to rewrite it).
#include "adapter/convert_matrix.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace lorakit::testing {
namespace {

std::filesystem::path doc_path() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "docs" /
         "formats.md";
}

TEST(ConvertMatrix, DocIsUpToDate) {
  const std::string want = adapter::detail::support_matrix_markdown();
  if (const char* u = std::getenv("LORAKIT_UPDATE_DOCS"); u && std::string(u) == "1") {
    std::ofstream(doc_path(), std::ios::binary) << want;
  }
  std::ifstream in(doc_path(), std::ios::binary);
  ASSERT_TRUE(in) << doc_path();
  std::stringstream have;
  have << in.rdbuf();
  EXPECT_EQ(have.str(), want) << doc_path()
                              << " is stale: rerun with LORAKIT_UPDATE_DOCS=1 and commit it";
}

TEST(ConvertMatrix, NamesEveryFamilyAndKind) {
  const std::string doc = adapter::detail::support_matrix_markdown();
  for (const char* s :
       {"`kohya`", "`peft`", "`diffusers`", "`bfl`", "`.lora_down.weight`", "`.lora_A.weight`",
        "`.lora.down.weight`", "`.lora_linear_layer.down.weight`", "`.hada_w1_a`",
        "`lora_unet_` + flat(path)", "`transformer.` + path"})
    EXPECT_NE(doc.find(s), std::string::npos) << s;
}

}  // namespace
}  // namespace lorakit::testing
