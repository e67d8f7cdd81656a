// tokenizer.json read in one pass. The BPE vocabulary and merges are most of the file (~10^5
// entries each) and building them as JSON values is most of the time a plain parse takes (a map
// node per token, a string value per merge), so they are streamed into flat vectors instead;
// everything else becomes JSON values as usual. Include only from .cc files (nlohmann_json is a
// private dependency).
#ifndef TESSERA_TEXT_TOKENIZER_TOKENIZER_JSON_H_
#define TESSERA_TEXT_TOKENIZER_TOKENIZER_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera::tokenizer {

// One element of model.merges as written: "a b", ["a", "b"], or anything else (kept as a JSON
// value that describes it the same way for error messages: scalars whole, containers empty).
struct RawMerge {
  enum Form { kString, kPair, kInvalid } form;
  std::string_view first;   // kString: the whole string; kPair: "a"
  std::string_view second;  // kPair: "b"
  const nlohmann::json* invalid;
};

// The elements of model.merges, their strings back to back in one buffer: a vector of strings
// would allocate per merge and move them all each time it grows.
class MergeList {
 public:
  size_t size() const { return entries_.size(); }
  // Valid until the next Add.
  RawMerge operator[](size_t i) const;

  void AddString(std::string_view s) { Add(RawMerge::kString, s, {}); }
  void AddPair(std::string_view a, std::string_view b) { Add(RawMerge::kPair, a, b); }
  void AddInvalid(nlohmann::json v);

 private:
  struct Entry {
    uint64_t begin;  // of `first` in bytes_; `second` follows it
    uint32_t first_size;
    uint32_t second_size;
    RawMerge::Form form;
    uint32_t invalid;  // kInvalid: index in invalid_
  };
  void Add(RawMerge::Form form, std::string_view a, std::string_view b);

  std::string bytes_;
  std::vector<Entry> entries_;
  std::vector<nlohmann::json> invalid_;
};

// model.vocab and model.merges when they were streamed out of the JSON tree; nullopt when
// "model" has none of that shape (then they are still in the tree, if anywhere).
struct StreamedModel {
  // In file order; a repeated token appears each time.
  std::optional<std::vector<std::pair<std::string, nlohmann::json>>> vocab;
  std::optional<MergeList> merges;
};

struct TokenizerJson {
  nlohmann::json root;  // a JSON object; "model" lacks the members that were streamed
  StreamedModel model;
};

// Errors as ParseJsonObject gives them: not valid JSON, or not an object.
absl::StatusOr<TokenizerJson> ParseTokenizerJson(std::string_view text, std::string_view source);

}  // namespace tessera::tokenizer

#endif  // TESSERA_TEXT_TOKENIZER_TOKENIZER_JSON_H_
