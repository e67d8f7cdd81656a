// vLLM's dynamic LoRA routes' bodies: POST /v1/load_lora_adapter {lora_name, lora_path} and
// POST /v1/unload_lora_adapter {lora_name} (vLLM's optional lora_int_id is accepted and
// ignored). Both answer 200 with plain text, as vLLM does.
//
// Stateless; thread-safe.
#ifndef TESSERA_SERVER_OPENAI_LORA_REQUESTS_H_
#define TESSERA_SERVER_OPENAI_LORA_REQUESTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera::openai {

struct LoadLoraCall {
  std::string lora_name;
  std::string lora_path;
};

struct UnloadLoraCall {
  std::string lora_name;
};

// InvalidArgument naming lora_name / lora_path when missing, empty or not strings.
absl::StatusOr<LoadLoraCall> ParseLoadLoraRequest(const nlohmann::ordered_json& body);
absl::StatusOr<UnloadLoraCall> ParseUnloadLoraRequest(const nlohmann::ordered_json& body);

// "Success: LoRA adapter '<name>' added successfully." / "... removed successfully."
std::string LoadLoraSuccessText(const std::string& lora_name);
std::string UnloadLoraSuccessText(const std::string& lora_name);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_LORA_REQUESTS_H_
