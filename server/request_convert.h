// tessera.v1.GenerateRequest -> the scheduler's GenerateRequest, at the edge (ARCHITECTURE.md
// rule 1). Checks what only the edge knows (prompt form, text encoding, message size, enum values,
// the adapter) and fills defaults; the scheduler's own Validate checks ranges against the model.
#ifndef TESSERA_SERVER_REQUEST_CONVERT_H_
#define TESSERA_SERVER_REQUEST_CONVERT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/generation_defaults.h"
#include "scheduler/request.h"
#include "tessera/v1/inference.pb.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

struct RequestLimits {
  int64_t max_request_bytes = int64_t{4} << 20;    // the serialized message
  int64_t max_metadata_bytes = int64_t{32} << 10;  // the call's headers (metadata_limit.h)
};

// InvalidArgument naming the field. The result has no id, tenant, timeout or adapter: the caller
// sets them. Sampling fields and max_tokens the request leaves unset take `defaults` (the model's
// generation_config.json, or tessera's own).
absl::StatusOr<GenerateRequest> ToSchedulerRequest(const v1::GenerateRequest& in,
                                                   const Tokenizer* tokenizer,
                                                   const RequestLimits& limits,
                                                   const GenerationDefaults& defaults = {});

}  // namespace tessera

#endif  // TESSERA_SERVER_REQUEST_CONVERT_H_
