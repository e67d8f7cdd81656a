#!/usr/bin/env bash
# One call on the GPU host: parity tests, golden tests, compute-sanitizer, benchmarks and the
# transformers baseline, logs under $OUT, a short table last. Expects the bundle made here by
#   ../shared/tools/gpu-bundle gpu-out build/tests/engine/cuda/*_test build/bench/*_bench build/server/tesserad \
#     -- ../shared/fixtures
# and is run from the repository root there:  bash bench/gpu-session.sh [tests|bench|all]
set -uo pipefail
what=${1:-all}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$PWD/gpu-out/lib:${LD_LIBRARY_PATH:-}
export TESSERA_FIXTURES_DIR=$PWD/gpu-out/fixtures
bin=$PWD/gpu-out/bin
summary=()
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$OUT/gpu.txt"

if [ "$what" != bench ]; then
  # memory_plan_test and lora_layout_test moved to tests/engine (plain C++, run by CI); the
  # agreement of the shared plan with the CUDA weights is memory_plan_agreement_test.
  for t in device_info_test memory_plan_agreement_test elementwise_ops_test gpu_sampler_test \
           paged_attention_test cuda_block_copy_test cuda_golden_test \
           lora_kernels_test cuda_lora_golden_test cuda_lora_scheduler_test \
           quant_gemm_test copy_kernels_test cuda_quant_engine_test; do
    [ -x "$bin/$t" ] || { summary+=("$t: not built"); continue; }
    timeout ${TEST_TIMEOUT:-240} "$bin/$t" > "$OUT/$t.log" 2>&1
    rc=$?
    summary+=("$t: rc=$rc $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/$t.log" | tr '\n' ' ')")
  done
  for backend in cuda cpu; do
    timeout 60 "$bin/tessera" generate --model "$TESSERA_FIXTURES_DIR/models/tiny-llama" \
      --backend $backend --num-kv-blocks 512 --token-ids 1,415,2936,9060 --max-tokens 12 \
      --logprobs 2 > "$OUT/cli-$backend.json" 2> "$OUT/cli-$backend.err"
    summary+=("tessera generate --backend $backend: rc=$? $(grep -o '"output_token_ids":\[[0-9,]*\]' "$OUT/cli-$backend.json") $(tail -1 "$OUT/cli-$backend.err" | cut -c1-160)")
  done
  grep -h "^\[ case" "$OUT/cuda_golden_test.log" > "$OUT/golden-figures.txt" 2>/dev/null
  # name tool binary filter: a bounded run of compute-sanitizer, its verdict in the summary.
  sanitize() {
    timeout ${SANITIZER_TIMEOUT:-150} compute-sanitizer --tool "$2" --error-exitcode 9 \
      "$bin/$3" --gtest_filter="$4" > "$OUT/sanitizer-$1.log" 2>&1
    summary+=("compute-sanitizer $2 $3 ($4): rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer-$1.log" | tail -1)")
  }
  sanitize attn-mem memcheck paged_attention_test \
    '*DecodeSweepPageBoundaries*:*MixedPrefillAndDecodeSweep*:*SlidingWindow*:*DecodeBatch1And64*'
  sanitize attn-race racecheck paged_attention_test '*MixedPrefillAndDecodeSweep*:*DecodeBatch1And64*'
  sanitize ops-mem memcheck elementwise_ops_test '*'
  sanitize ops-race racecheck elementwise_ops_test '*AddRmsNorm*:*Rope*'
  sanitize sampler-mem memcheck gpu_sampler_test '*Ties*:*LargeLogits*:*CounterUniform*'
  sanitize sampler-race racecheck gpu_sampler_test '*Ties*'
  sanitize golden-mem memcheck cuda_golden_test '*LastLogits*tiny_llama*'
  sanitize lora-mem memcheck lora_kernels_test '*'
  sanitize lora-race racecheck lora_kernels_test '*'
  sanitize lora-golden-mem memcheck cuda_lora_golden_test '*OneBatchMixing*:*EmptiedSlot*'
  # The quantized-weight kernels (GEMV, dequantize, QuantGemm's cuBLAS path) and the copy kernels.
  sanitize quant-mem memcheck quant_gemm_test '*Dequantize*:*Gemv*'
  sanitize quant-race racecheck quant_gemm_test '*Gemv*'
  sanitize copy-mem memcheck copy_kernels_test '*'
  sanitize quant-engine-mem memcheck cuda_quant_engine_test '*LastLogits*quant_llama_awq*'
fi

if [ "$what" != tests ]; then
  timeout 120 "$bin/attention_bench" > "$OUT/attention_bench.log" 2>&1
  summary+=("attention_bench rc=$?")
  # Quantized Linears against bf16 in the same run (QUANT_BENCH_ARGS, e.g. --shape llama-3.2-1b).
  timeout ${QUANT_BENCH_TIMEOUT:-240} "$bin/quant_gemm_bench" ${QUANT_BENCH_ARGS:-} > "$OUT/quant_gemm_bench.log" 2>&1
  summary+=("quant_gemm_bench rc=$?")
  # The engine end to end with quantized Linears against bf16 in the same run (8B shape).
  timeout ${QUANT_ENGINE_BENCH_TIMEOUT:-300} "$bin/engine_bench" \
    ${QUANT_ENGINE_BENCH_ARGS:---shape llama-3-8b --quantization none,int4,int8,fp8,nf4 --batches 1,16,64,256 --new-tokens 32} \
    > "$OUT/engine_bench_quant.log" 2>&1
  summary+=("engine_bench --quantization rc=$?")
  timeout ${ENGINE_BENCH_TIMEOUT:-300} "$bin/engine_bench" ${ENGINE_BENCH_ARGS:-} > "$OUT/engine_bench.log" 2>&1
  summary+=("engine_bench rc=$?")
  # Multi-LoRA throughput and adapter load latency (~2 min with its defaults; its own
  # --time-budget keeps it inside the timeout), then PEFT's mixed-batch baseline beside it.
  timeout ${LORA_BENCH_TIMEOUT:-270} "$bin/lora_bench" ${LORA_BENCH_ARGS:-} > "$OUT/lora_bench.log" 2>&1
  summary+=("lora_bench rc=$? (0 ok, 1 failed, 2 time budget cut runs, 124 timeout)")
  # tesserad's time to ready on CUDA, phase by phase, against the page cache's read rate. The
  # synthetic checkpoints are written once under COLD_START_DIR (1B: 2.5 GB, a minute or two;
  # add llama-3-8b to COLD_START_SHAPES for the 8B goal: 16 GB and several minutes to write).
  if [ -x "$bin/cold_start_bench" ] && [ -x "$bin/tesserad" ]; then
    cold_args=()
    for shape in ${COLD_START_SHAPES:-llama-3.2-1b}; do
      cold_args+=(--synthetic "$shape=${COLD_START_DIR:-/tmp/tessera-cold}/$shape")
    done
    timeout ${COLD_START_TIMEOUT:-400} "$bin/cold_start_bench" --tesserad "$bin/tesserad" \
      "${cold_args[@]}" --runs 3 --load-threads 1,0 --arg=--backend --arg=cuda \
      --arg=--profile-steps=0 > "$OUT/cold_start_bench.log" 2>&1
    summary+=("cold_start_bench rc=$?")
  else
    summary+=("cold_start_bench: not built (bundle build/bench/cold_start_bench and tesserad)")
  fi
  # PEFT_BASELINE: argument sets for peft_mixed.py separated by ';' (default: the 1B shape).
  IFS=';' read -ra runs <<< "${PEFT_BASELINE:---shape llama-3.2-1b}"
  for args in "${runs[@]}"; do
    PYTHONUNBUFFERED=1 timeout ${PEFT_TIMEOUT:-150} python3 bench/baselines/peft_mixed.py $args \
      >> "$OUT/peft_mixed.log" 2>&1
    summary+=("peft_mixed $args: rc=$?")
  done
  # HF_BASELINE: argument sets for hf_generate.py separated by ';', run one after another.
  if [ -n "${HF_BASELINE:-}" ]; then
    IFS=';' read -ra runs <<< "$HF_BASELINE"
    for args in "${runs[@]}"; do
      PYTHONUNBUFFERED=1 timeout ${HF_TIMEOUT:-200} python3 bench/baselines/hf_generate.py $args \
        >> "$OUT/hf_generate.log" 2>&1
      summary+=("hf_generate $args: rc=$?")
    done
  fi
fi

echo "================ summary"
for t in "$OUT"/*_test.log; do grep -E '^\[  FAILED  \]|Failure|error:' "$t" | head -8; done 2>/dev/null
printf '%s\n' "${summary[@]}"
cat "$OUT"/golden-figures.txt 2>/dev/null | sort | uniq | head -40
cat "$OUT"/attention_bench.log "$OUT"/quant_gemm_bench.log "$OUT"/engine_bench_quant.log "$OUT"/engine_bench.log "$OUT"/hf_generate.log 2>/dev/null
cat "$OUT"/cold_start_bench.log 2>/dev/null
# lora_bench's summary block and PEFT's figures (the full runs are in the logs).
sed -n '/^== lora_bench summary/,$p' "$OUT"/lora_bench.log 2>/dev/null
grep -h 'tok/s\|Error\|error' "$OUT"/peft_mixed.log 2>/dev/null | tail -8
