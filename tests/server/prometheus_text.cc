#include "tests/server/prometheus_text.h"

#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tessera {
namespace {

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

// Reads a metric or label name at the front of `s`.
std::string TakeName(absl::string_view& s) {
  size_t n = 0;
  while (n < s.size() && IsNameChar(s[n], n == 0)) ++n;
  std::string name(s.substr(0, n));
  s.remove_prefix(n);
  return name;
}

absl::StatusOr<double> ParseValue(absl::string_view s) {
  if (s == "+Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  std::string copy(s);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size()) {
    return absl::InvalidArgumentError(absl::StrCat("bad value \"", s, "\""));
  }
  return v;
}

// Reads `{name="value",...}` at the front of `s`, undoing the \\, \" and \n escapes.
absl::Status TakeLabels(absl::string_view& s, std::map<std::string, std::string>& labels) {
  s.remove_prefix(1);  // '{'
  while (!s.empty() && s.front() != '}') {
    std::string name = TakeName(s);
    if (name.empty() || s.size() < 2 || s[0] != '=' || s[1] != '"') {
      return absl::InvalidArgumentError("bad label");
    }
    s.remove_prefix(2);
    std::string value;
    while (!s.empty() && s.front() != '"') {
      if (s.front() == '\\') {
        if (s.size() < 2) return absl::InvalidArgumentError("dangling escape");
        const char e = s[1];
        if (e == 'n') {
          value += '\n';
        } else if (e == '\\' || e == '"') {
          value += e;
        } else {
          return absl::InvalidArgumentError("unknown escape");
        }
        s.remove_prefix(2);
      } else {
        value += s.front();
        s.remove_prefix(1);
      }
    }
    if (s.empty()) return absl::InvalidArgumentError("unterminated label value");
    s.remove_prefix(1);  // '"'
    if (!labels.emplace(std::move(name), std::move(value)).second) {
      return absl::InvalidArgumentError("repeated label");
    }
    if (!s.empty() && s.front() == ',') s.remove_prefix(1);
  }
  if (s.empty()) return absl::InvalidArgumentError("unterminated labels");
  s.remove_prefix(1);  // '}'
  return absl::OkStatus();
}

absl::StatusOr<PrometheusSample> ParseSample(absl::string_view line) {
  PrometheusSample sample;
  sample.name = TakeName(line);
  if (sample.name.empty()) return absl::InvalidArgumentError("no metric name");
  if (!line.empty() && line.front() == '{') {
    if (absl::Status s = TakeLabels(line, sample.labels); !s.ok()) return s;
  }
  if (line.empty() || line.front() != ' ') return absl::InvalidArgumentError("no value");
  line.remove_prefix(1);
  // A timestamp may follow the value.
  const absl::string_view value = line.substr(0, line.find(' '));
  absl::StatusOr<double> v = ParseValue(value);
  if (!v.ok()) return v.status();
  sample.value = *v;
  return sample;
}

}  // namespace

std::vector<PrometheusSample> PrometheusText::Find(
    absl::string_view name, const std::map<std::string, std::string>& labels) const {
  std::vector<PrometheusSample> found;
  for (const PrometheusSample& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (match) found.push_back(s);
  }
  return found;
}

absl::StatusOr<double> PrometheusText::Value(
    absl::string_view name, const std::map<std::string, std::string>& labels) const {
  const std::vector<PrometheusSample> found = Find(name, labels);
  if (found.size() != 1) {
    return absl::NotFoundError(
        absl::StrCat(found.size(), " samples of ", name, " match, not exactly one"));
  }
  return found.front().value;
}

absl::StatusOr<PrometheusText> ParsePrometheusText(absl::string_view text) {
  PrometheusText out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) continue;
    if (line.front() == '#') {
      const std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (parts.size() == 4 && parts[1] == "TYPE") {
        if (!out.types.emplace(std::string(parts[2]), std::string(parts[3])).second) {
          return absl::InvalidArgumentError(absl::StrCat("second TYPE line: ", line));
        }
      }
      continue;  // HELP and comments
    }
    absl::StatusOr<PrometheusSample> sample = ParseSample(line);
    if (!sample.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(sample.status().message(), " in line: ", line));
    }
    out.samples.push_back(*std::move(sample));
  }
  return out;
}

}  // namespace tessera
