#include "server/logging.h"

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace tessera {

absl::Status SetUpLogging(const std::string& level) {
  spdlog::level::level_enum l;
  if (level == "trace") {
    l = spdlog::level::trace;
  } else if (level == "debug") {
    l = spdlog::level::debug;
  } else if (level == "info") {
    l = spdlog::level::info;
  } else if (level == "warning" || level == "warn") {
    l = spdlog::level::warn;
  } else if (level == "error") {
    l = spdlog::level::err;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-level \"", level, "\": expected one of debug, info, warning, error"));
  }
  // Plain (uncoloured) stderr: logs go to files and collectors far more often than to terminals.
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto lg = std::make_shared<spdlog::logger>("tesserad", sink);
    lg->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    // Every line reaches the file at once: a crash or a kill must not lose the last lines.
    lg->flush_on(spdlog::level::trace);
    return lg;
  }();
  logger->set_level(l);
  spdlog::set_default_logger(logger);
  return absl::OkStatus();
}

}  // namespace tessera
