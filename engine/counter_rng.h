// Counter-based uniform draws shared by the host sampler (engine/sampler.cc) and the GPU sampler
// (engine/cuda/gpu_sampler.cu), so that both draw bit-identical values for the same (seed, index).
// Header-only: every function is usable from host code and, under nvcc, from device code.
#ifndef TESSERA_ENGINE_COUNTER_RNG_H_
#define TESSERA_ENGINE_COUNTER_RNG_H_

#include <cstdint>

#if defined(__CUDACC__)
#define TESSERA_HOST_DEVICE __host__ __device__
#else
#define TESSERA_HOST_DEVICE
#endif

namespace tessera {

// The splitmix64 finalizer: a bijective 64-bit mix.
TESSERA_HOST_DEVICE inline uint64_t CounterRngMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A uniform double in [0, 1) determined by (seed, index) alone: 53 random mantissa bits. The
// conversion (a 53-bit integer to double, times a power of two) is exact on host and device.
TESSERA_HOST_DEVICE inline double CounterRngUniform(uint64_t seed, uint64_t index) {
  const uint64_t bits = CounterRngMix(CounterRngMix(seed) ^ index);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace tessera

#endif  // TESSERA_ENGINE_COUNTER_RNG_H_
