// The registry's AdapterLoader for PEFT adapter folders on one base model: what the daemon and the
// offline runner both plug into their AdapterRegistry.
//
// The returned loader holds copies of the model config and the options; it is thread-safe, as
// AdapterLoader requires (LoadPeftAdapter shares no state).
#ifndef TESSERA_ADAPTERS_PEFT_ADAPTER_LOADER_H_
#define TESSERA_ADAPTERS_PEFT_ADAPTER_LOADER_H_

#include "adapters/loaded_adapter.h"
#include "adapters/peft_loader.h"
#include "engine/model_config.h"

namespace tessera {

// Loads a folder with LoadPeftAdapter, checked against `model`, and hands the registry its
// weights, digest, largest rank and fp32 bytes.
AdapterLoader PeftAdapterLoader(const ModelConfig& model, const PeftLoadOptions& options);

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_PEFT_ADAPTER_LOADER_H_
