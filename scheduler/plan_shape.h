// A formed step plan in the step-time model's features (step_time_model.h), so that every step
// the engine runs is measured against what the scheduler predicted for its shape.
//
// Stateless; thread-safe.
#ifndef TESSERA_SCHEDULER_PLAN_SHAPE_H_
#define TESSERA_SCHEDULER_PLAN_SHAPE_H_

#include "engine/step_plan.h"
#include "scheduler/step_time_model.h"

namespace tessera {

// A sequence feeding one token counts as a decode, one feeding more as prefill tokens; attention
// from each sequence's cached length; adapter rows for sequences with an adapter slot.
StepShape ShapeOf(const StepPlan& plan);

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_PLAN_SHAPE_H_
