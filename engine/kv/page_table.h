// The paged-KV page table of one step, shared by every backend and by the tests' references.
//
// CSR layout (as FlashInfer's): sequence i owns blocks indices[indptr[i] .. indptr[i+1]), in token
// order; its last block holds last_block_len[i] tokens (1..block_size). A sequence's KV length
// after the step is therefore (num_blocks_i - 1) * block_size + last_block_len[i].
//
// KV storage per layer, per block: [2 (K, V)][block_size][num_kv_heads][head_dim]; token t of a
// sequence sits in block indices[indptr[i] + t / block_size], slot t % block_size.
#ifndef TESSERA_ENGINE_KV_PAGE_TABLE_H_
#define TESSERA_ENGINE_KV_PAGE_TABLE_H_

#include <cstdint>
#include <vector>

namespace tessera {

inline constexpr int32_t kDefaultBlockSize = 16;

struct PageTable {
  std::vector<int32_t> indptr{0};  // size num_seqs + 1
  std::vector<int32_t> indices;    // block ids
  std::vector<int32_t> last_block_len;

  int32_t num_seqs() const { return static_cast<int32_t>(last_block_len.size()); }
  int32_t num_blocks(int32_t seq) const { return indptr[seq + 1] - indptr[seq]; }
  int64_t kv_len(int32_t seq, int32_t block_size) const {
    int32_t n = num_blocks(seq);
    return n == 0 ? 0 : static_cast<int64_t>(n - 1) * block_size + last_block_len[seq];
  }
  // Block id and slot of token `t` of sequence `seq`.
  int32_t block_of(int32_t seq, int64_t t, int32_t block_size) const {
    return indices[indptr[seq] + static_cast<int32_t>(t / block_size)];
  }
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_KV_PAGE_TABLE_H_
