// Key grammar (lora-formats.md §5.1, §5.2): every suffix a key ends with is tried, and the alias
// map decides which reading is real.
#include <gtest/gtest.h>

#include <algorithm>

#include "adapter/alias_map.hpp"
#include "adapter/key_grammar.hpp"
#include "adapter/record_grouping.hpp"
#include "adapter_fixtures.hpp"

namespace lorakit::adapter::detail {
namespace {

std::vector<std::string> readings(std::string_view key) {
  std::vector<std::string> out;
  for (const Split& s : candidate_splits(key))
    out.push_back(std::string(s.prefix) + "|" + std::string(s.suffix->text));
  return out;
}

TEST(AdapterGrammar, EverySuffixTheKeyEndsWithIsTried) {
  auto r = readings("single_blocks.3.processor.qkv_lora.down.weight");
  // `_lora.down.weight` and `.down.weight` both apply; so does the IA3 `.weight` and the raw form.
  EXPECT_NE(std::find(r.begin(), r.end(), "single_blocks.3.processor.qkv|_lora.down.weight"),
            r.end());
  EXPECT_NE(std::find(r.begin(), r.end(), "single_blocks.3.processor.qkv_lora|.down.weight"),
            r.end());
  EXPECT_NE(std::find(r.begin(), r.end(), "single_blocks.3.processor.qkv_lora.down|.weight"),
            r.end());
  EXPECT_EQ(r.back(), "single_blocks.3.processor.qkv_lora.down.weight|");
  // Longest suffix first.
  EXPECT_EQ(r.front(), "single_blocks.3.processor.qkv|_lora.down.weight");
}

TEST(AdapterGrammar, SuffixTableCoversSection52) {
  struct Want {
    const char* key;
    const char* prefix;
    const char* role;
  };
  for (const Want& w : {Want{"p.lora_down.weight", "p", "down"},
                        Want{"p.lora_up.weight", "p", "up"},
                        Want{"p.lora_mid.weight", "p", "mid"},
                        Want{"p_lora.down.weight", "p", "down"},
                        Want{"p.lora.up.weight", "p", "up"},
                        Want{"p.lora_linear_layer.down.weight", "p", "down"},
                        Want{"p.lora_A.weight", "p", "down"},
                        Want{"p.lora_B.default.weight", "p", "up"},
                        Want{"p.lora_A", "p", "down"},
                        Want{"p.lora_B.bias", "p", "lora_B.bias"},
                        Want{"p.lora_A.bias", "p", "lora_A.bias"},
                        Want{"p.lora_magnitude_vector", "p", "lora_magnitude_vector"},
                        Want{"p.down.weight", "p", "down"},
                        Want{"p.alpha", "p", "alpha"},
                        Want{"p.dora_scale", "p", "dora_scale"},
                        Want{"p.reshape_weight", "p", "reshape_weight"},
                        Want{"p.hada_w1_a", "p", "w1a"},
                        Want{"p.hada_t2", "p", "t2"},
                        Want{"p.lokr_w1", "p", "w1"},
                        Want{"p.lokr_w2_b", "p", "w2b"},
                        Want{"p.lokr_t2", "p", "t2"},
                        Want{"p.a1.weight", "p", "a1"},
                        Want{"p.b2.weight", "p", "b2"},
                        Want{"p.oft_blocks", "p", "blocks"},
                        Want{"p.rescale", "p", "rescale"},
                        Want{"p.on_input", "p", "on_input"},
                        Want{"p.weight", "p", "weight"},
                        Want{"p.diff", "p", "diff"},
                        Want{"p.diff_b", "p", "diff_b"},
                        Want{"p.w_norm", "p", "w_norm"},
                        Want{"p.b_norm", "p", "b_norm"},
                        Want{"p.set_weight", "p", "set"}}) {
    bool found = false;
    for (const Split& s : candidate_splits(w.key))
      if (s.prefix == w.prefix && s.suffix->role == w.role) found = true;
    EXPECT_TRUE(found) << w.key;
  }
}

TEST(AdapterGrammar, FlatReplacesEveryDot) {
  EXPECT_EQ(flat("a.b.c_d"), "a_b_c_d");
  EXPECT_EQ(flat(""), "");
}

// A tiny alias map: a FLUX-style XLabs alias, an attention-processor alias, a plain alias.
AliasMap small_map() {
  AliasMap a;
  model::Binding qkv{{{"single_blocks.3.linear1.weight", model::RowSlice{0, 9216}}}};
  model::Binding to_q{{{"down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight", {}}}};
  a.add("single_blocks.3.processor.qkv_lora", qkv, model::ComponentKind::DiffusionModel, "x",
        /*xlabs=*/true);
  a.add("down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor.to_q", to_q,
        model::ComponentKind::DiffusionModel, "y");
  a.add("plain", to_q, model::ComponentKind::DiffusionModel, "z");
  return a;
}

std::vector<io::TensorInfo> infos(std::initializer_list<const char*> names) {
  std::vector<io::TensorInfo> v;
  for (const char* n : names) {
    io::TensorInfo t;
    t.name = n;
    t.shape = {4, 4};
    v.push_back(t);
  }
  return v;
}

TEST(AdapterGrammar, XLabsKeyReadsOnlyAsXLabs) {
  const AliasMap a = small_map();
  auto t = infos({"single_blocks.3.processor.qkv_lora.down.weight",
                  "single_blocks.3.processor.qkv_lora.up.weight"});
  Grouping g = group_keys(t, a);
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(g.records[0].prefix, "single_blocks.3.processor.qkv_lora");
  EXPECT_EQ(g.records[0].state, Record::State::Bound);
  EXPECT_TRUE(g.unused_keys.empty());
}

TEST(AdapterGrammar, ProcessorKeyReadsAsUnderscoreLora) {
  const AliasMap a = small_map();
  auto t = infos(
      {"down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight",
       "down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.up.weight"});
  Grouping g = group_keys(t, a);
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(g.records[0].prefix,
            "down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor.to_q");
  EXPECT_EQ(g.records[0].keys[0].suffix->text, "_lora.down.weight");
}

TEST(AdapterGrammar, XLabsSuffixIsRefusedOnOtherAliases) {
  const AliasMap a = small_map();
  auto t = infos({"plain.down.weight", "plain.up.weight"});
  Grouping g = group_keys(t, a);
  // No alias takes `.down.weight` here; the keys form one unbound record named by their reading.
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(g.records[0].state, Record::State::Unbound);
  EXPECT_EQ(g.records[0].prefix, "plain");
}

TEST(AdapterGrammar, TwoAcceptedReadingsAreAmbiguous) {
  AliasMap a;
  model::Binding b1{{{"t1.weight", {}}}}, b2{{{"t2.weight", {}}}};
  a.add("x", b1, model::ComponentKind::DiffusionModel, "x");
  a.add("x.lora", b2, model::ComponentKind::DiffusionModel, "x.lora", /*xlabs=*/true);
  // `x.lora.down.weight` = x + `.lora.down.weight` or x.lora + `.down.weight` (XLabs).
  auto t = infos({"x.lora.down.weight", "x.lora.up.weight"});
  Grouping g = group_keys(t, a);
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(g.records[0].state, Record::State::Ambiguous);
  EXPECT_NE(g.records[0].note.find(" or "), std::string::npos) << g.records[0].note;
}

TEST(AdapterGrammar, AliasWithTwoBindingsIsAmbiguous) {
  AliasMap a;
  a.add("x", {{{"t1.weight", {}}}}, model::ComponentKind::DiffusionModel, "x");
  a.add("x", {{{"t1.weight", {}}}}, model::ComponentKind::DiffusionModel, "x");  // same: fine
  EXPECT_FALSE(a.find("x")->ambiguous);
  a.add("x", {{{"t2.weight", {}}}}, model::ComponentKind::DiffusionModel, "x");
  EXPECT_TRUE(a.find("x")->ambiguous);
  EXPECT_EQ(a.ambiguous(), std::vector<std::string>{"x"});
  auto t = infos({"x.lora_down.weight", "x.lora_up.weight"});
  Grouping g = group_keys(t, a);
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(g.records[0].state, Record::State::Ambiguous);
}

TEST(AdapterGrammar, Ia3WeightNeedsOnInput) {
  AliasMap a;
  a.add("m", {{{"m.weight", {}}}}, model::ComponentKind::DiffusionModel, "m");
  auto alone = infos({"m.weight"});
  Grouping g = group_keys(alone, a);
  EXPECT_TRUE(g.records.empty());
  EXPECT_EQ(g.unused_keys, std::vector<std::string>{"m.weight"});
  auto ia3 = infos({"m.weight", "m.on_input"});
  g = group_keys(ia3, a);
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(classify(g.records[0]).kind, Kind::IA3);
}

TEST(AdapterGrammar, RawKeyOnlyOnNormScaleAliases) {
  AliasMap a;
  a.add("double_blocks.0.img_attn.norm.key_norm.scale",
        {{{"double_blocks.0.img_attn.norm.key_norm.scale", {}}}},
        model::ComponentKind::DiffusionModel, "n", false, /*raw=*/true);
  a.add("img_in", {{{"img_in.weight", {}}}}, model::ComponentKind::DiffusionModel, "i");
  auto t = infos({"double_blocks.0.img_attn.norm.key_norm.scale", "img_in"});
  Grouping g = group_keys(t, a);
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(classify(g.records[0]).kind, Kind::Set);
  EXPECT_EQ(g.unused_keys, std::vector<std::string>{"img_in"});
}

TEST(AdapterGrammar, UnknownSuffixIsUnused) {
  AliasMap a;
  a.add("m", {{{"m.weight", {}}}}, model::ComponentKind::DiffusionModel, "m");
  auto t = infos({"m.lora_down.weight", "m.lora_up.weight", "m.scale", "m.lora_up.weight2"});
  Grouping g = group_keys(t, a);
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(g.unused_keys, (std::vector<std::string>{"m.scale", "m.lora_up.weight2"}));
}

}  // namespace
}  // namespace lorakit::adapter::detail
