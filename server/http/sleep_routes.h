// vLLM's sleep-mode routes on tesserad's HTTP port, admin keys only (403 otherwise; with no
// --api-keys every caller is the anonymous admin):
//   POST /sleep?level=1|2   (level defaults to 1) frees the weights and the KV cache: 200 once
//                           asleep; 409 when requests are still in flight after
//                           --sleep-wait-timeout (the server goes on serving) or when asleep at
//                           the other level; 400 for another level.
//   POST /wake_up           wakes it: 200 with {"wake_seconds": s}. vLLM's `tags` parameter
//                           (weights, kv_cache) is accepted; every tag wakes everything.
//   GET  /is_sleeping       {"is_sleeping": bool, "level": 0|1|2}
// Errors are OpenAI's JSON shape. Both calls are no-ops in the state asked for.
//
// Handlers are thread-safe; the deps must outlive the HTTP server.
#ifndef TESSERA_SERVER_HTTP_SLEEP_ROUTES_H_
#define TESSERA_SERVER_HTTP_SLEEP_ROUTES_H_

#include "server/http/http_router.h"
#include "server/inference_edge.h"
#include "server/sleep_controller.h"

namespace tessera {

struct SleepRoutesDeps {
  InferenceEdge* edge = nullptr;     // who calls (API keys), and drain
  SleepController* sleep = nullptr;  // null: the routes are not added
};

void AddSleepRoutes(const SleepRoutesDeps& deps, HttpRouter& router);

}  // namespace tessera

#endif  // TESSERA_SERVER_HTTP_SLEEP_ROUTES_H_
