#include "text/tokenizer/decoder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "text/tokenizer/byte_level.h"
#include "text/tokenizer/pattern_json.h"
#include "text/tokenizer/utf8.h"

namespace tessera::tokenizer {
namespace {

using Json = nlohmann::json;

// "<0xNN>" -> NN, or -1.
int ByteToken(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  int v = 0;
  for (char c : t.substr(3, 2)) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return -1;
    }
    v = v * 16 + d;
  }
  return v;
}

// Byte-level tokens back to bytes; a token with a character outside the byte map contributes
// its own UTF-8 (added tokens such as "<|im_end|>" need no mapping). Invalid UTF-8 in the
// result, e.g. a multi-byte character cut between tokens, becomes U+FFFD.
std::string ByteLevelDecode(const std::vector<std::string>& tokens) {
  std::string bytes;
  for (const std::string& t : tokens) {
    // Mapped straight into `bytes`; a token found not to be byte-level is taken back out.
    const size_t start = bytes.size();
    size_t pos = 0;
    while (pos < t.size()) {
      const int b = ByteOfByteLevelChar(NextCodePoint(t, &pos));
      if (b < 0) {
        bytes.resize(start);
        bytes.append(t);
        break;
      }
      bytes.push_back(static_cast<char>(b));
    }
  }
  return Utf8Lossy(bytes);
}

// Runs of <0xNN> tokens become the text they spell, or one U+FFFD per byte when the run is not
// valid UTF-8.
std::vector<std::string> ByteFallbackDecode(std::vector<std::string> tokens) {
  std::vector<std::string> out;
  std::string pending;
  size_t pending_count = 0;
  auto flush = [&] {
    if (pending_count == 0) return;
    if (FirstInvalidUtf8(pending) == std::string_view::npos) {
      out.push_back(pending);
    } else {
      for (size_t i = 0; i < pending_count; ++i) out.push_back("\xEF\xBF\xBD");
    }
    pending.clear();
    pending_count = 0;
  };
  for (std::string& t : tokens) {
    const int b = ByteToken(t);
    if (b >= 0) {
      pending.push_back(static_cast<char>(b));
      ++pending_count;
    } else {
      flush();
      out.push_back(std::move(t));
    }
  }
  flush();
  return out;
}

// Every `pattern` (non-empty) in `*t` replaced by `content`, leftmost first and without overlaps
// like absl::StrReplaceAll, which is slow to call once per token.
void ReplaceAll(std::string* t, std::string_view pattern, std::string_view content) {
  size_t p = t->find(pattern);
  if (p == std::string::npos) return;
  std::string out;
  out.reserve(t->size() + content.size());
  size_t start = 0;
  for (; p != std::string::npos; p = t->find(pattern, start)) {
    out.append(*t, start, p - start).append(content);
    start = p + pattern.size();
  }
  out.append(*t, start);
  *t = std::move(out);
}

void Strip(std::string* t, std::string_view c, int start, int stop) {
  for (int i = 0; i < start && t->size() >= c.size() && t->compare(0, c.size(), c) == 0; ++i) {
    t->erase(0, c.size());
  }
  for (int i = 0;
       i < stop && t->size() >= c.size() && t->compare(t->size() - c.size(), c.size(), c) == 0;
       ++i) {
    t->erase(t->size() - c.size());
  }
}

}  // namespace

absl::StatusOr<Decoder> Decoder::FromJson(const Json& json, std::string_view source) {
  Decoder d;
  if (json.is_null()) return d;
  d.none_ = false;
  JsonFields f(json, source, "decoder.");
  if (absl::Status s = d.Add(json, f); !s.ok()) return s;
  return d;
}

absl::Status Decoder::Add(const Json& json, const JsonFields& parent) {
  if (!json.is_object()) return parent.TypeError("", "an object", json);
  JsonFields f(json, parent.source(), "decoder.");
  auto type = f.OptionalString("type");
  if (!type.ok()) return type.status();
  const std::string t = type->value_or("");
  if (t == "Sequence") {
    const Json* list = f.Find("decoders");
    if (list == nullptr || !list->is_array()) {
      return f.TypeError("decoders", "an array", list ? *list : Json());
    }
    for (const Json& item : *list) {
      if (absl::Status s = Add(item, f); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (t == "ByteLevel") {
    steps_.push_back({Step::kByteLevel, "", ""});
    return absl::OkStatus();
  }
  if (t == "ByteFallback") {
    steps_.push_back({Step::kByteFallback, "", ""});
    return absl::OkStatus();
  }
  if (t == "Fuse") {
    steps_.push_back({Step::kFuse, "", ""});
    return absl::OkStatus();
  }
  if (t == "Replace") {
    auto pattern = ParsePatternJson(f, "decoder Replace");
    if (!pattern.ok()) return pattern.status();
    auto content = f.OptionalString("content");
    if (!content.ok()) return content.status();
    Step step{Step::kReplace, "", content->value_or("")};
    if (pattern->kind == PatternJson::kRegex) {
      auto regex = RegexPattern::Compile(pattern->text);
      if (!regex.ok()) return f.Error(absl::StrCat("decoder Replace: ", regex.status().message()));
      step.regex = *std::move(regex);
    } else {
      if (pattern->text.empty()) return f.Error("decoder Replace: the pattern is empty");
      step.pattern = std::move(pattern->text);
    }
    steps_.push_back(std::move(step));
    return absl::OkStatus();
  }
  if (t == "Strip") {
    auto content = f.OptionalString("content");
    if (!content.ok()) return content.status();
    auto start = f.IntOr("start", 0, 0, 1 << 20);
    if (!start.ok()) return start.status();
    auto stop = f.IntOr("stop", 0, 0, 1 << 20);
    if (!stop.ok()) return stop.status();
    const std::string c = content->value_or(" ");
    if (c.empty()) return f.Error("decoder Strip: the content is empty");
    steps_.push_back({Step::kStrip, "", c, static_cast<int>(*start), static_cast<int>(*stop)});
    return absl::OkStatus();
  }
  return f.Error(absl::StrCat("decoder type ", QuoteForError(t), " is not supported"));
}

bool Decoder::IsFallbackByte(std::string_view token) const {
  if (ByteToken(token) < 0) return false;
  for (const Step& step : steps_) {
    if (step.kind == Step::kByteFallback) return true;
  }
  return false;
}

absl::StatusOr<std::string> Decoder::Decode(std::vector<std::string> tokens) const {
  if (none_) return absl::StrJoin(tokens, " ");
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::kByteLevel: {
        std::string text = ByteLevelDecode(tokens);
        tokens.assign(1, std::move(text));
        break;
      }
      case Step::kReplace:
        for (std::string& t : tokens) {
          if (step.regex == nullptr) {
            ReplaceAll(&t, step.pattern, step.content);
            continue;
          }
          // A hostile vocabulary may hold invalid UTF-8, which the regex engine cannot read.
          auto replaced = step.regex->ReplaceAll(Utf8Lossy(t), step.content);
          if (!replaced.ok()) return replaced.status();
          t = *std::move(replaced);
        }
        break;
      case Step::kByteFallback:
        tokens = ByteFallbackDecode(std::move(tokens));
        break;
      case Step::kFuse: {
        std::string text = absl::StrJoin(tokens, "");
        tokens.assign(1, std::move(text));
        break;
      }
      case Step::kStrip:
        for (std::string& t : tokens) Strip(&t, step.content, step.start, step.stop);
        break;
    }
  }
  // Vocabulary strings are valid UTF-8 and every step keeps them so, but a hostile vocabulary
  // may not be; the caller gets valid UTF-8 regardless.
  return Utf8Lossy(absl::StrJoin(tokens, ""));
}

}  // namespace tessera::tokenizer
