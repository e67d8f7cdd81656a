// The test reader itself: the exporter tests lean on it, so it must read what it should and
// refuse what it should not.
#include "tests/server/prometheus_text.h"

#include <cmath>

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(PrometheusTextTest, ReadsTypesSamplesAndEscapes) {
  const absl::StatusOr<PrometheusText> t = ParsePrometheusText(
      "# HELP a:b_total Some help, with spaces.\n"
      "# TYPE a:b_total counter\n"
      "a:b_total{x=\"q\\\"b\\\\n\\n\",y=\"\"} 12.5\n"
      "h_bucket{le=\"+Inf\"} 3 1700000000\n"
      "plain 7\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->types.at("a:b_total"), "counter");
  ASSERT_EQ(t->samples.size(), 3u);
  EXPECT_EQ(t->samples[0].labels.at("x"), "q\"b\\n\n");
  EXPECT_EQ(t->samples[0].labels.at("y"), "");
  EXPECT_EQ(t->samples[0].value, 12.5);
  EXPECT_EQ(*t->Value("h_bucket", {{"le", "+Inf"}}), 3);
  EXPECT_EQ(*t->Value("plain"), 7);
  EXPECT_FALSE(t->Value("a:b_total", {{"x", "other"}}).ok());
  EXPECT_FALSE(t->Value("missing").ok());
}

TEST(PrometheusTextTest, RefusesMalformedLines) {
  EXPECT_FALSE(ParsePrometheusText("a{x=\"unterminated} 1\n").ok());
  EXPECT_FALSE(ParsePrometheusText("a{x=\"bad \\t escape\"} 1\n").ok());
  EXPECT_FALSE(ParsePrometheusText("a{x=\"1\",x=\"2\"} 1\n").ok());
  EXPECT_FALSE(ParsePrometheusText("a 1x\n").ok());
  EXPECT_FALSE(ParsePrometheusText("a\n").ok());
  EXPECT_FALSE(ParsePrometheusText("# TYPE a gauge\n# TYPE a gauge\n").ok());
}

}  // namespace
}  // namespace tessera
