#include "text/tokenizer/tokenizer.h"

#include <deque>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/json_fields.h"
#include "text/tokenizer/added_tokens.h"
#include "text/tokenizer/bpe_model.h"
#include "text/tokenizer/decoder.h"
#include "text/tokenizer/normalizer.h"
#include "text/tokenizer/post_processor.h"
#include "text/tokenizer/pre_tokenizer.h"
#include "text/tokenizer/tokenizer_json.h"
#include "text/tokenizer/utf8.h"

namespace tessera {

using Json = nlohmann::json;
using tokenizer::AddedToken;
using tokenizer::Segment;

struct Tokenizer::Impl {
  std::unique_ptr<tokenizer::BpeModel> model;
  tokenizer::Normalizer normalizer;
  tokenizer::PreTokenizer pre_tokenizer;
  tokenizer::PostProcessor post_processor;
  tokenizer::Decoder decoder;
  std::deque<AddedToken> added;  // stable addresses for the matchers
  // Normalized added tokens as the normalized matcher sees them: content normalized.
  std::deque<AddedToken> normalized_patterns;
  absl::flat_hash_map<int32_t, const AddedToken*> added_by_id;
  absl::flat_hash_map<std::string, int32_t> added_by_content;
  // Tokens matched in the raw input, and those matched after normalization.
  tokenizer::AddedTokenMatcher raw_matcher, normalized_matcher;
  std::optional<int32_t> bos_id, eos_id;
  bool add_bos_token = false;

  absl::Status EncodeText(std::string_view text, std::vector<int32_t>* ids) const;
  std::optional<int32_t> TokenToId(std::string_view token) const {
    if (auto it = added_by_content.find(Sv(token)); it != added_by_content.end()) return it->second;
    return model->TokenToId(token);
  }
};

namespace {

constexpr uintmax_t kMaxTokenizerJsonBytes = uintmax_t{512} << 20;
constexpr uintmax_t kMaxConfigBytes = uintmax_t{64} << 20;
// The components are built recursively through "Sequence", so a hostile file nesting them
// thousands deep would overflow the stack. serde_json, which Hugging Face tokenizers reads
// tokenizer.json with, refuses nesting deeper than 128, so real files stay far below this.
constexpr int kMaxComponentDepth = 128;

// Whether `value` has arrays or objects nested more than `max_depth` deep (iteratively, for
// the same reason).
bool NestedDeeperThan(const Json& value, int max_depth) {
  std::vector<std::pair<const Json*, int>> stack{{&value, 1}};
  while (!stack.empty()) {
    const auto [v, depth] = stack.back();
    stack.pop_back();
    if (!v->is_structured()) continue;
    if (depth > max_depth) return true;
    for (const Json& child : *v) stack.emplace_back(&child, depth + 1);
  }
  return false;
}

absl::StatusOr<AddedToken> ParseAddedToken(const Json& j, size_t index, std::string_view source) {
  JsonFields f(j, source, absl::StrCat("added_tokens[", index, "]."));
  if (!j.is_object()) return f.TypeError("", "an object", j);
  AddedToken t;
  auto id = f.RequiredInt("id", 0, (int64_t{1} << 31) - 2);
  if (!id.ok()) return id.status();
  t.id = static_cast<int32_t>(*id);
  auto content = f.OptionalString("content");
  if (!content.ok()) return content.status();
  if (!content->has_value() || (*content)->empty()) return f.Error("added token without content");
  t.content = **content;
  for (auto [key, out] : {std::pair{"special", &t.special}, std::pair{"lstrip", &t.lstrip},
                          std::pair{"rstrip", &t.rstrip}, std::pair{"single_word", &t.single_word},
                          std::pair{"normalized", &t.normalized}}) {
    auto v = f.BoolOr(key, false);
    if (!v.ok()) return v.status();
    *out = *v;
  }
  return t;
}

// bos_token / eos_token are a string or an AddedToken-like object with "content".
absl::StatusOr<std::optional<std::string>> ConfigToken(const JsonFields& f, std::string_view key) {
  const Json* v = f.FindNonNull(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_object() && v->contains("content") && (*v)["content"].is_string()) {
    return (*v)["content"].get<std::string>();
  }
  return f.TypeError(key, "a string or an object with \"content\"", *v);
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::filesystem::path& path) {
  std::error_code ec;
  const bool is_dir = std::filesystem::is_directory(path, ec);
  const std::filesystem::path json_path = is_dir ? path / "tokenizer.json" : path;
  auto text = ReadSmallFile(json_path, kMaxTokenizerJsonBytes);
  if (!text.ok()) return text.status();
  std::string config;
  const std::filesystem::path config_path = json_path.parent_path() / "tokenizer_config.json";
  if (auto c = ReadSmallFile(config_path, kMaxConfigBytes); c.ok()) {
    config = *std::move(c);
  } else if (!absl::IsNotFound(c.status())) {
    return c.status();
  }
  return FromJson(*text, config, json_path.string());
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view tokenizer_json,
                                                               std::string_view config_json,
                                                               std::string_view source) {
  auto parsed = tokenizer::ParseTokenizerJson(tokenizer_json, source);
  if (!parsed.ok()) return parsed.status();
  JsonFields f(parsed->root, source);
  auto impl = std::make_unique<Impl>();

  const Json* model = f.FindNonNull("model");
  if (model == nullptr) return f.Error("\"model\" is missing");
  auto m = tokenizer::BpeModel::FromJson(*model, source, &parsed->model);
  if (!m.ok()) return m.status();
  impl->model = *std::move(m);

  const Json null;
  auto component = [&](const char* key) -> const Json& {
    const Json* v = f.Find(key);
    return v == nullptr ? null : *v;
  };
  for (const char* key : {"normalizer", "pre_tokenizer", "post_processor", "decoder"}) {
    if (NestedDeeperThan(component(key), kMaxComponentDepth)) {
      return f.Error(
          absl::StrCat("\"", key, "\" is nested more than ", kMaxComponentDepth, " levels deep"));
    }
  }
  auto normalizer = tokenizer::Normalizer::FromJson(component("normalizer"), source);
  if (!normalizer.ok()) return normalizer.status();
  impl->normalizer = *std::move(normalizer);
  auto pre = tokenizer::PreTokenizer::FromJson(component("pre_tokenizer"), source);
  if (!pre.ok()) return pre.status();
  impl->pre_tokenizer = *std::move(pre);
  auto post = tokenizer::PostProcessor::FromJson(component("post_processor"), source);
  if (!post.ok()) return post.status();
  impl->post_processor = *std::move(post);
  auto decoder = tokenizer::Decoder::FromJson(component("decoder"), source);
  if (!decoder.ok()) return decoder.status();
  impl->decoder = *std::move(decoder);

  if (const Json* added = f.FindNonNull("added_tokens")) {
    if (!added->is_array()) return f.TypeError("added_tokens", "an array", *added);
    for (size_t i = 0; i < added->size(); ++i) {
      auto t = ParseAddedToken((*added)[i], i, source);
      if (!t.ok()) return t.status();
      if (tokenizer::FirstInvalidUtf8(t->content) != std::string_view::npos) {
        return f.Error(absl::StrCat("added_tokens[", i, "] is not valid UTF-8"));
      }
      const AddedToken& stored = impl->added.emplace_back(*std::move(t));
      impl->added_by_id[stored.id] = &stored;
      impl->added_by_content.try_emplace(stored.content, stored.id);
      if (stored.normalized && !impl->normalizer.empty()) {
        // Hugging Face matches a normalized token by its normalized content, e.g. "a b" as
        // "a▁b" after a Replace(" ", "▁") normalizer.
        AddedToken& pattern = impl->normalized_patterns.emplace_back(stored);
        auto normalized = impl->normalizer.Apply(stored.content);
        if (!normalized.ok()) return normalized.status();
        pattern.content = *std::move(normalized);
        impl->normalized_matcher.Add(pattern);
      } else {
        impl->raw_matcher.Add(stored);
      }
    }
  }

  if (!config_json.empty()) {
    const std::string config_source = absl::StrCat(Sv(source), " (tokenizer_config.json)");
    auto config = ParseJsonObject(config_json, config_source);
    if (!config.ok()) return config.status();
    JsonFields c(*config, config_source);
    auto add_bos = c.BoolOr("add_bos_token", false);
    if (!add_bos.ok()) return add_bos.status();
    impl->add_bos_token = *add_bos;
    for (auto [key, out] :
         {std::pair{"bos_token", &impl->bos_id}, std::pair{"eos_token", &impl->eos_id}}) {
      auto token = ConfigToken(c, key);
      if (!token.ok()) return token.status();
      if (!token->has_value()) continue;
      *out = impl->TokenToId(**token);
      if (!out->has_value()) {
        return c.Error(absl::StrCat("\"", key, "\" ", QuoteForError(**token),
                                    " is not a token of tokenizer.json"));
      }
    }
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

absl::Status Tokenizer::Impl::EncodeText(std::string_view text, std::vector<int32_t>* ids) const {
  std::string normalized_storage;
  std::string_view normalized = text;
  if (!normalizer.empty()) {
    auto applied = normalizer.Apply(text);
    if (!applied.ok()) return applied.status();
    normalized = normalized_storage = *std::move(applied);
  }
  std::vector<Segment> segments;
  normalized_matcher.Split(normalized, &segments);
  tokenizer::WordList words;
  for (const Segment& s : segments) {
    if (s.id >= 0) {
      ids->push_back(s.id);
      continue;
    }
    if (absl::Status status = pre_tokenizer.Apply(s.text, &words); !status.ok()) return status;
    for (size_t i = 0; i < words.size(); ++i) model->Encode(words[i], ids);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text,
                                                       bool add_special_tokens) const {
  if (size_t bad = tokenizer::FirstInvalidUtf8(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("text to encode is not valid UTF-8 (byte offset ", bad, ")"));
  }
  std::vector<int32_t> ids;
  std::vector<Segment> segments;
  impl_->raw_matcher.Split(text, &segments);
  for (const Segment& s : segments) {
    if (s.id >= 0) {
      ids.push_back(s.id);
    } else if (absl::Status status = impl_->EncodeText(s.text, &ids); !status.ok()) {
      return status;
    }
  }
  if (add_special_tokens) ids = impl_->post_processor.Apply(std::move(ids));
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int32_t> ids,
                                              bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (auto it = impl_->added_by_id.find(id); it != impl_->added_by_id.end()) {
      if (!(skip_special_tokens && it->second->special)) tokens.push_back(it->second->content);
      continue;
    }
    const std::string* token = impl_->model->IdToToken(id);
    if (token == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", id, " is not in the vocabulary"));
    }
    tokens.push_back(*token);
  }
  return impl_->decoder.Decode(std::move(tokens));
}

absl::StatusOr<Tokenizer::DecodePart> Tokenizer::DecodePartOf(int32_t id,
                                                              bool skip_special_tokens) const {
  const std::string* token;
  if (auto it = impl_->added_by_id.find(id); it != impl_->added_by_id.end()) {
    if (skip_special_tokens && it->second->special) return DecodePart::kNothing;
    token = &it->second->content;  // the decoder sees an added token's content, as Decode does
  } else {
    token = impl_->model->IdToToken(id);
    if (token == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", id, " is not in the vocabulary"));
    }
  }
  return impl_->decoder.IsFallbackByte(*token) ? DecodePart::kByte : DecodePart::kText;
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  return impl_->TokenToId(token);
}

int32_t Tokenizer::id_end() const {
  int32_t end = impl_->model->id_end();
  for (const auto& [id, token] : impl_->added_by_id) end = std::max(end, id + 1);
  return end;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos_id; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos_id; }
bool Tokenizer::add_bos_token() const { return impl_->add_bos_token; }

}  // namespace tessera
