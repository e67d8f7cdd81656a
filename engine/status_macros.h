// The status-propagation macros tessera's engine code shares (Abseil keeps its own internal).
// One definition here instead of a copy per file.
#ifndef TESSERA_ENGINE_STATUS_MACROS_H_
#define TESSERA_ENGINE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"

// Returns from the enclosing function with the Status of `expr` when it is not OK.
#define TESSERA_RETURN_IF_ERROR(expr)                                   \
  do {                                                                  \
    if (absl::Status tessera_status_ = (expr); !tessera_status_.ok()) { \
      return tessera_status_;                                           \
    }                                                                   \
  } while (0)

// `lhs = *expr` for a StatusOr `expr`, or returns its Status.
#define TESSERA_ASSIGN_OR_RETURN(lhs, expr) \
  TESSERA_ASSIGN_OR_RETURN_IMPL(TESSERA_STATUS_CONCAT(tessera_status_or_, __LINE__), lhs, expr)
#define TESSERA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = *std::move(tmp)
#define TESSERA_STATUS_CONCAT(a, b) TESSERA_STATUS_CONCAT_IMPL(a, b)
#define TESSERA_STATUS_CONCAT_IMPL(a, b) a##b

#endif  // TESSERA_ENGINE_STATUS_MACROS_H_
