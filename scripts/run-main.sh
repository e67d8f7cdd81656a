#!/usr/bin/env bash
# Installs dependencies, builds tessera and runs the main job: an offline generation.
#   scripts/run-main.sh [MODEL_DIR] [REQUESTS.jsonl]
# Without MODEL_DIR it uses the tiny-llama test fixture when ../shared/fixtures is beside the
# checkout, else writes a small random-weight Llama checkpoint with `tessera init-model`, so it
# needs nothing from outside.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "${JOBS:-$(nproc)}" --target tessera

model=${1:-}
if [ -z "$model" ]; then
  if [ -d ../shared/fixtures/models/tiny-llama ]; then
    model=../shared/fixtures/models/tiny-llama
  else
    model=build/models/random-tiny-llama
    [ -f "$model/config.json" ] || build/client/tessera init-model --preset tiny-llama --out "$model"
  fi
fi
requests=${2:-client/examples/requests.jsonl}
echo "tessera: generating for $requests on $model" >&2
build/client/tessera generate --model "$model" --requests "$requests"
