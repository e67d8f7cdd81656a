// The tensors of a Hugging Face model directory: one model.safetensors, or shards listed by
// model.safetensors.index.json ({"weight_map": {tensor name: shard file}}).
//
// Open() maps every file and checks the index against the shards: shard names are plain file names
// inside the directory (no path separators, no ".."), every tensor the index names is in the shard
// it names, and no tensor appears in two shards. Errors name the file and the tensor.
//
// Immutable after Open; thread-safe. Views stay valid while the Checkpoint lives.
#ifndef TESSERA_ENGINE_CHECKPOINT_H_
#define TESSERA_ENGINE_CHECKPOINT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/safetensors.h"

namespace tessera {

class Checkpoint {
 public:
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& model_dir);

  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  // nullptr when absent.
  const TensorView* Find(const std::string& name) const;

  // The tensor `name`, checked to exist with exactly `shape` and a float dtype (BF16, F16, F32:
  // packed quantized tensors are read only by engine/quant/); the error names file and tensor.
  absl::StatusOr<const TensorView*> Get(const std::string& name,
                                        const std::vector<int64_t>& shape) const;

  // The file that holds `name` ("" when absent), for error messages.
  std::string FileOf(const std::string& name) const;

  // Reads the shards not yet in the page cache sequentially, on up to `threads` threads (0: the
  // hardware's count), one shard each (SafetensorsFile::Prefetch): loads call it before
  // converting, so a cold disk is read at its sequential rate rather than page fault by page
  // fault.
  void Prefetch(int32_t threads) const;

  // All tensor names, sorted.
  std::vector<std::string> Names() const;
  size_t TotalBytes() const;

 private:
  Checkpoint() = default;

  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> by_name_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CHECKPOINT_H_
