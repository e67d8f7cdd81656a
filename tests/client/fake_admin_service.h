// An in-process tessera.v1.Admin for the SDK's tests: a map of adapters that LoadAdapter,
// UnloadAdapter and ListAdapters act on, with the daemon's error codes, recording what it was
// sent. FakeInferenceServer serves it next to its Inference fake.
//
// LoadAdapter: an empty name fails INVALID_ARGUMENT; path "/missing" fails NOT_FOUND; name "hold"
//   waits for the call to be cancelled (by its deadline) and notifies `hold_cancelled`; otherwise
//   registers or replaces (owner, name) as "host", rank 8, with the next version.
// UnloadAdapter: NOT_FOUND for an unknown (owner, name); FAILED_PRECONDITION when its refcount is
//   above 0 and the call does not wait; else removes it.
// ListAdapters: every adapter, by name then owner.
// Every call fails UNAUTHENTICATED when `required_api_key` is set and the call's authorization
// metadata is not "Bearer <that key>".
//
// Thread-safety: handlers run on the server's threads; the adapter map and the recorded requests
// are guarded; tests set `required_api_key` before calls.
#ifndef TESSERA_TESTS_CLIENT_FAKE_ADMIN_SERVICE_H_
#define TESSERA_TESTS_CLIENT_FAKE_ADMIN_SERVICE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/grpcpp.h"
#include "tessera/v1/admin.grpc.pb.h"

namespace tessera {

// The call's `authorization` metadata (nullopt without one), and UNAUTHENTICATED unless it is
// "Bearer <required>" when `required` is non-empty. Shared by the fakes.
std::optional<std::string> AuthorizationOf(const ::grpc::ServerContext& context);
::grpc::Status CheckBearer(const std::optional<std::string>& authorization,
                           const std::string& required);

class FakeAdminService final : public v1::Admin::Service {
 public:
  ::grpc::Status LoadAdapter(::grpc::ServerContext* context, const v1::LoadAdapterRequest* request,
                             v1::AdapterStatus* response) override;
  ::grpc::Status UnloadAdapter(::grpc::ServerContext* context,
                               const v1::UnloadAdapterRequest* request,
                               v1::UnloadAdapterResponse* response) override;
  ::grpc::Status ListAdapters(::grpc::ServerContext* context,
                              const v1::ListAdaptersRequest* request,
                              v1::ListAdaptersResponse* response) override;

  // Registers `status` as it is (e.g. with a refcount, to make unloads refuse).
  void Put(const v1::AdapterStatus& status);
  std::optional<std::string> last_authorization() const;
  v1::LoadAdapterRequest last_load_request() const;
  v1::UnloadAdapterRequest last_unload_request() const;

  std::string required_api_key;
  absl::Notification hold_cancelled;

 private:
  ::grpc::Status Authorize(const ::grpc::ServerContext& context);

  mutable absl::Mutex mu_;
  // By (name, owner): the listing order.
  std::map<std::pair<std::string, std::string>, v1::AdapterStatus> adapters_ ABSL_GUARDED_BY(mu_);
  uint64_t next_version_ ABSL_GUARDED_BY(mu_) = 1;
  std::optional<std::string> last_authorization_ ABSL_GUARDED_BY(mu_);
  v1::LoadAdapterRequest last_load_request_ ABSL_GUARDED_BY(mu_);
  v1::UnloadAdapterRequest last_unload_request_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera

#endif  // TESSERA_TESTS_CLIENT_FAKE_ADMIN_SERVICE_H_
