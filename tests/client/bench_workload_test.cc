#include "client/bench_workload.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "client/bench_trace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(ParseClassSpecTest, ReadsEveryField) {
  absl::StatusOr<RequestClass> c = ParseClassSpec(
      "name=chat,weight=0.8,prompt=64:256,output=48,ttft_ms=500,tpot_ms=50,priority=batch", "x");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "chat");
  EXPECT_DOUBLE_EQ(c->weight, 0.8);
  EXPECT_EQ(c->prompt.min, 64);
  EXPECT_EQ(c->prompt.max, 256);
  EXPECT_EQ(c->output.min, 48);
  EXPECT_EQ(c->output.max, 48);
  EXPECT_EQ(c->ttft_target_ms, 500u);
  EXPECT_EQ(c->tpot_target_ms, 50u);
  EXPECT_EQ(c->priority, v1::PRIORITY_BATCH);
}

TEST(ParseClassSpecTest, DefaultsNameAndLeavesTargetsOff) {
  absl::StatusOr<RequestClass> c = ParseClassSpec("prompt=10", "class3");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "class3");
  EXPECT_EQ(c->ttft_target_ms, 0u);
  EXPECT_EQ(c->tpot_target_ms, 0u);
  EXPECT_DOUBLE_EQ(c->weight, 1);
}

TEST(ParseClassSpecTest, BadSpecsNameTheFieldAtFault) {
  struct Case {
    const char* spec;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"prompts=64", "prompts is not a class field"},
           {"prompt=256:64", "prompt must be a length N or a range MIN:MAX"},
           {"prompt=0:5", "prompt must be"},
           {"output=abc", "output must be"},
           {"output=4:", "output must be"},
           {"weight=-1", "weight must be > 0"},
           {"weight=0", "weight must be > 0"},
           {"ttft_ms=-5", "ttft_ms must be milliseconds"},
           {"tpot_ms=fast", "tpot_ms must be milliseconds"},
           {"priority=urgent", "priority must be interactive or batch"},
           {"name=", "name is empty"},
           {"chat", "\"chat\" is not key=value"},
           {"prompt=1,prompt=2", "prompt is given twice"},
           {"", "--class is empty"},
       }) {
    absl::StatusOr<RequestClass> r = ParseClassSpec(c.spec, "x");
    ASSERT_FALSE(r.ok()) << c.spec;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(c.says)) << c.spec;
  }
  // The whole spec is quoted, so the user sees which of several --class flags is wrong.
  EXPECT_THAT(ParseClassSpec("name=doc,prompt=9:1", "x").status().message(),
              HasSubstr("--class \"name=doc,prompt=9:1\""));
}

TEST(ParseClassSpecsTest, NoFlagGivesOneDefaultClassAndNamesMustDiffer) {
  absl::StatusOr<std::vector<RequestClass>> none = ParseClassSpecs({});
  ASSERT_TRUE(none.ok());
  ASSERT_EQ(none->size(), 1u);
  EXPECT_EQ((*none)[0].name, "default");
  EXPECT_THAT(ParseClassSpecs({"name=a", "name=a,prompt=3"}).status().message(),
              HasSubstr("name a is given twice"));
  absl::StatusOr<std::vector<RequestClass>> unnamed = ParseClassSpecs({"prompt=1", "prompt=2"});
  ASSERT_TRUE(unnamed.ok());
  EXPECT_EQ((*unnamed)[0].name, "class0");
  EXPECT_EQ((*unnamed)[1].name, "class1");
}

TEST(ParseTenantSpecTest, ReadsFieldsAndRejectsBadOnes) {
  absl::StatusOr<TenantSpec> t = ParseTenantSpec("name=acme,key=sk-1,rate_share=0.9");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->name, "acme");
  EXPECT_EQ(t->api_key, "sk-1");
  EXPECT_DOUBLE_EQ(t->rate_share, 0.9);
  EXPECT_THAT(ParseTenantSpec("key=sk-1").status().message(), HasSubstr("name is required"));
  EXPECT_THAT(ParseTenantSpec("name=a,rate_share=0").status().message(),
              HasSubstr("rate_share must be a number > 0"));
  EXPECT_THAT(ParseTenantSpec("name=a,weight=2").status().message(),
              HasSubstr("weight is not a tenant field"));
  EXPECT_THAT(ParseTenantSpecs({"name=a", "name=a"}).status().message(),
              HasSubstr("name a is given twice"));
}

std::vector<RequestClass> ChatAndDoc() {
  return *ParseClassSpecs({"name=chat,weight=4,prompt=10:20,output=5,ttft_ms=100,tpot_ms=20",
                           "name=doc,weight=1,prompt=1000,output=30:40,ttft_ms=900"});
}

TEST(GenerateWorkloadTest, DurationGivesRateTimesDurationArrivalsInOrder) {
  GeneratedWorkloadOptions o;
  o.request_rate = 50;
  o.duration_s = 100;
  o.warmup_s = 10;
  o.seed = 1;
  absl::StatusOr<Workload> w = GenerateWorkload(ChatAndDoc(), {}, o);
  ASSERT_TRUE(w.ok()) << w.status();
  int warmup = 0, measured = 0;
  std::map<int, int> by_class;
  bool prompt_lo = false, prompt_hi = false;
  for (size_t i = 0; i < w->requests.size(); ++i) {
    const PlannedRequest& r = w->requests[i];
    if (i > 0) {
      ASSERT_GE(r.arrival_s, w->requests[i - 1].arrival_s);
    }
    ASSERT_LT(r.arrival_s, 110);
    EXPECT_EQ(r.warmup, r.arrival_s < 10);
    (r.warmup ? warmup : measured) += 1;
    ++by_class[r.class_id];
    EXPECT_EQ(r.tenant_id, -1);
    const RequestClass& c = w->classes[r.class_id];
    EXPECT_GE(r.prompt_tokens, c.prompt.min);
    EXPECT_LE(r.prompt_tokens, c.prompt.max);
    EXPECT_GE(r.output_tokens, c.output.min);
    EXPECT_LE(r.output_tokens, c.output.max);
    EXPECT_EQ(r.ttft_target_ms, c.ttft_target_ms);
    EXPECT_EQ(r.tpot_target_ms, c.tpot_target_ms);
    prompt_lo |= r.prompt_tokens == 10;
    prompt_hi |= r.prompt_tokens == 20;
  }
  // Poisson counts: mean 5000 and 500, standard deviations about 71 and 22.
  EXPECT_NEAR(measured, 5000, 300);
  EXPECT_NEAR(warmup, 500, 100);
  // Weights 4:1.
  EXPECT_NEAR(by_class[0] / double(w->requests.size()), 0.8, 0.02);
  EXPECT_TRUE(prompt_lo && prompt_hi);  // both ends of the range are drawn
  EXPECT_DOUBLE_EQ(w->measure_start_s, 10);
  EXPECT_DOUBLE_EQ(w->measure_end_s, 110);
}

TEST(GenerateWorkloadTest, NumRequestsCountsMeasuredRequestsAndSeedRepeats) {
  GeneratedWorkloadOptions o;
  o.request_rate = 20;
  o.num_requests = 37;
  o.warmup_s = 1;
  o.seed = 9;
  absl::StatusOr<Workload> a = GenerateWorkload(ChatAndDoc(), {}, o);
  absl::StatusOr<Workload> b = GenerateWorkload(ChatAndDoc(), {}, o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(std::count_if(a->requests.begin(), a->requests.end(),
                          [](const PlannedRequest& r) { return !r.warmup; }),
            37);
  ASSERT_EQ(a->requests.size(), b->requests.size());
  for (size_t i = 0; i < a->requests.size(); ++i) {
    EXPECT_EQ(a->requests[i].arrival_s, b->requests[i].arrival_s);
    EXPECT_EQ(a->requests[i].prompt_tokens, b->requests[i].prompt_tokens);
  }
  EXPECT_DOUBLE_EQ(a->measure_end_s, a->requests.back().arrival_s);
}

TEST(GenerateWorkloadTest, TenantsArriveAtTheirSharesAndAdaptersFollowZipf) {
  GeneratedWorkloadOptions o;
  o.request_rate = 100;
  o.duration_s = 200;
  o.adapters = {"a", "b"};
  o.zipf_s = 2;  // weights 1 and 1/4: 80% and 20%
  std::vector<TenantSpec> tenants =
      *ParseTenantSpecs({"name=noisy,key=k1,rate_share=9", "name=calm,key=k2,rate_share=1"});
  absl::StatusOr<Workload> w = GenerateWorkload(ChatAndDoc(), tenants, o);
  ASSERT_TRUE(w.ok()) << w.status();
  std::map<int, int> by_tenant;
  std::map<std::string, int> by_adapter;
  for (const PlannedRequest& r : w->requests) {
    ++by_tenant[r.tenant_id];
    ++by_adapter[r.adapter];
  }
  const double n = static_cast<double>(w->requests.size());
  EXPECT_NEAR(n, 20000, 700);
  EXPECT_NEAR(by_tenant[0] / n, 0.9, 0.01);
  EXPECT_NEAR(by_tenant[1] / n, 0.1, 0.01);
  EXPECT_NEAR(by_adapter["a"] / n, 0.8, 0.015);
  EXPECT_NEAR(by_adapter["b"] / n, 0.2, 0.015);
  ASSERT_EQ(w->tenants.size(), 2u);
  EXPECT_EQ(w->tenants[1].api_key, "k2");
}

TEST(GenerateWorkloadTest, RejectsRunsWithoutAnEnd) {
  GeneratedWorkloadOptions o;
  EXPECT_THAT(GenerateWorkload(ChatAndDoc(), {}, o).status().message(),
              HasSubstr("--duration or --num-requests"));
  o.request_rate = std::numeric_limits<double>::infinity();
  o.duration_s = 5;
  EXPECT_THAT(GenerateWorkload(ChatAndDoc(), {}, o).status().message(),
              HasSubstr("it needs --num-requests"));
  o.request_rate = 0.001;
  o.duration_s = 0.001;
  EXPECT_THAT(GenerateWorkload(ChatAndDoc(), {}, o).status().message(),
              HasSubstr("no request arrives"));
  o.request_rate = 1e9;
  o.duration_s = 1e3;
  EXPECT_THAT(GenerateWorkload(ChatAndDoc(), {}, o).status().message(), HasSubstr("more than"));
}

TEST(LoadTraceWorkloadTest, ReadsSortsAndCutsTheTrace) {
  std::istringstream in(
      R"({"arrival_s": 2.5, "prompt_tokens": 7, "output_tokens": 3, "class": "chat", "tenant": "acme", "adapter": "sql"}

{"arrival_s": 0.5, "prompt": "hello there", "output_tokens": 4, "class": "doc", "ttft_ms": 77}
{"arrival_s": 1.5, "prompt_tokens": 9, "output_tokens": 2, "class": "batch"}
{"arrival_s": 9.0, "prompt_tokens": 9, "output_tokens": 2}
)");
  std::vector<TenantSpec> tenants = *ParseTenantSpecs({"name=acme,key=k"});
  absl::StatusOr<Workload> w = LoadTraceWorkload(in, "t.jsonl", ChatAndDoc(), tenants,
                                                 /*warmup_s=*/1, /*duration_s=*/5, std::nullopt);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->requests.size(), 3u);  // 9.0 is past warm-up + duration
  const PlannedRequest& doc = w->requests[0];
  EXPECT_TRUE(doc.warmup);
  EXPECT_EQ(doc.prompt_text, "hello there");
  EXPECT_EQ(doc.ttft_target_ms, 77u);  // the line's own target wins
  EXPECT_EQ(doc.tpot_target_ms, 0u);   // doc has none
  const PlannedRequest& batch = w->requests[1];
  EXPECT_FALSE(batch.warmup);
  EXPECT_EQ(w->classes[batch.class_id].name, "batch");  // undeclared: a class without targets
  EXPECT_EQ(batch.ttft_target_ms, 0u);
  const PlannedRequest& chat = w->requests[2];
  EXPECT_EQ(chat.arrival_s, 2.5);
  EXPECT_EQ(chat.prompt_tokens, 7);
  EXPECT_EQ(chat.output_tokens, 3);
  EXPECT_EQ(chat.ttft_target_ms, 100u);  // from --class chat
  EXPECT_EQ(chat.tpot_target_ms, 20u);
  EXPECT_EQ(chat.tenant_id, 0);
  EXPECT_EQ(chat.adapter, "sql");
  EXPECT_DOUBLE_EQ(w->measure_start_s, 1);
  EXPECT_DOUBLE_EQ(w->measure_end_s, 2.5);
}

TEST(LoadTraceWorkloadTest, BadLinesNameTheLineAndTheField) {
  struct Case {
    const char* line;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"arrival_s": 1, "prompt_tokens": 5})", "\"output_tokens\" is missing"},
           {R"({"prompt_tokens": 5, "output_tokens": 2})", "\"arrival_s\" must be"},
           {R"({"arrival_s": -1, "prompt_tokens": 5, "output_tokens": 2})", "\"arrival_s\""},
           {R"({"arrival_s": 1, "output_tokens": 2})", "exactly one of"},
           {R"({"arrival_s": 1, "prompt": "x", "prompt_tokens": 5, "output_tokens": 2})",
            "exactly one of"},
           {R"({"arrival_s": 1, "prompt_tokens": 0, "output_tokens": 2})", "\"prompt_tokens\""},
           {R"({"arrival_s": 1, "prompt_tokens": 2.5, "output_tokens": 2})", "\"prompt_tokens\""},
           {R"({"arrival_s": 1, "prompt_tokens": 5, "output_tokens": 2, "tenant": "x"})",
            "tenant \"x\" is not declared"},
           {R"({"arrival_s": 1, "prompt_tokens": 5, "output_tokens": 2, "lora": "x"})",
            "unknown field \"lora\""},
           {R"({"arrival_s": 1, "prompt_tokens": 5, "output_tokens": 2, "ttft_ms": -1})",
            "\"ttft_ms\""},
           {R"({"arrival_s": 1,)", "not valid JSON"},
           {R"([1, 2])", "expected a JSON object"},
       }) {
    std::istringstream in(
        std::string(R"({"arrival_s": 0, "prompt_tokens": 1, "output_tokens": 1})") + "\n" + c.line +
        "\n");
    absl::StatusOr<Workload> w =
        LoadTraceWorkload(in, "t.jsonl", ChatAndDoc(), {}, 0, std::nullopt, std::nullopt);
    ASSERT_FALSE(w.ok()) << c.line;
    EXPECT_THAT(w.status().message(), AllOf(HasSubstr("t.jsonl:2: "), HasSubstr(c.says))) << c.line;
  }
}

TEST(LoadTraceWorkloadTest, NumRequestsCutsTheMeasuredPart) {
  std::istringstream in(R"({"arrival_s": 0, "prompt_tokens": 1, "output_tokens": 1}
{"arrival_s": 1, "prompt_tokens": 1, "output_tokens": 1}
{"arrival_s": 2, "prompt_tokens": 1, "output_tokens": 1}
)");
  absl::StatusOr<Workload> w =
      LoadTraceWorkload(in, "t", ChatAndDoc(), {}, 0, std::nullopt, int64_t{2});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->requests.size(), 2u);
  EXPECT_EQ(w->classes[w->requests[0].class_id].name, "default");
}

}  // namespace
}  // namespace tessera
