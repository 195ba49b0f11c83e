// Property test (issue 4, lessons.md R26): random sequences of set_adapters over 4 adapters with
// random strengths (0 and negative included), each state bit-identical to a fresh session given the
// same set, and the same bytes with 1 thread and with several.
#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <xxhash.h>

#include <map>
#include <random>

#include "lorakit/session.hpp"
#include "session/session_fixtures.hpp"

namespace lorakit::testing {
namespace {

using session::AdapterRequest;
using session::Session;
using Set = std::vector<AdapterRequest>;

std::vector<Set> random_sets(const std::vector<std::string>& adapters, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::vector<float> strengths{0.0f, 1.0f, 0.5f, -1.0f, -0.25f, 2.0f, 1.0f, 0.75f};
  std::vector<Set> out;
  for (size_t i = 0; i < n; ++i) {
    Set set;
    const size_t k = rng() % (adapters.size() + 1);
    std::vector<size_t> order(adapters.size());
    for (size_t j = 0; j < order.size(); ++j) order[j] = j;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t j = 0; j < k; ++j) {
      float s = strengths[rng() % strengths.size()];
      if (rng() % 4 == 0) s = std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng);
      set.push_back({adapters[order[j]], s});
    }
    // Sometimes only a strength changes, or nothing at all.
    if (i > 0 && rng() % 5 == 0) {
      set = out.back();
      if (!set.empty()) set[rng() % set.size()].strength = strengths[rng() % strengths.size()];
    }
    out.push_back(std::move(set));
  }
  return out;
}

std::string key_of(const Set& set) {
  std::string k;
  for (const auto& r : set)
    k += r.path + ":" + std::to_string(std::bit_cast<uint32_t>(r.strength)) + ";";
  return k;
}

uint64_t hash_of(const Snapshot& s) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  for (const auto& [name, t] : s) {
    XXH3_64bits_update(st, name.data(), name.size());
    XXH3_64bits_update(st, t.bytes.data(), t.bytes.size());
  }
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

// Runs the sequence in one session; every state is compared with a fresh session (memoized per
// set). Returns the hash of every state.
std::vector<uint64_t> run_sequence(const std::string& model, const std::vector<Set>& sets,
                                   std::map<std::string, Snapshot>& fresh_cache) {
  Session s;
  s.open_model(model);
  std::vector<uint64_t> hashes;
  for (size_t i = 0; i < sets.size(); ++i) {
    s.set_adapters(sets[i]);
    const Snapshot now = snapshot(s);
    auto [it, added] = fresh_cache.try_emplace(key_of(sets[i]));
    if (added) it->second = fresh(model, sets[i]);
    const std::string diff = differing(now, it->second);
    EXPECT_EQ(diff, "") << "step " << i << " set " << key_of(sets[i]);
    if (!diff.empty()) break;
    hashes.push_back(hash_of(now));
  }
  return hashes;
}

TEST(SessionProperty, RandomSequencesEqualFreshSessionsWithOneAndManyThreads) {
  const auto& c = corpus();
  const std::vector<Set> sets = random_sets(c.sd1_loras, 200, 20261122);
  std::map<std::string, Snapshot> fresh_cache;
  std::vector<uint64_t> one, many;
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
    one = run_sequence(c.sd1, sets, fresh_cache);
  }
  fresh_cache.clear();  // the fresh sessions of the second run use several threads too
  tbb::task_arena arena(4);
  arena.execute([&] { many = run_sequence(c.sd1, sets, fresh_cache); });
  ASSERT_EQ(one.size(), sets.size());
  EXPECT_EQ(one, many);
}

TEST(SessionProperty, RandomSequencesOnBf16) {
  const auto& c = corpus();
  std::map<std::string, Snapshot> fresh_cache;
  const auto sets = random_sets(c.sd1_loras, 60, 7);
  // The SD1 adapters bind to the BF16 copy of the same layout.
  EXPECT_EQ(run_sequence(c.sd1_bf16, sets, fresh_cache).size(), sets.size());
}

}  // namespace
}  // namespace lorakit::testing
