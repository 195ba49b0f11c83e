// Readers during switches: every read returns the bytes of one of the two valid states, never a
// torn mix; a Tensor keeps its bytes after the state it came from is gone; set_adapters calls from
// several threads serialize.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "lorakit/session.hpp"
#include "session/session_fixtures.hpp"

namespace lorakit::testing {
namespace {

using session::AdapterRequest;
using session::Session;

void readers_during_switches(const session::SessionOptions& options) {
  const auto& c = corpus();
  const std::vector<AdapterRequest> x{{c.sd1_loras[0], 1}};
  const std::vector<AdapterRequest> y{{c.sd1_loras[1], 1}, {c.sd1_loras[2], 0.5f}};
  const Snapshot sx = fresh(c.sd1, x), sy = fresh(c.sd1, y);
  Session s(options);
  s.open_model(c.sd1);
  s.set_adapters(x);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      size_t k = static_cast<size_t>(r);
      while (!stop.load()) {
        const std::string& name = c.sd1_targets[k++ % c.sd1_targets.size()];
        const session::Tensor t = s.read(name);
        const std::vector<std::byte> got(t.bytes.begin(), t.bytes.end());
        if (got != sx.at(name).bytes && got != sy.at(name).bytes) ++bad;
        ++reads;
      }
    });
  }
  for (int i = 0; i < 30; ++i) s.set_adapters(i % 2 ? x : y);
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(bad.load(), 0u);

  // A tensor read before a switch keeps its bytes after it, and after a model switch.
  const session::Tensor held = s.read(c.sd1_targets[0]);
  const std::vector<std::byte> copy(held.bytes.begin(), held.bytes.end());
  s.set_adapters({});
  s.open_model(c.sd1_bf16);
  EXPECT_EQ(std::vector<std::byte>(held.bytes.begin(), held.bytes.end()), copy);
}

TEST(SessionConcurrency, ReadersDuringSwitchesSeeWholeStates) { readers_during_switches({}); }

TEST(SessionConcurrency, ReadersDuringSwitchesUnderABudget) {
  session::SessionOptions o;
  o.memory_budget = 600000;  // some entries evicted: readers recompute them concurrently
  readers_during_switches(o);
}

TEST(SessionConcurrency, ConcurrentSwitchesSerialize) {
  const auto& c = corpus();
  Session s;
  s.open_model(c.sd1);
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w)
    writers.emplace_back([&, w] {
      for (int i = 0; i < 8; ++i) s.set_adapters({{c.sd1_loras[(w + i) % 4], 1}});
    });
  for (auto& t : writers) t.join();
  // Whatever came last is in force, completely.
  const auto active = s.active();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, active)), "");
}

}  // namespace
}  // namespace lorakit::testing
