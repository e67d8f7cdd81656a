#include "server/openai/json_body.h"

#include <cstddef>

#include "absl/strings/str_cat.h"

namespace tessera::openai {
namespace {

constexpr int kMaxDepth = 256;

}  // namespace

absl::StatusOr<nlohmann::ordered_json> ParseJsonBody(std::string_view body) {
  // The SAX callback sees each nesting level before the parser builds it, so a deep body is
  // refused before it costs memory (and before any recursive destructor can overflow the stack).
  int depth = 0;
  bool too_deep = false;
  nlohmann::ordered_json::parser_callback_t limit_depth =
      [&](int /*d*/, nlohmann::ordered_json::parse_event_t event, nlohmann::ordered_json&) {
        using Event = nlohmann::ordered_json::parse_event_t;
        if (event == Event::object_start || event == Event::array_start) {
          if (++depth > kMaxDepth) too_deep = true;
        } else if (event == Event::object_end || event == Event::array_end) {
          --depth;
        }
        return !too_deep;
      };
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(body.begin(), body.end(), limit_depth);
  } catch (const nlohmann::json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body is not valid JSON (at byte ", e.byte, ")"));
  } catch (const nlohmann::json::out_of_range&) {
    // A number too large for a double (1e999): nlohmann throws this instead of parse_error.
    return absl::InvalidArgumentError("the request body is not valid JSON (number out of range)");
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body is not valid JSON (", e.what(), ")"));
  }
  if (too_deep) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body nests deeper than ", kMaxDepth, " levels"));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object, not ", j.type_name()));
  }
  return j;
}

std::string SerializeJson(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace tessera::openai
