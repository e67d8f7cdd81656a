#include "adapters/peft_adapter_loader.h"

namespace tessera {

AdapterLoader PeftAdapterLoader(const ModelConfig& model, const PeftLoadOptions& options) {
  return [model, options](const std::filesystem::path& dir) -> absl::StatusOr<LoadedAdapter> {
    absl::StatusOr<PeftAdapter> a = LoadPeftAdapter(dir.string(), model, options);
    if (!a.ok()) return a.status();
    return LoadedAdapter{a->weights, a->digest, a->max_rank, a->num_bytes};
  };
}

}  // namespace tessera
