#include "scheduler/kv_block_manager.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tessera {

KvBlockManager::KvBlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      prefix_caching_(enable_prefix_caching),
      refs_(num_blocks, 0),
      is_copy_source_(num_blocks, false),
      is_reserved_(num_blocks, false),
      block_hash_(enable_prefix_caching ? num_blocks : 0),
      is_cached_(num_blocks, false),
      evictable_pos_(num_blocks, evictable_.end()) {
  free_.reserve(num_blocks);
  // Highest id at the bottom so block 0 is handed out first (easier to read in tests and logs).
  for (int32_t b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int32_t KvBlockManager::BlocksFor(int64_t num_tokens) const {
  return static_cast<int32_t>((num_tokens + block_size_ - 1) / block_size_);
}

int64_t KvBlockManager::FirstSharedWritten(const std::vector<int32_t>& table,
                                           int64_t first_written) const {
  if (first_written < 0) return -1;
  for (int64_t i = first_written / block_size_; i < static_cast<int64_t>(table.size()); ++i) {
    if (refs_[table[i]] > 1) return i;
  }
  return -1;
}

int32_t KvBlockManager::BlocksNeeded(SeqId seq, int64_t num_tokens, int64_t first_written) const {
  auto it = tables_.find(seq);
  return TableBlocksNeeded(it == tables_.end() ? nullptr : &it->second, num_tokens, first_written);
}

int32_t KvBlockManager::TableBlocksNeeded(const std::vector<int32_t>* table, int64_t num_tokens,
                                          int64_t first_written) const {
  const int64_t have = table == nullptr ? 0 : static_cast<int64_t>(table->size());
  const int64_t need = BlocksFor(num_tokens);
  int64_t shared = 0;
  if (table != nullptr && first_written >= 0) {
    for (int64_t i = first_written / block_size_; i < have; ++i) shared += refs_[(*table)[i]] > 1;
  }
  return static_cast<int32_t>((need > have ? need - have : 0) + shared);
}

bool KvBlockManager::CanAllocate(SeqId seq, int64_t num_tokens, int64_t first_written) const {
  return num_tokens >= 0 && BlocksNeeded(seq, num_tokens, first_written) <= num_free_blocks();
}

absl::Status KvBlockManager::Allocate(SeqId seq, int64_t num_tokens, int64_t first_written,
                                      std::vector<BlockCopyPair>* copies) {
  if (num_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sequence ", seq, ": negative token count"));
  }
  // One hash lookup for the check and the growth (this runs for every sequence every step).
  auto it = tables_.find(seq);
  const int32_t need =
      TableBlocksNeeded(it == tables_.end() ? nullptr : &it->second, num_tokens, first_written);
  if (need > num_free_blocks()) {
    return absl::ResourceExhaustedError(absl::StrCat("sequence ", seq, " needs ", need,
                                                     " more KV blocks; ", num_free_blocks(), " of ",
                                                     num_blocks_, " are free"));
  }
  std::vector<int32_t>& table = it != tables_.end() ? it->second : tables_[seq];
  for (int64_t i = FirstSharedWritten(table, first_written);
       i >= 0 && i < static_cast<int64_t>(table.size()); ++i) {
    if (refs_[table[i]] <= 1) continue;
    const int32_t copy = PopFree();
    refs_[copy] = 1;
    --refs_[table[i]];
    if (copies != nullptr) {
      copies->emplace_back(table[i], copy);
      if (!is_copy_source_[table[i]]) {
        is_copy_source_[table[i]] = true;
        copy_sources_.push_back(table[i]);
      }
    }
    table[i] = copy;
  }
  while (static_cast<int64_t>(table.size()) < BlocksFor(num_tokens)) {
    const int32_t b = PopFree();
    table.push_back(b);
    refs_[b] = 1;
  }
  return absl::OkStatus();
}

absl::Status KvBlockManager::Fork(SeqId parent, SeqId child) {
  if (tables_.contains(child)) {
    return absl::FailedPreconditionError(absl::StrCat("sequence ", child, " already holds blocks"));
  }
  auto it = tables_.find(parent);
  if (it == tables_.end()) {
    return absl::NotFoundError(absl::StrCat("sequence ", parent, " holds no KV blocks"));
  }
  std::vector<int32_t> table = it->second;  // copied before tables_ may rehash
  for (int32_t b : table) ++refs_[b];
  tables_.emplace(child, std::move(table));
  return absl::OkStatus();
}

absl::Status KvBlockManager::Free(SeqId seq) {
  auto it = tables_.find(seq);
  if (it == tables_.end()) {
    return absl::NotFoundError(absl::StrCat("sequence ", seq, " holds no KV blocks"));
  }
  // Reverse order so the sequence's first block is reused first.
  for (auto b = it->second.rbegin(); b != it->second.rend(); ++b) {
    if (--refs_[*b] == 0 && !is_copy_source_[*b]) Release(*b);
  }
  tables_.erase(it);
  return absl::OkStatus();
}

void KvBlockManager::ReleaseCopySources() {
  for (int32_t b : copy_sources_) {
    is_copy_source_[b] = false;
    if (refs_[b] == 0) Release(b);
  }
  copy_sources_.clear();
}

int32_t KvBlockManager::PopFree() {
  if (!free_.empty()) {
    const int32_t b = free_.back();
    free_.pop_back();
    return b;
  }
  const int32_t b = evictable_.front();
  evictable_.pop_front();
  evictable_pos_[b] = evictable_.end();
  cached_.erase(block_hash_[b]);
  is_cached_[b] = false;
  ++num_evictions_;
  return b;
}

void KvBlockManager::Release(int32_t block) {
  if (is_cached_[block]) {
    evictable_pos_[block] = evictable_.insert(evictable_.end(), block);
  } else {
    free_.push_back(block);
  }
}

void KvBlockManager::Uncache(int32_t block) {
  if (block < 0 || block >= num_blocks_ || !is_cached_[block]) return;
  cached_.erase(block_hash_[block]);
  is_cached_[block] = false;
  if (evictable_pos_[block] != evictable_.end()) {
    evictable_.erase(evictable_pos_[block]);
    evictable_pos_[block] = evictable_.end();
    free_.push_back(block);
  }
}

void KvBlockManager::ClearCache() {
  std::vector<int32_t> cached;
  cached.reserve(cached_.size());
  for (const auto& [hash, b] : cached_) cached.push_back(b);
  for (int32_t b : cached) Uncache(b);
}

int32_t KvBlockManager::CachedPrefixBlocks(absl::Span<const BlockHash> hashes) const {
  if (!prefix_caching_) return 0;
  int32_t n = 0;
  while (n < static_cast<int32_t>(hashes.size()) && cached_.contains(hashes[n])) ++n;
  return n;
}

absl::StatusOr<int32_t> KvBlockManager::TakeCachedPrefix(SeqId seq,
                                                         absl::Span<const BlockHash> hashes,
                                                         int32_t max_blocks) {
  if (tables_.contains(seq)) {
    return absl::FailedPreconditionError(
        absl::StrCat("sequence ", seq, " already holds blocks; only a new one takes cached ones"));
  }
  const int32_t n = std::min(CachedPrefixBlocks(hashes), std::max(max_blocks, 0));
  if (n == 0) return 0;
  std::vector<int32_t>& table = tables_[seq];
  table.reserve(n);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t b = cached_.find(hashes[i])->second;
    if (evictable_pos_[b] != evictable_.end()) {
      evictable_.erase(evictable_pos_[b]);
      evictable_pos_[b] = evictable_.end();
    }
    ++refs_[b];
    table.push_back(b);
  }
  return n;
}

absl::Status KvBlockManager::CacheBlock(int32_t block, const BlockHash& hash) {
  if (block < 0 || block >= num_blocks_ || refs_[block] == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("KV block ", block, " is not referenced; only a computed block is cached"));
  }
  if (!prefix_caching_ || is_cached_[block] || cached_.contains(hash)) return absl::OkStatus();
  cached_.emplace(hash, block);
  block_hash_[block] = hash;
  is_cached_[block] = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> KvBlockManager::Reserve(int32_t n) {
  if (!CanReserve(n)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot reserve ", n, " KV blocks; ", num_free_blocks(), " of ", num_blocks_, " are free"));
  }
  std::vector<int32_t> taken(n);
  for (int32_t& b : taken) {
    b = PopFree();
    is_reserved_[b] = true;
  }
  num_reserved_ += n;
  return taken;
}

absl::Status KvBlockManager::Unreserve(absl::Span<const int32_t> blocks) {
  std::vector<bool> seen(blocks.size() > 0 ? num_blocks_ : 0, false);
  for (int32_t b : blocks) {
    if (b < 0 || b >= num_blocks_ || !is_reserved_[b] || seen[b]) {
      return absl::InvalidArgumentError(absl::StrCat("KV block ", b, " is not reserved"));
    }
    seen[b] = true;
  }
  // Reverse order so the first block taken is the first reused.
  for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) {
    is_reserved_[*b] = false;
    free_.push_back(*b);
  }
  num_reserved_ -= static_cast<int32_t>(blocks.size());
  return absl::OkStatus();
}

absl::Status KvBlockManager::CheckInvariants() const {
  std::vector<int32_t> refs(num_blocks_, 0);
  for (const auto& [seq, table] : tables_) {
    for (int32_t b : table) ++refs[b];
  }
  std::vector<bool> is_free(num_blocks_, false);
  for (int32_t b : free_) {
    if (is_free[b]) return absl::InternalError(absl::StrCat("KV block ", b, " is free twice"));
    is_free[b] = true;
  }
  std::vector<bool> is_evictable(num_blocks_, false);
  for (int32_t b : evictable_) {
    if (is_evictable[b] || evictable_pos_[b] == evictable_.end() || *evictable_pos_[b] != b) {
      return absl::InternalError(absl::StrCat("KV block ", b, " is misplaced in the LRU list"));
    }
    if (!is_cached_[b]) {
      return absl::InternalError(absl::StrCat("KV block ", b, " is evictable but not cached"));
    }
    is_evictable[b] = true;
  }
  int32_t cached = 0;
  for (const auto& [hash, b] : cached_) {
    if (!is_cached_[b] || block_hash_[b] != hash) {
      return absl::InternalError(absl::StrCat("KV block ", b, " does not hold its cached key"));
    }
  }
  int32_t referenced = 0, held = 0, reserved = 0;
  for (int32_t b = 0; b < num_blocks_; ++b) {
    if (refs[b] != refs_[b]) {
      return absl::InternalError(
          absl::StrCat("KV block ", b, ": ", refs[b], " table references, counted ", refs_[b]));
    }
    if (!is_evictable[b] && evictable_pos_[b] != evictable_.end()) {
      return absl::InternalError(absl::StrCat("KV block ", b, " has a stale LRU place"));
    }
    cached += is_cached_[b];
    if (is_cached_[b] && (is_free[b] || is_reserved_[b])) {
      return absl::InternalError(absl::StrCat("KV block ", b, " is cached but free or reserved"));
    }
    const bool is_held = is_copy_source_[b] && refs[b] == 0;
    const int states = (refs[b] > 0) + is_free[b] + is_held + is_reserved_[b] + is_evictable[b];
    if (states != 1) {
      return absl::InternalError(absl::StrCat(
          "KV block ", b, " is in ", states, " states (referenced ", refs[b], ", free ", is_free[b],
          ", held ", is_held, ", reserved ", static_cast<bool>(is_reserved_[b]), ", evictable ",
          static_cast<bool>(is_evictable[b]), ")"));
    }
    referenced += refs[b] > 0;
    held += is_held;
    reserved += is_reserved_[b];
  }
  if (reserved != num_reserved_) {
    return absl::InternalError(
        absl::StrCat(reserved, " KV blocks are reserved, counted ", num_reserved_));
  }
  if (cached != num_cached_blocks()) {
    return absl::InternalError(
        absl::StrCat(cached, " KV blocks are cached, ", num_cached_blocks(), " keys"));
  }
  if (num_free_blocks() + referenced + held + reserved != num_blocks_) {
    return absl::InternalError(absl::StrCat(
        "free ", free_.size(), " + evictable ", evictable_.size(), " + referenced ", referenced,
        " + held ", held, " + reserved ", reserved, " != ", num_blocks_, " KV blocks"));
  }
  return absl::OkStatus();
}

const std::vector<int32_t>& KvBlockManager::BlockTable(SeqId seq) const {
  static const std::vector<int32_t> kEmpty;
  auto it = tables_.find(seq);
  return it == tables_.end() ? kEmpty : it->second;
}

double KvBlockManager::Usage() const {
  return num_blocks_ == 0 ? 0.0 : 1.0 - static_cast<double>(num_free_blocks()) / num_blocks_;
}

}  // namespace tessera
