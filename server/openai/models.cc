#include "server/openai/models.h"

#include <utility>

#include "server/openai/response_common.h"

namespace tessera::openai {
namespace {

using Json = nlohmann::ordered_json;

// vLLM's ModelPermission with its defaults; clients read none of it, but some check it exists.
Json Permission(int64_t created) {
  Json p;
  p["id"] = NewResponseId("modelperm-");
  p["object"] = "model_permission";
  p["created"] = created;
  p["allow_create_engine"] = false;
  p["allow_sampling"] = true;
  p["allow_logprobs"] = true;
  p["allow_search_indices"] = false;
  p["allow_view"] = true;
  p["allow_fine_tuning"] = false;
  p["organization"] = "*";
  p["group"] = nullptr;
  p["is_blocking"] = false;
  return p;
}

Json Card(const ModelListing& listing, const std::string& id, const std::string& root, Json parent,
          Json max_model_len) {
  Json card;
  card["id"] = id;
  card["object"] = "model";
  card["created"] = listing.created;
  card["owned_by"] = listing.owned_by;
  card["root"] = root;
  card["parent"] = std::move(parent);
  card["max_model_len"] = std::move(max_model_len);
  card["permission"] = Json::array({Permission(listing.created)});
  return card;
}

}  // namespace

Json ModelListJson(const ModelListing& listing) {
  Json data = Json::array();
  data.push_back(Card(listing, listing.served_name, listing.root, nullptr, listing.max_model_len));
  // An adapter's context is its base model's; vLLM leaves max_model_len null for adapters.
  for (const ModelListing::Adapter& a : listing.adapters) {
    data.push_back(Card(listing, a.name, a.path, listing.served_name, nullptr));
  }
  Json out;
  out["object"] = "list";
  out["data"] = std::move(data);
  return out;
}

}  // namespace tessera::openai
