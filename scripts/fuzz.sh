#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang-14 under ASan + UBSan (build folder
# build-fuzz/, CUDA, tests and benchmarks off, only the fuzz targets and the libraries they link)
# and runs each for FUZZ_SECONDS (default 60), all at once, from a scratch copy of its seed corpus
# in build-fuzz/fuzz-work/<target>/. Fails when a target crashes, trips a sanitizer or a check.
#
#   scripts/fuzz.sh                                  every target, 60 s each
#   FUZZ_SECONDS=3600 scripts/fuzz.sh                fuzz longer
#   scripts/fuzz.sh tokenizer_json_fuzz              one target
#   build-fuzz/tests/fuzz/tokenizer_encode_fuzz CRASH_FILE    replay a saved crash
#
# By hand, give a target a scratch folder (libFuzzer writes new inputs into its first corpus
# folder), never tests/fuzz/corpus/ itself.
# New inputs stay in build-fuzz/fuzz-work (the repo's corpora are only read); a crash is saved
# there as crash-<sha1> with the log beside it. To keep a reproducer, minimize it
# (-minimize_crash=1 -runs=10000 CRASH_FILE) and add it to tests/fuzz/corpus/<target>/.
# JOBS overrides the build parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
seconds=${FUZZ_SECONDS:-60}
jobs=${JOBS:-$(nproc)}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(tokenizer_encode_fuzz tokenizer_json_fuzz quant_config_fuzz chat_template_fuzz
           openai_request_fuzz)
fi

CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTESSERA_FUZZ=ON -DTESSERA_CUDA=OFF -DTESSERA_BUILD_TESTS=OFF -DTESSERA_BUILD_BENCH=OFF
cmake --build build-fuzz -j "$jobs" --target "${targets[@]}"

symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer
if [ -x "$symbolizer" ]; then export ASAN_SYMBOLIZER_PATH=$symbolizer; fi
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

pids=()
for t in "${targets[@]}"; do
  work=build-fuzz/fuzz-work/$t
  rm -rf "$work"
  mkdir -p "$work/corpus"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  args=(-max_total_time="$seconds" -timeout=30 -print_final_stats=1 -artifact_prefix="$work/")
  dict=tests/fuzz/${t%_fuzz}.dict
  if [ -f "$dict" ]; then args+=(-dict="$dict"); fi
  echo "fuzz: $t for ${seconds}s (log: $work/log)"
  "build-fuzz/tests/fuzz/$t" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 &
  pids+=($!)
done

failed=0
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  log=build-fuzz/fuzz-work/$t/log
  if wait "${pids[$i]}"; then
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' "$log" |
      sed "s/^/fuzz: $t: /"
  else
    failed=1
    echo "fuzz: $t FAILED; the end of $log:"
    tail -n 60 "$log"
  fi
done
exit $failed
