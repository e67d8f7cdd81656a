// The post-processors of tokenizer.json that tessera supports: TemplateProcessing for a single
// sequence (special tokens around the text, e.g. BOS + $A), ByteLevel (nothing to do for ids),
// and Sequence of those.
#ifndef TESSERA_TEXT_TOKENIZER_POST_PROCESSOR_H_
#define TESSERA_TEXT_TOKENIZER_POST_PROCESSOR_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/json_fields.h"

namespace tessera::tokenizer {

class PostProcessor {
 public:
  // `json` is the "post_processor" value (null means none).
  static absl::StatusOr<PostProcessor> FromJson(const nlohmann::json& json,
                                                std::string_view source);

  // The ids with the template's special tokens added (only called with add_special_tokens).
  std::vector<int32_t> Apply(std::vector<int32_t> ids) const;

 private:
  absl::Status Add(const nlohmann::json& json, const JsonFields& parent);

  // A template is applied as: prefix, the sequence, suffix. Several templates (a Sequence of
  // processors) compose by wrapping.
  struct Template {
    std::vector<int32_t> prefix;
    std::vector<int32_t> suffix;
  };
  std::vector<Template> templates_;
};

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_POST_PROCESSOR_H_
