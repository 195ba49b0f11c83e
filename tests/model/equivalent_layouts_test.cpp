// The name maps against whole real layouts: renaming every module of one layout through lorakit's
// equivalent names must give exactly the key set (and shapes) of the other layout's real file.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "lorakit/model.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::model {
namespace {

using Keys = std::map<std::string, std::vector<uint64_t>>;

// The diffusion model's keys in `naming`, built from the module paths that name one tensor or one
// row range of one (never a virtual concatenation): path + ".weight" (or the path itself for
// non-weight keys such as pos_embed), plus ".bias" where the tensor has a bias companion.
Keys keys_in(const ModelIndex& m, Naming naming, const std::set<std::string>& bare_paths = {}) {
  Keys out;
  for (const auto& p : m.module_paths()) {
    if (p.component != ComponentKind::DiffusionModel || p.naming != naming) continue;
    if (p.binding.parts.size() != 1) continue;
    const BindingPart& part = p.binding.parts[0];
    const TensorMeta* t = m.find(part.tensor);
    std::vector<uint64_t> shape = t->shape;
    if (part.rows) shape[0] = part.rows->end - part.rows->begin;
    bool bare = bare_paths.count(p.path) > 0;
    out[bare ? p.path : p.path + ".weight"] = shape;
    if (const TensorMeta* b = m.bias_of(part.tensor)) {
      std::vector<uint64_t> bs = b->shape;
      if (part.rows) bs[0] = part.rows->end - part.rows->begin;
      out[p.path + ".bias"] = bs;
    }
  }
  return out;
}

Keys corpus_keys(const std::string& file, bool shapes = true) {
  Keys out;
  for (const auto& t : testing::corpus_tensors(file))
    out[t.name] = shapes ? t.shape : std::vector<uint64_t>{};
  return out;
}

Keys drop_shapes(Keys k) {
  for (auto& [n, s] : k) s.clear();
  return k;
}

void expect_same(const Keys& got, const Keys& want) {
  size_t shown = 0;
  for (const auto& [k, s] : want) {
    auto it = got.find(k);
    if (it == got.end() || it->second != s) {
      ADD_FAILURE() << (it == got.end() ? "missing " : "shape differs ") << k;
      if (++shown > 10) return;
    }
  }
  for (const auto& [k, s] : got) {
    if (!want.count(k)) {
      ADD_FAILURE() << "extra " << k;
      if (++shown > 10) return;
    }
  }
}

TEST(ModulePathRoundTrip, FluxBflToDiffusersIsTheDiffusersIndex) {
  // BFL flux1-dev renamed to diffusers = FLUX.1-dev/transformer's weight map (1160 keys; no
  // shapes).
  Keys got = drop_shapes(keys_in(testing::corpus_model("sdmecha_flux_dev_bfl_transformer_only.txt"),
                                 Naming::Diffusers));
  expect_same(got, corpus_keys("forge_hf_flux1_dev_diffusers_transformer_index.txt", false));
  EXPECT_EQ(got.size(), 1160u);
}

TEST(ModulePathRoundTrip, FluxDiffusersToBflIsTheBflFile) {
  // And back: the diffusers index's BFL names (virtual concatenations included) are flux1-dev's
  // keys.
  ModelIndex m = testing::corpus_model("forge_hf_flux1_dev_diffusers_transformer_index.txt");
  std::set<std::string> got;
  for (const auto& p : m.module_paths()) {
    if (p.naming != Naming::Original || p.path.ends_with("linear1_qkv")) continue;
    got.insert(p.path.ends_with(".scale") ? p.path : p.path + ".weight");
    if (m.bias_of(p.binding.parts[0].tensor)) got.insert(p.path + ".bias");
  }
  std::set<std::string> want;
  for (const auto& [k, s] : corpus_keys("sdmecha_flux_dev_bfl_transformer_only.txt"))
    want.insert(k);
  EXPECT_EQ(got, want);
}

TEST(ModulePathRoundTrip, SdxlSgmToDiffusersIsTheDiffusersUnet) {
  // SGM UNet renamed to diffusers = the diffusers unet/ file, shapes included. class_embedding is
  // the unCLIP spelling of label_emb, which an SDXL diffusers UNet does not use.
  Keys got = keys_in(ModelIndex::reference("sdxl"), Naming::Diffusers);
  for (auto it = got.begin(); it != got.end();)
    it = it->first.starts_with("class_embedding.") ? got.erase(it) : std::next(it);
  expect_same(got, corpus_keys("sdmecha_sdxl_diffusers_unet_only.txt"));
}

TEST(ModulePathRoundTrip, SdxlDiffusersToSgmIsTheSgmUnet) {
  Keys got =
      keys_in(testing::corpus_model("sdmecha_sdxl_diffusers_unet_only.txt"), Naming::Original);
  expect_same(got, corpus_keys("arenasys_toolkit_component_UNET-XL-SD.txt"));
}

TEST(ModulePathRoundTrip, Sd1KohyaDiffusersUnetToLdm) {
  // sd-mecha's "sd1-kohya" file stores the UNet under diffusers names: its LDM names are the LDM
  // UNet's keys.
  ModelIndex m = testing::corpus_model("sdmecha_sd1_kohya.txt");
  Keys got = keys_in(m, Naming::Original);
  Keys want = corpus_keys("arenasys_toolkit_component_UNET-v1-SD.txt");
  expect_same(got, want);
}

TEST(ModulePathRoundTrip, Sd3MmditToDiffusersAndBack) {
  // No diffusers SD3 list in the corpus: build one from the MMDiT file through the map, detect it
  // as a diffusers SD3 transformer, and map it back.
  ModelIndex orig = ModelIndex::reference("sd3");
  Keys diff = keys_in(orig, Naming::Diffusers, {"pos_embed.pos_embed"});
  std::vector<TensorMeta> ts;
  for (const auto& [k, s] : diff) ts.push_back({k, DType::F16, s});
  ModelIndex d = ModelIndex::from_tensors("diffusers-sd3", ts);
  EXPECT_EQ(d.arch().family, Family::SD3);
  EXPECT_EQ(d.arch().variant, "sd3-medium");
  EXPECT_EQ(d.layout(), Layout::Diffusers);
  EXPECT_EQ(d.arch().depth, 24u);
  std::set<std::string> back;
  for (const auto& p : d.module_paths()) {
    if (p.naming != Naming::Original) continue;
    back.insert(p.path == "pos_embed" ? p.path : p.path + ".weight");
    if (d.bias_of(p.binding.parts[0].tensor)) back.insert(p.path + ".bias");
  }
  std::set<std::string> want;
  for (const auto& t : orig.tensors()) {
    if (t.name.starts_with("model.diffusion_model.")) want.insert(t.name.substr(22));
  }
  EXPECT_EQ(back, want);
  // The last block's context adaLN is swapped in both directions.
  for (const auto& p : d.module_paths()) {
    if (p.path == "joint_blocks.23.context_block.adaLN_modulation.1") {
      EXPECT_EQ(p.binding.transform, DeltaTransform::SwapScaleShift);
    }
    if (p.path == "joint_blocks.22.context_block.adaLN_modulation.1") {
      EXPECT_EQ(p.binding.transform, DeltaTransform::None);
    }
  }
}

}  // namespace
}  // namespace lorakit::model
