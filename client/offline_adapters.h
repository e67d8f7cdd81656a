// The LoRA adapters of one `tessera generate` run: `--adapter NAME=DIR` folders loaded up front,
// `--adapter-dir DIR` for adapters loaded by name on first use, and the step that gives every
// request naming an adapter (`"adapter": NAME`) that adapter's weights.
//
// It wraps the daemon's AdapterRegistry with the PEFT loader, so names, folder resolution (no path
// separators, no symlinks leading out of the folder) and the checks against the model are the
// daemon's. Nothing unloads or evicts during an offline run, so one lease per adapter, held here
// for the run, pins what requests use; the requests' AdapterRefs share the weights and carry no
// pin, so they may outlive this object.
//
// Not thread-safe: the offline runner uses it from its one thread.
#ifndef TESSERA_CLIENT_OFFLINE_ADAPTERS_H_
#define TESSERA_CLIENT_OFFLINE_ADAPTERS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adapters/adapter_registry.h"
#include "engine/model_config.h"
#include "scheduler/request.h"

namespace tessera {

struct OfflineAdapterOptions {
  std::string adapter_dir;                                   // --adapter-dir; empty: none
  std::vector<std::pair<std::string, std::string>> preload;  // --adapter NAME=DIR, in order
  int32_t max_lora_rank = 64;                                // --max-lora-rank
};

// One `--adapter NAME=DIR`: InvalidArgument when the '=' is missing, either side is empty or the
// name is not a valid adapter name (adapters/adapter_name.h).
absl::StatusOr<std::pair<std::string, std::string>> ParseAdapterFlag(absl::string_view flag);

class OfflineAdapters {
 public:
  // Loads every preload adapter now, in order. Errors: InvalidArgument for a name given twice or
  // a malformed adapter, NotFound for a missing folder (the registry's messages, which name the
  // adapter and the loader's reason).
  static absl::StatusOr<std::unique_ptr<OfflineAdapters>> Create(const ModelConfig& model,
                                                                 const OfflineAdapterOptions& o);

  OfflineAdapters(const OfflineAdapters&) = delete;
  OfflineAdapters& operator=(const OfflineAdapters&) = delete;

  // Replaces `request.adapter`, a reference that names the adapter only (as ParseGenerateRequest
  // leaves it), with the loaded version's weights; loads DIR/<name> first when only the
  // --adapter-dir has it. A null adapter is left alone. Errors name the request: NotFound for an
  // adapter neither preloaded nor in the adapter dir, the loader's error for a malformed one.
  // An adapter's outcome is remembered: each name is loaded (or fails) once per run.
  absl::Status Resolve(GenerateRequest& request);

  // The adapters loaded so far, by name then owner (for the run's summary).
  std::vector<AdapterInfo> List() const;

 private:
  explicit OfflineAdapters(std::unique_ptr<AdapterRegistry> registry, bool has_adapter_dir);

  // The shared reference for `name`, or why there is none.
  absl::StatusOr<std::shared_ptr<const AdapterRef>> Get(const std::string& name);

  // Declared first, destroyed last: leases_ must go before the registry.
  std::unique_ptr<AdapterRegistry> registry_;
  const bool has_adapter_dir_;
  std::vector<AdapterLease> leases_;
  std::map<std::string, absl::StatusOr<std::shared_ptr<const AdapterRef>>> by_name_;
};

}  // namespace tessera

#endif  // TESSERA_CLIENT_OFFLINE_ADAPTERS_H_
