#include "scheduler/scheduling_policy.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "scheduler/fcfs_policy.h"
#include "scheduler/priority_policy.h"
#include "scheduler/slo_policy.h"

namespace tessera {
namespace {

constexpr SchedulingPolicyKind kKinds[] = {
    SchedulingPolicyKind::kFcfs, SchedulingPolicyKind::kPriority, SchedulingPolicyKind::kSlo};

}  // namespace

std::unique_ptr<SchedulingPolicy> MakeSchedulingPolicy(const SchedulerOptions& options,
                                                       const StepTimeModel* model,
                                                       VtcFairness* fairness) {
  switch (options.scheduling_policy) {
    case SchedulingPolicyKind::kFcfs:
      return std::make_unique<FcfsPolicy>(options, fairness);
    case SchedulingPolicyKind::kSlo:
      return std::make_unique<SloPolicy>(options, model, fairness);
    case SchedulingPolicyKind::kPriority:
      break;
  }
  return std::make_unique<PriorityPolicy>(options, fairness);
}

std::string_view FairnessName(FairnessKind kind) {
  return kind == FairnessKind::kVtc ? "vtc" : "none";
}

std::string_view SchedulingPolicyName(SchedulingPolicyKind kind) {
  switch (kind) {
    case SchedulingPolicyKind::kFcfs:
      return "fcfs";
    case SchedulingPolicyKind::kSlo:
      return "slo";
    case SchedulingPolicyKind::kPriority:
      break;
  }
  return "priority";
}

absl::StatusOr<SchedulingPolicyKind> ParseSchedulingPolicy(std::string_view name) {
  std::string valid;
  for (SchedulingPolicyKind kind : kKinds) {
    if (SchedulingPolicyName(kind) == name) return kind;
    absl::StrAppend(&valid, valid.empty() ? "" : ", ", std::string(SchedulingPolicyName(kind)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown scheduling policy \"", std::string(name), "\"; valid: ", valid));
}

}  // namespace tessera
