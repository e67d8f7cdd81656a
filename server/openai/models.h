// GET /v1/models in vLLM's shape: {"object": "list", "data": [{id, object "model", created,
// owned_by, root, parent, max_model_len, permission}]}. The base model comes first (parent
// null, root its path); each adapter the caller may use follows with parent = the base model's
// served name and root = the adapter's path.
//
// Stateless; thread-safe.
#ifndef TESSERA_SERVER_OPENAI_MODELS_H_
#define TESSERA_SERVER_OPENAI_MODELS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace tessera::openai {

struct ModelListing {
  std::string served_name;  // the base model's name in `model` fields
  std::string root;         // the base model's path
  int64_t max_model_len = 0;
  int64_t created = 0;  // Unix seconds
  std::string owned_by = "tessera";
  struct Adapter {
    std::string name;
    std::string path;
  };
  std::vector<Adapter> adapters;  // already filtered to what the caller may use
};

nlohmann::ordered_json ModelListJson(const ModelListing& listing);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_MODELS_H_
