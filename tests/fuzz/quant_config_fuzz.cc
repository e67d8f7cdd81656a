// Fuzzes ParseQuantizationConfig (config.json's quantization_config) on arbitrary bytes: it either
// succeeds or fails with InvalidArgument; a config that parses holds only what the loaders handle
// (4/8 bits, group size -1 or positive), answers SchemeFor for the decoder's module names, and
// --quantization checks against it give OK, InvalidArgument or Unimplemented.
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "engine/quant/quant_config.h"
#include "tests/fuzz/fuzz_check.h"

namespace tessera::fuzz {
namespace {

constexpr const char* kModules[] = {
    "model.layers.0.self_attn.q_proj",
    "model.layers.1.self_attn.o_proj",
    "model.layers.0.mlp.down_proj",
    "lm_head",
    "",
    "model.layers.10.mlp.gate_proj",
};
constexpr std::string_view kFlags[] = {"",    "none", "awq", "gptq", "compressed-tensors",
                                       "fp8", "int8", "nf4", "bogus"};

void TestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto c = ParseQuantizationConfig(input, "fuzz.json");
  if (!c.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(c.status()), "%s", c.status().ToString().c_str());
    return;
  }
  FUZZ_CHECK(c->quantized(), "a parsed config has a method");
  FUZZ_CHECK(!c->schemes.empty(), "a parsed config has a scheme");
  for (const QuantScheme& s : c->schemes) {
    FUZZ_CHECK(s.bits == 4 || s.bits == 8, "bits %d", s.bits);
    FUZZ_CHECK(s.group_size == -1 || s.group_size > 0, "group size %lld",
               static_cast<long long>(s.group_size));
    FUZZ_CHECK(!s.is_float || s.bits == 8, "FP8 with %d bits", s.bits);
  }
  for (const char* m : kModules) {
    const QuantScheme* s = c->SchemeFor(m);
    if (s != nullptr) {
      FUZZ_CHECK(s >= c->schemes.data() && s < c->schemes.data() + c->schemes.size(),
                 "SchemeFor points outside the schemes");
    }
  }
  for (std::string_view flag : kFlags) {
    const absl::Status st = CheckQuantizationFlag(flag, *c);
    FUZZ_CHECK(st.ok() || absl::IsInvalidArgument(st) || absl::IsUnimplemented(st), "%s",
               st.ToString().c_str());
  }
  FUZZ_CHECK(absl::IsUnimplemented(RefuseQuantizedOnCuda(*c)), "CUDA must refuse");
}

}  // namespace
}  // namespace tessera::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::fuzz::TestOneInput(data, size);
  return 0;
}
