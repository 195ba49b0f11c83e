// The built-in reference layouts (generated from data/layouts at build time) against the real key
// lists of ../shared/corpus: the same names with the same shapes, set for set.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "lorakit/error.hpp"
#include "lorakit/model.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::model {
namespace {

using Entries = std::map<std::string, std::vector<uint64_t>>;

Entries entries(const std::vector<TensorMeta>& ts, const std::string& strip = "") {
  Entries e;
  for (const auto& t : ts) {
    if (!t.name.starts_with(strip)) continue;
    e[t.name.substr(strip.size())] = t.shape;
  }
  return e;
}

// Reports the first few differences by name, so a failing description is easy to fix.
void expect_same(const Entries& got, const Entries& want, const std::string& what) {
  std::vector<std::string> diffs;
  for (const auto& [k, s] : want) {
    auto it = got.find(k);
    if (it == got.end())
      diffs.push_back("missing " + k);
    else if (it->second != s)
      diffs.push_back("shape differs: " + k);
  }
  for (const auto& [k, s] : got)
    if (!want.count(k)) diffs.push_back("extra " + k);
  EXPECT_EQ(got.size(), want.size()) << what;
  EXPECT_TRUE(diffs.empty()) << what << ": " << diffs.size() << " differences, first: " << diffs[0];
}

Entries without(Entries e, const std::vector<std::string>& prefixes,
                const std::set<std::string>& keys) {
  for (auto it = e.begin(); it != e.end();) {
    bool drop = keys.count(it->first) > 0;
    for (const auto& p : prefixes) drop |= it->first.starts_with(p);
    it = drop ? e.erase(it) : std::next(it);
  }
  return e;
}

// DDPM schedule buffers that LDM/SGM training checkpoints carry and inference files drop.
const std::set<std::string> kSchedule = {"alphas_cumprod",
                                         "alphas_cumprod_prev",
                                         "betas",
                                         "log_one_minus_alphas_cumprod",
                                         "posterior_log_variance_clipped",
                                         "posterior_mean_coef1",
                                         "posterior_mean_coef2",
                                         "posterior_variance",
                                         "sqrt_alphas_cumprod",
                                         "sqrt_one_minus_alphas_cumprod",
                                         "sqrt_recip_alphas_cumprod",
                                         "sqrt_recipm1_alphas_cumprod"};

TEST(ReferenceLayout, Names) {
  EXPECT_EQ(ModelIndex::reference_names(),
            (std::vector<std::string>{"sd1", "sd2", "sdxl", "sd3", "sd3.5-large", "flux"}));
  EXPECT_THROW(ModelIndex::reference("sd4"), InvalidArgument);
  EXPECT_THROW(ModelIndex::reference(""), InvalidArgument);
}

TEST(ReferenceLayout, Sd1EqualsCorpus) {
  auto ref = entries(ModelIndex::reference("sd1").tensors());
  EXPECT_EQ(ref.size(), 1131u);
  expect_same(ref, entries(testing::corpus_tensors("arenasys_assembled_sd15_ldm_full.txt")),
              "arenasys sd15");
  // sd-mecha's dump of v1-5-pruned also holds the EMA copy (model_ema.*) and the schedule buffers:
  // training state, not part of the layout adapters bind to.
  expect_same(
      ref,
      without(entries(testing::corpus_tensors("sdmecha_sd1_ldm.txt")), {"model_ema."}, kSchedule),
      "sd-mecha sd1-ldm without EMA and schedule");
}

TEST(ReferenceLayout, Sd2EqualsCorpus) {
  auto ref = entries(ModelIndex::reference("sd2").tensors());
  EXPECT_EQ(ref.size(), 1228u);
  expect_same(ref, entries(testing::corpus_tensors("arenasys_assembled_sd21_ldm_full.txt")),
              "arenasys sd21");
}

TEST(ReferenceLayout, SdxlEqualsCorpus) {
  auto ref = entries(ModelIndex::reference("sdxl").tensors());
  EXPECT_EQ(ref.size(), 2515u);
  expect_same(ref, entries(testing::corpus_tensors("arenasys_assembled_sdxl_base_ldm_full.txt")),
              "arenasys sdxl");
  // sd-mecha's SGM list adds 16 optional keys (v-prediction flags, EDM sigmas, schedule buffers).
  auto sgm =
      without(entries(testing::corpus_tensors("sdmecha_sdxl_sgm.txt")), {"edm_vpred."}, kSchedule);
  sgm.erase("v_pred");
  sgm.erase("ztsnr");
  expect_same(ref, sgm, "sd-mecha sdxl-sgm without optional keys");
}

TEST(ReferenceLayout, Sd3EqualsCorpus) {
  auto ref = entries(ModelIndex::reference("sd3").tensors());
  EXPECT_EQ(ref.size(), 1672u);
  expect_same(ref, entries(testing::corpus_tensors("sdmecha_sd3_comfyui.txt")), "sd-mecha sd3");
}

TEST(ReferenceLayout, Sd35LargeEqualsCorpus) {
  auto ref = entries(ModelIndex::reference("sd3.5-large").tensors());
  EXPECT_EQ(ref.size(), 1167u);
  expect_same(ref, entries(testing::corpus_tensors("invokeai_sd35_large_full_checkpoint.txt")),
              "invokeai sd3.5 large");
}

TEST(ReferenceLayout, FluxEqualsCorpus) {
  ModelIndex m = ModelIndex::reference("flux");
  auto ref = entries(m.tensors());
  EXPECT_EQ(ref.size(), 1439u);
  expect_same(ref, entries(testing::corpus_tensors("sdmecha_flux_flux.txt")), "sd-mecha flux");
  // Its diffusion model, prefix removed, is BFL's flux1-dev.safetensors.
  expect_same(entries(m.tensors(), "model.diffusion_model."),
              entries(testing::corpus_tensors("sdmecha_flux_dev_bfl_transformer_only.txt")),
              "flux1-dev transformer");
}

TEST(ReferenceLayout, DetectedAsWhatTheyAre) {
  struct Case {
    const char* name;
    Family family;
    const char* variant;
    Layout layout;
    size_t components;
  };
  for (const Case& c : {Case{"sd1", Family::SD1, "sd1", Layout::LdmSgm, 3},
                        Case{"sd2", Family::SD2, "sd2", Layout::LdmSgm, 3},
                        Case{"sdxl", Family::SDXL, "sdxl", Layout::LdmSgm, 4},
                        Case{"sd3", Family::SD3, "sd3-medium", Layout::Sd3Single, 5},
                        Case{"sd3.5-large", Family::SD3, "sd3.5-large", Layout::Sd3Single, 2},
                        Case{"flux", Family::Flux, "flux-dev", Layout::ComfyUI, 4}}) {
    ModelIndex m = ModelIndex::reference(c.name);
    EXPECT_EQ(m.origin(), std::string("arch:") + c.name);
    EXPECT_EQ(m.arch().family, c.family) << c.name;
    EXPECT_EQ(m.arch().variant, c.variant) << c.name;
    EXPECT_EQ(m.layout(), c.layout) << c.name;
    EXPECT_EQ(m.components().size(), c.components) << c.name;
    EXPECT_FALSE(m.module_paths().empty()) << c.name;
  }
}

// A reference index binds exactly like the real file it describes.
TEST(ReferenceLayout, ModulePathsMatchTheCorpusModel) {
  for (auto [ref, file] :
       {std::pair{"sdxl", "arenasys_assembled_sdxl_base_ldm_full.txt"},
        std::pair{"flux", "sdmecha_flux_flux.txt"}, std::pair{"sd3", "sdmecha_sd3_comfyui.txt"}}) {
    ModelIndex a = ModelIndex::reference(ref), b = testing::corpus_model(file);
    ASSERT_EQ(a.module_paths().size(), b.module_paths().size()) << ref;
    for (size_t i = 0; i < a.module_paths().size(); ++i) {
      EXPECT_EQ(a.module_paths()[i].path, b.module_paths()[i].path);
      EXPECT_EQ(a.module_paths()[i].binding, b.module_paths()[i].binding);
    }
  }
}

}  // namespace
}  // namespace lorakit::model
