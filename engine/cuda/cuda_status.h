// CUDA runtime errors as absl::Status: every CUDA call and kernel launch in tessera is checked and
// its failure becomes a Status naming the call (exit code 0 proves nothing). Including this header
// brings the engine's status macros too (engine/status_macros.h), the one definition of each.
#ifndef TESSERA_ENGINE_CUDA_CUDA_STATUS_H_
#define TESSERA_ENGINE_CUDA_CUDA_STATUS_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"  // TESSERA_RETURN_IF_ERROR beside the CUDA macro

namespace tessera {

inline absl::Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, ": ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")"));
}

}  // namespace tessera

// Returns from the enclosing function with a Status when `call` fails.
#define TESSERA_CUDA_RETURN_IF_ERROR(call)                                        \
  do {                                                                            \
    if (absl::Status tessera_cuda_status_ = ::tessera::CudaStatus((call), #call); \
        !tessera_cuda_status_.ok())                                               \
      return tessera_cuda_status_;                                                \
  } while (0)

#endif  // TESSERA_ENGINE_CUDA_CUDA_STATUS_H_
