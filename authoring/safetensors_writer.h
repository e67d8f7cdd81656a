// Writes safetensors files: the header as the format's reference implementation lays it out
// (JSON padded with spaces to a multiple of 8 bytes), tensors in the order given.
#ifndef TESSERA_AUTHORING_SAFETENSORS_WRITER_H_
#define TESSERA_AUTHORING_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/dtype.h"

namespace tessera {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string bytes;  // little-endian elements; size must equal elements x DTypeSize(dtype)
};

// The whole file image in memory.
absl::StatusOr<std::string> SerializeSafetensors(
    const std::vector<TensorToWrite>& tensors,
    const std::map<std::string, std::string>& metadata = {});

// Writes atomically: a temporary file beside `path`, then a rename.
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

// Writes `contents` to `path` atomically (temporary file + rename).
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace tessera

#endif  // TESSERA_AUTHORING_SAFETENSORS_WRITER_H_
