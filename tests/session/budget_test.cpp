// The overlay memory budget: entries beyond it are evicted (first fit in model tensor order) and
// recomputed on read from the pristine source and the current plan — the same bytes.
#include <gtest/gtest.h>

#include "lorakit/io.hpp"
#include "lorakit/session.hpp"
#include "session/session_fixtures.hpp"

namespace lorakit::testing {
namespace {

using session::Session;

TEST(SessionBudget, EvictedTensorsReadTheSameBytes) {
  const auto& c = corpus();
  const std::vector<session::AdapterRequest> set{
      {c.sd1_loras[0], 1}, {c.sd1_loras[1], 0.5f}, {c.sd1_loras[2], -1}, {c.sd1_loras[3], 1}};
  const Snapshot expected = fresh(c.sd1, set);

  // A budget that holds about two of the largest patched tensors.
  auto src = io::open_tensor_source(c.sd1);
  uint64_t largest = 0;
  for (const auto& t : c.sd1_targets) largest = std::max(largest, src->find(t)->nbytes);
  session::SessionOptions o;
  o.memory_budget = 2 * largest;
  Session s(o);
  s.open_model(c.sd1);
  const auto r = s.set_adapters(set);
  EXPECT_GT(r.evicted, 0u);
  EXPECT_GT(r.recomputed, r.evicted);  // the evicted ones were computed (validated), then dropped
  EXPECT_LE(s.overlay_bytes(), o.memory_budget);
  EXPECT_EQ(s.stats().overlay_evictions, r.evicted);

  EXPECT_EQ(differing(snapshot(s), expected), "");
  EXPECT_GT(s.stats().on_demand_recomputes, 0u);
  EXPECT_LE(s.overlay_bytes(), o.memory_budget);
  // Reading everything again gives the same bytes (some entries recomputed once more).
  EXPECT_EQ(differing(snapshot(s), expected), "");

  // The policy is deterministic: a second session holds the same tensors after the same switch.
  Session t(o);
  t.open_model(c.sd1);
  const auto r2 = t.set_adapters(set);
  EXPECT_EQ(r2.evicted, r.evicted);
  EXPECT_EQ(r2.recomputed, r.recomputed);

  // Switching on keeps working under the budget, including back to the base.
  s.set_adapters({{c.sd1_loras[2], 1}});
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, {{c.sd1_loras[2], 1}})), "");
  EXPECT_LE(s.overlay_bytes(), o.memory_budget);
  s.set_adapters({});
  EXPECT_EQ(differing(snapshot(s), pristine(c.sd1)), "");
  EXPECT_EQ(s.overlay_bytes(), 0u);
}

TEST(SessionBudget, TinyBudgetHoldsNothing) {
  const auto& c = corpus();
  session::SessionOptions o;
  o.memory_budget = 1;
  Session s(o);
  s.open_model(c.sd1);
  const auto r = s.set_adapters({{c.sd1_loras[0], 1}});
  EXPECT_EQ(r.evicted, 4u);
  EXPECT_EQ(s.overlay_bytes(), 0u);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, {{c.sd1_loras[0], 1}})), "");
  EXPECT_EQ(s.overlay_bytes(), 0u);
  EXPECT_TRUE(s.read(c.sd1_targets[0]).patched);
}

}  // namespace
}  // namespace lorakit::testing
