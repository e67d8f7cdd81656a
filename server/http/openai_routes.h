// The OpenAI-compatible routes of tesserad's HTTP port (vLLM's names and bodies), wired to the
// shared InferenceEdge so that keys, tenants, limits, targets and drain apply as over gRPC:
//   POST /v1/completions, /v1/chat/completions   generation, whole or streamed
//   (openai_generation.h) GET  /v1/models                               the served model and the
//   caller's adapters POST /v1/load_lora_adapter, /v1/unload_lora_adapter   admin keys only (403
//   otherwise) POST /tokenize, /detokenize
// The JSON is the openai layer's (server/openai/); this file only routes, authenticates, picks
// the model and maps statuses: errors are OpenAI's shape with its codes (400 bad field, 401 no or
// unknown key, 403 not admin, 404 unknown model, 413 body over --max-request-bytes, 429 a queue
// or quota full, 503 draining). The gateway's headers (gateway_headers.h) set the fairness key
// and latency targets; x-request-id is echoed and names the request.
//
// Handlers are thread-safe; everything the deps point to must outlive the HTTP server.
#ifndef TESSERA_SERVER_HTTP_OPENAI_ROUTES_H_
#define TESSERA_SERVER_HTTP_OPENAI_ROUTES_H_

#include <cstdint>
#include <string>

#include "adapters/adapter_registry.h"
#include "server/http/http_router.h"
#include "server/inference_edge.h"
#include "server/openai/tool_call_parser.h"
#include "text/chat_template/chat_template.h"

namespace tessera {

struct OpenAiRoutesDeps {
  InferenceEdge* edge = nullptr;
  // Null: the model has no chat template (chat and /tokenize messages answer 400 saying so).
  const chat_template::ChatTemplate* chat_template = nullptr;
  openai::ToolCallStyle tool_call_style = openai::ToolCallStyle::kNone;
  std::string served_model_name;
  std::string model_root;  // the model's path, /v1/models' root
  int64_t max_model_len = 0;
  AdapterRegistry* adapters = nullptr;  // null: no LoRA
};

void AddOpenAiRoutes(const OpenAiRoutesDeps& deps, HttpRouter& router);

}  // namespace tessera

#endif  // TESSERA_SERVER_HTTP_OPENAI_ROUTES_H_
