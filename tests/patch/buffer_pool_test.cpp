// patch::BufferPool: exact-size reuse, the small-buffer floor, the limit, and the age/drop_old
// cycle a session runs on every switch.
#include <gtest/gtest.h>

#include "lorakit/patch.hpp"

namespace lorakit::testing {
namespace {

using patch::BufferPool;
constexpr uint64_t kBig = BufferPool::kMinBytes * 3;

TEST(BufferPool, ServesASpareOfTheExactSize) {
  BufferPool pool;
  ByteBuffer a = pool.take(kBig);
  ASSERT_EQ(a.size(), kBig);
  const std::byte* where = a.data();
  pool.give(std::move(a));
  EXPECT_EQ(pool.spare_bytes(), kBig);

  ByteBuffer other = pool.take(kBig + 1);  // another size: a new buffer
  EXPECT_EQ(other.size(), kBig + 1);
  EXPECT_NE(other.data(), where);
  EXPECT_EQ(pool.reused(), 0u);

  ByteBuffer again = pool.take(kBig);
  EXPECT_EQ(again.data(), where);
  EXPECT_EQ(again.size(), kBig);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_EQ(pool.spare_bytes(), 0u);
}

TEST(BufferPool, SmallBuffersAreNotKept) {
  BufferPool pool;
  pool.give(pool.take(BufferPool::kMinBytes - 1));
  EXPECT_EQ(pool.spare_bytes(), 0u);
  pool.give(pool.take(BufferPool::kMinBytes));
  EXPECT_EQ(pool.spare_bytes(), BufferPool::kMinBytes);
}

TEST(BufferPool, LimitRefusesWhatWouldExceedIt) {
  BufferPool pool;
  pool.set_limit(2 * kBig);
  ByteBuffer a = pool.take(kBig), b = pool.take(kBig), c = pool.take(kBig + 8);
  pool.give(std::move(a));
  pool.give(std::move(b));
  pool.give(std::move(c));  // would make 3·kBig + 8 > limit: freed
  EXPECT_EQ(pool.spare_bytes(), 2 * kBig);
}

TEST(BufferPool, DropOldFreesOnlySparesUnusedSinceAge) {
  BufferPool pool;
  pool.give(pool.take(kBig));
  pool.give(pool.take(2 * kBig));
  pool.age();
  ByteBuffer reused = pool.take(kBig);   // an old spare, now in use
  pool.give(pool.take(4 * kBig));        // a fresh spare
  EXPECT_EQ(pool.drop_old(), 2 * kBig);  // the old one nobody asked for
  EXPECT_EQ(pool.spare_bytes(), 4 * kBig);
  pool.give(std::move(reused));
  EXPECT_EQ(pool.spare_bytes(), 5 * kBig);
  EXPECT_EQ(pool.drop_old(), 0u);
  pool.clear();
  EXPECT_EQ(pool.spare_bytes(), 0u);
}

}  // namespace
}  // namespace lorakit::testing
