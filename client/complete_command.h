// `tessera complete`: one generation on a running tesserad, over gRPC.
//
//   tessera complete --server HOST:PORT (--prompt TEXT | --token-ids 1,2,3) [--stream]
//       [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--stop S]...
//       [--n N] [--logprobs K] [--prompt-logprobs K] [--priority interactive|batch]
//       [--adapter NAME] [--request-id ID] [--json] + the connection flags (connection_flags.h)
//
// Output: the generated text (n > 1: each sample after a "[sample i]" line); with --stream the
// text of sample 0 as it arrives. --json prints one object (complete_json.h); --json --stream
// prints each streamed GenerateResponse as a JSON line instead. Exit codes: 0 done, 1 the call
// failed, 2 bad flags or a request the server rejected as invalid (the gRPC code on stderr).
// The call's deadline is --timeout seconds: kCompleteTimeoutSeconds unless given, 0 = none.
#ifndef TESSERA_CLIENT_COMPLETE_COMMAND_H_
#define TESSERA_CLIENT_COMPLETE_COMMAND_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/connection_flags.h"
#include "tessera/v1/inference.pb.h"

namespace tessera {

// The deadline of a call without --timeout: a bound on a server that stops answering, far past
// what a generation takes.
inline constexpr double kCompleteTimeoutSeconds = 600;

struct CompleteCommandOptions {
  ConnectionFlags connection;
  std::optional<std::string> prompt;
  std::string token_ids;  // comma-separated
  bool stream = false;
  bool json = false;
  // Unset = the server's default.
  std::optional<int32_t> max_tokens;
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int32_t> top_k;  // unset: the server's default (the model's, else off)
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::optional<int32_t> n;
  int32_t logprobs = 0;
  int32_t prompt_logprobs = 0;
  std::string priority;  // "", "interactive" or "batch"
  std::string adapter;
  std::string request_id;
};

// The request the flags describe; INVALID_ARGUMENT names the flag at fault. Ranges are left to
// the server, which knows the model.
absl::StatusOr<v1::GenerateRequest> BuildCompleteRequest(const CompleteCommandOptions& options);

// Runs the command: output to stdout, errors to stderr; returns the exit code.
int RunComplete(const CompleteCommandOptions& options);

void AddCompleteCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_COMPLETE_COMMAND_H_
