// Issue 4 scenarios S0, S1, S4 through a Session: every state bit-identical to a fresh session
// given the same set; the empty set gives the base bytes; model switches drop everything of the old
// model.
#include <gtest/gtest.h>

#include <set>

#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "lorakit/session.hpp"
#include "session/session_fixtures.hpp"

namespace lorakit::testing {
namespace {

using session::AdapterRequest;
using session::Session;
using Set = std::vector<AdapterRequest>;

// Bytes of the model's tensors that `set`'s adapters bind to (in the model's own type).
uint64_t touched_bytes(const std::string& model_path, const Set& set) {
  auto src = io::open_tensor_source(model_path);
  const auto m = model::ModelIndex::from_source(*src);
  std::set<std::string> names;
  for (const auto& r : set) {
    if (r.strength == 0) continue;
    for (const auto& mod : adapter::parse_file(r.path, m).modules)
      for (const auto& p : mod.target.parts) names.insert(p.tensor);
  }
  uint64_t n = 0;
  for (const auto& name : names) n += src->find(name)->nbytes;
  return n;
}

TEST(SessionScenario, S0_ApplyRemoveAndStrengthChangesMatchFreshSessions) {
  const auto& c = corpus();
  const auto& a = c.sd1_loras[0];
  const auto& b = c.sd1_loras[1];
  const Snapshot base = pristine(c.sd1);
  Session s;
  s.open_model(c.sd1);
  EXPECT_EQ(differing(snapshot(s), base), "");

  const std::vector<Set> steps{
      {{a, 1}},         {},                               // none → A → none
      {{a, 1}, {b, 1}}, {{a, 1}},                         // A+B → A
      {{a, 1}},         {{a, 0.5f}}, {{a, 1}}, {{a, 0}},  // strength 1 → 0.5 → 1 → 0
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(i);
    s.set_adapters(steps[i]);
    EXPECT_EQ(s.active(), steps[i]);
    const Snapshot now = snapshot(s);
    EXPECT_EQ(differing(now, fresh(c.sd1, steps[i])), "");
    const bool no_effect = steps[i].empty() || steps[i][0].strength == 0;
    if (no_effect) {
      EXPECT_EQ(differing(now, base), "");
      EXPECT_EQ(s.overlay_bytes(), 0u);
    } else {
      EXPECT_NE(differing(now, base), "") << "the adapter changed nothing";
    }
  }
}

TEST(SessionScenario, S0_ReportCountsRecomputedKeptRestored) {
  const auto& c = corpus();
  const auto& a = c.sd1_loras[0];  // 4 targets
  const auto& d = c.sd1_loras[3];  // 4 targets, one shared with A (attn1.to_q)
  Session s;
  s.open_model(c.sd1);
  auto r = s.set_adapters({{a, 1}});
  EXPECT_EQ(r.recomputed, 4u);
  EXPECT_EQ(r.kept, 0u);
  EXPECT_EQ(r.restored, 0u);
  EXPECT_EQ(s.overlay_tensors(), 4u);
  ASSERT_EQ(r.reports.size(), 1u);
  EXPECT_EQ(r.reports[0].matched, 4u);

  r = s.set_adapters({{a, 1}, {d, 1}});  // A's 3 other targets unchanged, to_q changes
  EXPECT_EQ(r.recomputed, 4u);
  EXPECT_EQ(r.kept, 3u);
  EXPECT_EQ(r.restored, 0u);
  EXPECT_EQ(s.overlay_tensors(), 7u);

  r = s.set_adapters({{d, 1}});  // A's 3 go back; to_q changes again; D's 3 others kept
  EXPECT_EQ(r.recomputed, 1u);
  EXPECT_EQ(r.kept, 3u);
  EXPECT_EQ(r.restored, 3u);

  r = s.set_adapters({{d, 1}});  // idempotent
  EXPECT_EQ(r.recomputed, 0u);
  EXPECT_EQ(r.kept, 4u);

  r = s.set_adapters({});
  EXPECT_EQ(r.restored, 4u);
  EXPECT_EQ(s.overlay_bytes(), 0u);
  EXPECT_EQ(s.overlay_tensors(), 0u);
}

TEST(SessionScenario, S1_SdxlSwitchesAreExactAndOverlayHoldsOnlyTouchedTensors) {
  const auto& c = corpus();
  const Snapshot base = pristine(c.sdxl);
  Session s;
  s.open_model(c.sdxl);
  EXPECT_EQ(s.model().arch().variant, "sdxl");
  const std::vector<Set> steps{
      {{c.sdxl_loras[0], 1}}, {{c.sdxl_loras[1], 0.8f}}, {{c.sdxl_loras[2], 1.2f}}, {}};
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(i);
    s.set_adapters(steps[i]);
    EXPECT_EQ(differing(snapshot(s), fresh(c.sdxl, steps[i])), "");
    const uint64_t touched = touched_bytes(c.sdxl, steps[i]);
    EXPECT_LE(s.overlay_bytes(), touched);
    if (steps[i].empty())
      EXPECT_EQ(differing(snapshot(s), base), "");
    else
      EXPECT_GT(s.overlay_bytes(), 0u);
  }
}

TEST(SessionScenario, S4_ModelSwitchesMatchFreshSessionsAndMismatchIsRefused) {
  const auto& c = corpus();
  Session s;
  struct Step {
    std::string model;
    Set set;
  };
  const std::vector<Step> steps{
      {c.sd1, {{c.sd1_loras[0], 1}, {c.sd1_loras[2], 0.7f}}},
      {c.sdxl, {{c.sdxl_loras[0], 1}}},
      {c.flux, {{c.flux_loras[0], 1}, {c.flux_loras[1], -0.5f}}},
      {c.sd1, {{c.sd1_loras[0], 1}}},
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(i);
    s.open_model(steps[i].model);
    EXPECT_TRUE(s.active().empty());
    EXPECT_EQ(s.overlay_bytes(), 0u);
    EXPECT_EQ(differing(snapshot(s), pristine(steps[i].model)), "");
    const auto r = s.set_adapters(steps[i].set);
    // The cache of the previous model is gone: every adapter is parsed against this one.
    EXPECT_EQ(r.adapters_parsed, steps[i].set.size());
    EXPECT_EQ(differing(snapshot(s), fresh(steps[i].model, steps[i].set)), "");

    if (steps[i].model == c.sdxl) {
      // An SD1 LoRA on SDXL: refused with check's message; nothing changes.
      const Snapshot before = snapshot(s);
      const uint64_t overlay = s.overlay_bytes();
      try {
        s.set_adapters({{c.sdxl_loras[1], 1}, {c.sd1_loras[0], 1}});
        ADD_FAILURE() << "an SD1 LoRA was accepted on SDXL";
      } catch (const InvalidArgument& e) {
        EXPECT_EQ(std::string(e.what()),
                  "sd1-a.safetensors: trained for sd1 (cross-attention dim 768), model is sdxl "
                  "(2048): 0 of 4 modules match");
      }
      EXPECT_EQ(s.active(), steps[i].set);
      EXPECT_EQ(s.overlay_bytes(), overlay);
      EXPECT_EQ(differing(snapshot(s), before), "");
      // Still usable.
      s.set_adapters({{c.sdxl_loras[1], 1}});
      EXPECT_EQ(differing(snapshot(s), fresh(c.sdxl, {{c.sdxl_loras[1], 1}})), "");
    }
  }
}

TEST(SessionScenario, FailedOpenKeepsThePreviousModel) {
  const auto& c = corpus();
  Session s;
  s.open_model(c.sd1);
  s.set_adapters({{c.sd1_loras[0], 1}});
  const Snapshot before = snapshot(s);
  EXPECT_THROW(s.open_model((c.dir / "no-such-model.safetensors").string()), Error);
  EXPECT_EQ(s.model().arch().variant, "sd1");
  EXPECT_EQ(s.active().size(), 1u);
  EXPECT_EQ(differing(snapshot(s), before), "");
}

TEST(SessionScenario, NoModel) {
  Session s;
  EXPECT_FALSE(s.has_model());
  EXPECT_TRUE(s.tensor_names().empty());
  EXPECT_NO_THROW(s.set_adapters({}));
  EXPECT_THROW(s.set_adapters({{corpus().sd1_loras[0], 1}}), InvalidArgument);
  EXPECT_THROW(s.read("x"), InvalidArgument);
  EXPECT_THROW(s.model(), InvalidArgument);
}

}  // namespace
}  // namespace lorakit::testing
