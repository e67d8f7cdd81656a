#include "scheduler/kv_block_manager.h"

#include "absl/strings/str_cat.h"

namespace tessera {

KvBlockManager::KvBlockManager(int32_t num_blocks, int32_t block_size)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      refs_(num_blocks, 0),
      is_copy_source_(num_blocks, false),
      is_reserved_(num_blocks, false) {
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
    const int32_t copy = free_.back();
    free_.pop_back();
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
    table.push_back(free_.back());
    refs_[free_.back()] = 1;
    free_.pop_back();
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
    if (--refs_[*b] == 0 && !is_copy_source_[*b]) free_.push_back(*b);
  }
  tables_.erase(it);
  return absl::OkStatus();
}

void KvBlockManager::ReleaseCopySources() {
  for (int32_t b : copy_sources_) {
    is_copy_source_[b] = false;
    if (refs_[b] == 0) free_.push_back(b);
  }
  copy_sources_.clear();
}

absl::StatusOr<std::vector<int32_t>> KvBlockManager::Reserve(int32_t n) {
  if (!CanReserve(n)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot reserve ", n, " KV blocks; ", num_free_blocks(), " of ", num_blocks_, " are free"));
  }
  std::vector<int32_t> taken(n);
  for (int32_t& b : taken) {
    b = free_.back();
    free_.pop_back();
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
  int32_t referenced = 0, held = 0, reserved = 0;
  for (int32_t b = 0; b < num_blocks_; ++b) {
    if (refs[b] != refs_[b]) {
      return absl::InternalError(
          absl::StrCat("KV block ", b, ": ", refs[b], " table references, counted ", refs_[b]));
    }
    const bool is_held = is_copy_source_[b] && refs[b] == 0;
    const int states = (refs[b] > 0) + is_free[b] + is_held + is_reserved_[b];
    if (states != 1) {
      return absl::InternalError(absl::StrCat(
          "KV block ", b, " is in ", states, " states (referenced ", refs[b], ", free ", is_free[b],
          ", held ", is_held, ", reserved ", static_cast<bool>(is_reserved_[b]), ")"));
    }
    referenced += refs[b] > 0;
    held += is_held;
    reserved += is_reserved_[b];
  }
  if (reserved != num_reserved_) {
    return absl::InternalError(
        absl::StrCat(reserved, " KV blocks are reserved, counted ", num_reserved_));
  }
  if (num_free_blocks() + referenced + held + reserved != num_blocks_) {
    return absl::InternalError(absl::StrCat("free ", num_free_blocks(), " + referenced ",
                                            referenced, " + held ", held, " + reserved ", reserved,
                                            " != ", num_blocks_, " KV blocks"));
  }
  return absl::OkStatus();
}

const std::vector<int32_t>& KvBlockManager::BlockTable(SeqId seq) const {
  static const std::vector<int32_t> kEmpty;
  auto it = tables_.find(seq);
  return it == tables_.end() ? kEmpty : it->second;
}

double KvBlockManager::Usage() const {
  return num_blocks_ == 0 ? 0.0 : 1.0 - static_cast<double>(free_.size()) / num_blocks_;
}

}  // namespace tessera
