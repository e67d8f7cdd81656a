// tessera.v1.Admin on the gRPC callback API: loads, unloads and lists LoRA adapters in the
// registry, with the roles of the caller's API key (admin.proto says who may do what), and puts
// the server to sleep and wakes it (admin keys only; admin_sleep.cc).
//
// Loads, waiting unloads, sleeps and wakes block the gRPC thread that runs them (disk reads,
// in-flight requests); they are rare operator calls, and requests never wait on them: Generate
// keeps using the current version until a new one is installed.
//
// Thread-safe; everything it points to must outlive the gRPC server.
#ifndef TESSERA_SERVER_ADMIN_SERVICE_H_
#define TESSERA_SERVER_ADMIN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <filesystem>

#include "adapters/adapter_registry.h"
#include "server/authenticator.h"
#include "server/sleep_controller.h"
#include "tessera/v1/admin.grpc.pb.h"

namespace tessera {

class AdminService final : public v1::Admin::CallbackService {
 public:
  // `registry` may be null: the engine serves no adapters, and every call is FAILED_PRECONDITION.
  // Calls whose metadata is over `max_metadata_bytes` are RESOURCE_EXHAUSTED (metadata_limit.h).
  // `sleep` may be null: the sleep RPCs are then UNIMPLEMENTED.
  AdminService(AdapterRegistry* registry, const Authenticator* authenticator,
               const std::atomic<bool>* draining, bool has_adapter_dir, int64_t max_metadata_bytes,
               SleepController* sleep = nullptr);

  grpc::ServerUnaryReactor* LoadAdapter(grpc::CallbackServerContext* context,
                                        const v1::LoadAdapterRequest* request,
                                        v1::AdapterStatus* response) override;
  grpc::ServerUnaryReactor* UnloadAdapter(grpc::CallbackServerContext* context,
                                          const v1::UnloadAdapterRequest* request,
                                          v1::UnloadAdapterResponse* response) override;
  grpc::ServerUnaryReactor* ListAdapters(grpc::CallbackServerContext* context,
                                         const v1::ListAdaptersRequest* request,
                                         v1::ListAdaptersResponse* response) override;
  grpc::ServerUnaryReactor* Sleep(grpc::CallbackServerContext* context,
                                  const v1::SleepRequest* request,
                                  v1::SleepResponse* response) override;
  grpc::ServerUnaryReactor* WakeUp(grpc::CallbackServerContext* context,
                                   const v1::WakeUpRequest* request,
                                   v1::WakeUpResponse* response) override;
  grpc::ServerUnaryReactor* IsSleeping(grpc::CallbackServerContext* context,
                                       const v1::IsSleepingRequest* request,
                                       v1::IsSleepingResponse* response) override;

 private:
  // The caller of an adapter call (FAILED_PRECONDITION without a registry).
  absl::StatusOr<Principal> Admit(const grpc::CallbackServerContext* context) const;
  // Drain, metadata size and API key, for every call.
  absl::StatusOr<Principal> Authenticate(const grpc::CallbackServerContext* context) const;
  // The sleep calls: an admin key, and a daemon with sleep mode.
  absl::Status AdmitSleep(const grpc::CallbackServerContext* context) const;
  absl::StatusOr<AdapterInfo> Load(const Principal& caller, const v1::LoadAdapterRequest& request);
  absl::Status Unload(const Principal& caller, const v1::UnloadAdapterRequest& request);

  AdapterRegistry* const registry_;
  const Authenticator* const authenticator_;
  const std::atomic<bool>* const draining_;
  const bool has_adapter_dir_;
  const int64_t max_metadata_bytes_;
  SleepController* const sleep_;
};

// The registry's view of an adapter as the wire message.
void ToAdapterStatus(const AdapterInfo& info, v1::AdapterStatus* out);

}  // namespace tessera

#endif  // TESSERA_SERVER_ADMIN_SERVICE_H_
