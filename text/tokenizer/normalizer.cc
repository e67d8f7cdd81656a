#include "text/tokenizer/normalizer.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "text/tokenizer/pattern_json.h"
#include "utf8proc.h"

namespace tessera::tokenizer {
namespace {

using Json = nlohmann::json;

std::string NfcByUtf8proc(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  // Explicit length, not NULLTERM: the text may contain NUL characters.
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) return std::string(text);  // only on invalid input, which callers rule out
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

bool IsAscii(char c) { return static_cast<unsigned char>(c) < 0x80; }

std::string Nfc(std::string_view text) {
  // ASCII characters are unchanged by NFC, are starters, and never combine with a character
  // before them, so NFC can be applied to the stretches between them one at a time. Only the
  // stretches with non-ASCII characters go through utf8proc, each with the ASCII character before
  // it (a combining mark may attach to it): most text is mostly ASCII.
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && IsAscii(text[j])) ++j;
    if (j == text.size()) {
      out.append(text.substr(i));
      break;
    }
    const size_t start = j > i ? j - 1 : j;
    size_t end = j;
    while (end < text.size() && !IsAscii(text[end])) ++end;
    out.append(text.substr(i, start - i));
    out.append(NfcByUtf8proc(text.substr(start, end - start)));
    i = end;
  }
  return out;
}

}  // namespace

absl::StatusOr<Normalizer> Normalizer::FromJson(const Json& json, std::string_view source) {
  Normalizer n;
  if (json.is_null()) return n;
  JsonFields f(json, source, "normalizer.");
  if (absl::Status s = n.Add(json, f); !s.ok()) return s;
  return n;
}

absl::Status Normalizer::Add(const Json& json, const JsonFields& parent) {
  if (!json.is_object()) return parent.TypeError("", "an object", json);
  JsonFields f(json, parent.source(), "normalizer.");
  auto type = f.OptionalString("type");
  if (!type.ok()) return type.status();
  const std::string t = type->value_or("");
  if (t == "Sequence") {
    const Json* list = f.Find("normalizers");
    if (list == nullptr || !list->is_array()) {
      return f.TypeError("normalizers", "an array", list ? *list : Json());
    }
    for (const Json& item : *list) {
      if (absl::Status s = Add(item, f); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (t == "NFC") {
    steps_.push_back({Step::kNfc, "", "", nullptr});
    return absl::OkStatus();
  }
  if (t == "Prepend") {
    auto prepend = f.OptionalString("prepend");
    if (!prepend.ok()) return prepend.status();
    steps_.push_back({Step::kPrepend, "", prepend->value_or(""), nullptr});
    return absl::OkStatus();
  }
  if (t == "Replace") {
    auto pattern = ParsePatternJson(f, "normalizer Replace");
    if (!pattern.ok()) return pattern.status();
    auto content = f.OptionalString("content");
    if (!content.ok()) return content.status();
    if (pattern->kind == PatternJson::kRegex) {
      auto regex = RegexPattern::Compile(pattern->text);
      if (!regex.ok()) {
        return f.Error(absl::StrCat("normalizer Replace: ", regex.status().message()));
      }
      steps_.push_back({Step::kReplace, "", content->value_or(""), *std::move(regex)});
      return absl::OkStatus();
    }
    if (pattern->text.empty()) return f.Error("normalizer Replace: the pattern is empty");
    steps_.push_back({Step::kReplace, std::move(pattern->text), content->value_or(""), nullptr});
    return absl::OkStatus();
  }
  return f.Error(absl::StrCat("normalizer type ", QuoteForError(t), " is not supported"));
}

absl::StatusOr<std::string> Normalizer::Apply(std::string_view text) const {
  std::string s(text);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::kNfc:
        s = Nfc(s);
        break;
      case Step::kPrepend:
        // Hugging Face prepends only to non-empty text.
        if (!s.empty()) s.insert(0, step.content);
        break;
      case Step::kReplace:
        if (step.regex != nullptr) {
          auto replaced = step.regex->ReplaceAll(s, step.content);
          if (!replaced.ok()) return replaced.status();
          s = *std::move(replaced);
        } else {
          s = absl::StrReplaceAll(s, {{step.pattern, step.content}});
        }
        break;
    }
  }
  return s;
}

}  // namespace tessera::tokenizer
