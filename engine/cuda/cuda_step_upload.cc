#include "engine/cuda/cuda_step_upload.h"

#include <algorithm>

namespace tessera {

std::vector<LoraRun> LoraRunsOf(const StepPlan& plan, int64_t* adapter_rows,
                                int64_t* adapter_runs) {
  std::vector<LoraRun> runs;
  *adapter_rows = 0;
  *adapter_runs = 0;
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    const int32_t begin = plan.qo_indptr[s], end = plan.qo_indptr[s + 1];
    if (end == begin) continue;
    const int32_t slot = plan.seqs[s].adapter_slot;
    if (slot >= 0) *adapter_rows += end - begin;
    if (!runs.empty() && runs.back().slot == slot) continue;
    runs.push_back({begin, slot});
    if (slot >= 0) ++*adapter_runs;
  }
  return runs;
}

void WriteBlockCopies(const StepPlan& plan, int32_t* h) {
  for (const BlockCopy& c : plan.block_copies) {
    *h++ = c.src;
    *h++ = c.dst;
  }
}

std::vector<int32_t> FillStepInts(const StepPlan& plan, const CudaStepInts& l, int32_t block_size,
                                  int32_t* h, CudaDeviceStep* shape) {
  const PageTable& pt = plan.page_table;
  std::copy(plan.token_ids.begin(), plan.token_ids.end(), h + l.token_ids);
  std::copy(plan.qo_indptr.begin(), plan.qo_indptr.end(), h + l.qo_indptr);
  std::copy(pt.indptr.begin(), pt.indptr.end(), h + l.kv_indptr);
  std::copy(pt.indices.begin(), pt.indices.end(), h + l.kv_indices);
  std::copy(pt.last_block_len.begin(), pt.last_block_len.end(), h + l.last_len);
  std::vector<int32_t> rows;
  shape->num_tokens = plan.num_tokens();
  shape->num_seqs = plan.num_seqs();
  shape->max_q_len = 0;
  shape->max_kv_len = 0;
  shape->lora = false;
  for (int32_t s = 0; s < plan.num_seqs(); ++s) {
    const StepSequence& seq = plan.seqs[s];
    const int32_t begin = plan.qo_indptr[s], end = plan.qo_indptr[s + 1];
    h[l.num_cached + s] = static_cast<int32_t>(seq.num_cached_tokens);
    std::fill(h + l.row_slot + begin, h + l.row_slot + end, seq.adapter_slot);
    if (seq.adapter_slot >= 0 && end > begin) shape->lora = true;
    shape->max_q_len = std::max(shape->max_q_len, end - begin);
    shape->max_kv_len = std::max(shape->max_kv_len, seq.num_cached_tokens + (end - begin));
    for (int32_t t = begin; t < end; ++t) {
      const int64_t pos = seq.num_cached_tokens + (t - begin);
      h[l.positions + t] = static_cast<int32_t>(pos);
      h[l.slots + t] =
          pt.block_of(s, pos, block_size) * block_size + static_cast<int32_t>(pos % block_size);
      const bool last = t + 1 == end;
      const bool target = !seq.prompt_targets.empty() && seq.prompt_targets[t - begin] >= 0;
      if (target || (last && (seq.sample || seq.return_last_logits))) rows.push_back(t);
    }
  }
  std::copy(rows.begin(), rows.end(), h + l.rows);
  return rows;
}

}  // namespace tessera
