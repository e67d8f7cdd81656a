// The open-loop sender of `tessera bench-serve`: sends each planned request at its arrival time
// over tessera.v1.Inference Generate (streaming) and records when its tokens came back.
//
// Open loop: arrival times are fixed before the run (bench_workload.h) and kept on a monotonic
// clock whatever the server does; a slow server makes requests pile up in flight, never makes
// the arrivals slower. When the sending thread itself falls behind (an overloaded client), each
// request records how late it was sent (RequestRecord::sent_s), and the report says so, while
// latencies still count from the scheduled arrival.
//
// Calls use gRPC's callback API: one reactor object per request, driven by gRPC's own threads, so
// thousands of requests can be in flight without a thread each. One thread sends; one prints
// the progress line.
//
// Thread-safety: RunLoad blocks its caller until every call has ended; it may run concurrently
// with other RunLoad calls on the same channel.
#ifndef TESSERA_CLIENT_BENCH_RUNNER_H_
#define TESSERA_CLIENT_BENCH_RUNNER_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/bench_stats.h"
#include "client/bench_workload.h"
#include "grpcpp/channel.h"
#include "tessera/v1/inference.pb.h"

namespace tessera {

struct LoadRunOptions {
  absl::Duration request_timeout = absl::InfiniteDuration();  // each request's deadline
  std::string api_key;        // sent by requests whose tenant has no key of its own
  bool text_prompts = false;  // prompts of random words (the server tokenizes) for token ids
  int64_t vocab_size = 0;     // random ids are drawn from [kFirstRandomTokenId, vocab_size)
  uint64_t seed = 0;          // of the prompts' contents
  std::string request_id_prefix = "bench";
  std::ostream* progress = nullptr;  // the progress line's stream; nullptr: none
  absl::Duration progress_interval = absl::Seconds(1);
  std::string progress_label;  // e.g. "rate 4/s"
};

// Most vocabularies keep padding, BOS and EOS in their lowest ids; random prompts skip them.
inline constexpr int32_t kFirstRandomTokenId = 3;

// The request for plan entry `index`: exactly plan.prompt_tokens random token ids (or a text
// prompt of that many random words; or the trace's text), max_tokens = min_tokens =
// plan.output_tokens with ignore_eos, so that every request that completes has exactly that many
// output tokens; the plan's adapter, priority and targets.
v1::GenerateRequest BuildBenchRequest(const PlannedRequest& plan, size_t index,
                                      const LoadRunOptions& options);

// Runs the workload; returns one record per planned request (by index) once all have ended.
std::vector<RequestRecord> RunLoad(const std::shared_ptr<::grpc::Channel>& channel,
                                   const Workload& workload, const LoadRunOptions& options);

}  // namespace tessera

#endif  // TESSERA_CLIENT_BENCH_RUNNER_H_
