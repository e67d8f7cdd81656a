// A read-only, memory-mapped safetensors file that treats its input as hostile.
//
// Format: 8-byte little-endian header length N, N bytes of JSON mapping tensor names to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the byte after the header),
// optional "__metadata__" (string -> string), then the data.
//
// Open() validates everything before handing out a view: header length against the file size and a
// cap, well-formed JSON of the expected shape, known dtype, shape x dtype size equal to the byte
// range (overflow-checked), ranges inside the data region and not overlapping, no duplicate names.
// Every failure is an absl::Status whose message names the file and, where one is involved, the
// tensor.
//
// Thread-safe after Open (immutable). Tensor views stay valid as long as the SafetensorsFile lives.
#ifndef TESSERA_ENGINE_SAFETENSORS_H_
#define TESSERA_ENGINE_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/dtype.h"

namespace tessera {

// Largest header accepted (the format's own reference implementation uses 100 MB).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

// A tensor inside a mapped file: metadata and its bytes (not necessarily aligned).
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  absl::Span<const std::byte> data;

  int64_t NumElements() const;  // product of shape (1 for a scalar)
};

class SafetensorsFile {
 public:
  // Maps and validates `path`.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  // Validates an in-memory image (used by tests and fuzzers); `source` names it in errors.
  // The bytes are copied.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> FromBytes(std::string bytes,
                                                                    const std::string& source);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Tensors sorted by name.
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorView* Find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Brings the whole file into the page cache with large sequential reads, unless it is there
  // already (mincore): a load that then touches its tensors in any order (page faults on the
  // mapping, 4 KiB at a time) finds them in memory, so a cold disk is read at its sequential
  // rate. A hint: no effect on the contents, I/O errors ignored (the load's own reads report
  // them); nothing for FromBytes.
  void Prefetch() const;

 private:
  SafetensorsFile() = default;
  absl::Status Parse();

  std::string path_;
  const std::byte* base_ = nullptr;  // whole file (mmap or owned_)
  size_t size_ = 0;
  bool mapped_ = false;
  std::string owned_;  // backing store for FromBytes
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_SAFETENSORS_H_
