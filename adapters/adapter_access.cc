#include "adapters/adapter_access.h"

namespace tessera {

bool CanUseAdapter(const AdapterCaller& caller, const AdapterKey& key) {
  return key.is_public() || key.owner == caller.tenant;
}

bool CanListAdapter(const AdapterCaller& caller, const AdapterKey& key) {
  return caller.admin || CanUseAdapter(caller, key);
}

bool CanUnloadAdapter(const AdapterCaller& caller, const AdapterKey& key) {
  return caller.admin || (!key.is_public() && key.owner == caller.tenant);
}

}  // namespace tessera
