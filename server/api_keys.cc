#include "server/api_keys.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace tessera {

absl::string_view RoleName(Role role) { return role == Role::kAdmin ? "admin" : "user"; }

bool IsValidTenantName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<ApiKeys> ApiKeys::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--api-keys ", path, ": cannot open"));
  std::ostringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

absl::StatusOr<ApiKeys> ApiKeys::Parse(absl::string_view json_text, absl::string_view source) {
  auto fail = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", parts...));
  };
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail("not valid JSON");
  if (!doc.is_object()) return fail("expected a JSON object with \"keys\"");
  for (const auto& [field, value] : doc.items()) {
    if (field != "keys" && field != "tenants") {
      return fail("unknown field \"", field, "\" (expected \"keys\" and \"tenants\")");
    }
  }
  if (!doc.contains("keys") || !doc["keys"].is_array() || doc["keys"].empty()) {
    return fail("\"keys\" must be a non-empty array");
  }
  ApiKeys out;
  const nlohmann::json& keys = doc["keys"];
  for (size_t i = 0; i < keys.size(); ++i) {
    const nlohmann::json& k = keys[i];
    const std::string where = absl::StrCat("keys[", i, "]");
    if (!k.is_object()) return fail(where, " must be an object");
    for (const auto& [field, value] : k.items()) {
      if (field != "key" && field != "tenant" && field != "role") {
        return fail(where, ": unknown field \"", field, "\"");
      }
    }
    if (!k.contains("key") || !k["key"].is_string() || k["key"].get<std::string>().empty()) {
      return fail(where, ".key must be a non-empty string");
    }
    if (!k.contains("tenant") || !k["tenant"].is_string() ||
        !IsValidTenantName(k["tenant"].get<std::string>())) {
      return fail(where, ".tenant must be 1-64 characters of [A-Za-z0-9._-]");
    }
    Principal p;
    p.tenant = k["tenant"].get<std::string>();
    if (k.contains("role")) {
      const std::string role = k["role"].is_string() ? k["role"].get<std::string>() : "";
      if (role == "admin") {
        p.role = Role::kAdmin;
      } else if (role != "user") {
        return fail(where, ".role must be \"user\" or \"admin\"");
      }
    }
    const std::string key = k["key"].get<std::string>();
    if (!out.keys_.emplace(key, std::move(p)).second) {
      return fail(where, ".key repeats an earlier key");
    }
  }
  if (doc.contains("tenants")) {
    const nlohmann::json& tenants = doc["tenants"];
    if (!tenants.is_object()) return fail("\"tenants\" must be an object");
    for (const auto& [name, policy] : tenants.items()) {
      const std::string where = absl::StrCat("tenants.", name);
      if (!IsValidTenantName(name)) return fail(where, ": invalid tenant name");
      if (!policy.is_object()) return fail(where, " must be an object");
      TenantPolicy tp;
      // An integer field in [lo, hi], or the error naming it.
      auto integer = [&](const std::string& field, const nlohmann::json& value, int64_t lo,
                         int64_t hi) -> absl::StatusOr<int64_t> {
        if (!value.is_number_integer() || value.get<int64_t>() < lo || value.get<int64_t>() > hi) {
          return fail(where, ".", field, " must be an integer in [", lo, ", ", hi, "]");
        }
        return value.get<int64_t>();
      };
      for (const auto& [field, value] : policy.items()) {
        if (field == "weight") {
          if (!value.is_number() || !(value.get<double>() > 0) || value.get<double>() > 1e6) {
            return fail(where, ".weight must be a number in (0, 1000000]");
          }
          tp.weight = value.get<double>();
          continue;
        }
        absl::StatusOr<int64_t> v;
        if (field == "max_in_flight") {
          v = integer(field, value, 1, 1'000'000);
          if (v.ok()) tp.max_in_flight = static_cast<int32_t>(*v);
        } else if (field == "ttft_target_ms" || field == "tpot_target_ms") {
          v = integer(field, value, 1, 3'600'000);
          if (v.ok()) {
            (field == "ttft_target_ms" ? tp.ttft_target : tp.tpot_target) = absl::Milliseconds(*v);
          }
        } else if (field == "tokens_per_minute") {
          v = integer(field, value, 1, int64_t{1} << 40);
          if (v.ok()) tp.tokens_per_minute = *v;
        } else {
          return fail(where, ": unknown field \"", field,
                      "\" (expected max_in_flight, ttft_target_ms, tpot_target_ms, weight, "
                      "tokens_per_minute)");
        }
        if (!v.ok()) return v.status();
      }
      out.tenants_[name] = tp;
    }
  }
  return out;
}

const Principal* ApiKeys::Find(absl::string_view key) const {
  auto it = keys_.find(key);
  return it == keys_.end() ? nullptr : &it->second;
}

}  // namespace tessera
