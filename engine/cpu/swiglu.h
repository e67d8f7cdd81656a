// The SwiGLU gate of Llama-family MLPs: out = silu(gate) * up, elementwise.
#ifndef TESSERA_ENGINE_CPU_SWIGLU_H_
#define TESSERA_ENGINE_CPU_SWIGLU_H_

#include <cstdint>

namespace tessera {

// out may equal gate or up.
void SiluMul(const float* gate, const float* up, int64_t n, float* out);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CPU_SWIGLU_H_
