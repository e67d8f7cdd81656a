// Tenant fairness by the Virtual Token Counter (Sheng et al., OSDI '24, "Fairness in Serving
// Large Language Models"): every tenant has a counter of the service it received, in weighted
// tokens, and the backlogged tenant with the smallest counter is admitted next.
//
// Service: an input token adds input_token_weight / tenant weight to its tenant's counter, an
// output token output_token_weight / tenant weight (output tokens cost more: each is a step).
// A tenant's weight scales its share: weights 2:1 get service 2:1 while both are backlogged.
//
// Backlogged means "has a request in the waiting queue" (running requests do not count). The
// caller reports each request joining and leaving the queue. When a tenant's backlog begins,
// its counter is lifted to the smallest counter among the backlogged tenants (when no other is
// backlogged: to the counter of the tenant whose backlog ended last), never lowered: idle time
// banks no credit, so a tenant that returns after a quiet hour does not lock everyone else out
// while it "catches up".
//
// The guarantee (the test states and checks it): while two tenants f and g stay backlogged, and
// every admission takes the tenant PickNext names, the difference of their weighted service over
// any interval is at most 2 * max over {f, g} of (w_in * L_in + w_out * M) / weight, L_in the
// longest prompt and M the most tokens the running batch holds. Why: when f is admitted its
// counter is at most g's; until its next admission it gains at most that prompt and the outputs
// of its running requests, which fit in M; g's counter never falls. So |c_f - c_g| stays within
// one such term, and an interval's difference within two.
//
// What to charge is the caller's choice: charging a prompt once, when it is first admitted, and
// each output token as it is produced, matches the paper; recomputation after a preemption is the
// server's doing and is best not charged.
//
// Not thread-safe: the scheduler thread owns it. Tenants are kept once seen (a few doubles each).
#ifndef TESSERA_SCHEDULER_VTC_FAIRNESS_H_
#define TESSERA_SCHEDULER_VTC_FAIRNESS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessera {

class VtcFairness {
 public:
  struct Options {
    // The paper's defaults: an output token costs two input tokens.
    double input_token_weight = 1.0;
    double output_token_weight = 2.0;
  };

  // Default options.
  VtcFairness();
  // InvalidArgument for a token weight that is negative or not finite, or both zero.
  static absl::Status Validate(const Options& options);
  static absl::StatusOr<VtcFairness> Create(const Options& options);

  // A tenant's share weight (default 1). InvalidArgument unless finite and > 0.
  absl::Status SetWeight(std::string_view tenant, double weight);
  double weight(std::string_view tenant) const;

  // A request of `tenant` joined the waiting queue (arrival, or back from preemption). The first
  // one of a backlog lifts the tenant's counter as described above.
  void OnWaiting(std::string_view tenant);
  // A waiting request of `tenant` left the queue (admitted, cancelled, refused).
  // FailedPrecondition when the tenant has none waiting; nothing changes then.
  absl::Status OnLeftWaiting(std::string_view tenant);

  // Service received. InvalidArgument for a negative count.
  absl::Status ChargeInput(std::string_view tenant, int64_t tokens);
  absl::Status ChargeOutput(std::string_view tenant, int64_t tokens);

  // The backlogged tenant with the smallest counter (ties: the smallest name), or none.
  std::optional<std::string> PickNext() const;
  // Every backlogged tenant in PickNext's order: for a caller that must skip a tenant whose next
  // request cannot be placed now.
  std::vector<std::string> BackloggedInOrder() const;

  // Weighted service counter (0 for a tenant never seen).
  double Counter(std::string_view tenant) const;
  // Requests of `tenant` waiting, as reported.
  int64_t Waiting(std::string_view tenant) const;
  // Every tenant seen with its counter, by name (for metrics).
  std::vector<std::pair<std::string, double>> Counters() const;

 private:
  struct Tenant {
    double weight = 1.0;
    double counter = 0;
    int64_t waiting = 0;
  };

  explicit VtcFairness(const Options& options) : options_(options) {}
  Tenant& Get(std::string_view tenant);
  const Tenant* Find(std::string_view tenant) const;

  Options options_;
  // Ordered by name: deterministic iteration and tie-breaking.
  std::map<std::string, Tenant, std::less<>> tenants_;
  // The tenant whose backlog ended last (empty: none yet).
  std::string last_left_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_VTC_FAIRNESS_H_
