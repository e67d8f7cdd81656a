#include "client/complete_command.h"

#include <iostream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/complete_json.h"
#include "google/protobuf/util/json_util.h"

namespace tessera {
namespace {

constexpr std::string_view kCommand = "complete";

// --stream: sample 0's text as it arrives, or with --json every response as a JSON line.
int RunStreaming(Client& client, const v1::GenerateRequest& request, bool json) {
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  absl::Status status = client.Generate(request, [&](const v1::GenerateResponse& response) {
    if (json) {
      std::string line;
      if (!google::protobuf::util::MessageToJsonString(response, &line, print).ok()) return false;
      std::cout << line << "\n";
    } else {
      for (const v1::SampleDelta& d : response.samples()) {
        if (d.index() == 0) std::cout << d.text();
      }
    }
    std::cout.flush();
    return std::cout.good();  // a closed stdout stops the generation
  });
  if (!json) std::cout << "\n";
  if (!status.ok()) return ReportError(kCommand, status);
  return std::cout.good() ? 0 : 1;
}

int RunCollected(Client& client, const v1::GenerateRequest& request, bool json) {
  absl::StatusOr<GenerateOutput> output = client.GenerateAndCollect(request);
  if (!output.ok()) return ReportError(kCommand, output.status());
  if (json) {
    std::cout << GenerateOutputJson(*output).dump() << "\n";
  } else if (output->samples.size() == 1) {
    std::cout << output->samples[0].text << "\n";
  } else {
    for (size_t i = 0; i < output->samples.size(); ++i) {
      std::cout << "[sample " << i << "]\n" << output->samples[i].text << "\n";
    }
  }
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

}  // namespace

absl::StatusOr<v1::GenerateRequest> BuildCompleteRequest(const CompleteCommandOptions& o) {
  v1::GenerateRequest r;
  if (o.prompt.has_value() == !o.token_ids.empty()) {
    return absl::InvalidArgumentError("give exactly one of --prompt and --token-ids");
  }
  if (o.prompt.has_value()) r.set_text(*o.prompt);
  for (absl::string_view part : absl::StrSplit(o.token_ids, ',', absl::SkipWhitespace())) {
    int32_t id;
    if (!absl::SimpleAtoi(part, &id) || id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-ids: \"", part, "\" is not a non-negative integer"));
    }
    r.add_token_ids(id);
  }
  if (!o.token_ids.empty() && r.token_ids().empty()) {
    return absl::InvalidArgumentError("--token-ids is empty");
  }
  if (o.stream && !o.json && o.n.value_or(1) > 1) {
    return absl::InvalidArgumentError("--stream prints one sample: leave out --n, or add --json");
  }
  r.set_request_id(o.request_id);
  r.set_adapter(o.adapter);
  if (o.priority == "interactive") r.set_priority(v1::PRIORITY_INTERACTIVE);
  if (o.priority == "batch") r.set_priority(v1::PRIORITY_BATCH);
  if (o.max_tokens.has_value()) r.set_max_tokens(*o.max_tokens);
  if (o.temperature.has_value()) r.set_temperature(*o.temperature);
  if (o.top_p.has_value()) r.set_top_p(*o.top_p);
  if (o.top_k.has_value()) r.set_top_k(*o.top_k);
  if (o.seed.has_value()) r.set_seed(*o.seed);
  for (const std::string& s : o.stop) r.add_stop(s);
  if (o.n.has_value()) r.set_n(*o.n);
  r.set_logprobs(o.logprobs);
  r.set_prompt_logprobs(o.prompt_logprobs);
  return r;
}

int RunComplete(const CompleteCommandOptions& o) {
  absl::StatusOr<v1::GenerateRequest> request = BuildCompleteRequest(o);
  if (!request.ok()) return ReportError(kCommand, request.status());
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectFromFlags(o.connection);
  if (!client.ok()) return ReportError(kCommand, client.status());
  return o.stream ? RunStreaming(**client, *request, o.json)
                  : RunCollected(**client, *request, o.json);
}

void AddCompleteCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<CompleteCommandOptions>();
  CLI::App* cmd = app.add_subcommand("complete", "Generate text on a running tesserad");
  AddConnectionFlags(*cmd, &o->connection, kCompleteTimeoutSeconds);
  auto* prompt = cmd->add_option("--prompt", o->prompt, "Prompt text (the server tokenizes it)");
  auto* ids = cmd->add_option("--token-ids", o->token_ids, "Prompt as comma-separated token ids");
  prompt->excludes(ids);
  cmd->add_flag("--stream", o->stream, "Print the text as it is generated");
  cmd->add_flag("--json", o->json, "Print JSON (with --stream: one line per server message)");
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens to generate (server default 16)");
  cmd->add_option("--temperature", o->temperature,
                  "0 = greedy (default: the model's generation_config.json, else 0)");
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling mass, 1 = off");
  cmd->add_option("--top-k", o->top_k, "Sample from the k most likely tokens, 0 or -1 = off");
  cmd->add_option("--seed", o->seed, "Seed of the sampler, for repeatable samples (0 is a seed)");
  cmd->add_option("--stop", o->stop, "Stop string (repeatable)");
  cmd->add_option("--n", o->n, "Independent samples of the prompt");
  cmd->add_option("--logprobs", o->logprobs, "Top-k log-probabilities per token (in --json)");
  cmd->add_option("--prompt-logprobs", o->prompt_logprobs,
                  "Top-k log-probabilities per prompt token (in --json)");
  cmd->add_option("--priority", o->priority, "interactive | batch")
      ->check(CLI::IsMember({"interactive", "batch"}));
  cmd->add_option("--adapter", o->adapter, "LoRA adapter name (default: the base model)");
  cmd->add_option("--request-id", o->request_id, "Request id (default: the server makes one)");
  cmd->callback([o, prompt, ids, exit_code] {
    if (prompt->count() == 0 && ids->count() == 0) {
      throw CLI::ValidationError("complete", "one of --prompt or --token-ids is required");
    }
    *exit_code = RunComplete(*o);
  });
}

}  // namespace tessera
