// ai-toolkit's LDM ↔ diffusers key maps (../shared/corpus/mappings, made by matching real
// checkpoints) against lorakit's equivalent names: every plain row must be one of our module paths
// bound to the row's LDM tensor (or, for a bias row, to the weight whose companion it is).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "lorakit/model.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::model {
namespace {

struct Map {
  const char* tsv;
  const char* ldm_side;  // the LDM keys of the same checkpoint (no shapes)
  size_t plain_rows;     // rows with a plain target (the others are cat/slice operators)
  size_t vae_rows;       // VAE rows: outside lorakit's namings (VAE adapters are unsupported, §13)
};

std::string strip_suffix(const std::string& s, const std::string& suf) {
  return s.ends_with(suf) ? s.substr(0, s.size() - suf.size()) : s;
}

class ModulePathKeymap : public ::testing::TestWithParam<Map> {};

TEST_P(ModulePathKeymap, PlainRowsAreEquivalentNames) {
  const Map& mp = GetParam();
  ModelIndex m = testing::corpus_model(mp.ldm_side);
  ASSERT_NE(m.arch().family, Family::Unknown);
  std::map<std::pair<Naming, std::string>, std::vector<const ModulePath*>> by_path;
  for (const auto& p : m.module_paths()) by_path[{p.naming, p.path}].push_back(&p);

  size_t plain = 0, vae = 0, checked = 0;
  for (const auto& [src, dst] :
       testing::read_mapping(testing::corpus_path("mappings/" + std::string(mp.tsv)))) {
    if (dst.starts_with("{")) continue;  // {"cat": …} / {"slice": …}: fused OpenCLIP in_proj rows
    ++plain;
    if (dst.starts_with("vae_")) {
      ++vae;
      continue;
    }
    // ai-toolkit names: unet_<diffusers UNet key>, te_/te0_/te1_<HF CLIP key>.
    Naming naming;
    std::string dkey;
    if (dst.starts_with("unet_")) {
      naming = Naming::Diffusers;
      dkey = dst.substr(5);
    } else {
      ASSERT_TRUE(dst.starts_with("te")) << dst;
      naming = Naming::HfClip;
      dkey = dst.substr(dst.find('_') + 1);
    }
    const bool bias = src.ends_with(".bias");
    std::string dpath = strip_suffix(strip_suffix(dkey, ".weight"), ".bias");
    auto it = by_path.find({naming, dpath});
    ASSERT_NE(it, by_path.end()) << src << " -> " << dst << ": no module path " << dpath;
    bool ok = false;
    for (const ModulePath* p : it->second) {
      if (p->binding.parts.size() != 1 || p->binding.parts[0].rows) continue;
      const std::string& t = p->binding.parts[0].tensor;
      const TensorMeta* b = m.bias_of(t);
      ok |= bias ? (b && b->name == src) : t == src;
      // HF text_projection.weight is the transpose of OpenCLIP's text_projection (§2.6); ai-toolkit
      // copies it under a renamed key, lorakit binds it with the transform.
      if (!bias && t == src) {
        bool openclip_projection =
            dpath == "text_projection" && src.ends_with("model.text_projection.weight");
        EXPECT_EQ(p->binding.transform,
                  openclip_projection ? DeltaTransform::Transpose : DeltaTransform::None)
            << src;
      }
    }
    EXPECT_TRUE(ok) << src << " -> " << dst;
    ++checked;
  }
  EXPECT_EQ(plain, mp.plain_rows);
  EXPECT_EQ(vae, mp.vae_rows);
  EXPECT_EQ(checked, plain - vae);
}

INSTANTIATE_TEST_SUITE_P(AiToolkit, ModulePathKeymap,
                         ::testing::Values(Map{"aitoolkit_keymap_sd1_ldm_to_diffusers.tsv",
                                               "aitoolkit_keymap_sd1_ldm_side.txt", 1130, 248},
                                           Map{"aitoolkit_keymap_sd2_ldm_to_diffusers.tsv",
                                               "aitoolkit_keymap_sd2_ldm_side.txt", 1168, 248},
                                           Map{"aitoolkit_keymap_sdxl_ldm_to_diffusers.tsv",
                                               "aitoolkit_keymap_sdxl_ldm_side.txt", 2448, 248},
                                           Map{"aitoolkit_keymap_refiner_ldm_to_diffusers.tsv",
                                               "aitoolkit_keymap_refiner_ldm_side.txt", 1792, 248},
                                           Map{"aitoolkit_keymap_ssd_ldm_to_diffusers.tsv",
                                               "aitoolkit_keymap_ssd_ldm_side.txt", 1713, 248},
                                           Map{"aitoolkit_keymap_vega_ldm_to_diffusers.tsv",
                                               "aitoolkit_keymap_vega_ldm_side.txt", 1333, 248}),
                         [](const auto& info) {
                           std::string n = info.param.tsv;
                           return n.substr(17, n.find("_ldm_to") - 17);
                         });

}  // namespace
}  // namespace lorakit::model

namespace lorakit::model {
namespace {

std::string flat(std::string s) {
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

// ai-toolkit's kohya LoCon map for SDXL: flattened SGM module names ↔ flattened diffusers names,
// for every module of the UNet (norms and convs included). Each row must pair an original-naming
// path with a diffusers path bound to the same tensor.
TEST(ModulePathKeymapLocon, SdxlFlattenedPairs) {
  ModelIndex m = ModelIndex::reference("sdxl");
  std::map<std::string, std::string> tensor_of_original;  // flat original path -> tensor
  std::map<std::string, std::set<std::string>> diffusers_of_tensor;
  for (const auto& p : m.module_paths()) {
    if (p.component != ComponentKind::DiffusionModel) continue;
    const std::string& t = p.binding.parts[0].tensor;
    if (p.naming == Naming::Original) tensor_of_original["lora_unet_" + flat(p.path)] = t;
    if (p.naming == Naming::Diffusers) diffusers_of_tensor[t].insert("lora_unet_" + flat(p.path));
  }
  size_t rows = 0;
  for (const auto& [src, dst] : testing::read_mapping(testing::corpus_path(
           "mappings/aitoolkit_keymap_locon_sdxl_lora_ldm_to_diffusers.tsv"))) {
    std::string s = src.substr(0, src.find('.')), d = dst.substr(0, dst.find('.'));
    ASSERT_EQ(src.substr(s.size()), dst.substr(d.size())) << src;  // same suffix on both sides
    auto it = tensor_of_original.find(s);
    ASSERT_NE(it, tensor_of_original.end()) << src;
    EXPECT_TRUE(diffusers_of_tensor[it->second].count(d)) << src << " -> " << dst;
    ++rows;
  }
  EXPECT_EQ(rows, 3150u);
}

}  // namespace
}  // namespace lorakit::model
