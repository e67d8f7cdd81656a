#!/usr/bin/env bash
# Installs dependencies, builds tessera and runs every test:
#   0. formatting: every tracked C++/CUDA file as the project's .clang-format lays it out,
#   1. the main build (CUDA sources compiled when nvcc is present; GPU tests skip without a GPU),
#   2. a CUDA-off build under AddressSanitizer + UndefinedBehaviorSanitizer running the loaders,
#      parsers and plan validation (ctest label "loader"),
#   3. the libFuzzer targets (scripts/fuzz.sh: clang-14, ASan + UBSan, the tokenizer,
#      quantization_config and chat-template libraries), briefly: FUZZ_SECONDS each, 45 by
#      default here; fuzz longer with fuzz.sh.
# Build folders: build/, build-asan/ and build-fuzz/ (reused when present). JOBS overrides the
# parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=${JOBS:-$(nproc)}

git ls-files '*.cc' '*.h' '*.cu' '*.cuh' | xargs clang-format --dry-run --Werror

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs" --timeout 900)

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTESSERA_CUDA=OFF \
  -DTESSERA_SANITIZE=address,undefined -DTESSERA_BUILD_BENCH=OFF
cmake --build build-asan -j "$jobs"
(cd build-asan && ctest --output-on-failure -j "$jobs" --timeout 900 -L loader)

FUZZ_SECONDS=${FUZZ_SECONDS:-45} JOBS=$jobs bash scripts/fuzz.sh
