#include "client/generate_command.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/generate_io.h"
#include "client/offline_adapters.h"
#include "engine/engine_loader.h"
#include "scheduler/offline_scheduler.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {
namespace {

absl::StatusOr<std::vector<GenerateRequest>> RequestsFromFlags(const GenerateCommandOptions& o,
                                                               const Tokenizer* tokenizer,
                                                               const GenerationDefaults& defaults) {
  GenerateRequest r;
  r.sampling = defaults.Sampling();
  r.id = "0";
  if (o.text.has_value()) {
    if (tokenizer == nullptr) {
      return absl::InvalidArgumentError(
          "--text needs a tokenizer: the model has no tokenizer.json (pass --tokenizer)");
    }
    auto ids = tokenizer->Encode(*o.text, /*add_special_tokens=*/true);
    if (!ids.ok())
      return absl::InvalidArgumentError(absl::StrCat("--text: ", ids.status().message()));
    if (ids->empty()) return absl::InvalidArgumentError("--text encodes to no tokens");
    r.prompt_token_ids = *std::move(ids);
  }
  for (absl::string_view part : absl::StrSplit(o.token_ids, ',', absl::SkipWhitespace())) {
    int32_t id;
    if (!absl::SimpleAtoi(part, &id) || id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-ids: \"", part, "\" is not a non-negative integer"));
    }
    r.prompt_token_ids.push_back(id);
  }
  if (r.prompt_token_ids.empty()) return absl::InvalidArgumentError("--token-ids is empty");
  r.max_tokens = o.max_tokens.value_or(defaults.max_tokens);
  r.sampling.temperature =
      o.temperature ? static_cast<float>(*o.temperature) : defaults.temperature;
  r.sampling.num_logprobs = o.logprobs;
  r.prompt_logprobs = o.prompt_logprobs;
  return std::vector<GenerateRequest>{std::move(r)};
}

absl::StatusOr<std::vector<GenerateRequest>> LoadRequests(const GenerateCommandOptions& o,
                                                          const Tokenizer* tokenizer,
                                                          const GenerationDefaults& defaults) {
  if (!o.token_ids.empty() || o.text.has_value()) return RequestsFromFlags(o, tokenizer, defaults);
  if (o.requests_file == "-") {
    return ParseGenerateRequests(std::cin, "<stdin>", tokenizer, defaults);
  }
  std::ifstream in(o.requests_file);
  if (!in) return absl::NotFoundError(absl::StrCat(o.requests_file, ": cannot open"));
  return ParseGenerateRequests(in, o.requests_file, tokenizer, defaults);
}

// --tokenizer, or the model directory's tokenizer.json when there is one (random models written
// by `tessera init-model` have none: they take token ids only).
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const GenerateCommandOptions& o) {
  if (!o.tokenizer.empty()) return Tokenizer::Load(o.tokenizer);
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(o.model_dir) / "tokenizer.json", ec)) {
    return std::unique_ptr<Tokenizer>();
  }
  return Tokenizer::Load(o.model_dir);
}

EngineLoadOptions EngineOptionsFrom(const GenerateCommandOptions& o) {
  EngineLoadOptions eo;
  eo.backend = o.backend;
  eo.quantization = o.quantization;
  eo.nf4_double_quant = o.nf4_double_quant;
  eo.dtype = o.dtype;
  eo.block_size = o.block_size;
  eo.num_kv_blocks = o.num_kv_blocks;
  eo.kv_cache_bytes = o.kv_cache_bytes;
  eo.threads = o.threads;
  eo.gpu_memory_utilization = o.gpu_memory_utilization;
  eo.max_num_batched_tokens = o.max_num_batched_tokens;
  eo.max_num_seqs = o.max_num_seqs;
  eo.max_loras = o.max_loras;
  eo.max_lora_rank = o.max_lora_rank;
  eo.max_model_len = o.max_model_len;
  return eo;
}

// Errors the user can fix by changing the input exit 2; anything else (I/O) exits 1.
int ExitCodeFor(const absl::Status& s) {
  return absl::IsInvalidArgument(s) || absl::IsNotFound(s) || absl::IsFailedPrecondition(s) ? 2 : 1;
}

absl::StatusOr<OfflineAdapterOptions> AdapterOptionsFrom(const GenerateCommandOptions& o) {
  OfflineAdapterOptions ao;
  ao.adapter_dir = o.adapter_dir;
  ao.max_lora_rank = o.max_lora_rank;
  std::error_code ec;
  if (!o.adapter_dir.empty() && !std::filesystem::is_directory(o.adapter_dir, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--adapter-dir ", o.adapter_dir, ": not a directory"));
  }
  for (const std::string& flag : o.adapters) {
    absl::StatusOr<std::pair<std::string, std::string>> a = ParseAdapterFlag(flag);
    if (!a.ok()) return a.status();
    ao.preload.push_back(*std::move(a));
  }
  return ao;
}

absl::Status PrintError(const absl::Status& s) {
  std::cerr << "tessera generate: " << s.message() << "\n";
  return s;
}

// Loads the --adapter folders and gives each request naming an adapter its weights. Null when the
// run uses no adapters. Every request is checked; errors are printed here, one per adapter.
absl::StatusOr<std::unique_ptr<OfflineAdapters>> PrepareAdapters(
    const OfflineAdapterOptions& ao, const Engine& engine, std::vector<GenerateRequest>& requests) {
  const bool named = std::any_of(requests.begin(), requests.end(),
                                 [](const GenerateRequest& r) { return r.adapter != nullptr; });
  if (!named && ao.adapter_dir.empty() && ao.preload.empty()) {
    return std::unique_ptr<OfflineAdapters>();
  }
  if (engine.num_adapter_slots() == 0) {
    return PrintError(absl::InvalidArgumentError(
        "LoRA adapters (--adapter, --adapter-dir or \"adapter\"): this engine has no adapter "
        "slots (--max-loras 0, or a backend without LoRA)"));
  }
  absl::StatusOr<std::unique_ptr<OfflineAdapters>> adapters =
      OfflineAdapters::Create(engine.config(), ao);
  if (!adapters.ok()) return PrintError(adapters.status());
  absl::Status first_error;
  std::set<std::string> reported;  // an adapter's error names the first request using it
  for (GenerateRequest& r : requests) {
    if (absl::Status s = (*adapters)->Resolve(r); !s.ok() && !reported.contains(r.adapter->name)) {
      reported.insert(r.adapter->name);
      if (first_error.ok()) first_error = s;
      (void)PrintError(s);  // printed for every adapter; the first error is returned
    }
  }
  if (!first_error.ok()) return first_error;
  for (const AdapterInfo& a : (*adapters)->List()) {
    std::cerr << absl::StrFormat("tessera generate: adapter %s: rank %d, %.2f MB\n", a.name, a.rank,
                                 a.bytes / 1e6);
  }
  return adapters;
}

}  // namespace

int RunGenerate(const GenerateCommandOptions& o) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizer(o);
  if (!tokenizer.ok()) {
    std::cerr << "tessera generate: " << tokenizer.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<OfflineAdapterOptions> adapter_options = AdapterOptionsFrom(o);
  if (!adapter_options.ok()) {
    std::cerr << "tessera generate: " << adapter_options.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<GenerationDefaults> defaults =
      LoadGenerationDefaults(o.generation_config, o.model_dir);
  if (!defaults.ok()) {
    std::cerr << "tessera generate: --generation-config " << o.generation_config << ": "
              << defaults.status().message() << "\n";
    return 2;
  }
  if (const std::string d = defaults->Describe(); !d.empty()) {
    std::cerr << "tessera generate: sampling defaults from generation_config.json: " << d << "\n";
  }
  absl::StatusOr<std::vector<GenerateRequest>> requests =
      LoadRequests(o, tokenizer->get(), *defaults);
  if (!requests.ok()) {
    std::cerr << "tessera generate: " << requests.status().message() << "\n";
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<LoadedEngine> loaded = LoadEngine(o.model_dir, EngineOptionsFrom(o));
  if (!loaded.ok()) {
    std::cerr << "tessera generate: " << loaded.status().message() << "\n";
    return absl::IsNotFound(loaded.status()) || absl::IsInvalidArgument(loaded.status()) ? 2 : 1;
  }
  if (o.backend == "cuda") std::cerr << "tessera generate: memory: " << loaded->memory_plan << "\n";
  Engine& engine = *loaded->engine;
  absl::StatusOr<std::unique_ptr<OfflineAdapters>> adapters =
      PrepareAdapters(*adapter_options, engine, *requests);
  if (!adapters.ok()) return ExitCodeFor(adapters.status());  // printed by PrepareAdapters
  const auto t1 = std::chrono::steady_clock::now();
  OfflineScheduler scheduler(
      engine, {o.max_num_batched_tokens, o.max_num_seqs, o.max_model_len, o.enable_prefix_caching},
      tokenizer->get());
  // Every request is checked before any runs, so bad input costs no compute.
  bool bad = false;
  for (const GenerateRequest& r : *requests) {
    if (absl::Status s = scheduler.Validate(r); !s.ok()) {
      std::cerr << "tessera generate: " << s.message() << "\n";
      bad = true;
    }
  }
  if (bad) return 2;
  absl::StatusOr<std::vector<GenerateResult>> results = scheduler.Run(*requests);
  if (!results.ok()) {
    std::cerr << "tessera generate: " << results.status().message() << "\n";
    return 1;
  }
  const auto t2 = std::chrono::steady_clock::now();
  int failed = 0;
  for (const GenerateResult& r : *results) {
    std::cout << FormatGenerateResult(r) << "\n";
    if (!r.status.ok()) {
      ++failed;
      std::cerr << "tessera generate: request " << r.id << " failed: " << r.status.message()
                << "\n";
    }
  }
  std::cout.flush();
  const OfflineRunStats& st = scheduler.stats();
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  const double run_s = std::chrono::duration<double>(t2 - t1).count();
  std::cerr << absl::StrFormat(
      "tessera generate: %d requests, %d prompt + %d generated tokens in %d steps (up to %d "
      "sequences at once); load %.2f s, run %.2f s, %.1f tokens/s\n",
      results->size(), st.prompt_tokens, st.generated_tokens, st.steps, st.max_running, load_s,
      run_s, (st.prompt_tokens + st.generated_tokens) / std::max(run_s, 1e-9));
  // Every result is printed, but a run with a failed request is a runtime failure.
  return std::cout.good() && failed == 0 ? 0 : 1;
}

void AddGenerateCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<GenerateCommandOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate tokens for requests, offline");
  cmd->add_option("--model", o->model_dir, "Hugging Face model directory")->required();
  cmd->add_option("--backend", o->backend, "cpu | cuda")->capture_default_str();
  cmd->add_option("--quantization", o->quantization, kQuantizationFlagHelp);
  cmd->add_flag("--nf4-double-quant", o->nf4_double_quant, kNf4DoubleQuantFlagHelp);
  cmd->add_option("--dtype", o->dtype, kDTypeFlagHelp)->capture_default_str();
  auto* file =
      cmd->add_option("--requests", o->requests_file, "JSON Lines requests file ('-' for stdin)");
  auto* ids =
      cmd->add_option("--token-ids", o->token_ids, "One request: comma-separated prompt ids");
  auto* text = cmd->add_option("--text", o->text, "One request: prompt text (needs a tokenizer)");
  file->excludes(ids);
  file->excludes(text);
  ids->excludes(text);
  cmd->add_option("--tokenizer", o->tokenizer,
                  "tokenizer.json or its directory (default: the model's, when present)");
  cmd->add_option("--max-tokens", o->max_tokens,
                  "With --token-ids (default: generation_config.json's max_new_tokens, else 16)");
  cmd->add_option("--generation-config", o->generation_config,
                  "Sampling defaults for unset fields: auto (the model's generation_config.json), "
                  "vllm (none), or a folder with a generation_config.json")
      ->capture_default_str();
  cmd->add_option("--temperature", o->temperature,
                  "With --token-ids; 0 = greedy (default: generation_config.json's, else 0)")
      ->capture_default_str();
  cmd->add_option("--logprobs", o->logprobs, "With --token-ids: top-k per generated token")
      ->capture_default_str();
  cmd->add_option("--prompt-logprobs", o->prompt_logprobs,
                  "With --token-ids: top-k per prompt position")
      ->capture_default_str();
  cmd->add_option("--kv-cache-bytes", o->kv_cache_bytes, "KV cache size")->capture_default_str();
  cmd->add_option("--num-kv-blocks", o->num_kv_blocks, "KV blocks (overrides --kv-cache-bytes)");
  cmd->add_option("--block-size", o->block_size, "Tokens per KV block")->capture_default_str();
  cmd->add_option("--max-num-batched-tokens", o->max_num_batched_tokens, "Tokens per step")
      ->capture_default_str();
  cmd->add_option("--max-num-seqs", o->max_num_seqs, "Sequences per step")->capture_default_str();
  cmd->add_option("--max-model-len", o->max_model_len,
                  "Longest request, prompt + max_tokens (default: the model's context)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", o->enable_prefix_caching,
                "Reuse the KV blocks of prompt prefixes computed before (default on)");
  cmd->add_option("--threads", o->threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--gpu-memory-utilization", o->gpu_memory_utilization,
                  "cuda: share of device memory for weights, workspace and KV cache")
      ->capture_default_str();
  cmd->add_option(
      "--adapter-dir", o->adapter_dir,
      "LoRA adapters folder: a request's \"adapter\": NAME loads DIR/NAME on first use");
  cmd->add_option("--adapter", o->adapters,
                  "NAME=DIR: a PEFT LoRA adapter folder, loaded before running (repeatable)");
  cmd->add_option("--max-loras", o->max_loras, "LoRA adapters the engine holds at once")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-lora-rank", o->max_lora_rank, "Largest LoRA rank accepted")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->callback([o, file, ids, text, exit_code] {
    if (file->count() == 0 && ids->count() == 0 && text->count() == 0) {
      throw CLI::ValidationError("generate",
                                 "one of --requests, --token-ids or --text is required");
    }
    *exit_code = RunGenerate(*o);
  });
}

}  // namespace tessera
