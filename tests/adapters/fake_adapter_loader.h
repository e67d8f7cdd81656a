// A stand-in for the PEFT loader in registry tests: every load of a folder makes a fresh one-layer
// LoraWeights whose A and B hold one stamp value throughout (the load's serial number), so a test
// can tell versions apart and see that a version is whole. Folders can be told to fail, or to
// block until released (slow loads). Thread-safe.
#ifndef TESSERA_TESTS_ADAPTERS_FAKE_ADAPTER_LOADER_H_
#define TESSERA_TESTS_ADAPTERS_FAKE_ADAPTER_LOADER_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "adapters/loaded_adapter.h"
#include "engine/lora_weights.h"

namespace tessera::testing {

inline constexpr int64_t kFakeFeatures = 4;

// Bytes of a fake adapter of `rank`: A [rank, 4] and B [4, rank] in fp32.
inline int64_t FakeAdapterBytes(int32_t rank) { return 2 * rank * kFakeFeatures * 4; }

// Whether every value of A and B equals the first (a version written whole); the stamp or -1.
inline float FakeStamp(const LoraWeights& w) {
  const LoraPair* p = w.Find(0, LoraModule::kQ);
  if (p == nullptr || p->a.empty()) return -1;
  const float v = p->a[0];
  for (float x : p->a) {
    if (x != v) return -1;
  }
  for (float x : p->b) {
    if (x != v) return -1;
  }
  return v;
}

class FakeAdapterLoader {
 public:
  // The loader function for AdapterRegistry; `this` must outlive the registry.
  AdapterLoader AsLoader() {
    return [this](const std::filesystem::path& dir) { return Load(dir); };
  }

  // Behaviour per folder, keyed by its last path component.
  void SetRank(const std::string& folder, int32_t rank) {
    absl::MutexLock l(&mu_);
    rank_[folder] = rank;
  }
  void SetFailure(const std::string& folder, absl::Status status) {
    absl::MutexLock l(&mu_);
    failure_[folder] = std::move(status);
  }
  void ClearFailure(const std::string& folder) {
    absl::MutexLock l(&mu_);
    failure_.erase(folder);
  }
  // Loads of `folder` block until Open(folder).
  void Hold(const std::string& folder) {
    absl::MutexLock l(&mu_);
    held_[folder] = true;
  }
  void Open(const std::string& folder) {
    absl::MutexLock l(&mu_);
    held_[folder] = false;
    changed_.SignalAll();
  }
  // Blocks until `n` loads of `folder` have started.
  void AwaitStarted(const std::string& folder, int n) {
    absl::MutexLock l(&mu_);
    while (started_[folder] < n) changed_.Wait(&mu_);
  }
  int started(const std::string& folder) {
    absl::MutexLock l(&mu_);
    return started_[folder];
  }
  int total_started() {
    absl::MutexLock l(&mu_);
    return serial_;
  }

 private:
  absl::StatusOr<LoadedAdapter> Load(const std::filesystem::path& dir) {
    const std::string folder = dir.filename().string();
    absl::MutexLock l(&mu_);
    ++started_[folder];
    const int serial = ++serial_;
    changed_.SignalAll();
    while (held_[folder]) changed_.Wait(&mu_);
    if (auto it = failure_.find(folder); it != failure_.end()) return it->second;
    const int32_t rank = rank_.count(folder) ? rank_[folder] : 2;
    auto w = std::make_shared<LoraWeights>();
    w->layers.resize(1);
    LoraPair& p = w->layers[0][static_cast<int>(LoraModule::kQ)];
    p.rank = rank;
    p.scale = 1;
    p.in_features = kFakeFeatures;
    p.out_features = kFakeFeatures;
    p.a.assign(rank * kFakeFeatures, static_cast<float>(serial));
    p.b.assign(kFakeFeatures * rank, static_cast<float>(serial));
    LoadedAdapter out;
    out.bytes = w->num_bytes();
    out.weights = std::move(w);
    out.digest = absl::StrCat("fake:", folder, ":", serial);
    out.rank = rank;
    return out;
  }

  absl::Mutex mu_;
  absl::CondVar changed_;
  int serial_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int32_t> rank_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> failure_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> held_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> started_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_ADAPTERS_FAKE_ADAPTER_LOADER_H_
