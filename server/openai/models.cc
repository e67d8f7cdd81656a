#include "server/openai/models.h"
namespace tessera::openai {
nlohmann::ordered_json ModelListJson(const ModelListing&) { return {}; }
}  // namespace tessera::openai
