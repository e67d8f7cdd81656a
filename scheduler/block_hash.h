// Content keys of the prefix cache: a full KV block is named by a hash chain, so that two blocks
// share a key only when everything their K and V depend on is the same -- every token before
// them and in them, and what the tokens were computed with (the adapter and its version) -- and
// the cache's isolation (a tenant, a request's cache_salt) is part of the key too.
//
//   seed     = SHA-256(adapter name, adapter version, scope salt, cache_salt)
//   block[0] = SHA-256(seed, tokens of block 0)
//   block[i] = SHA-256(block[i-1], tokens of block i)
//
// SHA-256 rather than a 64-bit hash: a collision would hand one tenant's KV to another, so it
// must be out of reach, not merely unlikely. Stateless functions; thread-safe.
#ifndef TESSERA_SCHEDULER_BLOCK_HASH_H_
#define TESSERA_SCHEDULER_BLOCK_HASH_H_

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>

#include "absl/types/span.h"

namespace tessera {

struct BlockHash {
  std::array<uint8_t, 32> bytes{};

  friend bool operator==(const BlockHash& a, const BlockHash& b) { return a.bytes == b.bytes; }
  friend bool operator!=(const BlockHash& a, const BlockHash& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const BlockHash& x) {
    // Already uniformly distributed: 8 bytes suffice for the table.
    uint64_t head = 0;
    for (int i = 0; i < 8; ++i) head = head << 8 | x.bytes[i];
    return H::combine(std::move(h), head);
  }
};

// The start of a request's chain. `adapter_version` identifies the adapter's weights (a reload
// gets another); `scope_salt` is the tenant under --prefix-cache-scope tenant, empty under
// global; `cache_salt` is the request's own. Fields are length-prefixed, so no two different
// field lists give the same input.
BlockHash PrefixSeed(std::string_view adapter_name, uint64_t adapter_version,
                     std::string_view scope_salt, std::string_view cache_salt);

// The key of the block holding `tokens` after the block keyed `parent` (or the seed).
BlockHash ChainBlockHash(const BlockHash& parent, absl::Span<const int32_t> tokens);

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_BLOCK_HASH_H_
