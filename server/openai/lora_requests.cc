#include "server/openai/lora_requests.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/openai/openai_error.h"
#include "server/openai/request_fields.h"

namespace tessera::openai {
namespace {

absl::StatusOr<std::string> RequiredString(const Json& body, std::string_view name) {
  TESSERA_OPENAI_ASSIGN_OR_RETURN(value, GetString(body, name));
  if (!value.has_value() || value->empty()) {
    return InvalidParam(name, absl::StrCat(std::string(name), " is required"));
  }
  return *std::move(value);
}

}  // namespace

absl::StatusOr<LoadLoraCall> ParseLoadLoraRequest(const Json& body) {
  if (!body.is_object()) return InvalidParam("", "the request body must be a JSON object");
  LoadLoraCall call;
  TESSERA_OPENAI_ASSIGN_OR_RETURN(name, RequiredString(body, "lora_name"));
  TESSERA_OPENAI_ASSIGN_OR_RETURN(path, RequiredString(body, "lora_path"));
  call.lora_name = std::move(name);
  call.lora_path = std::move(path);
  return call;
}

absl::StatusOr<UnloadLoraCall> ParseUnloadLoraRequest(const Json& body) {
  if (!body.is_object()) return InvalidParam("", "the request body must be a JSON object");
  UnloadLoraCall call;
  TESSERA_OPENAI_ASSIGN_OR_RETURN(name, RequiredString(body, "lora_name"));
  call.lora_name = std::move(name);
  return call;
}

std::string LoadLoraSuccessText(const std::string& lora_name) {
  return absl::StrCat("Success: LoRA adapter '", lora_name, "' added successfully.");
}

std::string UnloadLoraSuccessText(const std::string& lora_name) {
  return absl::StrCat("Success: LoRA adapter '", lora_name, "' removed successfully.");
}

}  // namespace tessera::openai
