// A thread-safe cache from a pre-tokenized word to its BPE ids: whole words repeat a lot in text,
// and a lookup is much cheaper than merging again.
//
// The entries are split into shards by the word's hash, each behind its own lock, so that
// concurrent Encode calls rarely wait for each other. The locks are plain mutexes held for a few
// dozen instructions: uncontended they cost less than a reader/writer lock, and absl::Mutex is
// slower still where its deadlock detection is compiled in. A shard that reaches its capacity is
// emptied: cheap, bounded, and the words that matter come back at once.
#ifndef TESSERA_TEXT_TOKENIZER_WORD_CACHE_H_
#define TESSERA_TEXT_TOKENIZER_WORD_CACHE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"

namespace tessera::tokenizer {

class WordCache {
 public:
  // At most about `capacity` words are kept.
  explicit WordCache(size_t capacity) : shard_capacity_(capacity / kShards + 1) {}
  WordCache(const WordCache&) = delete;
  WordCache& operator=(const WordCache&) = delete;

  // Appends the ids of `word` to `out` and returns true when it is cached.
  bool Lookup(std::string_view word, std::vector<int32_t>* out) const;
  void Insert(std::string_view word, absl::Span<const int32_t> ids) const;

 private:
  static constexpr size_t kShardBits = 4;
  static constexpr size_t kShards = size_t{1} << kShardBits;
  // Most words are one to four tokens: their ids live in the entry, not in a heap block.
  using Ids = absl::InlinedVector<int32_t, 4>;
  // A word with its hash, computed once per lookup for both the shard and the table.
  struct Key {
    std::string_view word;
    size_t hash;
  };
  static Key MakeKey(std::string_view word);
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(const Key& k) const { return k.hash; }
    size_t operator()(const std::string& s) const { return MakeKey(s).hash; }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(const std::string& a, const Key& b) const { return a == b.word; }
    bool operator()(const Key& a, const std::string& b) const { return a.word == b; }
    bool operator()(const std::string& a, const std::string& b) const { return a == b; }
  };
  struct Shard {
    std::mutex mu;
    absl::flat_hash_map<std::string, Ids, KeyHash, KeyEq> entries ABSL_GUARDED_BY(mu);
  };
  Shard& ShardOf(const Key& key) const;

  const size_t shard_capacity_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_WORD_CACHE_H_
