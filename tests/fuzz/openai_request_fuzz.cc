// Fuzzes the OpenAI layer's request parsers with arbitrary bodies: whatever the bytes, every
// parser returns a status (no exception escapes, no crash), every error is InvalidArgument with
// a message, and a parsed chat or completion call drives its response builder to JSON that
// serializes. The chat template is a small ChatML one with tools, so that messages reach a real
// render.
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "server/openai/chat.h"
#include "server/openai/chat_response.h"
#include "server/openai/completion_response.h"
#include "server/openai/completions.h"
#include "server/openai/json_body.h"
#include "server/openai/lora_requests.h"
#include "server/openai/tokenize.h"
#include "tests/fuzz/fuzz_check.h"

namespace tessera::fuzz {
namespace {

namespace oa = openai;

const chat_template::ChatTemplate& Template() {
  static const chat_template::ChatTemplate* tmpl = [] {
    constexpr std::string_view kSource =
        "{% if tools %}<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>{% endif %}"
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
        "{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{{ c.function | tojson }}"
        "</tool_call>{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    absl::StatusOr<chat_template::ChatTemplate> t = chat_template::ChatTemplate::Create(
        {{"default", std::string(kSource)}}, nlohmann::ordered_json::object());
    FUZZ_CHECK(t.ok(), "%s", t.status().ToString().c_str());
    return new chat_template::ChatTemplate(*std::move(t));
  }();
  return *tmpl;
}

void CheckError(const absl::Status& s) {
  FUZZ_CHECK(absl::IsInvalidArgument(s) && !s.message().empty(), "%s", s.ToString().c_str());
}

// One made-up response stream message with text and a finish, for every sample.
v1::GenerateResponse FinalMessage(int n) {
  v1::GenerateResponse m;
  for (int i = 0; i < n && i < 4; ++i) {
    v1::SampleDelta* d = m.add_samples();
    d->set_index(i);
    d->set_text("<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call> ok");
    d->set_finish_reason(v1::FINISH_REASON_STOP);
  }
  m.mutable_usage()->set_prompt_tokens(3);
  return m;
}

void TestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<nlohmann::ordered_json> body = oa::ParseJsonBody(bytes);
  if (!body.ok()) {
    CheckError(body.status());
    return;
  }
  if (absl::StatusOr<oa::CompletionCall> c = oa::ParseCompletionRequest(*body); c.ok()) {
    FUZZ_CHECK(!c->requests.empty(), "a completion call with no prompt");
    if (c->n <= 4 && c->requests.size() <= 4) {
      oa::CompletionResponseBuilder b(*c, {"cmpl-f", 0, c->model});
      for (size_t i = 0; i < c->requests.size(); ++i) {
        FUZZ_CHECK(b.Add(static_cast<int>(i), FinalMessage(c->n)).ok(), "Add failed");
      }
      FUZZ_CHECK(!oa::SerializeJson(b.Build()).empty(), "empty JSON");
    }
  } else {
    CheckError(c.status());
  }
  for (oa::ToolCallStyle style : {oa::ToolCallStyle::kHermes, oa::ToolCallStyle::kLlama3Json}) {
    absl::StatusOr<oa::ChatCall> c = oa::ParseChatRequest(*body, Template(), style);
    if (!c.ok()) {
      CheckError(c.status());
      continue;
    }
    if (c->n > 4) continue;
    oa::ChatResponseBuilder b(*c, {"chatcmpl-f", 0, c->model});
    FUZZ_CHECK(b.Add(FinalMessage(c->n)).ok(), "Add failed");
    FUZZ_CHECK(!oa::SerializeJson(b.Build()).empty(), "empty JSON");
  }
  if (absl::StatusOr<oa::TokenizeCall> t = oa::ParseTokenizeRequest(*body, &Template()); !t.ok()) {
    CheckError(t.status());
  }
  if (absl::StatusOr<oa::DetokenizeCall> d = oa::ParseDetokenizeRequest(*body); !d.ok()) {
    CheckError(d.status());
  }
  if (absl::StatusOr<oa::LoadLoraCall> l = oa::ParseLoadLoraRequest(*body); !l.ok()) {
    CheckError(l.status());
  }
}

}  // namespace
}  // namespace tessera::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::fuzz::TestOneInput(data, size);
  return 0;
}
