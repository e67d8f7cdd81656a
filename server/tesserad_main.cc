// tesserad: serves a model over gRPC until SIGTERM or SIGINT, then drains and exits 0.
#include <pthread.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "scheduler/scheduling_policy.h"
#include "server/daemon.h"
#include "server/logging.h"
#include "server/process_age.h"
#include "spdlog/spdlog.h"

namespace {

// Durations as the command line gives them, in seconds; DaemonOptions' defaults until parsed.
struct Seconds {
  double drain;
  double http_header;
  double http_idle;
  int64_t default_ttft_ms = 0;  // 0: none
  int64_t default_tpot_ms = 0;
  double sleep_wait = 30;  // --sleep-wait-timeout
  double sleep_queue = 0;  // --sleep-queue-timeout
};

void AddHttpFlags(CLI::App& app, tessera::DaemonOptions& o, Seconds& seconds) {
  app.add_option("--http-max-connections", o.http.max_connections,
                 "HTTP connections open at once; one more is answered 503 and closed")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--http-header-timeout", seconds.http_header,
                 "Seconds an HTTP request header may take to arrive whole (then closed)")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 3600.0));
  app.add_option("--http-idle-timeout", seconds.http_idle,
                 "Seconds a kept-alive HTTP connection may idle between requests")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  app.add_option("--http-threads", o.http.io_threads, "Threads serving the HTTP port")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
}

// vLLM's prefix-caching flags, and the cache's isolation between tenants.
void AddPrefixCacheFlags(CLI::App& app, tessera::SchedulerOptions& o) {
  app.add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", o.enable_prefix_caching,
               "Reuse the KV blocks of prompt prefixes computed before (default on)");
  app.add_option("--prefix-cache-scope", o.prefix_cache_scope,
                 "Whose cached blocks a request may reuse: tenant (its own tenant's; a shared "
                 "cache lets a tenant time another's prompts) or global (a single-tenant or "
                 "trusted deployment)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, tessera::PrefixCacheScope>{
              {"tenant", tessera::PrefixCacheScope::kTenant},
              {"global", tessera::PrefixCacheScope::kGlobal}},
          CLI::ignore_case))
      ->default_str("tenant");
}

void AddFlags(CLI::App& app, tessera::DaemonOptions& o, Seconds& seconds,
              std::vector<std::string>& adapters, std::string& scheduling_policy,
              std::string& log_level) {
  app.add_option("--model", o.model_dir, "Hugging Face model directory")->required();
  app.add_option("--backend", o.engine.backend, "cpu | cuda")->capture_default_str();
  app.add_option("--quantization", o.engine.quantization, tessera::kQuantizationFlagHelp);
  app.add_flag("--nf4-double-quant", o.engine.nf4_double_quant, tessera::kNf4DoubleQuantFlagHelp);
  app.add_option("--dtype", o.engine.dtype, tessera::kDTypeFlagHelp)->capture_default_str();
  app.add_option("--tokenizer", o.tokenizer,
                 "tokenizer.json or its directory (default: the model's, when present)");
  app.add_option("--served-model-name", o.served_model_name,
                 "Model name in ModelInfo and metrics (default: the directory's name)");
  app.add_option("--host", o.host, "Listening address of the gRPC and HTTP ports")
      ->capture_default_str();
  app.add_option("--port", o.port, "gRPC port (0 = any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--http-port", o.http_port,
                 "HTTP port: the OpenAI API (/v1/completions, /v1/chat/completions, /v1/models, "
                 "...), /metrics, /health, /healthz, /readyz, /version; TLS with --tls-cert "
                 "(0 = any, -1 = off)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 65535));
  app.add_option("--chat-template", o.chat_template_file,
                 "Jinja chat template file (default: the model's chat_template.jinja or "
                 "tokenizer_config.json chat_template)");
  app.add_option("--tool-call-parser", o.tool_call_parser,
                 "How tool calls are read back out of chat output: llama3_json | hermes "
                 "(default: detected from the chat template)")
      ->check(CLI::IsMember({"llama3_json", "hermes"}));
  app.add_option("--metrics-host", o.metrics_host,
                 "Address of the metrics-only HTTP port (default: --host)");
  app.add_option("--metrics-port", o.metrics_port,
                 "Metrics-only HTTP port: /metrics, /healthz, /readyz, plain HTTP "
                 "(0 = any, -1 = off)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 65535));
  app.add_option("--api-keys", o.api_keys_file,
                 "JSON file of API keys -> tenant and role (default: one anonymous tenant)");
  app.add_option("--tls-cert", o.tls_cert_file, "PEM certificate chain (TLS; with --tls-key)");
  app.add_option("--tls-key", o.tls_key_file, "PEM private key (TLS; with --tls-cert)");
  AddHttpFlags(app, o, seconds);
  app.add_option("--drain-timeout", seconds.drain,
                 "Seconds that requests in flight get to finish after SIGTERM")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--sleep-wait-timeout", seconds.sleep_wait,
                 "Sleep mode (POST /sleep, Admin.Sleep): seconds a sleep call waits for the "
                 "requests in flight to finish; after it the call fails (409 / "
                 "FAILED_PRECONDITION) and the server goes on serving")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--sleep-queue-timeout", seconds.sleep_queue,
                 "Sleep mode: seconds a request that arrives while the server sleeps waits for a "
                 "wake before it fails UNAVAILABLE (HTTP 503); 0: it fails at once")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--default-ttft-target-ms", seconds.default_ttft_ms,
                 "Time-to-first-token target of requests that set none and whose tenant sets none "
                 "(0: none, best effort)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{3'600'000}));
  app.add_option("--default-tpot-target-ms", seconds.default_tpot_ms,
                 "Time-per-output-token target, likewise (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{3'600'000}));
  app.add_option("--max-in-flight-per-tenant", o.max_in_flight_per_tenant,
                 "Requests in flight per tenant (the API key file may set its own)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--generation-config", o.generation_config,
                 "Defaults of unset sampling fields: auto (the model's generation_config.json), "
                 "vllm (tessera's own), or a folder holding a generation_config.json")
      ->capture_default_str();
  app.add_option("--max-request-bytes", o.limits.max_request_bytes, "Largest request message")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1024}, int64_t{1} << 30));
  app.add_option("--max-metadata-bytes", o.limits.max_metadata_bytes,
                 "Largest metadata (headers) of a call; larger calls are refused alone, and "
                 "beyond 4x this gRPC closes the connection")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1024}, int64_t{64} << 20));
  // LoRA adapters.
  app.add_option("--adapter-dir", o.adapter_dir,
                 "Folder of PEFT adapters, loaded by name on first use (public)");
  app.add_option("--adapter", adapters, "NAME=DIR: a PEFT adapter loaded at start (public)")
      ->each([](const std::string& v) {
        if (v.find('=') == std::string::npos || v.front() == '=' || v.back() == '=') {
          throw CLI::ValidationError("--adapter", "expected NAME=DIR, got \"" + v + "\"");
        }
      });
  app.add_option("--adapter-host-cache-bytes", o.adapter_host_cache_bytes,
                 "Host memory for adapter weights; unused adapters beyond it are evicted LRU")
      ->capture_default_str();
  app.add_option("--max-lora-rank", o.max_lora_rank, "Largest adapter rank accepted")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--max-loras", o.engine.max_loras, "Adapters the engine holds at once (slots)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  // Engine.
  app.add_option("--kv-cache-bytes", o.engine.kv_cache_bytes, "cpu: KV cache size")
      ->capture_default_str();
  app.add_option("--num-kv-blocks", o.engine.num_kv_blocks, "KV blocks (overrides the sizing)");
  app.add_option("--block-size", o.engine.block_size, "Tokens per KV block")->capture_default_str();
  app.add_option("--threads", o.engine.threads, "cpu: threads (0 = all cores)")
      ->capture_default_str();
  app.add_option("--num-weight-load-threads", o.engine.weight_load_threads,
                 tessera::kWeightLoadThreadsFlagHelp)
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_option("--gpu-memory-utilization", o.engine.gpu_memory_utilization,
                 "cuda: share of device memory for weights, workspace and KV cache")
      ->capture_default_str();
  // Scheduler.
  app.add_option("--max-num-batched-tokens", o.scheduler.max_num_batched_tokens, "Tokens per step")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-num-seqs", o.scheduler.max_num_seqs, "Sequences per step")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  app.add_option("--max-model-len", o.scheduler.max_model_len,
                 "Longest request, prompt + max_tokens (default: the model's context); the KV "
                 "cache need only hold one such request")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-waiting-requests", o.scheduler.max_waiting_requests,
                 "Queued requests beyond which new ones get RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24));
  app.add_option("--scheduling-policy", scheduling_policy,
                 "What orders waiting requests, sizes a step and picks whom to preempt: slo "
                 "(budgets that keep the tightest TPOT target, earliest TTFT deadline first, "
                 "fair shares per tenant), fcfs (arrival order, the fixed "
                 "--max-num-batched-tokens budget; vLLM's default) or priority (interactive "
                 "before batch requests, first come first served within each)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& name) {
            absl::StatusOr<tessera::SchedulingPolicyKind> kind =
                tessera::ParseSchedulingPolicy(name);
            return kind.ok() ? std::string() : std::string(kind.status().message());
          },
          "fcfs|priority"));
  app.add_option("--profile-steps", o.profile_steps,
                 "Engine steps of the profiling pass before serving that seeds the step-time "
                 "model (prefill chunks and decode batches of several sizes; a second or two on "
                 "the CPU engine); 0: none")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  // Logs.
  app.add_option("--log-level", log_level, "debug | info | warning | error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warning", "warn", "error"}));
  app.add_flag("--log-requests", o.log_requests,
               "Log a line per finished request: id, tenant, adapter, token counts, queue time, "
               "TTFT, end-to-end time, status (never prompt or output text)");
  app.add_option("--max-waiting-prompt-tokens", o.scheduler.max_waiting_prompt_tokens,
                 "Queued prompt tokens beyond which new requests get RESOURCE_EXHAUSTED")
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  // First: the start's "process" phase ends here (exec, linking, static constructors).
  const absl::StatusOr<double> process_age = tessera::ProcessAgeSeconds();
  const auto main_entered = std::chrono::steady_clock::now();
  // The CPU backend's OpenMP workers sleep between steps instead of spinning: a daemon waits for
  // requests most of the time, and spinning workers starve other processes (and each other) on
  // a shared machine. Must be set before the OpenMP runtime starts; the environment still wins.
  setenv("OMP_WAIT_POLICY", "passive", /*overwrite=*/0);
  CLI::App app(
      "tesserad: serves a language model over gRPC (tessera.v1) and HTTP (the OpenAI API)");
  tessera::DaemonOptions options;
  options.http_port = 8000;  // vLLM's port, for clients that assume it
  Seconds seconds{absl::ToDoubleSeconds(options.drain_timeout),
                  absl::ToDoubleSeconds(options.http.header_timeout),
                  absl::ToDoubleSeconds(options.http.idle_timeout)};
  std::vector<std::string> adapters;
  // The daemon decides with latency targets by default (the library's default is priority).
  std::string scheduling_policy = "slo";
  std::string fairness = "vtc";
  std::string log_level = "info";
  AddFlags(app, options, seconds, adapters, scheduling_policy, log_level);
  AddPrefixCacheFlags(app, options.scheduler);
  app.add_option("--fairness", fairness,
                 "How the scheduler shares the server between tenants, under every policy: vtc "
                 "(the Virtual Token Counter: the backlogged tenant with the least weighted "
                 "service goes next; weights from the --api-keys file) or none (for fcfs: "
                 "vLLM's plain arrival order)")
      ->capture_default_str()
      ->check(CLI::IsMember({"vtc", "none"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (absl::Status s = tessera::SetUpLogging(log_level); !s.ok()) {
    std::cerr << "tesserad: " << s.message() << "\n";
    return 2;
  }
  // Checked while parsing: the name is valid.
  options.scheduler.scheduling_policy = *tessera::ParseSchedulingPolicy(scheduling_policy);
  options.scheduler.fairness =
      fairness == "vtc" ? tessera::FairnessKind::kVtc : tessera::FairnessKind::kNone;
  options.engine.max_num_batched_tokens = options.scheduler.max_num_batched_tokens;
  options.engine.max_num_seqs = options.scheduler.max_num_seqs;
  options.drain_timeout = absl::Seconds(seconds.drain);
  options.sleep_wait_timeout = absl::Seconds(seconds.sleep_wait);
  options.scheduler.asleep_queue_timeout = absl::Seconds(seconds.sleep_queue);
  options.http.header_timeout = absl::Seconds(seconds.http_header);
  options.http.idle_timeout = absl::Seconds(seconds.http_idle);
  if (seconds.default_ttft_ms > 0) {
    options.slo_defaults.ttft_target = absl::Milliseconds(seconds.default_ttft_ms);
  }
  if (seconds.default_tpot_ms > 0) {
    options.slo_defaults.tpot_target = absl::Milliseconds(seconds.default_tpot_ms);
  }
  for (const std::string& a : adapters) {
    const size_t eq = a.find('=');
    options.adapters.emplace_back(a.substr(0, eq), a.substr(eq + 1));
  }

  // Every thread started from here on inherits the mask, so the signals reach only sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (process_age.ok()) {
    // Flag parsing and logging set-up count as the process's own start too.
    options.process_age_seconds =
        *process_age +
        std::chrono::duration<double>(std::chrono::steady_clock::now() - main_entered).count();
  } else {
    spdlog::warn("tesserad: no process start time, the start's timings begin in main: {}",
                 std::string(process_age.status().message()));
    options.process_age_seconds = 0;
  }
  absl::StatusOr<std::unique_ptr<tessera::Daemon>> daemon = tessera::Daemon::Start(options);
  if (!daemon.ok()) {
    spdlog::error("tesserad: {}", std::string(daemon.status().message()));
    return absl::IsInvalidArgument(daemon.status()) || absl::IsNotFound(daemon.status()) ? 2 : 1;
  }
  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("tesserad: {}: draining", signal == SIGTERM ? "SIGTERM" : "SIGINT");
  // A second signal cuts the drain short.
  (*daemon)->Drain(options.drain_timeout, [&signals] {
    timespec zero{0, 0};
    return sigtimedwait(&signals, nullptr, &zero) > 0;
  });
  daemon->reset();
  spdlog::info("tesserad: stopped");
  return 0;
}
