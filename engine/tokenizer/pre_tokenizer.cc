#include "engine/tokenizer/pre_tokenizer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/byte_level.h"

namespace tessera::tokenizer {
namespace {
using Json = nlohmann::json;
}  // namespace

absl::StatusOr<PreTokenizer> PreTokenizer::FromJson(const Json& json, std::string_view source) {
  PreTokenizer p;
  if (json.is_null()) return p;
  JsonFields f(json, source, "pre_tokenizer.");
  if (absl::Status s = p.Add(json, f); !s.ok()) return s;
  return p;
}

absl::Status PreTokenizer::Add(const Json& json, const JsonFields& parent) {
  if (!json.is_object()) return parent.TypeError("", "an object", json);
  JsonFields f(json, parent.source(), "pre_tokenizer.");
  auto type = f.OptionalString("type");
  if (!type.ok()) return type.status();
  const std::string t = type->value_or("");
  if (t == "Sequence") {
    const Json* list = f.Find("pretokenizers");
    if (list == nullptr || !list->is_array()) {
      return f.TypeError("pretokenizers", "an array", list ? *list : Json());
    }
    for (const Json& item : *list) {
      if (absl::Status s = Add(item, f); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (t == "Split") {
    auto behavior = f.OptionalString("behavior");
    if (!behavior.ok()) return behavior.status();
    if (behavior->value_or("") != "Isolated") {
      return f.Error(absl::StrCat("pre_tokenizer Split behavior ",
                                  QuoteForError(behavior->value_or("")), " is not supported"));
    }
    auto invert = f.BoolOr("invert", false);
    if (!invert.ok()) return invert.status();
    if (*invert) return f.Error("pre_tokenizer Split with invert true is not supported");
    const Json* pattern = f.Find("pattern");
    if (pattern == nullptr || !pattern->is_object() || !pattern->contains("Regex") ||
        !(*pattern)["Regex"].is_string()) {
      return f.Error("pre_tokenizer Split: only a {\"Regex\": ...} pattern is supported");
    }
    const std::string regex = (*pattern)["Regex"].get<std::string>();
    auto recognized = RecognizeSplitPattern(regex);
    if (!recognized.has_value()) {
      return f.Error(
          absl::StrCat("pre_tokenizer Split pattern ", QuoteForError(regex), " is not supported"));
    }
    steps_.push_back({Step::kSplit, *recognized, false, false});
    return absl::OkStatus();
  }
  if (t == "ByteLevel") {
    auto add_prefix_space = f.BoolOr("add_prefix_space", true);
    if (!add_prefix_space.ok()) return add_prefix_space.status();
    auto use_regex = f.BoolOr("use_regex", true);
    if (!use_regex.ok()) return use_regex.status();
    steps_.push_back({Step::kByteLevel, SplitPattern::kGpt2, *use_regex, *add_prefix_space});
    return absl::OkStatus();
  }
  return f.Error(absl::StrCat("pre_tokenizer type ", QuoteForError(t), " is not supported"));
}

void PreTokenizer::Apply(std::string_view text, std::vector<std::string>* words) const {
  std::vector<std::string> current{std::string(text)};
  std::vector<std::string> next;
  std::vector<std::string_view> pieces;
  for (const Step& step : steps_) {
    next.clear();
    for (std::string& word : current) {
      if (step.kind == Step::kByteLevel && step.add_prefix_space && !word.empty() &&
          word[0] != ' ') {
        word.insert(0, " ");
      }
      pieces.clear();
      if (step.kind == Step::kSplit || step.use_regex) {
        SplitWords(word, step.pattern, &pieces);
      } else {
        pieces.push_back(word);
      }
      for (std::string_view piece : pieces) {
        if (step.kind == Step::kByteLevel) {
          std::string spelled;
          spelled.reserve(piece.size() * 2);
          AppendByteLevelChars(piece, &spelled);
          next.push_back(std::move(spelled));
        } else {
          next.emplace_back(piece);
        }
      }
    }
    std::swap(current, next);
  }
  for (std::string& w : current) {
    if (!w.empty()) words->push_back(std::move(w));
  }
}

}  // namespace tessera::tokenizer
