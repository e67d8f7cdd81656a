// tessera.v1.Admin's sleep-mode calls (admin_service.h): Sleep, WakeUp, IsSleeping.
#include "absl/strings/str_cat.h"
#include "server/admin_service.h"
#include "server/grpc_status.h"

namespace tessera {

absl::Status AdminService::AdmitSleep(const grpc::CallbackServerContext* context) const {
  absl::StatusOr<Principal> caller = Authenticate(context);
  if (!caller.ok()) return caller.status();
  if (caller->role != Role::kAdmin) {
    return absl::PermissionDeniedError("sleep mode (Sleep, WakeUp, IsSleeping) needs an admin key");
  }
  if (sleep_ == nullptr) return absl::UnimplementedError("this daemon has no sleep mode");
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* AdminService::Sleep(grpc::CallbackServerContext* context,
                                              const v1::SleepRequest* request,
                                              v1::SleepResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = AdmitSleep(context);
  if (status.ok()) {
    absl::StatusOr<SleepLevel> level =
        SleepLevelFromInt(request->level() == 0 ? 1 : request->level());
    status = level.ok() ? sleep_->Sleep(*level) : level.status();
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::WakeUp(grpc::CallbackServerContext* context,
                                               const v1::WakeUpRequest* /*request*/,
                                               v1::WakeUpResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = AdmitSleep(context);
  if (status.ok()) {
    absl::StatusOr<absl::Duration> took = sleep_->WakeUp();
    status = took.status();
    if (took.ok()) response->set_wake_seconds(absl::ToDoubleSeconds(*took));
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::IsSleeping(grpc::CallbackServerContext* context,
                                                   const v1::IsSleepingRequest* /*request*/,
                                                   v1::IsSleepingResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = AdmitSleep(context);
  if (status.ok()) {
    const SleepLevel level = sleep_->level();
    response->set_is_sleeping(level != SleepLevel::kAwake);
    response->set_level(static_cast<int32_t>(level));
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace tessera
