// A step's plan on its way to the device: the integer arrays (tokens, positions, KV slots, page
// table, logit rows, LoRA rows and segments, block copies) laid out in one int32 buffer, uploaded
// in one copy from a pinned mirror, and the device addresses and shape the kernels then read.
// Plain host code apart from the pointers; stateless functions; thread-compatible.
#ifndef TESSERA_ENGINE_CUDA_CUDA_STEP_UPLOAD_H_
#define TESSERA_ENGINE_CUDA_CUDA_STEP_UPLOAD_H_

#include <cstdint>
#include <vector>

#include "engine/step_plan.h"

namespace tessera {

// Device addresses of one step's plan arrays, and its shape.
struct CudaDeviceStep {
  const int32_t* token_ids = nullptr;
  const int32_t* positions = nullptr;
  const int32_t* slots = nullptr;
  const int32_t* qo_indptr = nullptr;
  const int32_t* kv_indptr = nullptr;
  const int32_t* kv_indices = nullptr;
  const int32_t* last_len = nullptr;
  const int32_t* num_cached = nullptr;
  const int32_t* rows = nullptr;        // the token rows that need logits
  const int32_t* row_slot = nullptr;    // per token row: its adapter slot or -1
  const int32_t* seg_starts = nullptr;  // LoRA segments (eager steps that run SGMV)
  const int32_t* seg_slots = nullptr;
  int32_t num_segments = 0;
  int32_t max_segment_rows = 0;
  bool lora = false;  // some row runs with an adapter
  bool sgmv = false;
  int32_t num_tokens = 0;
  int32_t num_seqs = 0;
  int32_t max_q_len = 0;
  int64_t max_kv_len = 0;
};

// Where the host mirror of the plan's arrays puts each one: offsets into one int32 buffer.
struct CudaStepInts {
  int64_t token_ids, positions, slots, qo_indptr, kv_indptr, last_len, num_cached, rows, row_slot,
      seg_starts, seg_slots, kv_indices, total;
  int64_t block_copies;  // (src, dst) pairs, after everything else

  // Room for `tokens` tokens, `seqs` sequences, `blocks` page-table entries, `copies` block
  // copies and `segments` LoRA segments.
  static CudaStepInts For(int64_t tokens, int64_t seqs, int64_t blocks, int64_t copies = 0,
                          int64_t segments = 0) {
    CudaStepInts l{};
    int64_t at = 0;
    auto take = [&at](int64_t n) {
      const int64_t o = at;
      at += n;
      return o;
    };
    l.token_ids = take(tokens);
    l.positions = take(tokens);
    l.slots = take(tokens);
    l.qo_indptr = take(seqs + 1);
    l.kv_indptr = take(seqs + 1);
    l.last_len = take(seqs);
    l.num_cached = take(seqs);
    l.rows = take(tokens);
    l.row_slot = take(tokens);
    l.seg_starts = take(segments + 1);
    l.seg_slots = take(segments);
    l.kv_indices = take(blocks);
    l.block_copies = take(2 * copies);
    l.total = at;
    return l;
  }

  CudaDeviceStep On(const int32_t* d) const {
    CudaDeviceStep s;
    s.token_ids = d + token_ids;
    s.positions = d + positions;
    s.slots = d + slots;
    s.qo_indptr = d + qo_indptr;
    s.kv_indptr = d + kv_indptr;
    s.kv_indices = d + kv_indices;
    s.last_len = d + last_len;
    s.num_cached = d + num_cached;
    s.rows = d + rows;
    s.row_slot = d + row_slot;
    s.seg_starts = d + seg_starts;
    s.seg_slots = d + seg_slots;
    return s;
  }
};

// A run of consecutive token rows with one adapter slot (-1: the base model).
struct LoraRun {
  int32_t start;
  int32_t slot;
};

// The plan's rows as runs (a sequence's rows are consecutive; neighbours with the same slot merge),
// and how many rows run with an adapter.
std::vector<LoraRun> LoraRunsOf(const StepPlan& plan, int64_t* adapter_rows, int64_t* adapter_runs);

// The plan's block copies as (src, dst) pairs into `h`, as the copy kernel reads them.
void WriteBlockCopies(const StepPlan& plan, int32_t* h);

// Writes the plan's arrays into `h` at `l`'s offsets (token slots from `block_size`), sets the
// step's shape in `shape` (counts, longest query and context, whether any row has an adapter) and
// returns the token rows that need logits.
std::vector<int32_t> FillStepInts(const StepPlan& plan, const CudaStepInts& l, int32_t block_size,
                                  int32_t* h, CudaDeviceStep* shape);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_CUDA_STEP_UPLOAD_H_
