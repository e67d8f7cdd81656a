#include "scheduler/kv_block_manager.h"

#include <gtest/gtest.h>

#include <map>
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
    if (m.Contains(id)) {
      ASSERT_TRUE(m.Free(id).ok());
    }
  }
  EXPECT_EQ(m.num_free_blocks(), 64);
}

TEST(KvBlockManagerTest, ForkSharesBlocksAndCopiesTheSharedBlockOnWrite) {
  KvBlockManager m(8, 4);
  ASSERT_TRUE(m.Allocate(1, 6).ok());  // blocks 0 (full) and 1 (2 of 4 used)
  ASSERT_TRUE(m.Fork(1, 2).ok());
  EXPECT_EQ(m.BlockTable(2), m.BlockTable(1));
  EXPECT_EQ(m.RefCount(0), 2);
  EXPECT_EQ(m.RefCount(1), 2);
  EXPECT_EQ(m.num_free_blocks(), 6);
  // Writing position 6 (in block 1) from the child: a private copy of block 1, nothing else.
  EXPECT_EQ(m.BlocksNeeded(2, 7, 6), 1);
  std::vector<BlockCopyPair> copies;
  ASSERT_TRUE(m.Allocate(2, 7, 6, &copies).ok());
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].first, 1);
  const int32_t copy = copies[0].second;
  EXPECT_EQ(m.BlockTable(2), (std::vector<int32_t>{0, copy}));
  EXPECT_EQ(m.RefCount(1), 1);
  EXPECT_EQ(m.RefCount(copy), 1);
  m.ReleaseCopySources();  // the copy is in a plan
  // The parent now owns block 1 alone and writes it in place.
  copies.clear();
  EXPECT_EQ(m.BlocksNeeded(1, 7, 6), 0);
  ASSERT_TRUE(m.Allocate(1, 7, 6, &copies).ok());
  EXPECT_TRUE(copies.empty());
  // Block 0 stays shared until both are gone.
  ASSERT_TRUE(m.Free(1).ok());
  EXPECT_EQ(m.RefCount(0), 1);
  EXPECT_EQ(m.RefCount(1), 0);
  ASSERT_TRUE(m.Free(2).ok());
  EXPECT_EQ(m.num_free_blocks(), 8);
}

TEST(KvBlockManagerTest, CopyOnWriteThatDoesNotFitChangesNothing) {
  KvBlockManager m(3, 4);
  ASSERT_TRUE(m.Allocate(1, 6).ok());
  ASSERT_TRUE(m.Fork(1, 2).ok());
  ASSERT_TRUE(m.Allocate(3, 4).ok());  // the last free block
  EXPECT_FALSE(m.CanAllocate(2, 7, 6));
  std::vector<BlockCopyPair> copies;
  EXPECT_TRUE(absl::IsResourceExhausted(m.Allocate(2, 7, 6, &copies)));
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(m.BlockTable(2), m.BlockTable(1));
  EXPECT_FALSE(m.Fork(1, 3).ok());  // 3 already holds blocks
  EXPECT_TRUE(absl::IsNotFound(m.Fork(9, 10)));
}

// Found by the scheduler property tests: a plan's copies run in no fixed order, so a copy source
// freed while the plan is formed must not be handed out (as another copy's destination) before
// the plan holds its copies.
TEST(KvBlockManagerTest, CopySourceFreedBeforeItsPlanRunsIsHeldUntilReleased) {
  KvBlockManager m(4, 4);
  ASSERT_TRUE(m.Allocate(1, 2).ok());  // block 0
  ASSERT_TRUE(m.Fork(1, 2).ok());
  std::vector<BlockCopyPair> copies;
  ASSERT_TRUE(m.Allocate(1, 3, 2, &copies).ok());  // copies 0 -> 1; 2 keeps 0 alone
  ASSERT_EQ(copies, (std::vector<BlockCopyPair>{{0, 1}}));
  ASSERT_TRUE(m.Free(2).ok());  // 0's last sharer goes (preempted) before the plan runs
  EXPECT_EQ(m.RefCount(0), 0);
  EXPECT_EQ(m.num_free_blocks(), 2);
  ASSERT_TRUE(m.Allocate(3, 8).ok());  // takes the two free blocks, not block 0
  EXPECT_EQ(m.BlockTable(3), (std::vector<int32_t>{2, 3}));
  EXPECT_FALSE(m.CanAllocate(4, 1));
  m.ReleaseCopySources();
  EXPECT_EQ(m.num_free_blocks(), 1);
  ASSERT_TRUE(m.Allocate(4, 1).ok());
  EXPECT_EQ(m.BlockTable(4), (std::vector<int32_t>{0}));
  m.ReleaseCopySources();  // nothing held: a no-op
  EXPECT_EQ(m.num_free_blocks(), 0);
}

TEST(KvBlockManagerTest, RandomForksAndWritesKeepReferenceCountsExact) {
  std::mt19937 rng(5);
  KvBlockManager m(48, 4);
  std::map<SeqId, int64_t> lengths;
  SeqId next = 0;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(rng() % 4);
    if (op == 0 && !lengths.empty()) {
      auto it = std::next(lengths.begin(), static_cast<long>(rng() % lengths.size()));
      ASSERT_TRUE(m.Free(it->first).ok());
      lengths.erase(it);
    } else if (op == 1 && !lengths.empty()) {
      auto it = std::next(lengths.begin(), static_cast<long>(rng() % lengths.size()));
      ASSERT_TRUE(m.Fork(it->first, next).ok());
      lengths[next++] = it->second;
    } else if (op == 2 && !lengths.empty()) {
      // Append a few tokens, writing from the current end (copy-on-write of a shared tail).
      auto it = std::next(lengths.begin(), static_cast<long>(rng() % lengths.size()));
      const int64_t want = it->second + 1 + rng() % 6;
      const std::vector<int32_t> before = m.BlockTable(it->first);
      const bool can = m.CanAllocate(it->first, want, it->second);
      std::vector<BlockCopyPair> copies;
      const absl::Status s = m.Allocate(it->first, want, it->second, &copies);
      ASSERT_EQ(can, s.ok()) << s;
      if (!s.ok()) {
        ASSERT_EQ(m.BlockTable(it->first), before);
        continue;
      }
      // Every block that will be written is now private to this sequence.
      const auto& table = m.BlockTable(it->first);
      for (int64_t i = it->second / 4; i < static_cast<int64_t>(table.size()); ++i) {
        ASSERT_EQ(m.RefCount(table[i]), 1);
      }
      for (const auto& [src, dst] : copies) ASSERT_NE(src, dst);
      it->second = want;
    } else {
      const int64_t want = 1 + rng() % 20;
      if (m.Allocate(next, want).ok()) lengths[next] = want;
      ++next;
    }
    m.ReleaseCopySources();  // each operation is a plan of its own
    std::map<int32_t, int32_t> refs;
    for (const auto& [id, len] : lengths) {
      const auto& table = m.BlockTable(id);
      ASSERT_EQ(static_cast<int32_t>(table.size()), m.BlocksFor(len));
      for (int32_t b : table) ++refs[b];
    }
    for (const auto& [b, n] : refs) ASSERT_EQ(m.RefCount(b), n) << "block " << b;
    ASSERT_EQ(static_cast<int32_t>(refs.size()) + m.num_free_blocks(), 48);
  }
}

TEST(KvBlockManagerTest, ReservedBlocksLeaveThePoolUntilGivenBack) {
  KvBlockManager m(8, 4);
  ASSERT_TRUE(m.Allocate(1, 8).ok());  // blocks 0, 1
  EXPECT_TRUE(m.CanReserve(6));
  EXPECT_FALSE(m.CanReserve(7));
  EXPECT_FALSE(m.CanReserve(-1));
  absl::StatusOr<std::vector<int32_t>> held = m.Reserve(3);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(*held, (std::vector<int32_t>{2, 3, 4}));
  EXPECT_EQ(m.num_reserved_blocks(), 3);
  EXPECT_EQ(m.num_free_blocks(), 3);
  EXPECT_NEAR(m.Usage(), 5.0 / 8, 1e-12);
  for (int32_t b : *held) {
    EXPECT_TRUE(m.IsReserved(b));
    EXPECT_EQ(m.RefCount(b), 0);
  }
  EXPECT_TRUE(m.CheckInvariants().ok());
  // Sequences get only what is left.
  EXPECT_FALSE(m.CanAllocate(2, 16));
  EXPECT_TRUE(absl::IsResourceExhausted(m.Reserve(4).status()));
  EXPECT_EQ(m.num_free_blocks(), 3);
  ASSERT_TRUE(m.Allocate(2, 12).ok());
  for (int32_t b : m.BlockTable(2)) EXPECT_FALSE(m.IsReserved(b));
  // Giving back what is not reserved (a table's block, a repeat, out of range) changes nothing.
  EXPECT_TRUE(absl::IsInvalidArgument(m.Unreserve(std::vector<int32_t>{2, 0})));
  EXPECT_TRUE(absl::IsInvalidArgument(m.Unreserve(std::vector<int32_t>{2, 2})));
  EXPECT_TRUE(absl::IsInvalidArgument(m.Unreserve(std::vector<int32_t>{99})));
  EXPECT_EQ(m.num_reserved_blocks(), 3);
  EXPECT_TRUE(m.CheckInvariants().ok());
  ASSERT_TRUE(m.Unreserve(*held).ok());
  EXPECT_EQ(m.num_reserved_blocks(), 0);
  EXPECT_EQ(m.num_free_blocks(), 3);
  EXPECT_TRUE(m.CheckInvariants().ok());
  // The first block given back is the first reused.
  EXPECT_EQ(m.BlocksNeeded(3, 4), 1);
  ASSERT_TRUE(m.Allocate(3, 4).ok());
  EXPECT_EQ(m.BlockTable(3), (std::vector<int32_t>{2}));
  ASSERT_TRUE(m.Free(1).ok());
  ASSERT_TRUE(m.Free(2).ok());
  ASSERT_TRUE(m.Free(3).ok());
  EXPECT_EQ(m.num_free_blocks(), 8);
  EXPECT_TRUE(m.CheckInvariants().ok());
}

// Reservations mixed into fork / write / free traffic, with copy sources held inside each "plan":
// free + referenced + held + reserved = num_blocks, recounted by CheckInvariants.
TEST(KvBlockManagerTest, RandomReservationsKeepTheAccountingExact) {
  std::mt19937 rng(17);
  KvBlockManager m(40, 4);
  std::map<SeqId, int64_t> lengths;
  std::vector<std::vector<int32_t>> reservations;
  SeqId next = 0;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(rng() % 6);
    if (op == 0 && !lengths.empty()) {
      auto it = std::next(lengths.begin(), static_cast<long>(rng() % lengths.size()));
      ASSERT_TRUE(m.Free(it->first).ok());
      lengths.erase(it);
    } else if (op == 1 && !lengths.empty()) {
      auto it = std::next(lengths.begin(), static_cast<long>(rng() % lengths.size()));
      ASSERT_TRUE(m.Fork(it->first, next).ok());
      lengths[next++] = it->second;
    } else if (op == 2) {
      const int32_t n = static_cast<int32_t>(rng() % 5);
      const bool can = m.CanReserve(n);
      absl::StatusOr<std::vector<int32_t>> r = m.Reserve(n);
      ASSERT_EQ(can, r.ok()) << r.status();
      if (r.ok()) reservations.push_back(*std::move(r));
    } else if (op == 3 && !reservations.empty()) {
      auto it = reservations.begin() + static_cast<long>(rng() % reservations.size());
      ASSERT_TRUE(m.Unreserve(*it).ok());
      reservations.erase(it);
    } else if (!lengths.empty() && op == 4) {
      auto it = std::next(lengths.begin(), static_cast<long>(rng() % lengths.size()));
      const int64_t want = it->second + 1 + rng() % 6;
      std::vector<BlockCopyPair> copies;
      if (m.Allocate(it->first, want, it->second, &copies).ok()) it->second = want;
    } else {
      const int64_t want = 1 + rng() % 20;
      if (m.Allocate(next, want).ok()) lengths[next] = want;
      ++next;
    }
    if (rng() % 2 == 0) m.ReleaseCopySources();  // sometimes a plan spans several operations
    ASSERT_TRUE(m.CheckInvariants().ok()) << "operation " << step << ": " << m.CheckInvariants();
    int32_t reserved = 0;
    for (const auto& r : reservations) {
      for (int32_t b : r) {
        ASSERT_TRUE(m.IsReserved(b));
        ASSERT_EQ(m.RefCount(b), 0);
        ++reserved;
      }
    }
    ASSERT_EQ(reserved, m.num_reserved_blocks());
  }
}

}  // namespace
}  // namespace tessera
