#include "server/openai/response_common.h"
namespace tessera::openai {
std::string NewResponseId(std::string_view prefix) { return std::string(prefix); }
int64_t UnixSecondsNow() { return 0; }
nlohmann::ordered_json UsageJson(int64_t, int64_t) { return {}; }
nlohmann::ordered_json FinishReasonJson(v1::FinishReason) { return {}; }
}  // namespace tessera::openai
