#!/usr/bin/env bash
# Installs dependencies, builds tessera and runs the main job: tesserad serving a model, and one
# completion streamed from it with the `tessera` CLI.
#   scripts/run-main.sh [MODEL_DIR]
# Without MODEL_DIR it serves build/models/tessera-default, a small random-weight Llama with its
# own byte-level tokenizer that `tessera make-model` writes when absent, so it needs nothing from
# outside (random weights: the text is gibberish, the serving path is real).
# Environment: PROMPT (default "Once upon a time"), MAX_TOKENS (32), PORT (gRPC) and HTTP_PORT
# (the OpenAI API; both 0 = any free port, logged),
# KEEP_SERVING=1 leaves the daemon running in the foreground after the completion (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "${JOBS:-$(nproc)}" --target tessera tesserad

model=${1:-build/models/tessera-default}
if [ ! -f "$model/config.json" ]; then
  build/client/tessera make-model "$model"
fi

log=build/tesserad.log
build/server/tesserad --model "$model" --port "${PORT:-0}" --http-port "${HTTP_PORT:-0}" \
  --metrics-port 0 >"$log" 2>&1 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "tesserad: serving" "$log" && break
  kill -0 "$daemon" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
cat "$log" >&2
server=$(sed -nE 's/.*tesserad: serving .* on ([^ ]+) \(.*/\1/p' "$log")
[ -n "$server" ] || { echo "run-main: tesserad did not start" >&2; exit 1; }

echo "run-main: streaming a completion from $server" >&2
build/client/tessera complete --server "$server" --prompt "${PROMPT:-Once upon a time}" \
  --max-tokens "${MAX_TOKENS:-32}" --stream
build/client/tessera health --server "$server" --service tessera.v1.Inference >&2

if [ "${KEEP_SERVING:-0}" = 1 ]; then
  echo "run-main: tesserad keeps serving on $server (log: $log); Ctrl-C stops it" >&2
  trap - EXIT
  wait "$daemon"
else
  kill -TERM "$daemon"
  wait "$daemon"
  trap - EXIT
  tail -2 "$log" >&2
fi
