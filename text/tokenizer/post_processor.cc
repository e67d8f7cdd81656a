#include "text/tokenizer/post_processor.h"

#include "absl/strings/str_cat.h"

namespace tessera::tokenizer {
namespace {
using Json = nlohmann::json;
}  // namespace

absl::StatusOr<PostProcessor> PostProcessor::FromJson(const Json& json, std::string_view source) {
  PostProcessor p;
  if (json.is_null()) return p;
  JsonFields f(json, source, "post_processor.");
  if (absl::Status s = p.Add(json, f); !s.ok()) return s;
  return p;
}

absl::Status PostProcessor::Add(const Json& json, const JsonFields& parent) {
  if (!json.is_object()) return parent.TypeError("", "an object", json);
  JsonFields f(json, parent.source(), "post_processor.");
  auto type = f.OptionalString("type");
  if (!type.ok()) return type.status();
  const std::string t = type->value_or("");
  if (t == "Sequence") {
    const Json* list = f.Find("processors");
    if (list == nullptr || !list->is_array()) {
      return f.TypeError("processors", "an array", list ? *list : Json());
    }
    for (const Json& item : *list) {
      if (absl::Status s = Add(item, f); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (t == "ByteLevel") return absl::OkStatus();  // it only adjusts offsets
  if (t != "TemplateProcessing") {
    return f.Error(absl::StrCat("post_processor type ", QuoteForError(t), " is not supported"));
  }

  const Json* single = f.Find("single");
  if (single == nullptr || !single->is_array()) {
    return f.TypeError("single", "an array", single ? *single : Json());
  }
  const Json* specials = f.Find("special_tokens");
  if (specials != nullptr && !specials->is_object()) {
    return f.TypeError("special_tokens", "an object", *specials);
  }
  Template tmpl;
  bool seen_sequence = false;
  for (const Json& item : *single) {
    if (item.is_object() && item.contains("Sequence")) {
      const Json& seq = item["Sequence"];
      if (seen_sequence || !seq.is_object() || seq.value("id", Json()) != Json("A")) {
        return f.Error("post_processor TemplateProcessing: \"single\" must hold sequence A once");
      }
      seen_sequence = true;
      continue;
    }
    if (!(item.is_object() && item.contains("SpecialToken") && item["SpecialToken"].is_object() &&
          item["SpecialToken"].contains("id") && item["SpecialToken"]["id"].is_string())) {
      return f.TypeError("single[]", "a Sequence or SpecialToken item", item);
    }
    const std::string name = item["SpecialToken"]["id"].get<std::string>();
    if (specials == nullptr || !specials->contains(name)) {
      return f.Error(absl::StrCat("post_processor TemplateProcessing: special token ",
                                  QuoteForError(name), " is not in \"special_tokens\""));
    }
    const Json& entry = (*specials)[name];
    const Json* ids = entry.is_object() && entry.contains("ids") ? &entry["ids"] : nullptr;
    if (ids == nullptr || !ids->is_array()) {
      return f.Error(absl::StrCat("post_processor special token ", QuoteForError(name),
                                  " has no \"ids\" array"));
    }
    for (const Json& id : *ids) {
      auto v = f.Int("special_tokens.ids[]", id, 0, (int64_t{1} << 31) - 1);
      if (!v.ok()) return v.status();
      (seen_sequence ? tmpl.suffix : tmpl.prefix).push_back(static_cast<int32_t>(*v));
    }
  }
  if (!seen_sequence) {
    return f.Error("post_processor TemplateProcessing: \"single\" must hold sequence A once");
  }
  templates_.push_back(std::move(tmpl));
  return absl::OkStatus();
}

std::vector<int32_t> PostProcessor::Apply(std::vector<int32_t> ids) const {
  for (const Template& t : templates_) {
    std::vector<int32_t> out = t.prefix;
    out.insert(out.end(), ids.begin(), ids.end());
    out.insert(out.end(), t.suffix.begin(), t.suffix.end());
    ids = std::move(out);
  }
  return ids;
}

}  // namespace tessera::tokenizer
