// tesserad's settings, as its command line gives them.
#ifndef TESSERA_SERVER_DAEMON_OPTIONS_H_
#define TESSERA_SERVER_DAEMON_OPTIONS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "adapters/loaded_adapter.h"
#include "engine/engine_loader.h"
#include "scheduler/scheduler_core.h"
#include "server/http/http_server.h"
#include "server/request_convert.h"
#include "server/request_targets.h"

namespace tessera {

struct DaemonOptions {
  std::string model_dir;
  std::string tokenizer;          // empty: the model directory's tokenizer.json, when present
  std::string served_model_name;  // empty: the model directory's name
  std::string host = "127.0.0.1";
  int32_t port = 50051;  // 0: any free port (logged)
  // The HTTP port (OpenAI API, /metrics, probes) on `host`, TLS with the gRPC port's files.
  int32_t http_port = -1;       // 0: any free port (logged); -1: none (tesserad defaults to 8000)
  std::string metrics_host;     // empty: `host`
  int32_t metrics_port = 9400;  // metrics-only listener; 0: any free port (logged); -1: none
  HttpServerOptions http;       // both HTTP listeners' threads, timeouts and connection cap
  std::string chat_template_file;  // empty: the model's template (chat_setup.h)
  std::string tool_call_parser;    // llama3_json | hermes; empty: detected from the template
  std::string api_keys_file;       // empty: one anonymous tenant
  std::string tls_cert_file;       // both or neither: PEM certificate chain and private key
  std::string tls_key_file;
  absl::Duration drain_timeout = absl::Seconds(30);
  // Sleep mode: how long a sleep call waits for the requests in flight (--sleep-wait-timeout).
  // How long a request that arrives while asleep waits for a wake is
  // scheduler.asleep_queue_timeout (--sleep-queue-timeout).
  absl::Duration sleep_wait_timeout = absl::Seconds(30);
  int32_t max_in_flight_per_tenant = 1024;
  // Latency targets of requests that set none and whose tenant sets none (unset: best effort).
  SloDefaults slo_defaults;
  RequestLimits limits;
  // vLLM's --generation-config: "auto" (the model's generation_config.json gives the defaults of
  // unset sampling fields), "vllm" (tessera's own defaults), or a folder with that file.
  std::string generation_config = "auto";
  bool log_requests = false;  // a line per finished request (id, tenant, counts, times, status)
  // LoRA adapters: lazily loaded by name from adapter_dir (public); preloaded (name, folder) pairs
  // (public); the host cache's byte budget; the largest rank accepted. The engine's slots are
  // engine.max_loras.
  std::string adapter_dir;
  std::vector<std::pair<std::string, std::string>> adapters;
  int64_t adapter_host_cache_bytes = int64_t{4} << 30;
  int32_t max_lora_rank = 64;
  // How an adapter folder becomes weights; null: the PEFT loader (PeftAdapterLoader, with
  // max_lora_rank). Tests substitute their own, e.g. to serve weights the PEFT loader refuses.
  AdapterLoader adapter_loader;
  EngineLoadOptions engine;
  SchedulerOptions scheduler;
  // --profile-steps: engine steps of the profiling pass that seeds the step-time model before
  // serving (scheduler/step_profiler.h); 0: none (the model starts from scheduler.step_time_prior).
  int32_t profile_steps = StepProfileOptions().max_steps;
  // Seconds the process had run when main took over (server/process_age.h), reported as the
  // start's "process" phase; negative: not known (an in-process daemon), no such phase.
  double process_age_seconds = -1;
};

}  // namespace tessera

#endif  // TESSERA_SERVER_DAEMON_OPTIONS_H_
