#include "client/tokenize_command.h"

#include <iostream>
#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "text/tokenizer/tokenizer.h"

namespace tessera {
namespace {

absl::StatusOr<std::vector<int32_t>> ParseIds(const std::string& list) {
  std::vector<int32_t> ids;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    int32_t id;
    if (!absl::SimpleAtoi(part, &id) || id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--detokenize: \"", part, "\" is not a non-negative integer"));
    }
    ids.push_back(id);
  }
  return ids;
}

}  // namespace

int RunTokenize(const TokenizeCommandOptions& o) {
  auto fail = [](const absl::Status& s) {
    std::cerr << "tessera tokenize: " << s.message() << "\n";
    return 2;
  };
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::Load(o.tokenizer);
  if (!tok.ok()) return fail(tok.status());
  if (o.text.has_value()) {
    absl::StatusOr<std::vector<int32_t>> ids = (*tok)->Encode(*o.text, o.add_special_tokens);
    if (!ids.ok()) return fail(ids.status());
    if (o.json) {
      std::cout << nlohmann::json{{"ids", *ids}}.dump() << "\n";
    } else {
      std::cout << absl::StrJoin(*ids, " ") << "\n";
    }
  } else {
    absl::StatusOr<std::vector<int32_t>> ids = ParseIds(*o.detokenize);
    if (!ids.ok()) return fail(ids.status());
    absl::StatusOr<std::string> text = (*tok)->Decode(*ids, o.skip_special_tokens);
    if (!text.ok()) return fail(text.status());
    if (o.json) {
      std::cout << nlohmann::json{{"text", *text}}.dump() << "\n";
    } else {
      std::cout << *text << "\n";
    }
  }
  return std::cout.good() ? 0 : 1;
}

void AddTokenizeCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<TokenizeCommandOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Text to token ids, or ids to text");
  cmd->add_option("--tokenizer", o->tokenizer, "Directory with tokenizer.json, or the file")
      ->required();
  auto* text = cmd->add_option("--text", o->text, "Text to encode");
  auto* ids = cmd->add_option("--detokenize", o->detokenize, "Comma-separated ids to decode");
  text->excludes(ids);
  cmd->add_flag("--add-special-tokens", o->add_special_tokens,
                "Apply the tokenizer's post-processor (e.g. BOS) when encoding");
  cmd->add_flag("--skip-special-tokens", o->skip_special_tokens,
                "Leave special tokens out when decoding");
  cmd->add_flag("--json", o->json, "Print {\"ids\": [...]} or {\"text\": \"...\"}");
  cmd->callback([o, text, ids, exit_code] {
    if (text->count() == 0 && ids->count() == 0) {
      throw CLI::ValidationError("tokenize", "one of --text or --detokenize is required");
    }
    *exit_code = RunTokenize(*o);
  });
}

}  // namespace tessera
