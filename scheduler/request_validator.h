// Checks a GenerateRequest against the model, the KV cache and the scheduler's limits, once,
// where it enters the scheduler: the serving edge asks Scheduler::Check, whose ValidatedRequest
// Submit and the core then take as proof, so a request is not checked again on its way in.
// Errors are InvalidArgument naming the request and the field.
//
// Thread-safe: immutable after construction (Validate is const).
#ifndef TESSERA_SCHEDULER_REQUEST_VALIDATOR_H_
#define TESSERA_SCHEDULER_REQUEST_VALIDATOR_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "scheduler/request.h"
#include "scheduler/scheduler_options.h"

namespace tessera {

// A request that RequestValidator accepted. Only the validator makes one; what it checked cannot
// be changed afterwards (the id may be renamed, to another non-empty one, and the arrival set).
class ValidatedRequest {
 public:
  const GenerateRequest& operator*() const { return request_; }
  const GenerateRequest* operator->() const { return &request_; }
  GenerateRequest Release() && { return std::move(request_); }

  // The scheduler keys requests by id: the edge may qualify the client's id (with the tenant).
  // InvalidArgument (and no change) for an empty one.
  absl::Status set_id(std::string id);
  void set_arrival(absl::Time arrival) { request_.arrival = arrival; }

 private:
  friend class RequestValidator;
  explicit ValidatedRequest(GenerateRequest request) : request_(std::move(request)) {}

  GenerateRequest request_;
};

class RequestValidator {
 public:
  // `has_tokenizer`: stop strings need one. `geometry` is the engine's KV cache.
  RequestValidator(const ModelConfig& config, const KvCacheGeometry& geometry,
                   int32_t num_adapter_slots, bool has_tokenizer, const SchedulerOptions& options);
  // The engine's model, cache and adapter slots.
  RequestValidator(const Engine& engine, bool has_tokenizer, const SchedulerOptions& options)
      : RequestValidator(engine.config(), engine.kv_geometry(), engine.num_adapter_slots(),
                         has_tokenizer, options) {}

  // InvalidArgument naming the field, or OK.
  absl::Status Validate(const GenerateRequest& request) const;
  // Validate, and the request as its proof.
  absl::StatusOr<ValidatedRequest> Check(GenerateRequest request) const;

 private:
  int64_t vocab_size_;
  int64_t max_position_embeddings_;
  KvCacheGeometry geometry_;
  int32_t num_adapter_slots_;
  bool has_tokenizer_;
  int32_t max_n_;
  int32_t max_num_seqs_;
  int64_t max_model_len_;
  int32_t max_stop_strings_;
  int32_t max_stop_string_bytes_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_REQUEST_VALIDATOR_H_
