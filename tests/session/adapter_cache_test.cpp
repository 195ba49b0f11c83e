// Adapter identity and the parsed-adapter cache (lessons.md R3, R20): identity is the content (with
// the model's architecture), not the path; a replaced file is a new adapter; reuse parses once; the
// cache is bounded and LRU; a model switch drops it.
#include <gtest/gtest.h>

#include <filesystem>

#include "lorakit/session.hpp"
#include "session/session_fixtures.hpp"
#include "test_util.hpp"

namespace lorakit::testing {
namespace {

using session::Session;
namespace fs = std::filesystem;

// Replaces `dest` by a copy of `src` through a rename (a new inode, as editors and downloads do).
void replace_file(const std::string& src, const fs::path& dest) {
  const fs::path tmp = dest.string() + ".tmp";
  fs::copy_file(src, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, dest);
}

TEST(SessionAdapterCache, ReuseParsesOnce) {
  const auto& c = corpus();
  const auto& a = c.sd1_loras[0];
  const auto& b = c.sd1_loras[1];
  Session s;
  s.open_model(c.sd1);
  struct Expect {
    std::vector<session::AdapterRequest> set;
    uint64_t parsed, cached;
  };
  const std::vector<Expect> steps{
      {{{a, 1}}, 1, 0}, {{{a, 1}, {b, 1}}, 1, 1},  {{{b, 0.5f}}, 0, 1},         {{}, 0, 0},
      {{{a, 1}}, 0, 1}, {{{b, 1}, {a, -1}}, 0, 2}, {{{a, 1}, {a, 0.5f}}, 0, 2},
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(i);
    const auto r = s.set_adapters(steps[i].set);
    EXPECT_EQ(r.adapters_parsed, steps[i].parsed);
    EXPECT_EQ(r.adapters_cached, steps[i].cached);
    EXPECT_EQ(r.reports.size(), steps[i].set.size());
  }
  const auto st = s.stats();
  EXPECT_EQ(st.adapters_parsed, 2u);
  EXPECT_EQ(st.adapters_cached, 7u);
  EXPECT_EQ(st.adapters_hashed, 2u);  // the (path, inode, size, mtime) memo spares re-hashing
}

TEST(SessionAdapterCache, TwiceInOneSetParsesOnce) {
  const auto& c = corpus();
  Session s;
  s.open_model(c.sd1);
  const auto r = s.set_adapters({{c.sd1_loras[2], 1}, {c.sd1_loras[2], -0.5f}});
  EXPECT_EQ(r.adapters_parsed, 1u);
  EXPECT_EQ(r.adapters_cached, 1u);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, s.active())), "");
}

TEST(SessionAdapterCache, IdentityIsContentNotPath) {
  const auto& c = corpus();
  TempDir dir;
  const fs::path p = dir / "style.safetensors";
  const fs::path copy = dir / "same-content.safetensors";
  fs::copy_file(c.sd1_loras[0], p);
  fs::copy_file(c.sd1_loras[0], copy);
  Session s;
  s.open_model(c.sd1);
  auto r = s.set_adapters({{p.string(), 1}});
  EXPECT_EQ(r.adapters_parsed, 1u);
  // The same bytes under another name: the cached parse, nothing recomputed.
  r = s.set_adapters({{copy.string(), 1}});
  EXPECT_EQ(r.adapters_parsed, 0u);
  EXPECT_EQ(r.adapters_cached, 1u);
  EXPECT_EQ(r.recomputed, 0u);
  EXPECT_EQ(r.kept, 4u);

  // The file at the same path is replaced: a new adapter, recomputed, equal to a fresh session.
  s.set_adapters({{p.string(), 1}});
  replace_file(c.sd1_loras[2], p);
  r = s.set_adapters({{p.string(), 1}});
  EXPECT_EQ(r.adapters_parsed, 1u);
  EXPECT_GT(r.recomputed, 0u);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, {{c.sd1_loras[2], 1}})), "");
  // And back to the first content: recognised as the first adapter again.
  replace_file(c.sd1_loras[0], p);
  r = s.set_adapters({{p.string(), 1}});
  EXPECT_EQ(r.adapters_parsed, 0u);
  EXPECT_EQ(r.adapters_cached, 1u);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, {{c.sd1_loras[0], 1}})), "");
}

TEST(SessionAdapterCache, BoundedLeastRecentlyUsed) {
  const auto& c = corpus();
  const uint64_t one = fs::file_size(c.sd1_loras[0]);
  ASSERT_LE(fs::file_size(c.sd1_loras[1]), one * 2);
  session::SessionOptions o;
  o.adapter_cache_bytes = one + one / 2;  // room for about one adapter
  Session s(o);
  s.open_model(c.sd1);
  EXPECT_EQ(s.set_adapters({{c.sd1_loras[0], 1}}).adapters_parsed, 1u);
  EXPECT_EQ(s.set_adapters({{c.sd1_loras[0], 1}}).adapters_cached, 1u);
  EXPECT_EQ(s.set_adapters({{c.sd1_loras[2], 1}}).adapters_parsed, 1u);  // evicts A
  EXPECT_EQ(s.set_adapters({{c.sd1_loras[0], 1}}).adapters_parsed, 1u);
  EXPECT_GE(s.stats().cache_evictions, 1u);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1, {{c.sd1_loras[0], 1}})), "");
}

TEST(SessionAdapterCache, ModelSwitchDropsParsedAdapters) {
  const auto& c = corpus();
  Session s;
  s.open_model(c.sd1);
  s.set_adapters({{c.sd1_loras[0], 1}});
  s.open_model(c.sd1_bf16);  // same architecture, another base: bindings are not reused
  const auto r = s.set_adapters({{c.sd1_loras[0], 1}});
  EXPECT_EQ(r.adapters_parsed, 1u);
  EXPECT_EQ(r.adapters_cached, 0u);
  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1_bf16, {{c.sd1_loras[0], 1}})), "");
  EXPECT_EQ(s.stats().models_opened, 2u);
}

}  // namespace
}  // namespace lorakit::testing
