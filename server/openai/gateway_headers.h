// The Kubernetes inference gateway's (llm-d, Gateway API Inference Extension) request headers:
//   x-llm-d-inference-fairness-id  (alias x-gateway-inference-fairness-id): the fairness key
//   x-llm-d-slo-ttft-ms            (alias x-slo-ttft-ms): time-to-first-token target
//   x-llm-d-slo-tpot-ms            (alias x-slo-tpot-ms): time-per-output-token target
//   x-request-id: echoed back
// Names match case-insensitively (HTTP); when both a name and its alias are sent, the llm-d
// name wins. Targets are whole milliseconds, 1..3,600,000 ("0" means none, as an absent header).
//
// Stateless; thread-safe.
#ifndef TESSERA_SERVER_OPENAI_GATEWAY_HEADERS_H_
#define TESSERA_SERVER_OPENAI_GATEWAY_HEADERS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::openai {

struct GatewayHeaders {
  std::string fairness_id;  // empty: not sent
  uint32_t ttft_ms = 0;     // 0: not sent
  uint32_t tpot_ms = 0;
  std::string request_id;  // x-request-id, empty: not sent
};

// InvalidArgument naming the header for a target that is not a whole number in range, or a
// fairness or request id over 256 bytes.
absl::StatusOr<GatewayHeaders> ParseGatewayHeaders(
    const std::vector<std::pair<std::string, std::string>>& headers);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_GATEWAY_HEADERS_H_
