#include "text/tokenizer/pattern_json.h"

#include "absl/strings/str_cat.h"

namespace tessera::tokenizer {

absl::StatusOr<PatternJson> ParsePatternJson(const JsonFields& f, std::string_view component) {
  const nlohmann::json* pattern = f.Find("pattern");
  if (pattern != nullptr && pattern->is_object() && pattern->size() == 1) {
    for (auto [key, kind] :
         {std::pair{"String", PatternJson::kString}, std::pair{"Regex", PatternJson::kRegex}}) {
      auto it = pattern->find(key);
      if (it != pattern->end() && it->is_string()) return PatternJson{kind, it->get<std::string>()};
    }
  }
  return f.Error(absl::StrCat(
      Sv(component), ": \"pattern\" must be {\"String\": \"...\"} or {\"Regex\": \"...\"}"));
}

}  // namespace tessera::tokenizer
