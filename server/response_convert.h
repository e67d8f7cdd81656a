// The scheduler's RequestUpdate -> a tessera.v1.GenerateResponse message (edge conversion).
#ifndef TESSERA_SERVER_RESPONSE_CONVERT_H_
#define TESSERA_SERVER_RESPONSE_CONVERT_H_

#include <string>

#include "scheduler/request_sink.h"
#include "tessera/v1/inference.pb.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

// `client_request_id` replaces the scheduler's internal id. `tokenizer` (may be null) gives each
// log-probability entry its token's text. Usage is filled from the final update's timings.
void ToGenerateResponse(const RequestUpdate& update, const std::string& client_request_id,
                        const Tokenizer* tokenizer, v1::GenerateResponse* out);

}  // namespace tessera

#endif  // TESSERA_SERVER_RESPONSE_CONVERT_H_
