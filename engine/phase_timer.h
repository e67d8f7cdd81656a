// Contiguous, named phases of one multi-step operation (a daemon's start, a model load, a wake
// from sleep), for the log lines and metrics that say where the time went.
//
// Mark(name) ends the phase that began at the previous mark (or at construction) and books its
// duration under `name`; booking a name again adds to its first entry, so phases keep the order
// in which they first appeared and their durations add up to the time since the start.
//
// A value type; not thread-safe (one thread drives an operation). The clock is steady.
#ifndef TESSERA_ENGINE_PHASE_TIMER_H_
#define TESSERA_ENGINE_PHASE_TIMER_H_

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

// The phases of a model's load and a daemon's start, as the log and the metrics name them.
inline constexpr char kPhaseProcess[] = "process";         // exec to the daemon's first step
inline constexpr char kPhaseSetup[] = "setup";             // API keys, TLS files
inline constexpr char kPhaseModelOpen[] = "model_open";    // config, tokenizer, checkpoint index
inline constexpr char kPhaseDeviceInit[] = "device_init";  // CUDA context and stream
inline constexpr char kPhaseWeights[] = "weights";         // read, converted, on the device
inline constexpr char kPhaseKvAlloc[] = "kv_alloc";        // KV cache and workspace
inline constexpr char kPhaseAdapters[] = "adapters";       // --adapter preloads, sampling defaults
inline constexpr char kPhaseProfile[] = "profile";         // --profile-steps
inline constexpr char kPhaseReady[] = "ready";             // scheduler and servers listening

class PhaseTimer {
 public:
  struct Phase {
    std::string name;
    double seconds = 0;
  };

  PhaseTimer() : last_(std::chrono::steady_clock::now()) {}

  // Books the time since the previous mark under `name`.
  void Mark(std::string_view name);
  // Books `seconds` measured elsewhere (the process's age before the timer existed) without
  // moving the mark; negative values book 0.
  void Add(std::string_view name, double seconds);
  // Books the phases of an operation timed by its own timer since the previous mark (a model
  // load inside a start): `inner`'s phases as they are, and whatever of the elapsed time they
  // do not cover under `rest`.
  void MarkNested(std::string_view rest, const std::vector<Phase>& inner);

  const std::vector<Phase>& phases() const { return phases_; }
  // 0 when `name` was never booked.
  double Seconds(std::string_view name) const;
  double TotalSeconds() const;

 private:
  std::chrono::steady_clock::time_point last_;
  std::vector<Phase> phases_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_PHASE_TIMER_H_
