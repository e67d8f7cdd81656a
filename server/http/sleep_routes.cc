#include "server/http/sleep_routes.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "server/openai/openai_error.h"

namespace tessera {
namespace {

HttpResponse Error(const absl::Status& s) {
  openai::OpenAiError e = openai::FromStatus(s);
  // A state conflict (requests in flight, asleep at the other level), not a bad request.
  if (s.code() == absl::StatusCode::kFailedPrecondition) e.http_status = 409;
  return HttpResponse::Json(e.http_status, openai::ToJson(e).dump());
}

// The caller must hold an admin key; the answer when not.
absl::Status AdmitAdmin(const SleepRoutesDeps& deps, const HttpRequest& request) {
  EdgeCaller caller;
  if (request.HasHeader("Authorization")) caller.authorization = request.Header("Authorization");
  absl::StatusOr<Principal> p = deps.edge->Admit(caller);
  if (!p.ok()) return p.status();
  if (p->role != Role::kAdmin) {
    return absl::PermissionDeniedError(
        "sleep mode (/sleep, /wake_up, /is_sleeping) needs an admin key");
  }
  return absl::OkStatus();
}

// The query's `level` (1 when absent); InvalidArgument naming it when it is not 1 or 2.
absl::StatusOr<SleepLevel> LevelOf(const std::string& query) {
  int64_t level = 1;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.first != "level") continue;
    if (!absl::SimpleAtoi(kv.second, &level)) {
      return absl::InvalidArgumentError(
          absl::StrCat("level must be 1 or 2, got \"", kv.second, "\""));
    }
  }
  return SleepLevelFromInt(level);
}

HttpResponse Sleep(const SleepRoutesDeps& deps, const HttpRequest& request) {
  if (absl::Status s = AdmitAdmin(deps, request); !s.ok()) return Error(s);
  absl::StatusOr<SleepLevel> level = LevelOf(request.query);
  if (!level.ok()) return Error(level.status());
  if (absl::Status s = deps.sleep->Sleep(*level); !s.ok()) return Error(s);
  return HttpResponse::Json(
      200, nlohmann::json{{"is_sleeping", true}, {"level", static_cast<int>(*level)}}.dump());
}

HttpResponse WakeUp(const SleepRoutesDeps& deps, const HttpRequest& request) {
  if (absl::Status s = AdmitAdmin(deps, request); !s.ok()) return Error(s);
  absl::StatusOr<absl::Duration> took = deps.sleep->WakeUp();
  if (!took.ok()) return Error(took.status());
  return HttpResponse::Json(
      200, nlohmann::json{{"is_sleeping", false}, {"wake_seconds", absl::ToDoubleSeconds(*took)}}
               .dump());
}

HttpResponse IsSleeping(const SleepRoutesDeps& deps, const HttpRequest& request) {
  if (absl::Status s = AdmitAdmin(deps, request); !s.ok()) return Error(s);
  const SleepLevel level = deps.sleep->level();
  return HttpResponse::Json(200, nlohmann::json{{"is_sleeping", level != SleepLevel::kAwake},
                                                {"level", static_cast<int>(level)}}
                                     .dump());
}

}  // namespace

void AddSleepRoutes(const SleepRoutesDeps& deps, HttpRouter& router) {
  if (deps.sleep == nullptr) return;
  router.Add("POST", "/sleep", [deps](const HttpRequest& r) { return Sleep(deps, r); });
  router.Add("POST", "/wake_up", [deps](const HttpRequest& r) { return WakeUp(deps, r); });
  router.Add("GET", "/is_sleeping", [deps](const HttpRequest& r) { return IsSleeping(deps, r); });
}

}  // namespace tessera
