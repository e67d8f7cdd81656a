// Adapter loading errors that may reach a remote caller, with the detail kept for the operator.
//
// A daemon sends loading errors to tenants, who must not learn the server's paths or the bytes of
// files they cannot read (a safetensors "header length" is the first 8 bytes of whatever file was
// opened). So the status message is the caller-safe text: it names files relative to the adapter
// folder and quotes nothing of a file that failed to parse. The detail (absolute paths, the
// parser's own message) rides along as a payload that is never sent: the daemon logs it and local
// tools may print it. Stateless functions; thread-safe.
#ifndef TESSERA_ADAPTERS_ADAPTER_ERROR_H_
#define TESSERA_ADAPTERS_ADAPTER_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tessera {

// `status` (its code and caller-safe message) with `detail` attached for the operator.
absl::Status WithAdapterErrorDetail(absl::Status status, absl::string_view detail);

// The attached detail, or the message when there is none.
std::string AdapterErrorDetail(const absl::Status& status);

// The status with its message replaced by `message`, code and payloads kept.
absl::Status WithMessage(const absl::Status& status, absl::string_view message);

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_ADAPTER_ERROR_H_
