// A small reader of the Prometheus text format (0.0.4) for tests: it takes the exporter's output
// apart into TYPE lines and samples, undoing label-value escapes, so tests assert on values
// rather than on substrings. It accepts only what the format allows and reports the first line
// it cannot read.
#ifndef TESSERA_TESTS_SERVER_PROMETHEUS_TEXT_H_
#define TESSERA_TESTS_SERVER_PROMETHEUS_TEXT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

struct PrometheusSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PrometheusText {
  std::map<std::string, std::string> types;  // family name -> counter | gauge | histogram | ...
  std::vector<PrometheusSample> samples;

  // The samples named `name` whose labels include every one of `labels`.
  std::vector<PrometheusSample> Find(absl::string_view name,
                                     const std::map<std::string, std::string>& labels = {}) const;
  // The value of the one sample Find returns; an error when there is none or several.
  absl::StatusOr<double> Value(absl::string_view name,
                               const std::map<std::string, std::string>& labels = {}) const;
};

absl::StatusOr<PrometheusText> ParsePrometheusText(absl::string_view text);

}  // namespace tessera

#endif  // TESSERA_TESTS_SERVER_PROMETHEUS_TEXT_H_
