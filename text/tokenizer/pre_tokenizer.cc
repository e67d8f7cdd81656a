#include "text/tokenizer/pre_tokenizer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "text/tokenizer/byte_level.h"
#include "text/tokenizer/pattern_json.h"

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
  if (t == "Split") return AddSplit(f);
  if (t == "ByteLevel") {
    auto add_prefix_space = f.BoolOr("add_prefix_space", true);
    if (!add_prefix_space.ok()) return add_prefix_space.status();
    auto use_regex = f.BoolOr("use_regex", true);
    if (!use_regex.ok()) return use_regex.status();
    steps_.push_back(
        {Step::kByteLevel, SplitPattern::kGpt2, *use_regex, *add_prefix_space, nullptr});
    return absl::OkStatus();
  }
  return f.Error(absl::StrCat("pre_tokenizer type ", QuoteForError(t), " is not supported"));
}

absl::Status PreTokenizer::AddSplit(const JsonFields& f) {
  auto behavior_name = f.OptionalString("behavior");
  if (!behavior_name.ok()) return behavior_name.status();
  const std::optional<SplitBehavior> behavior = ParseSplitBehavior(behavior_name->value_or(""));
  if (!behavior.has_value()) {
    return f.Error(absl::StrCat("pre_tokenizer Split behavior ",
                                QuoteForError(behavior_name->value_or("")),
                                " is not one of Removed, Isolated, MergedWithPrevious, "
                                "MergedWithNext, Contiguous"));
  }
  auto invert = f.BoolOr("invert", false);
  if (!invert.ok()) return invert.status();
  auto pattern = ParsePatternJson(f, "pre_tokenizer Split");
  if (!pattern.ok()) return pattern.status();
  if (pattern->kind == PatternJson::kRegex && *behavior == SplitBehavior::kIsolated && !*invert) {
    if (auto fast = RecognizeSplitPattern(pattern->text); fast.has_value()) {
      steps_.push_back({Step::kSplit, *fast, false, false, nullptr});
      return absl::OkStatus();
    }
  }
  // Hugging Face runs a String pattern as the regex that matches it literally.
  auto compiled = RegexPattern::Compile(
      pattern->kind == PatternJson::kRegex ? pattern->text : RegexPattern::Escape(pattern->text));
  if (!compiled.ok()) {
    return f.Error(absl::StrCat("pre_tokenizer Split: ", compiled.status().message()));
  }
  steps_.push_back(
      {Step::kRegexSplit, SplitPattern::kGpt2, false, false,
       std::make_shared<const RegexSplitter>(*std::move(compiled), *behavior, *invert)});
  return absl::OkStatus();
}

void PreTokenizer::SpellWords(const Step& step, absl::Span<const std::string_view> in,
                              WordList* out) {
  size_t bytes = 0;
  for (std::string_view w : in) bytes += w.size() + 1;
  out->clear();
  out->reserve(2 * bytes);  // each byte is spelled in at most two
  std::string prefixed;
  std::vector<std::string_view> pieces;
  auto spell = [&](std::string_view piece) {
    out->EndWord(WriteByteLevelChars(piece, out->Grow(2 * piece.size())));
  };
  for (std::string_view word : in) {
    if (step.add_prefix_space && word[0] != ' ') {
      prefixed.assign(" ").append(word);
      word = prefixed;
    }
    if (!step.use_regex) {
      spell(word);
      continue;
    }
    pieces.clear();
    SplitWords(word, step.pattern, &pieces);
    for (std::string_view piece : pieces) spell(piece);
  }
}

absl::Status PreTokenizer::Apply(std::string_view text, WordList* words) const {
  words->clear();
  if (text.empty()) return absl::OkStatus();
  // The words are views: into `text`, or into the list that the last ByteLevel step wrote. Split
  // only narrows them, without copying; ByteLevel writes new bytes, to `words` when it is the
  // last step and otherwise to the scratch list it did not read from. No step makes an empty
  // word out of a non-empty one.
  std::vector<std::string_view> current{text}, next;
  WordList scratch[2];
  int free_scratch = 0;
  for (size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    next.clear();
    if (step.kind == Step::kSplit) {
      for (std::string_view w : current) SplitWords(w, step.pattern, &next);
    } else if (step.kind == Step::kRegexSplit) {
      for (std::string_view w : current) {
        if (absl::Status s = step.regex->Split(w, &next); !s.ok()) return s;
      }
    } else {
      WordList* out = s + 1 == steps_.size() ? words : &scratch[free_scratch];
      free_scratch ^= 1;
      SpellWords(step, current, out);
      if (out == words) return absl::OkStatus();
      for (size_t i = 0; i < out->size(); ++i) next.push_back((*out)[i]);
    }
    std::swap(current, next);
  }
  for (std::string_view w : current) words->Add(w);
  return absl::OkStatus();
}

absl::Status PreTokenizer::Apply(std::string_view text, std::vector<std::string>* words) const {
  WordList list;
  if (absl::Status s = Apply(text, &list); !s.ok()) return s;
  for (size_t i = 0; i < list.size(); ++i) words->emplace_back(list[i]);
  return absl::OkStatus();
}

}  // namespace tessera::tokenizer
