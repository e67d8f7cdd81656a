#include "scheduler/kv_block_manager.h"

#include "absl/strings/str_cat.h"

namespace tessera {

KvBlockManager::KvBlockManager(int32_t num_blocks, int32_t block_size)
    : num_blocks_(num_blocks), block_size_(block_size) {
  free_.reserve(num_blocks);
  // Highest id at the bottom so block 0 is handed out first (easier to read in tests and logs).
  for (int32_t b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int32_t KvBlockManager::BlocksFor(int64_t num_tokens) const {
  return static_cast<int32_t>((num_tokens + block_size_ - 1) / block_size_);
}

int32_t KvBlockManager::BlocksNeeded(SeqId seq, int64_t num_tokens) const {
  auto it = tables_.find(seq);
  const int64_t have = it == tables_.end() ? 0 : static_cast<int64_t>(it->second.size());
  const int64_t need = BlocksFor(num_tokens);
  return need > have ? static_cast<int32_t>(need - have) : 0;
}

bool KvBlockManager::CanAllocate(SeqId seq, int64_t num_tokens) const {
  return num_tokens >= 0 && BlocksNeeded(seq, num_tokens) <= num_free_blocks();
}

absl::Status KvBlockManager::Allocate(SeqId seq, int64_t num_tokens) {
  if (num_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sequence ", seq, ": negative token count"));
  }
  const int32_t need = BlocksNeeded(seq, num_tokens);
  if (need > num_free_blocks()) {
    return absl::ResourceExhaustedError(absl::StrCat("sequence ", seq, " needs ", need,
                                                     " more KV blocks; ", num_free_blocks(), " of ",
                                                     num_blocks_, " are free"));
  }
  std::vector<int32_t>& table = tables_[seq];
  for (int32_t i = 0; i < need; ++i) {
    table.push_back(free_.back());
    free_.pop_back();
  }
  return absl::OkStatus();
}

absl::Status KvBlockManager::Free(SeqId seq) {
  auto it = tables_.find(seq);
  if (it == tables_.end()) {
    return absl::NotFoundError(absl::StrCat("sequence ", seq, " holds no KV blocks"));
  }
  // Reverse order so the sequence's first block is reused first.
  for (auto b = it->second.rbegin(); b != it->second.rend(); ++b) free_.push_back(*b);
  tables_.erase(it);
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
