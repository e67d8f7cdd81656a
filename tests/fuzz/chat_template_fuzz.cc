// Fuzzes the chat-template interpreter with arbitrary template sources, rendered against a chat
// with tools: whatever the bytes, Parse and Render return a status (never crash, hang or run
// away with memory), an error is one of the documented codes, and a rendered prompt stays within
// the output limit. Tight limits keep each input fast.
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"
#include "text/chat_template/template.h"

namespace tessera::fuzz {
namespace {

namespace ct = chat_template;

const ct::Dict& Variables() {
  static const ct::Dict* vars = [] {
    const ct::Value v = ct::FromJson(nlohmann::ordered_json::parse(R"({
      "bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true,
      "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi \u00e9 'q' \"d\"\n"},
        {"role": "assistant", "content": null, "tool_calls": [{"type": "function",
          "function": {"name": "get", "arguments": {"city": "Paris", "n": [1, 2.5, true]}}}]},
        {"role": "tool", "content": "{\"t\": 21.5}"}],
      "tools": [{"type": "function", "function": {"name": "get", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
      "documents": null})"));
    return new ct::Dict(v.dict());
  }();
  return *vars;
}

void TestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  ct::SandboxLimits limits;
  limits.max_loop_iterations = 20000;
  limits.max_output_bytes = 1 << 20;
  limits.max_list_items = 1 << 16;
  limits.max_work_bytes = 64 << 20;
  limits.max_render_time = absl::Seconds(2);
  absl::StatusOr<ct::Template> t = ct::Template::Parse(source, limits);
  if (!t.ok()) {
    FUZZ_CHECK(absl::IsFailedPrecondition(t.status()) || absl::IsResourceExhausted(t.status()),
               "%s", t.status().ToString().c_str());
    return;
  }
  ct::RenderOptions options;
  options.limits = limits;
  options.now = absl::CivilSecond(2024, 7, 26, 9, 5, 3);
  absl::StatusOr<std::string> out = t->Render(Variables(), options);
  if (out.ok()) {
    FUZZ_CHECK(out->size() <= limits.max_output_bytes, "output of %zu bytes", out->size());
    return;
  }
  const absl::Status& s = out.status();
  FUZZ_CHECK(
      ct::IsRaisedByTemplate(s) || absl::IsFailedPrecondition(s) || absl::IsResourceExhausted(s),
      "%s", s.ToString().c_str());
}

}  // namespace
}  // namespace tessera::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::fuzz::TestOneInput(data, size);
  return 0;
}
