// ChatTemplate: where a model's template comes from, which named template is picked, special
// tokens, the request format and continue_final_message.
#include "text/chat_template/chat_template.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace tessera::chat_template {
namespace {

using Json = nlohmann::ordered_json;

class ChatTemplateLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("chat_template_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string Config(const Json& j) {
    Write("tokenizer_config.json", j.dump());
    return (dir_ / "tokenizer_config.json").string();
  }
  static ChatRequest Request(bool tools = false) {
    ChatRequest r;
    r.messages = Json::parse(R"([{"role": "user", "content": "Hi"}])");
    if (tools) r.tools = Json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
    return r;
  }

  std::filesystem::path dir_;
};

TEST_F(ChatTemplateLoadTest, StringTemplateWithAddedTokenObjects) {
  const std::string config = Config({
      {"bos_token", {{"__type", "AddedToken"}, {"content", "<s>"}}},
      {"eos_token", "</s>"},
      {"chat_template", "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"},
  });
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Load(config, std::nullopt);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->Apply(Request()), "<s>Hi</s>");
  // The directory works as well as the file.
  EXPECT_EQ(*ChatTemplate::Load(dir_.string(), std::nullopt)->Apply(Request()), "<s>Hi</s>");
}

TEST_F(ChatTemplateLoadTest, NamedTemplatesPickToolUseOnlyWithTools) {
  const std::string config = Config({{"chat_template",
                                      {{{"name", "default"}, {"template", "plain"}},
                                       {{"name", "tool_use"}, {"template", "tools"}}}}});
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Load(config, std::nullopt);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->Apply(Request(false)), "plain");
  EXPECT_EQ(*t->Apply(Request(true)), "tools");
}

TEST_F(ChatTemplateLoadTest, NamedTemplatesWithoutDefaultAreRefusedAsTransformersRefusesThem) {
  const std::string config =
      Config({{"chat_template",
               {{{"name", "rag"}, {"template", "r"}}, {{"name", "tool_use"}, {"template", "t"}}}}});
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Load(config, std::nullopt);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->Apply(Request(true)), "t");
  const absl::StatusOr<std::string> plain = t->Apply(Request(false));
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().message(),
            "This model has multiple chat templates with no default specified! Available "
            "template names are ['rag', 'tool_use'].");
}

TEST_F(ChatTemplateLoadTest, JinjaFileBesideTheConfigWinsAndAnExplicitFileWinsOverBoth) {
  const std::string config = Config({{"chat_template", "from config"}});
  Write("chat_template.jinja", "from jinja file\n");
  EXPECT_EQ(*ChatTemplate::Load(config, std::nullopt)->Apply(Request()), "from jinja file");
  Write("other.jinja", "explicit");
  EXPECT_EQ(*ChatTemplate::Load(config, (dir_ / "other.jinja").string())->Apply(Request()),
            "explicit");
}

TEST_F(ChatTemplateLoadTest, SpecialTokensMapFillsInTokensTheConfigLacks) {
  const std::string config =
      Config({{"eos_token", "</s>"},
              {"chat_template", "{{ bos_token }}|{{ eos_token }}|{{ pad_token }}"}});
  Write("special_tokens_map.json", R"({"bos_token": "<bos>", "eos_token": "<other>"})");
  EXPECT_EQ(*ChatTemplate::Load(config, std::nullopt)->Apply(Request()), "<bos>|</s>|");
}

TEST_F(ChatTemplateLoadTest, MissingTemplateAndBadTemplateAreNamed) {
  const absl::StatusOr<ChatTemplate> none =
      ChatTemplate::Load(Config({{"eos_token", "x"}}), std::nullopt);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("has no chat_template"), std::string::npos);
  const absl::StatusOr<ChatTemplate> bad =
      ChatTemplate::Load(Config({{"chat_template", "ok\n{% if %}"}}), std::nullopt);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "chat template line 2: expected an expression, got end of statement block");
}

absl::StatusOr<std::string> Apply(const std::string& tmpl, const Json& request) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Create({{"default", tmpl}}, Json::object());
  if (!t.ok()) return t.status();
  absl::StatusOr<ChatRequest> r = ParseChatRequest(request);
  if (!r.ok()) return r.status();
  return t->Apply(*r);
}

TEST(ChatTemplateApply, VariablesAsTransformersPassesThem) {
  // tools and documents are always defined (none when absent); kwargs override special tokens.
  absl::StatusOr<ChatTemplate> t =
      ChatTemplate::Create({{"default",
                             "{{ tools is defined }}{{ tools is none }}{{ documents is none }}"
                             "{{ add_generation_prompt }}{{ bos_token }}{{ extra }}"}},
                           {{"bos_token", "<s>"}});
  ASSERT_TRUE(t.ok());
  absl::StatusOr<ChatRequest> r = ParseChatRequest(
      {{"messages", Json::array()}, {"kwargs", {{"bos_token", "B"}, {"extra", 1}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*t->Apply(*r), "TrueTrueTrueFalseB1");
}

TEST(ChatTemplateApply, ContinueFinalMessageCutsAfterTheMessage) {
  const Json kept = Json::parse(R"({"messages": [{"role": "assistant", "content": "Sure, "}],
                                    "continue_final_message": true})");
  EXPECT_EQ(*Apply("<a>{{ messages[-1].content }}</a>", kept), "<a>Sure, ");
  // A template that trims the message trims the marker's space too: trailing space goes.
  EXPECT_EQ(*Apply("<a>{{ messages[-1].content|trim }}</a>", kept), "<a>Sure,");
  const Json parts = Json::parse(R"({"messages": [{"role": "assistant", "content":
      [{"type": "text", "text": "A"}, {"type": "image"}]}], "continue_final_message": true})");
  EXPECT_EQ(*Apply("{{ messages[-1].content[0].text }}!", parts), "A");
}

TEST(ChatTemplateApply, ContinueFinalMessageRefusals) {
  const absl::StatusOr<std::string> both =
      Apply("x", Json::parse(R"({"messages": [{"role": "assistant", "content": "a"}],
                          "continue_final_message": true, "add_generation_prompt": true})"));
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("are not compatible"), std::string::npos);
  const absl::StatusOr<std::string> dropped = Apply(
      "no messages here",
      Json::parse(
          R"({"messages": [{"role": "assistant", "content": "a"}], "continue_final_message": true})"));
  ASSERT_FALSE(dropped.ok());
  EXPECT_NE(dropped.status().message().find("does not appear in the chat"), std::string::npos);
}

TEST(ChatRequestParse, RefusesMalformedRequests) {
  auto message = [](const char* text) {
    return std::string(ParseChatRequest(Json::parse(text)).status().message());
  };
  EXPECT_EQ(message(R"({"messages": "hi"})"), "\"messages\" must be a list of message objects");
  EXPECT_EQ(message(R"({"messages": [], "tool": []})"), "unknown field \"tool\"");
  EXPECT_EQ(message(R"({"add_generation_prompt": 1})"),
            "\"add_generation_prompt\" must be true or false");
  EXPECT_EQ(
      message(R"({"now": "yesterday"})").find("now: \"yesterday\" is not YYYY-MM-DDTHH:MM:SS"), 0u);
  std::string deep =
      "{\"messages\": [{\"content\": " + std::string(1000, '[') + std::string(1000, ']') + "}]}";
  EXPECT_EQ(message(deep.c_str()), "the request is nested deeper than 256 levels");
}

}  // namespace
}  // namespace tessera::chat_template
