// The evaluator against Python jinja2 itself: jinja_cases.json holds hand-written templates (and
// random whitespace mixes) rendered by jinja2 3.1 in transformers' environment
// (jinja_oracle.py writes it), plus unit tests of scoping, errors and Python value printing.
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "text/chat_template/py_string.h"
#include "text/chat_template/template.h"

namespace tessera::chat_template {
namespace {

using Json = nlohmann::ordered_json;

absl::StatusOr<std::string> Render(const std::string& source, const Json& vars = Json::object()) {
  absl::StatusOr<Template> t = Template::Parse(source);
  if (!t.ok()) return t.status();
  const Value v = FromJson(vars);
  RenderOptions options;
  options.now = absl::CivilSecond(2024, 7, 26, 9, 5, 3);
  return t->Render(v.dict(), options);
}

TEST(JinjaOracle, MatchesPythonJinja2OnEveryCase) {
  std::ifstream in(std::string(TESSERA_CHAT_TEMPLATE_TEST_DIR) + "/jinja_cases.json");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  const Json all = Json::parse(ss.str());
  int checked = 0;
  for (const Json& c : all["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>() + ": " + c["template"].get<std::string>());
    const absl::StatusOr<std::string> out =
        Render(c["template"], c.contains("vars") ? c["vars"] : all["vars"]);
    if (c.contains("expected")) {
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(*out, c["expected"].get<std::string>());
    } else {
      ASSERT_FALSE(out.ok()) << "rendered: " << *out << "\njinja2 failed: " << c["error"];
      EXPECT_EQ(IsRaisedByTemplate(out.status()), c["raised"].get<bool>()) << out.status();
      if (c["raised"].get<bool>()) {
        EXPECT_EQ(out.status().message(), c["error"].get<std::string>());
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

TEST(Evaluator, SetInsideLoopStaysInTheLoopButNamespaceEscapes) {
  EXPECT_EQ(*Render("{% set x = 'out' %}{% for i in [1, 2] %}{% set x = i %}{% endfor %}{{ x }}"),
            "out");
  EXPECT_EQ(*Render("{% set ns = namespace(x='out') %}{% for i in [1, 2] %}{% set ns.x = i %}"
                    "{% endfor %}{{ ns.x }}"),
            "2");
}

TEST(Evaluator, MacroScopeIsItsOwn) {
  EXPECT_EQ(*Render("{% macro m(a) %}{% set b = a * 2 %}{{ b }}{% endmacro %}{{ m(2) }}[{{ b }}]"),
            "4[]");
}

TEST(Evaluator, ErrorsNameTheTemplateLine) {
  const absl::StatusOr<std::string> out = Render("line one\n{{ 1 }}\n{{ 'a' + 1 }}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(out.status().message(),
            "chat template line 3: can only concatenate str (not \"int\") to str");
}

TEST(Evaluator, SyntaxErrorsNameTheLine) {
  const absl::StatusOr<std::string> out = Render("a\n{% if x %}\nb\n{% endfor %}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(out.status().message().find("chat template line 4:"), std::string::npos)
      << out.status();
}

TEST(Evaluator, RaiseExceptionCarriesTheMessageExactly) {
  const absl::StatusOr<std::string> out =
      Render("{% if x %}{{ raise_exception('Bad: ' ~ x) }}{% endif %}", {{"x", "why"}});
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(IsRaisedByTemplate(out.status()));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "Bad: why");
}

TEST(Evaluator, MutatingMethodsAreRefused) {
  for (const char* src : {"{% set l = [1] %}{{ l.append(2) }}",
                          "{% set d = {} %}{{ d.update({}) }}", "{{ [1].pop() }}"}) {
    const absl::StatusOr<std::string> out = Render(src);
    ASSERT_FALSE(out.ok()) << src;
    EXPECT_NE(out.status().message().find("is unsafe"), std::string::npos) << out.status();
  }
}

TEST(Evaluator, ToolUseTemplateWithGenerationBlock) {
  // transformers' {% generation %} renders its body unchanged.
  EXPECT_EQ(*Render("{% for m in ms %}{% generation %}<{{ m }}>{% endgeneration %}{% endfor %}",
                    {{"ms", {"a", "b"}}}),
            "<a><b>");
}

TEST(PyString, FloatsPrintAsPythonRepr) {
  EXPECT_EQ(FormatPyFloat(21.5), "21.5");
  EXPECT_EQ(FormatPyFloat(1e-05), "1e-05");
  EXPECT_EQ(FormatPyFloat(0.0001), "0.0001");
  EXPECT_EQ(FormatPyFloat(1e16), "1e+16");
  EXPECT_EQ(FormatPyFloat(123456789012345.0), "123456789012345.0");
  EXPECT_EQ(FormatPyFloat(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatPyFloat(-0.0), "-0.0");
  EXPECT_EQ(FormatPyFloat(1.5e300), "1.5e+300");
}

TEST(PyString, ReprChoosesQuotesAndEscapesAsPython) {
  EXPECT_EQ(PyReprString("it's"), "\"it's\"");
  EXPECT_EQ(PyReprString("a\"b'c"), "'a\"b\\'c'");
  EXPECT_EQ(PyReprString("\x01\n\u00e9\u00a0\u2028"), "'\\x01\\n\u00e9\\xa0\\u2028'");
}

TEST(PyString, StripAndSplitUseUnicodeWhitespace) {
  EXPECT_EQ(PyStrip("\u3000 x \u2003\n", std::nullopt, StripSide::kBoth), "x");
  EXPECT_EQ(PySplit(" a\u3000b  c ", std::nullopt, -1), (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace tessera::chat_template
