#include "server/daemon.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "adapters/adapter_error.h"
#include "adapters/peft_adapter_loader.h"
#include "grpc/health/v1/health.pb.h"
#include "scheduler/scheduling_policy.h"
#include "server/http/openai_routes.h"
#include "server/http/sleep_routes.h"
#include "server/malformed_request_interceptor.h"
#include "server/metadata_limit.h"
#include "server/start_log.h"
#include "server/tls_credentials.h"
#include "spdlog/spdlog.h"

namespace tessera {
namespace {

constexpr char kInferenceService[] = "tessera.v1.Inference";
constexpr char kVersion[] = "0.1.0";

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const DaemonOptions& o) {
  if (!o.tokenizer.empty()) return Tokenizer::Load(o.tokenizer);
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(o.model_dir) / "tokenizer.json", ec)) {
    return std::unique_ptr<Tokenizer>();
  }
  return Tokenizer::Load(o.model_dir);
}

// The model folder is checked before anything else is read: it is the one thing every start
// needs, a wrong path is the commonest deployment mistake, and a manifest check runs tesserad with
// its real flags but no model (tests/deploy), which must fail on the model and nothing else.
absl::Status CheckModelDir(const std::string& dir) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(dir, ec);
  if (!std::filesystem::exists(st)) {
    return absl::NotFoundError(absl::StrCat("--model ", dir, ": no such directory"));
  }
  if (!std::filesystem::is_directory(st)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--model ", dir, ": not a directory (a Hugging Face model folder)"));
  }
  return absl::OkStatus();
}

std::string ModelName(const DaemonOptions& o) {
  if (!o.served_model_name.empty()) return o.served_model_name;
  std::filesystem::path p = std::filesystem::path(o.model_dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

Daemon::Daemon(const DaemonOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const DaemonOptions& options) {
  std::unique_ptr<Daemon> d(new Daemon(options));
  if (absl::Status s = d->Init(); !s.ok()) return s;
  return d;
}

absl::Status Daemon::Init() {
  const DaemonOptions& o = options_;
  PhaseTimer timer;
  if (o.process_age_seconds >= 0) timer.Add(kPhaseProcess, o.process_age_seconds);
  if (absl::Status s = CheckModelDir(o.model_dir); !s.ok()) return s;
  std::optional<ApiKeys> keys;
  if (!o.api_keys_file.empty()) {
    absl::StatusOr<ApiKeys> loaded = ApiKeys::Load(o.api_keys_file);
    if (!loaded.ok()) return loaded.status();
    keys = *std::move(loaded);
  }
  std::map<std::string, int32_t> limits;
  if (keys.has_value()) {
    for (const auto& [tenant, policy] : keys->tenants()) {
      if (policy.max_in_flight) limits[tenant] = *policy.max_in_flight;
    }
    tenant_policies_ = keys->tenants();
    if (absl::Status s = ConfigureTokenLimits(tenant_policies_, token_limiter_); !s.ok()) return s;
  }
  const size_t num_keys = keys.has_value() ? keys->num_keys() : 0;
  authenticator_ = std::make_unique<Authenticator>(std::move(keys));
  tenant_limiter_ = std::make_unique<TenantLimiter>(o.max_in_flight_per_tenant, limits);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFromFiles(o.tls_cert_file, o.tls_key_file);
  if (!credentials.ok()) return credentials.status();
  timer.Mark(kPhaseSetup);

  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizer(o);
  if (!tokenizer.ok()) return tokenizer.status();
  tokenizer_ = *std::move(tokenizer);
  absl::StatusOr<ChatSetup> chat = LoadChatSetup(o.tokenizer.empty() ? o.model_dir : o.tokenizer,
                                                 o.chat_template_file, o.tool_call_parser);
  if (!chat.ok()) return chat.status();
  chat_ = *std::move(chat);
  EngineLoadOptions eo = o.engine;
  eo.max_lora_rank = o.max_lora_rank;  // one flag for the loader's check and the engine's tables
  eo.max_model_len = o.scheduler.max_model_len;  // and for the refusal and the engine's sizing
  absl::StatusOr<LoadedEngine> engine = LoadEngine(o.model_dir, eo);
  if (!engine.ok()) return engine.status();
  engine_ = *std::move(engine);
  // The tokenizer and chat template before the load count as opening the model too.
  timer.MarkNested(kPhaseModelOpen, engine_.phases);
  const ModelConfig& config = engine_.engine->config();
  spdlog::info(
      "{}",
      absl::StrFormat(
          "tesserad: model %s (%s, %d layers, hidden %d, vocab %d, context %d) loaded in %.2f s%s",
          o.model_dir, config.architecture, config.num_hidden_layers, config.hidden_size,
          config.vocab_size, config.max_position_embeddings, engine_.load_seconds,
          tokenizer_ ? "" : " (no tokenizer: token-id prompts only)"));
  spdlog::info("{}", absl::StrCat("tesserad: memory plan: ", engine_.memory_plan));

  absl::StatusOr<GenerationDefaults> defaults =
      LoadGenerationDefaults(o.generation_config, o.model_dir);
  if (!defaults.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--generation-config ", o.generation_config,
                                                   ": ", defaults.status().message()));
  }
  if (const std::string d = defaults->Describe(); !d.empty()) {
    spdlog::info(
        "{}", absl::StrCat(
                  "tesserad: sampling defaults from generation_config.json (unset fields): ", d));
  }

  if (absl::Status s = StartAdapters(); !s.ok()) return s;
  timer.Mark(kPhaseAdapters);
  SchedulerOptions scheduler_options = o.scheduler;
  for (const auto& [tenant, policy] : tenant_policies_) {
    scheduler_options.tenant_weights[tenant] = policy.weight;
  }
  scheduler_ = std::make_unique<Scheduler>(*engine_.engine, tokenizer_.get(), scheduler_options);
  ProfileStepTime();
  timer.Mark(kPhaseProfile);
  scheduler_->Start();
  sleep_ = std::make_unique<SleepController>(scheduler_.get(), o.sleep_wait_timeout,
                                             [this](bool ready) { SetInferenceServing(ready); });
  spdlog::info("{}",
               absl::StrCat("tesserad: scheduling policy ",
                            std::string(SchedulingPolicyName(o.scheduler.scheduling_policy))));

  const KvCacheGeometry g = engine_.engine->kv_geometry();
  CacheConfigInfo cache;
  cache.block_size = g.block_size;
  cache.num_gpu_blocks = g.num_blocks;
  cache.enable_prefix_caching = o.scheduler.enable_prefix_caching;
  exporter_ = std::make_unique<MetricsExporter>(ModelName(o), cache);

  InferenceServiceDeps deps;
  deps.scheduler = scheduler_.get();
  deps.tokenizer = tokenizer_.get();
  deps.authenticator = authenticator_.get();
  deps.tenant_limiter = tenant_limiter_.get();
  deps.tenant_policies = &tenant_policies_;
  deps.token_limiter = &token_limiter_;
  deps.slo_defaults = o.slo_defaults;
  deps.counters = &counters_;
  deps.adapters = adapters_.get();
  deps.draining = &draining_;
  deps.limits = o.limits;
  deps.generation_defaults = *defaults;
  deps.log_requests = o.log_requests;
  deps.model_info = MakeModelInfo();
  edge_ = std::make_unique<InferenceEdge>(std::move(deps));
  service_ = std::make_unique<InferenceService>(edge_.get());
  admin_ = std::make_unique<AdminService>(adapters_.get(), authenticator_.get(), &draining_,
                                          !o.adapter_dir.empty(), o.limits.max_metadata_bytes,
                                          sleep_.get());

  grpc::EnableDefaultHealthCheckService(true);
  // Reflection answers from the generated descriptor pool, which holds a .proto only if its
  // generated code is linked in. gRPC's default health service is hand-written, so without this
  // reference grpcurl could list grpc.health.v1.Health but not resolve it ("Symbol not found").
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = absl::StrCat(o.host, ":", o.port);
  builder.AddListeningPort(address, *credentials, &grpc_port_);
  builder.RegisterService(service_.get());
  builder.RegisterService(admin_.get());
  // Oversized requests reach the service, which names the limit and the field; gRPC's own cap
  // (RESOURCE_EXHAUSTED) only stops absurd ones.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::max<int64_t>(o.limits.max_request_bytes * 2, int64_t{64} << 20)));
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<MalformedRequestInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // gRPC 1.51 ends every call of a connection when one call's metadata is over this; the
  // services refuse calls over max_metadata_bytes alone, well below it (metadata_limit.h).
  builder.AddChannelArgument(
      GRPC_ARG_MAX_METADATA_SIZE,
      static_cast<int>(std::min<int64_t>(o.limits.max_metadata_bytes * kTransportMetadataFactor,
                                         std::numeric_limits<int>::max())));
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || grpc_port_ == 0) {
    server_.reset();
    scheduler_->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, " (in use, or not an address of this machine)"));
  }
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  health->SetServingStatus(kInferenceService, true);

  if (absl::Status s = StartHttp(); !s.ok()) {
    server_->Shutdown();
    server_.reset();
    scheduler_->Shutdown();
    return s;
  }
  if (o.metrics_port >= 0) {
    HttpEndpoint::Options http;
    http.metrics = [this] { return RenderMetrics(); };
    http.readiness = [this] { return Readiness(); };
    http.server = o.http;
    http.server.tls_cert_file.clear();  // metrics-only: Prometheus scrapes it in plain HTTP
    http.server.tls_key_file.clear();
    http_ = std::make_unique<HttpEndpoint>(std::move(http));
    const std::string host = o.metrics_host.empty() ? o.host : o.metrics_host;
    if (absl::Status s = http_->Start(host, o.metrics_port); !s.ok()) {
      if (api_http_) api_http_->Stop();
      server_->Shutdown();
      server_.reset();
      scheduler_->Shutdown();
      return s;
    }
  }
  timer.Mark(kPhaseReady);
  start_phases_ = timer.phases();
  for (const std::string& line : StartLogLines(start_phases_)) spdlog::info("{}", line);
  exporter_->SetStartupPhases(start_phases_);
  spdlog::info(
      "{}",
      absl::StrFormat(
          "tesserad: serving %s on %s:%d (%s, %s)%s", ModelName(o), o.host, grpc_port_,
          o.tls_cert_file.empty() ? "plaintext" : "TLS",
          authenticator_->enabled() ? absl::StrCat(num_keys, " API keys") : "no API keys",
          http_ ? absl::StrFormat("; metrics on http://%s:%d/metrics",
                                  o.metrics_host.empty() ? o.host : o.metrics_host, http_->port())
                : ""));
  return absl::OkStatus();
}

void Daemon::ProfileStepTime() {
  if (options_.profile_steps <= 0) return;
  StepProfileOptions po;
  po.max_steps = options_.profile_steps;
  absl::StatusOr<StepProfile> profile = scheduler_->ProfileStepTime(po);
  // A pass the engine refuses leaves the model at its prior: serving works, budgets are rougher.
  if (!profile.ok()) {
    spdlog::warn("tesserad: step-time profiling pass failed, the model starts unseeded: {}",
                 std::string(profile.status().message()));
    return;
  }
  const StepTimeCoefficients c = scheduler_->Stats().step_time_coefficients;
  const FitError error = FitErrorOf(c, profile->samples);
  spdlog::info(
      "{}", absl::StrFormat("tesserad: step-time model from %d profiled steps in %.2f s: "
                            "%s; fit error mean %.1f%%, max %.1f%%",
                            profile->samples.size(), absl::ToDoubleSeconds(profile->elapsed),
                            c.DebugString(), 100 * error.mean_relative, 100 * error.max_relative));
}

absl::Status Daemon::StartHttp() {
  const DaemonOptions& o = options_;
  if (o.http_port < 0) return absl::OkStatus();
  HttpEndpoint::Options http;
  http.metrics = [this] { return RenderMetrics(); };
  http.readiness = [this] { return Readiness(); };
  http.server = o.http;
  http.server.tls_cert_file = o.tls_cert_file;
  http.server.tls_key_file = o.tls_key_file;
  // Bodies a little over --max-request-bytes reach the routes, which answer 413 in OpenAI's shape.
  http.server.max_body_bytes = std::max(http.server.max_body_bytes, o.limits.max_request_bytes * 2);
  http.version = kVersion;
  OpenAiRoutesDeps routes;
  routes.edge = edge_.get();
  routes.chat_template = chat_.chat_template.get();
  routes.tool_call_style = chat_.tool_call_style;
  routes.served_model_name = ModelName(o);
  routes.model_root = ModelRoot();
  routes.max_model_len = o.scheduler.max_model_len > 0
                             ? o.scheduler.max_model_len
                             : engine_.engine->config().max_position_embeddings;
  routes.adapters = adapters_.get();
  SleepRoutesDeps sleep_routes{edge_.get(), sleep_.get()};
  http.routes = [routes, sleep_routes](HttpRouter& router) {
    AddOpenAiRoutes(routes, router);
    AddSleepRoutes(sleep_routes, router);
  };
  api_http_ = std::make_unique<HttpEndpoint>(std::move(http));
  if (absl::Status s = api_http_->Start(o.host, o.http_port); !s.ok()) return s;
  spdlog::info(
      "{}", absl::StrFormat("tesserad: HTTP (OpenAI API, /metrics, /health) on %s://%s:%d%s%s",
                            o.tls_cert_file.empty() ? "http" : "https", o.host, api_http_->port(),
                            chat_.chat_template ? "; chat template from " : "; no chat template",
                            chat_.source));
  if (chat_.tool_call_style != openai::ToolCallStyle::kNone) {
    spdlog::info("tesserad: tool calls parsed as {}",
                 std::string(openai::ToolCallStyleName(chat_.tool_call_style)));
  }
  return absl::OkStatus();
}

std::string Daemon::ModelRoot() const { return options_.model_dir; }

v1::ModelInfoResponse Daemon::MakeModelInfo() const {
  const ModelConfig& c = engine_.engine->config();
  const KvCacheGeometry g = engine_.engine->kv_geometry();
  v1::ModelInfoResponse info;
  info.set_model_id(ModelName(options_));
  v1::ModelDescription* m = info.mutable_model();
  m->set_architecture(c.architecture);
  m->set_vocab_size(c.vocab_size);
  m->set_max_context_tokens(c.max_position_embeddings);
  m->set_num_layers(c.num_hidden_layers);
  m->set_hidden_size(c.hidden_size);
  m->set_num_attention_heads(c.num_attention_heads);
  m->set_num_key_value_heads(c.num_key_value_heads);
  m->set_head_dim(c.head_dim);
  for (int64_t id : c.eos_token_ids) m->add_eos_token_ids(id);
  info.set_backend(options_.engine.backend);
  info.set_kv_block_size(g.block_size);
  info.set_num_kv_blocks(g.num_blocks);
  info.set_kv_token_capacity(int64_t{g.num_blocks} * g.block_size);
  info.set_max_num_batched_tokens(options_.scheduler.max_num_batched_tokens);
  info.set_max_num_seqs(options_.scheduler.max_num_seqs);
  info.set_has_tokenizer(tokenizer_ != nullptr);
  info.set_version(kVersion);
  return info;
}

absl::Status Daemon::StartAdapters() {
  const DaemonOptions& o = options_;
  const int32_t slots = engine_.engine->num_adapter_slots();
  if (slots == 0) {
    if (!o.adapter_dir.empty() || !o.adapters.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--adapter-dir / --adapter: the ", o.engine.backend, " engine serves no LoRA adapters"));
    }
    return absl::OkStatus();
  }
  PeftLoadOptions peft;
  peft.max_lora_rank = o.max_lora_rank;
  AdapterRegistryOptions ro;
  ro.adapter_dir = o.adapter_dir;
  ro.host_cache_bytes = o.adapter_host_cache_bytes;
  // Callers get the caller-safe message; the operator gets the detail (paths, parser messages).
  AdapterLoader base =
      o.adapter_loader ? o.adapter_loader : PeftAdapterLoader(engine_.engine->config(), peft);
  AdapterLoader logged =
      [base = std::move(base)](const std::filesystem::path& dir) -> absl::StatusOr<LoadedAdapter> {
    absl::StatusOr<LoadedAdapter> loaded = base(dir);
    if (!loaded.ok()) {
      spdlog::warn("tesserad: adapter load from {} failed: {}: {}", dir.string(),
                   std::string(loaded.status().message()), AdapterErrorDetail(loaded.status()));
    }
    return loaded;
  };
  adapters_ = std::make_unique<AdapterRegistry>(std::move(logged), ro);
  for (const auto& [name, dir] : o.adapters) {
    absl::StatusOr<AdapterInfo> info = adapters_->Load({name, dir, /*owner=*/""});
    if (!info.ok()) return info.status();
    spdlog::info("{}", absl::StrFormat("tesserad: adapter %s: rank %d, %.1f MB", name, info->rank,
                                       info->bytes / 1e6));
  }
  spdlog::info(
      "{}", absl::StrFormat(
                "tesserad: LoRA: %d engine slots, max rank %d, host cache %.1f GB%s", slots,
                o.max_lora_rank, o.adapter_host_cache_bytes / 1e9,
                o.adapter_dir.empty() ? "" : absl::StrCat(", lazy loading from ", o.adapter_dir)));
  return absl::OkStatus();
}

std::string Daemon::RenderMetrics() const {
  const SchedulerStats stats = scheduler_->Stats();
  LoraInfo lora;
  lora.max_lora = stats.max_loras;
  for (const auto& [name, use] : stats.adapters) {
    if (use.running > 0) lora.running_adapters.push_back(name);
    if (use.waiting > 0) lora.waiting_adapters.push_back(name);
  }
  if (adapters_ != nullptr) {
    const AdapterRegistryStats a = adapters_->Stats();
    lora.loads = a.loads;
    lora.load_failures = a.load_failures;
    lora.evictions = a.evictions;
    lora.load_attempts = a.load_count;
    lora.load_seconds = a.load_seconds_sum;
    lora.resident_host = a.num_host;
    lora.resident_device = a.num_device;
    lora.host_bytes = a.host_bytes;
    lora.host_cache_bytes = a.host_cache_bytes;
  }
  return exporter_->Render(stats, counters_.Snapshot(), lora);
}

int Daemon::metrics_port() const { return http_ ? http_->port() : -1; }

int Daemon::http_port() const { return api_http_ ? api_http_->port() : -1; }

absl::Status Daemon::Readiness() const {
  if (draining_.load()) return absl::UnavailableError("draining");
  if (sleep_->asleep()) return absl::UnavailableError("asleep (sleep mode)");
  return scheduler_->engine_status();
}

bool Daemon::ready() const { return Readiness().ok(); }

void Daemon::SetInferenceServing(bool serving) {
  if (server_ == nullptr || draining_.load()) return;
  server_->GetHealthCheckService()->SetServingStatus(kInferenceService, serving);
}

void Daemon::Drain(absl::Duration timeout, const std::function<bool()>& stop_waiting) {
  if (drained_) return;
  drained_ = true;
  draining_.store(true, std::memory_order_release);
  server_->GetHealthCheckService()->SetServingStatus(kInferenceService, false);
  const absl::Time deadline = absl::Now() + timeout;
  const int32_t at_start = scheduler_->num_in_flight();
  spdlog::info("{}", absl::StrFormat("tesserad: draining: %d requests in flight, up to %s",
                                     at_start, absl::FormatDuration(timeout)));
  // Requests parked until a wake cannot progress while the daemon sleeps: not worth waiting for.
  while (scheduler_->num_in_flight() > scheduler_->num_parked() && absl::Now() < deadline &&
         !(stop_waiting && stop_waiting())) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const int32_t left = scheduler_->num_in_flight();
  // Streams still running end with UNAVAILABLE, which clients may retry elsewhere.
  scheduler_->Shutdown(absl::UnavailableError("the server shut down before the request finished"));
  // The final updates have been pushed; give the streams a moment to write them out.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_->Wait();
  if (api_http_) api_http_->Stop();
  if (http_) http_->Stop();
  spdlog::info(
      "{}", absl::StrFormat("tesserad: drained: %d finished, %d cancelled", at_start - left, left));
}

Daemon::~Daemon() {
  if (server_ != nullptr) Drain(absl::ZeroDuration());
}

}  // namespace tessera
