#include "text/tokenizer/word_cache.h"

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace tessera::tokenizer {

WordCache::Key WordCache::MakeKey(std::string_view word) {
  return {word, absl::Hash<absl::string_view>{}(absl::string_view(word.data(), word.size()))};
}

WordCache::Shard& WordCache::ShardOf(const Key& key) const {
  // The top bits pick the shard; the table inside uses the low bits, so they stay independent.
  return shards_[key.hash >> (sizeof(size_t) * 8 - kShardBits)];
}

bool WordCache::Lookup(std::string_view word, std::vector<int32_t>* out) const {
  const Key key = MakeKey(word);
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return false;
  // One or two ids: a loop is cheaper than vector::insert's general path.
  for (int32_t id : it->second) out->push_back(id);
  return true;
}

void WordCache::Insert(std::string_view word, absl::Span<const int32_t> ids) const {
  const Key key = MakeKey(word);
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.entries.size() >= shard_capacity_) shard.entries.clear();
  shard.entries.try_emplace(std::string(word), ids.begin(), ids.end());
}

}  // namespace tessera::tokenizer
