// SessionOptions::reuse_buffers: a switch fills the buffers the previous switch released (stale
// patched bytes of other adapters) and still gives the bytes of a fresh session; a buffer a reader
// holds is never reused; spares are bounded and released on request, on open_model, and when reuse
// is off.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "lorakit/session.hpp"
#include "session/session_fixtures.hpp"

namespace lorakit::testing {
namespace {

using session::AdapterRequest;
using session::Session;

TEST(SessionBufferReuse, SwitchesFillReleasedBuffersWithFreshBytes) {
  const auto& c = corpus();
  const std::vector<AdapterRequest> a{{c.sd1_loras[0], 1}}, b{{c.sd1_loras[1], 0.5f}},
      ab{{c.sd1_loras[0], 1}, {c.sd1_loras[1], -1}};
  Session s;
  s.open_model(c.sd1);
  s.set_adapters(a);
  const uint64_t overlay_a = s.overlay_bytes();
  EXPECT_EQ(s.stats().spare_bytes, 0u);

  s.set_adapters(b);
  // What the switch released (A's entries) is kept, never more than A's overlay.
  EXPECT_GT(s.stats().spare_bytes, 0u);
  EXPECT_LE(s.stats().spare_bytes, overlay_a);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, b)), "");

  const uint64_t reused_before = s.stats().buffers_reused;
  s.set_adapters(ab);
  EXPECT_GT(s.stats().buffers_reused, reused_before);  // A's old buffers, holding stale bytes
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, ab)), "");
  s.set_adapters(a);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, a)), "");

  s.set_adapters({});
  EXPECT_EQ(differing(snapshot(s), pristine(c.sd1)), "");
  EXPECT_EQ(s.overlay_bytes(), 0u);
  EXPECT_LE(s.stats().spare_bytes, overlay_a);
  s.release_spare_buffers();
  EXPECT_EQ(s.stats().spare_bytes, 0u);

  s.set_adapters(a);
  s.set_adapters(b);
  EXPECT_GT(s.stats().spare_bytes, 0u);
  s.open_model(c.sd1);  // a model switch drops spares with everything else
  EXPECT_EQ(s.stats().spare_bytes, 0u);
}

TEST(SessionBufferReuse, SparesUnusedByTheNextSwitchAreFreed) {
  const auto& c = corpus();
  Session s;
  s.open_model(c.sd1);
  s.set_adapters({{c.sd1_loras[0], 1}});
  s.set_adapters({});  // A's buffers become spares
  const uint64_t spares = s.stats().spare_bytes;
  ASSERT_GT(spares, 0u);
  s.set_adapters({});  // nothing computed, nothing released: the old spares go
  EXPECT_EQ(s.stats().spare_bytes, 0u);
}

TEST(SessionBufferReuse, AHeldTensorIsNeverReused) {
  const auto& c = corpus();
  Session s;
  s.open_model(c.sd1);
  s.set_adapters({{c.sd1_loras[0], 1}});
  std::vector<session::Tensor> held;
  std::vector<std::vector<std::byte>> copies;
  for (const auto& name : c.sd1_targets) {
    auto t = s.read(name);
    if (!t.patched) continue;
    copies.emplace_back(t.bytes.begin(), t.bytes.end());
    held.push_back(std::move(t));
  }
  ASSERT_FALSE(held.empty());
  // Switches that would refill A's buffers if they were free.
  s.set_adapters({{c.sd1_loras[0], -1}});
  s.set_adapters({{c.sd1_loras[0], 0.25f}});
  for (size_t k = 0; k < held.size(); ++k)
    EXPECT_TRUE(
        std::equal(held[k].bytes.begin(), held[k].bytes.end(), copies[k].begin(), copies[k].end()))
        << held[k].name;
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, {{c.sd1_loras[0], 0.25f}})), "");
  // Released by the readers, the buffers become spares the next switch can use.
  held.clear();
  const uint64_t reused = s.stats().buffers_reused;
  s.set_adapters({{c.sd1_loras[0], 0.5f}});
  EXPECT_GT(s.stats().buffers_reused, reused);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, {{c.sd1_loras[0], 0.5f}})), "");
}

TEST(SessionBufferReuse, OffKeepsNoSpares) {
  const auto& c = corpus();
  session::SessionOptions o;
  o.reuse_buffers = false;
  Session s(o);
  s.open_model(c.sd1);
  s.set_adapters({{c.sd1_loras[0], 1}});
  s.set_adapters({{c.sd1_loras[1], 1}});
  s.set_adapters({{c.sd1_loras[0], 1}});
  EXPECT_EQ(s.stats().spare_bytes, 0u);
  EXPECT_EQ(s.stats().buffers_reused, 0u);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, {{c.sd1_loras[0], 1}})), "");
}

TEST(SessionBufferReuse, SparesStayWithinTheMemoryBudget) {
  const auto& c = corpus();
  session::SessionOptions o;
  o.memory_budget = 300u << 10;
  Session s(o);
  s.open_model(c.sd1);
  s.set_adapters({{c.sd1_loras[0], 1}, {c.sd1_loras[1], 1}});
  s.set_adapters({{c.sd1_loras[2], 1}});
  EXPECT_LE(s.stats().spare_bytes, o.memory_budget);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, {{c.sd1_loras[2], 1}})), "");
}

}  // namespace
}  // namespace lorakit::testing
