// `tessera tokenize`: text to ids, or ids to text, with a model's Hugging Face tokenizer.
//
//   tessera tokenize --tokenizer DIR_OR_FILE --text "..." [--add-special-tokens] [--json]
//   tessera tokenize --tokenizer DIR_OR_FILE --detokenize 1,2,3 [--skip-special-tokens] [--json]
//
// With --json the result is one line, {"ids": [...]} or {"text": "..."}; without it, ids are
// printed space-separated and text as is. Exit codes: 0 done, 2 bad input (named on stderr).
#ifndef TESSERA_CLIENT_TOKENIZE_COMMAND_H_
#define TESSERA_CLIENT_TOKENIZE_COMMAND_H_

#include <optional>
#include <string>

#include "CLI/CLI.hpp"

namespace tessera {

struct TokenizeCommandOptions {
  std::string tokenizer;  // directory holding tokenizer.json, or the file
  std::optional<std::string> text;
  std::optional<std::string> detokenize;  // comma-separated ids
  bool add_special_tokens = false;
  bool skip_special_tokens = false;
  bool json = false;
};

// Runs the command, writing the result to stdout and errors to stderr; returns the exit code.
int RunTokenize(const TokenizeCommandOptions& options);

void AddTokenizeCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_TOKENIZE_COMMAND_H_
