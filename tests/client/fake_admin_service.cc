#include "tests/client/fake_admin_service.h"

#include <chrono>
#include <thread>

namespace tessera {

std::optional<std::string> AuthorizationOf(const ::grpc::ServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

::grpc::Status CheckBearer(const std::optional<std::string>& authorization,
                           const std::string& required) {
  if (!required.empty() && authorization != "Bearer " + required) {
    return {::grpc::StatusCode::UNAUTHENTICATED, "missing or unknown API key"};
  }
  return ::grpc::Status::OK;
}

::grpc::Status FakeAdminService::Authorize(const ::grpc::ServerContext& context) {
  std::optional<std::string> authorization = AuthorizationOf(context);
  {
    absl::MutexLock lock(&mu_);
    last_authorization_ = authorization;
  }
  return CheckBearer(authorization, required_api_key);
}

::grpc::Status FakeAdminService::LoadAdapter(::grpc::ServerContext* context,
                                             const v1::LoadAdapterRequest* request,
                                             v1::AdapterStatus* response) {
  if (::grpc::Status s = Authorize(*context); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    last_load_request_ = *request;
  }
  if (request->name().empty()) {
    return {::grpc::StatusCode::INVALID_ARGUMENT, "adapter name is empty"};
  }
  if (request->path() == "/missing") {
    return {::grpc::StatusCode::NOT_FOUND,
            "adapter " + request->name() + ": /missing/adapter_config.json: cannot open"};
  }
  if (request->name() == "hold") {
    // The sync API has no cancellation callback; the bound keeps a broken client from hanging.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!context->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (context->IsCancelled()) hold_cancelled.Notify();
    return ::grpc::Status::CANCELLED;
  }
  v1::AdapterStatus status;
  status.set_name(request->name());
  status.set_owner(request->owner());
  status.set_state("host");
  status.set_tier("host");
  status.set_rank(8);
  status.set_bytes(8 * 64 * 2 * 4);
  status.set_digest("00ff");
  absl::MutexLock lock(&mu_);
  status.set_version(next_version_++);
  adapters_[{request->name(), request->owner()}] = status;
  *response = status;
  return ::grpc::Status::OK;
}

::grpc::Status FakeAdminService::UnloadAdapter(::grpc::ServerContext* context,
                                               const v1::UnloadAdapterRequest* request,
                                               v1::UnloadAdapterResponse* /*response*/) {
  if (::grpc::Status s = Authorize(*context); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  last_unload_request_ = *request;
  auto it = adapters_.find({request->name(), request->owner()});
  if (it == adapters_.end()) {
    return {::grpc::StatusCode::NOT_FOUND, "adapter " + request->name() + " not found"};
  }
  if (it->second.refcount() > 0 && !request->wait()) {
    return {::grpc::StatusCode::FAILED_PRECONDITION,
            "adapter " + request->name() + " is in use by " +
                std::to_string(it->second.refcount()) + " requests"};
  }
  adapters_.erase(it);
  return ::grpc::Status::OK;
}

::grpc::Status FakeAdminService::ListAdapters(::grpc::ServerContext* context,
                                              const v1::ListAdaptersRequest* /*request*/,
                                              v1::ListAdaptersResponse* response) {
  if (::grpc::Status s = Authorize(*context); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  for (const auto& [key, status] : adapters_) *response->add_adapters() = status;
  return ::grpc::Status::OK;
}

void FakeAdminService::Put(const v1::AdapterStatus& status) {
  absl::MutexLock lock(&mu_);
  adapters_[{status.name(), status.owner()}] = status;
}

std::optional<std::string> FakeAdminService::last_authorization() const {
  absl::MutexLock lock(&mu_);
  return last_authorization_;
}

v1::LoadAdapterRequest FakeAdminService::last_load_request() const {
  absl::MutexLock lock(&mu_);
  return last_load_request_;
}

v1::UnloadAdapterRequest FakeAdminService::last_unload_request() const {
  absl::MutexLock lock(&mu_);
  return last_unload_request_;
}

}  // namespace tessera
