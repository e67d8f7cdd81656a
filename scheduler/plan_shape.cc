#include "scheduler/plan_shape.h"

namespace tessera {

StepShape ShapeOf(const StepPlan& plan) {
  StepShape shape;
  for (int32_t i = 0; i < plan.num_seqs(); ++i) {
    const StepSequence& s = plan.seqs[static_cast<size_t>(i)];
    const int64_t fed = plan.qo_indptr[static_cast<size_t>(i) + 1] - plan.qo_indptr[i];
    if (fed == 1) {
      ++shape.decode_sequences;
    } else {
      shape.prefill_tokens += fed;
    }
    shape.attended_tokens += StepShape::AttendedByChunk(s.num_cached_tokens, fed);
    if (s.adapter_slot >= 0) shape.adapter_rows += fed;
  }
  return shape;
}

}  // namespace tessera
