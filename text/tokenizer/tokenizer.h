// A Hugging Face tokenizer.json tokenizer: BPE models with the normalizers, pre-tokenizers,
// post-processors and decoders that Llama 2/3 and Qwen2/3 use. Loading refuses, with an
// InvalidArgument error naming it, any component it does not implement, so that a tokenizer
// never silently encodes differently from Hugging Face tokenizers.
#ifndef TESSERA_TEXT_TOKENIZER_TOKENIZER_H_
#define TESSERA_TEXT_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tessera {

class Tokenizer {
 public:
  // `path` is a directory holding tokenizer.json (and, optionally, tokenizer_config.json for the
  // BOS/EOS tokens), or a tokenizer.json file.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::filesystem::path& path);
  // The same from file contents; `config_json` may be empty. Errors name `source`.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(
      std::string_view tokenizer_json, std::string_view config_json = {},
      std::string_view source = "tokenizer.json");

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // The ids of `text`, as Hugging Face tokenizers' encode(text, add_special_tokens) gives them.
  // Added tokens in the text (e.g. "<|im_start|>") always become their ids. InvalidArgument
  // when `text` is not valid UTF-8; ResourceExhausted when one of the tokenizer's regexes run
  // through Oniguruma (a Split or Replace pattern no fast path covers) hits its backtracking
  // limit on it (see regex_pattern.h). Thread-safe.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool add_special_tokens) const;

  // The text of `ids` (always valid UTF-8: partial characters become U+FFFD). InvalidArgument
  // for an id that is neither in the vocabulary nor an added token; ResourceExhausted as
  // Encode, for a Replace decoder's regex.
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids, bool skip_special_tokens) const;

  // What one id contributes to Decode, for incremental decoding (DecodeStream).
  enum class DecodePart {
    kNothing,  // a special token that skip_special_tokens removes: it ends no byte run
    // A byte-fallback token ("<0xE6>") under a ByteFallback decoder. A run of them reads as the
    // UTF-8 it spells, or, when the run is not valid UTF-8, as one U+FFFD per byte (as in
    // Hugging Face tokenizers): a later byte can rewrite the whole run ("<0x7E>" reads "~",
    // "<0x7E><0xCC>" reads two U+FFFD), so its text is known only once another token ends it.
    kByte,
    kText,  // anything else
  };
  // InvalidArgument for an id that Decode refuses.
  absl::StatusOr<DecodePart> DecodePartOf(int32_t id, bool skip_special_tokens) const;

  // The id of a vocabulary entry or added token.
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // One past the largest id (vocabulary and added tokens).
  int32_t id_end() const;

  // From tokenizer_config.json: informational, Encode does not consult them (the
  // post-processor in tokenizer.json decides what add_special_tokens adds).
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  bool add_bos_token() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera

#endif  // TESSERA_TEXT_TOKENIZER_TOKENIZER_H_
