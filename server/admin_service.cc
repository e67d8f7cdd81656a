#include "server/admin_service.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "adapters/adapter_name.h"
#include "server/grpc_status.h"
#include "server/metadata_limit.h"

namespace tessera {

void ToAdapterStatus(const AdapterInfo& info, v1::AdapterStatus* out) {
  out->set_name(info.name);
  out->set_owner(info.owner);
  out->set_state(std::string(AdapterStateName(info.state)));
  out->set_tier(std::string(AdapterTierName(info.tier)));
  out->set_rank(info.rank);
  out->set_bytes(info.bytes);
  out->set_refcount(info.refcount);
  out->set_served(info.served);
  out->set_version(info.version);
  out->set_digest(info.digest);
  out->set_last_error(info.last_error);
}

AdminService::AdminService(AdapterRegistry* registry, const Authenticator* authenticator,
                           const std::atomic<bool>* draining, bool has_adapter_dir,
                           int64_t max_metadata_bytes, SleepController* sleep)
    : registry_(registry),
      authenticator_(authenticator),
      draining_(draining),
      has_adapter_dir_(has_adapter_dir),
      max_metadata_bytes_(max_metadata_bytes),
      sleep_(sleep) {}

absl::StatusOr<Principal> AdminService::Admit(const grpc::CallbackServerContext* context) const {
  absl::StatusOr<Principal> p = Authenticate(context);
  if (p.ok() && registry_ == nullptr) {
    return absl::FailedPreconditionError(
        "this daemon serves no LoRA adapters (its engine has no adapter slots)");
  }
  return p;
}

absl::StatusOr<Principal> AdminService::Authenticate(
    const grpc::CallbackServerContext* context) const {
  if (draining_->load(std::memory_order_acquire)) {
    return absl::UnavailableError("the server is draining");
  }
  if (absl::Status s = CheckMetadataSize(*context, max_metadata_bytes_); !s.ok()) return s;
  const auto& metadata = context->client_metadata();
  std::optional<absl::string_view> authorization;
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  return authenticator_->Authenticate(authorization);
}

absl::StatusOr<AdapterInfo> AdminService::Load(const Principal& caller,
                                               const v1::LoadAdapterRequest& request) {
  if (absl::Status s = ValidateAdapterName(request.name()); !s.ok()) return s;
  const bool admin = caller.role == Role::kAdmin;
  if (!admin && !request.path().empty()) {
    return absl::PermissionDeniedError(
        "loading from a server path needs the admin role; load by name from --adapter-dir");
  }
  if (!admin && !request.owner().empty() && request.owner() != caller.tenant) {
    return absl::PermissionDeniedError("a tenant loads only its own adapters: leave owner empty");
  }
  // A tenant's adapters are its own; an admin's are public unless it names an owner.
  const std::string owner = admin ? request.owner() : caller.tenant;
  if (!request.owner().empty() && !IsValidTenantName(request.owner())) {
    return absl::InvalidArgumentError("owner must be a tenant name: 1-64 of [A-Za-z0-9._-]");
  }
  if (request.path().empty()) {
    if (!has_adapter_dir_) {
      return absl::FailedPreconditionError(
          "no --adapter-dir: an admin must give the adapter's path");
    }
    return registry_->LoadByName(request.name(), owner);
  }
  return registry_->Load({request.name(), request.path(), owner});
}

absl::Status AdminService::Unload(const Principal& caller,
                                  const v1::UnloadAdapterRequest& request) {
  if (absl::Status s = ValidateAdapterName(request.name()); !s.ok()) return s;
  const bool admin = caller.role == Role::kAdmin;
  AdapterKey key;
  key.name = request.name();
  key.owner = admin ? request.owner() : caller.tenant;
  if (!admin && !request.owner().empty() && request.owner() != caller.tenant) {
    return AdapterNotFoundError(request.name());  // as if it did not exist
  }
  const absl::Duration timeout = request.wait_timeout_ms() > 0
                                     ? absl::Milliseconds(request.wait_timeout_ms())
                                     : absl::InfiniteDuration();
  return registry_->Unload({caller.tenant, admin}, key,
                           request.wait() ? UnloadMode::kWait : UnloadMode::kRefuseIfInUse,
                           timeout);
}

grpc::ServerUnaryReactor* AdminService::LoadAdapter(grpc::CallbackServerContext* context,
                                                    const v1::LoadAdapterRequest* request,
                                                    v1::AdapterStatus* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = Admit(context);
  absl::Status status = caller.status();
  if (status.ok()) {
    absl::StatusOr<AdapterInfo> info = Load(*caller, *request);
    status = info.status();
    if (info.ok()) ToAdapterStatus(*info, response);
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::UnloadAdapter(grpc::CallbackServerContext* context,
                                                      const v1::UnloadAdapterRequest* request,
                                                      v1::UnloadAdapterResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = Admit(context);
  absl::Status status = caller.status();
  if (status.ok()) status = Unload(*caller, *request);
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ListAdapters(grpc::CallbackServerContext* context,
                                                     const v1::ListAdaptersRequest* /*request*/,
                                                     v1::ListAdaptersResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> caller = Admit(context);
  if (caller.ok()) {
    for (const AdapterInfo& info :
         registry_->List({caller->tenant, caller->role == Role::kAdmin})) {
      ToAdapterStatus(info, response->add_adapters());
    }
  }
  reactor->Finish(ToGrpcStatus(caller.status()));
  return reactor;
}

}  // namespace tessera
