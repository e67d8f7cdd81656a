// Hostile templates: each must fail quickly with a sandbox error naming its line, instead of
// hanging, overflowing the stack or exhausting memory.
#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "text/chat_template/template.h"

namespace tessera::chat_template {
namespace {

struct Outcome {
  absl::Status status;
  double seconds;
};

Outcome RenderTimed(const std::string& source, const SandboxLimits& limits = SandboxLimits()) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status;
  absl::StatusOr<Template> t = Template::Parse(source, limits);
  if (!t.ok()) {
    status = t.status();
  } else {
    RenderOptions options;
    options.limits = limits;
    status = t->Render(Dict(), options).status();
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  return Outcome{status, took.count()};
}

// Limits small enough that reaching them is quick even in a sanitizer build; the mechanisms are
// those of the defaults.
SandboxLimits SmallLimits() {
  SandboxLimits limits;
  limits.max_loop_iterations = 20000;
  limits.max_output_bytes = 1 << 20;
  limits.max_list_items = 1 << 16;
  limits.max_work_bytes = 16 << 20;
  return limits;
}

void ExpectRefused(const Outcome& o, const std::string& message_part) {
  EXPECT_EQ(o.status.code(), absl::StatusCode::kResourceExhausted) << o.status;
  EXPECT_NE(o.status.message().find(message_part), std::string::npos) << o.status;
  EXPECT_LT(o.seconds, 5.0);
}

TEST(Sandbox, UnboundedMacroRecursion) {
  const Outcome o = RenderTimed("{% macro f(n) %}\n{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  ExpectRefused(o, "chat template line 2: macro calls nested deeper than 200");
}

TEST(Sandbox, MutualRecursionWithDeepBodiesStaysOnTheStack) {
  std::string deep;
  for (int i = 0; i < 90; ++i) deep += "{% if true %}";
  deep += "{{ g() }}";
  for (int i = 0; i < 90; ++i) deep += "{% endif %}";
  const Outcome o = RenderTimed("{% macro g() %}" + deep + "{% endmacro %}{{ g() }}");
  EXPECT_EQ(o.status.code(), absl::StatusCode::kResourceExhausted) << o.status;
  EXPECT_LT(o.seconds, 5.0);
}

TEST(Sandbox, LoopProducingGigabytes) {
  ExpectRefused(RenderTimed("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}"),
                "output exceeds 16777216 bytes");
  ExpectRefused(RenderTimed("{{ 'x' * 10000000000 }}"), "exceeds the sandbox limit");
  ExpectRefused(RenderTimed("{% set ns = namespace(s='x') %}\n\n"
                            "{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                            SmallLimits()),
                "chat template line 3: a string of 2097152 bytes");
  ExpectRefused(RenderTimed("{% set ns = namespace(l=[1]) %}"
                            "{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
                            SmallLimits()),
                "a list of 131072 items");
}

TEST(Sandbox, PrintingHugeContainersIsBounded) {
  // Many references to one long string cost little memory, but print as gigabytes.
  ExpectRefused(
      RenderTimed("{% set s = 'x' * 1000000 %}{% set l = [s] * 60000 %}{{ l }}", SmallLimits()),
      "printing a value makes more than 1048576 bytes");
  ExpectRefused(RenderTimed("{% set s = 'x' * 1000000 %}{% set l = [s] * 60000 %}"
                            "{{ l|tojson(indent=1000) }}",
                            SmallLimits()),
                "printing a value makes more than 1048576 bytes");
  ExpectRefused(RenderTimed("{% set s = 'x' * 1000000 %}{{ ([s] * 60000)|join }}", SmallLimits()),
                "a string of more than 1048576 bytes");
  ExpectRefused(RenderTimed("{% set s = 'x' * 10000000 %}{% for c in s %}{% endfor %}"),
                "iterating over a string of more than 1048576 characters");
  // An empty string repeated ten billion times is empty, at once.
  const Outcome o = RenderTimed("{{ '' * 10000000000 }}{{ [] * 10000000000 }}");
  EXPECT_TRUE(o.status.ok()) << o.status;
  EXPECT_LT(o.seconds, 1.0);
}

TEST(Sandbox, JoiningManyPiecesIsNotChargedQuadratically) {
  // 20,000 pieces of 100 bytes: 2 MB out, well inside every default limit.
  const Outcome o =
      RenderTimed("{{ (['x' * 100] * 20000)|join }}{{ ''.join(['y' * 100] * 20000) }}");
  EXPECT_TRUE(o.status.ok()) << o.status;
}

TEST(Sandbox, NestedLoopsHitTheIterationLimit) {
  ExpectRefused(RenderTimed("{% for a in range(50000) %}{% for b in range(50000) %}"
                            "{% endfor %}{% endfor %}",
                            SmallLimits()),
                "more than 20000 loop iterations");
}

TEST(Sandbox, KeepingManyLargeStringsHitsTheWorkBudget) {
  ExpectRefused(RenderTimed("{% set ns = namespace(l=[]) %}{% for i in range(50000) %}"
                            "{% set ns.l = ns.l + ['y' * 1000000] %}{% endfor %}",
                            SmallLimits()),
                "more than 16777216 bytes of strings and lists");
}

TEST(Sandbox, DeadlineStopsASlowRender) {
  SandboxLimits limits;
  limits.max_render_time = absl::ZeroDuration();
  ExpectRefused(RenderTimed("{% for i in range(1000) %}{% endfor %}", limits),
                "rendering took longer than");
}

TEST(Sandbox, DeeplyNestedExpressionsAreRefusedWhileParsing) {
  ExpectRefused(
      RenderTimed("{{ " + std::string(20000, '(') + "1" + std::string(20000, ')') + " }}"),
      "nested deeper than 300");
  std::string chain = "{{ 1";
  for (int i = 0; i < 20000; ++i) chain += " + 1";
  ExpectRefused(RenderTimed(chain + " }}"), "expression nested deeper than 300");
  std::string nots = "{{ ";
  for (int i = 0; i < 20000; ++i) nots += "not ";
  ExpectRefused(RenderTimed(nots + "x }}"), "nested deeper than 300");
  ExpectRefused(RenderTimed("{{ " + std::string(20000, '[') + std::string(20000, ']') + " }}"),
                "nested deeper than 300");
  std::string blocks;
  for (int i = 0; i < 20000; ++i) blocks += "{% if true %}";
  ExpectRefused(RenderTimed(blocks), "blocks nested deeper than 100");
}

TEST(Sandbox, ValuesNestedWithoutBoundAreRefused) {
  // Printing, comparing and freeing a value recurse; a million-deep list would overflow the
  // stack in any of them.
  ExpectRefused(RenderTimed("{% set ns = namespace(x=none) %}{% for i in range(100000) %}\n"
                            "{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}"),
                "chat template line 2: a value nested deeper than 512 levels");
  ExpectRefused(RenderTimed("{% set ns = namespace(x={}) %}{% for i in range(100000) %}"
                            "{% set ns.x = {'a': ns.x} %}{% endfor %}"),
                "a value nested deeper than 512 levels");
}

TEST(Sandbox, NamespacesCannotHoldNamespacesOrMacrosSoNoCycleOrChainCanForm) {
  for (const char* source : {"{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}",
                             "{% set ns = namespace() %}{% set ns.l = [ns] %}",
                             "{% set a = namespace() %}{% set b = namespace(x=[a]) %}",
                             "{% macro m() %}{% endmacro %}{% set ns = namespace(f=m) %}",
                             "{% set ns = namespace() %}{% set ns.f = [ns].index %}"}) {
    const Outcome o = RenderTimed(source);
    EXPECT_EQ(o.status.code(), absl::StatusCode::kFailedPrecondition) << source;
    EXPECT_NE(o.status.message().find("a namespace cannot hold a namespace or a macro"),
              std::string::npos)
        << o.status;
  }
}

TEST(Sandbox, RangeIsCappedAsJinjaCapsIt) {
  ExpectRefused(RenderTimed("{{ range(1000000)|length }}"),
                "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
}

TEST(Sandbox, NoFileAccess) {
  for (const char* tag : {"include", "import", "extends"}) {
    const Outcome o = RenderTimed(absl::StrCat("{% ", tag, " '/etc/passwd' %}"));
    EXPECT_EQ(o.status.code(), absl::StatusCode::kFailedPrecondition) << o.status;
    EXPECT_NE(o.status.message().find("cannot read other files"), std::string::npos) << o.status;
  }
}

}  // namespace
}  // namespace tessera::chat_template
