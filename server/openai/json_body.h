// An HTTP request body -> a JSON object, for the OpenAI routes. The parsers of this folder take
// nlohmann::ordered_json so that objects keep the client's key order: chat templates render
// `tools` with tojson, whose output (and so the prompt) follows that order, as in vLLM.
//
// Stateless; thread-safe.
#ifndef TESSERA_SERVER_OPENAI_JSON_BODY_H_
#define TESSERA_SERVER_OPENAI_JSON_BODY_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera::openai {

// InvalidArgument when `body` is not JSON (naming the byte where it stops being JSON) or is not an
// object. Nesting deeper than 256 levels is refused too, so a hostile body cannot exhaust the
// stack of a later recursive walk.
absl::StatusOr<nlohmann::ordered_json> ParseJsonBody(std::string_view body);

// `j` as compact JSON text for a response body or an SSE event. Never throws: bytes that are not
// UTF-8 (which nlohmann's dump() throws on) become U+FFFD.
std::string SerializeJson(const nlohmann::ordered_json& j);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_JSON_BODY_H_
