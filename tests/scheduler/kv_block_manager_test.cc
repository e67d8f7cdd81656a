#include "scheduler/kv_block_manager.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace tessera {
namespace {

TEST(KvBlockManagerTest, GrowsInWholeBlocksAndFreesEverything) {
  KvBlockManager m(10, 16);
  EXPECT_EQ(m.BlocksFor(0), 0);
  EXPECT_EQ(m.BlocksFor(1), 1);
  EXPECT_EQ(m.BlocksFor(16), 1);
  EXPECT_EQ(m.BlocksFor(17), 2);
  ASSERT_TRUE(m.CanAllocate(1, 17));
  ASSERT_TRUE(m.Allocate(1, 17).ok());
  EXPECT_EQ(m.BlockTable(1).size(), 2u);
  EXPECT_EQ(m.BlocksNeeded(1, 32), 0);  // still fits
  EXPECT_EQ(m.BlocksNeeded(1, 33), 1);
  ASSERT_TRUE(m.Allocate(1, 33).ok());
  EXPECT_EQ(m.BlockTable(1).size(), 3u);
  EXPECT_EQ(m.num_free_blocks(), 7);
  EXPECT_NEAR(m.Usage(), 0.3, 1e-12);
  ASSERT_TRUE(m.Free(1).ok());
  EXPECT_EQ(m.num_free_blocks(), 10);
  EXPECT_EQ(m.num_sequences(), 0);
  EXPECT_TRUE(m.BlockTable(1).empty());
}

TEST(KvBlockManagerTest, ExhaustionIsReportedAndChangesNothing) {
  KvBlockManager m(4, 4);
  ASSERT_TRUE(m.Allocate(1, 12).ok());  // 3 blocks
  EXPECT_FALSE(m.CanAllocate(2, 8));
  const absl::Status s = m.Allocate(2, 8);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_NE(s.message().find("needs 2 more KV blocks; 1 of 4 are free"), std::string::npos) << s;
  EXPECT_EQ(m.num_free_blocks(), 1);
  EXPECT_FALSE(m.Contains(2));
  // Growing an existing sequence past capacity leaves its table as it was.
  EXPECT_FALSE(m.Allocate(1, 24).ok());
  EXPECT_EQ(m.BlockTable(1).size(), 3u);
  EXPECT_TRUE(m.CanAllocate(2, 4));
}

TEST(KvBlockManagerTest, DoubleFreeAndBadCountsAreErrors) {
  KvBlockManager m(4, 4);
  EXPECT_TRUE(absl::IsNotFound(m.Free(7)));
  ASSERT_TRUE(m.Allocate(7, 1).ok());
  ASSERT_TRUE(m.Free(7).ok());
  EXPECT_TRUE(absl::IsNotFound(m.Free(7)));
  EXPECT_EQ(m.num_free_blocks(), 4);
  EXPECT_FALSE(m.CanAllocate(1, -1));
  EXPECT_TRUE(absl::IsInvalidArgument(m.Allocate(1, -1)));
}

// Random allocate/grow/free traffic: no block is ever owned twice, none leaks.
TEST(KvBlockManagerTest, RandomTrafficKeepsOwnershipExclusive) {
  std::mt19937 rng(11);
  KvBlockManager m(64, 8);
  std::map<SeqId, int64_t> lengths;
  for (int step = 0; step < 20000; ++step) {
    const SeqId seq = rng() % 24;
    if (rng() % 3 == 0 && lengths.contains(seq)) {
      ASSERT_TRUE(m.Free(seq).ok());
      lengths.erase(seq);
    } else {
      const int64_t want = lengths[seq] + rng() % 40;
      const bool can = m.CanAllocate(seq, want);
      const absl::Status s = m.Allocate(seq, want);
      ASSERT_EQ(can, s.ok()) << s;
      if (s.ok()) lengths[seq] = want;
      if (lengths[seq] == 0 && !m.Contains(seq)) lengths.erase(seq);
    }
    std::set<int32_t> owned;
    int32_t total = 0;
    for (const auto& [id, len] : lengths) {
      const auto& table = m.BlockTable(id);
      ASSERT_EQ(static_cast<int32_t>(table.size()), m.BlocksFor(len));
      for (int32_t b : table) {
        ASSERT_GE(b, 0);
        ASSERT_LT(b, 64);
        ASSERT_TRUE(owned.insert(b).second) << "block " << b << " owned twice";
      }
      total += static_cast<int32_t>(table.size());
    }
    ASSERT_EQ(total + m.num_free_blocks(), 64);
  }
  for (const auto& [id, len] : lengths) {
    if (m.Contains(id)) ASSERT_TRUE(m.Free(id).ok());
  }
  EXPECT_EQ(m.num_free_blocks(), 64);
}

}  // namespace
}  // namespace tessera
