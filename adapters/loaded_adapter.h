// What a loader hands the registry for one adapter folder, and the loader's signature.
//
// The daemon plugs in the PEFT loader (adapter_config.json + adapter_model.safetensors, checked
// against the base model); tests plug in fakes. A loader is called without the registry's lock,
// possibly from several threads at once (for different adapters), so it must be thread-safe.
#ifndef TESSERA_ADAPTERS_LOADED_ADAPTER_H_
#define TESSERA_ADAPTERS_LOADED_ADAPTER_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/lora_weights.h"

namespace tessera {

struct LoadedAdapter {
  std::shared_ptr<const LoraWeights> weights;  // never null on success
  std::string digest;                          // of the adapter's files, e.g. "sha256:..."
  int32_t rank = 0;                            // the largest rank of any module
  int64_t bytes = 0;  // host memory the weights take (the cache charges it)
};

// Loads the adapter folder `dir`. InvalidArgument for a malformed adapter (saying why), NotFound
// for missing files; the registry passes the status on with the adapter's name in front.
using AdapterLoader =
    std::function<absl::StatusOr<LoadedAdapter>(const std::filesystem::path& dir)>;

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_LOADED_ADAPTER_H_
