#include "authoring/byte_level_tokenizer_writer.h"

#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "text/tokenizer/byte_level.h"
#include "text/tokenizer/word_splitter.h"

namespace tessera::tokenizer {
namespace {

using Json = nlohmann::ordered_json;

// The fields Hugging Face writes for an added token, in its order.
Json AddedTokenJson(const std::string& content) {
  Json t;
  t["content"] = content;
  t["single_word"] = false;
  t["lstrip"] = false;
  t["rstrip"] = false;
  t["normalized"] = false;
  t["special"] = true;
  return t;
}

Json PreTokenizerJson() {
  Json split;
  split["type"] = "Split";
  split["pattern"] = {{"Regex", std::string(SplitPatternRegex(SplitPattern::kLlama3))}};
  split["behavior"] = "Isolated";
  split["invert"] = false;
  Json byte_level;
  byte_level["type"] = "ByteLevel";
  byte_level["add_prefix_space"] = false;
  byte_level["trim_offsets"] = true;
  byte_level["use_regex"] = false;  // the Split above already cut the words
  Json p;
  p["type"] = "Sequence";
  p["pretokenizers"] = {split, byte_level};
  return p;
}

// BOS before the sequence (and before each of a pair, as Llama 3 does).
Json PostProcessorJson(const std::string& bos, int32_t bos_id) {
  const Json bos_item = {{"SpecialToken", {{"id", bos}, {"type_id", 0}}}};
  Json byte_level;
  byte_level["type"] = "ByteLevel";
  byte_level["add_prefix_space"] = true;
  byte_level["trim_offsets"] = false;
  byte_level["use_regex"] = true;
  Json tmpl;
  tmpl["type"] = "TemplateProcessing";
  tmpl["single"] = {bos_item, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}};
  tmpl["pair"] = {bos_item,
                  {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                  {{"SpecialToken", {{"id", bos}, {"type_id", 1}}}},
                  {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}};
  tmpl["special_tokens"][bos] = {{"id", bos}, {"ids", {bos_id}}, {"tokens", {bos}}};
  Json p;
  p["type"] = "Sequence";
  p["processors"] = {byte_level, tmpl};
  return p;
}

Json DecoderJson() {
  Json d;
  d["type"] = "ByteLevel";
  d["add_prefix_space"] = true;
  d["trim_offsets"] = true;
  d["use_regex"] = true;
  return d;
}

}  // namespace

absl::StatusOr<ByteLevelTokenizerFiles> MakeByteLevelTokenizerFiles(
    const ByteLevelTokenizerSpec& spec) {
  // The vocabulary in id order, and each token's id.
  std::vector<std::string> vocab;
  absl::flat_hash_map<std::string, int32_t> ids;
  auto add = [&](std::string token) {
    if (ids.try_emplace(token, static_cast<int32_t>(vocab.size())).second) {
      vocab.push_back(std::move(token));
    }
  };
  for (int b = 0; b < 256; ++b) {
    std::string spelled;
    AppendByteLevelChars(std::string(1, static_cast<char>(b)), &spelled);
    add(std::move(spelled));
  }
  Json merges = Json::array();
  for (size_t i = 0; i < spec.merges.size(); ++i) {
    const auto& [left, right] = spec.merges[i];
    for (const std::string* side : {&left, &right}) {
      if (!ids.contains(*side)) {
        return absl::InvalidArgumentError(
            absl::StrCat("merge ", i, " (\"", left, "\" \"", right, "\"): \"", *side,
                         "\" is neither a byte token nor made by an earlier merge"));
      }
    }
    // "left right": byte-level tokens never hold a space (it is spelled U+0120), and this form
    // loads in every version of Hugging Face tokenizers.
    merges.push_back(absl::StrCat(left, " ", right));
    add(left + right);
  }

  ByteLevelTokenizerFiles files;
  Json added = Json::array();
  Json added_decoder = Json::object();  // tokenizer_config.json's view of the same tokens
  std::map<std::string, int32_t> special_ids;
  for (const std::string& content : spec.special_tokens) {
    if (content.empty()) return absl::InvalidArgumentError("a special token is empty");
    if (ids.contains(content) || special_ids.contains(content)) {
      return absl::InvalidArgumentError(
          absl::StrCat("special token \"", content, "\" is already a token"));
    }
    const int32_t id = static_cast<int32_t>(vocab.size() + special_ids.size());
    special_ids.emplace(content, id);
    Json t;
    t["id"] = id;
    t.update(AddedTokenJson(content));
    added.push_back(std::move(t));
    added_decoder[std::to_string(id)] = AddedTokenJson(content);
  }
  for (auto [token, out] :
       {std::pair{&spec.bos_token, &files.bos_id}, std::pair{&spec.eos_token, &files.eos_id}}) {
    auto it = special_ids.find(*token);
    if (it == special_ids.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("BOS/EOS token \"", *token, "\" is not one of the special tokens"));
    }
    *out = it->second;
  }
  files.num_ids = static_cast<int32_t>(vocab.size() + special_ids.size());

  Json model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = nullptr;
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = false;
  model["byte_fallback"] = false;
  model["ignore_merges"] = false;
  Json& vocab_json = model["vocab"] = Json::object();
  for (size_t id = 0; id < vocab.size(); ++id) vocab_json[vocab[id]] = id;
  model["merges"] = std::move(merges);

  Json tok;
  tok["version"] = "1.0";
  tok["truncation"] = nullptr;
  tok["padding"] = nullptr;
  tok["added_tokens"] = std::move(added);
  tok["normalizer"] = nullptr;
  tok["pre_tokenizer"] = PreTokenizerJson();
  tok["post_processor"] = PostProcessorJson(spec.bos_token, files.bos_id);
  tok["decoder"] = DecoderJson();
  tok["model"] = std::move(model);
  files.tokenizer_json = tok.dump(1) + "\n";

  Json config;
  config["add_bos_token"] = true;  // what the post-processor does; informational for transformers
  config["add_eos_token"] = false;
  config["added_tokens_decoder"] = std::move(added_decoder);
  config["bos_token"] = spec.bos_token;
  config["clean_up_tokenization_spaces"] = false;
  config["eos_token"] = spec.eos_token;
  config["model_input_names"] = {"input_ids", "attention_mask"};
  config["model_max_length"] = spec.model_max_length;
  config["tokenizer_class"] = "PreTrainedTokenizerFast";
  files.tokenizer_config_json = config.dump(2) + "\n";
  return files;
}

}  // namespace tessera::tokenizer
