#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace tg = tapegrad;

TEST(Allocator, FreedBuffersAreReusedWithoutSystemAllocation) {
  { tg::Tensor warm = tg::empty({1000, 37}); }
  const tg::AllocatorStats before = tg::allocator_stats();
  for (int i = 0; i < 100; ++i) {
    tg::Tensor t = tg::empty({1000, 37});
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64, 0u);
  }
  const tg::AllocatorStats after = tg::allocator_stats();
  EXPECT_EQ(after.system_allocations, before.system_allocations);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 100);
}
