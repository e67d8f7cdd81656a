// Bytes of a model's weights by how they are stored ("int4 g128 AWQ", "bf16"), for the line the
// daemon logs at load: "weights 4.9 GiB: int4 g128 AWQ 4.2, bf16 0.7".
//
// A value type; thread-compatible.
#ifndef TESSERA_ENGINE_WEIGHT_TALLY_H_
#define TESSERA_ENGINE_WEIGHT_TALLY_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tessera {

class WeightTally {
 public:
  // Adds `bytes` under `label` (labels keep the order they first appeared in).
  void Add(const std::string& label, int64_t bytes);

  int64_t total() const;
  // Labels and their bytes.
  const std::vector<std::pair<std::string, int64_t>>& entries() const { return entries_; }
  // "weights 4.9 GiB: int4 g128 AWQ 4.2, bf16 0.7", largest first, in the total's unit (GiB from
  // 1 GiB up, else MiB, else KiB); "weights 0 B" when empty.
  std::string ToString() const;

 private:
  std::vector<std::pair<std::string, int64_t>> entries_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_WEIGHT_TALLY_H_
