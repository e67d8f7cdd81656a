#!/usr/bin/env bash
# End to end: the `tessera` binary as a user runs it. Writes a random model, generates from a
# JSON Lines file and from flags, and checks that bad input exits 2 with a message naming it.
# With the fixtures folder as second argument, also `tessera tokenize` and text prompts.
set -uo pipefail
tessera=$1
fixtures=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$tessera" init-model --preset tiny-llama --shards 2 --out "$work/model" || fail "init-model"
[ -f "$work/model/model.safetensors.index.json" ] || fail "no index written"

cat > "$work/req.jsonl" <<'JSON'
{"id": "a", "token_ids": [1, 450, 4996], "max_tokens": 5}
{"id": "b", "token_ids": [1, 15043], "max_tokens": 3, "logprobs": 2, "prompt_logprobs": 1}
{"id": "c", "token_ids": [1, 910, 338], "max_tokens": 4, "temperature": 0.9}
{"id": "d", "token_ids": [1, 910, 338], "max_tokens": 6, "temperature": 0.9, "top_k": 20, "top_p": 0.9, "min_p": 0.01, "seed": 42, "repetition_penalty": 1.3, "presence_penalty": 0.5, "frequency_penalty": 0.5, "logit_bias": {"29871": 5}}
{"id": "e", "token_ids": [1, 15043], "max_tokens": 3, "logit_bias": {"13": 100}}
JSON
"$tessera" generate --model "$work/model" --requests "$work/req.jsonl" > "$work/out.jsonl" 2> "$work/err" \
  || fail "generate: $(cat "$work/err")"
[ "$(wc -l < "$work/out.jsonl")" -eq 5 ] || fail "expected 5 output lines"
sed -n 1p "$work/out.jsonl" | grep -q '^{"id":"a","prompt_token_ids":\[1,450,4996\],"output_token_ids":\[[0-9]*,[0-9]*,[0-9]*,[0-9]*,[0-9]*\],"finish_reason":"length","logprobs":null,"prompt_logprobs":null}$' \
  || fail "line 1: $(sed -n 1p "$work/out.jsonl")"
sed -n 2p "$work/out.jsonl" | grep -q '"prompt_logprobs":\[null,{"token_id":15043,"logprob":-[0-9.e-]*,"top":\[{"token_id"' \
  || fail "line 2: $(sed -n 2p "$work/out.jsonl")"
sed -n 3p "$work/out.jsonl" | grep -q '^{"id":"c"' || fail "line 3 out of order"
sed -n 4p "$work/out.jsonl" | grep -q '^{"id":"d","prompt_token_ids":\[1,910,338\],"output_token_ids":\[[0-9]*,[0-9]*,[0-9]*,[0-9]*,[0-9]*,[0-9]*\],' \
  || fail "line 4: $(sed -n 4p "$work/out.jsonl")"
# A bias of +100 outweighs any logit of the random model: greedy picks token 13 every time.
sed -n 5p "$work/out.jsonl" | grep -q '"output_token_ids":\[13,13,13\]' || fail "line 5: $(sed -n 5p "$work/out.jsonl")"

# The seeded request alone gives the tokens it gave in the batch.
sed -n 4p "$work/req.jsonl" > "$work/seeded.jsonl"
"$tessera" generate --model "$work/model" --requests "$work/seeded.jsonl" > "$work/seeded.out" 2>/dev/null \
  || fail "generate seeded"
[ "$(grep -o '"output_token_ids":\[[0-9,]*\]' "$work/seeded.out")" = \
  "$(sed -n 4p "$work/out.jsonl" | grep -o '"output_token_ids":\[[0-9,]*\]')" ] || fail "seeded alone vs batched differ"

# The same greedy request from flags gives the same tokens as from the file.
"$tessera" generate --model "$work/model" --token-ids 1,450,4996 --max-tokens 5 > "$work/flag.jsonl" \
  2>/dev/null || fail "generate from flags"
[ "$(grep -o '"output_token_ids":\[[0-9,]*\]' "$work/flag.jsonl")" = \
  "$(sed -n 1p "$work/out.jsonl" | grep -o '"output_token_ids":\[[0-9,]*\]')" ] || fail "flags vs file differ"

expect_bad() {  # expect_bad MESSAGE_FRAGMENT ARGS...
  local want=$1; shift
  "$tessera" "$@" > "$work/o" 2> "$work/e"
  local rc=$?
  [ $rc -eq 2 ] || fail "exit $rc (want 2) for: $* -- $(cat "$work/e")"
  grep -qF -- "$want" "$work/e" || fail "message lacks '$want': $(cat "$work/e")"
  [ ! -s "$work/o" ] || fail "printed results despite bad input: $*"
}
echo '{"token_ids": [1], "top_z": 3}' > "$work/bad.jsonl"
expect_bad 'bad.jsonl:1: unknown field "top_z"' generate --model "$work/model" --requests "$work/bad.jsonl"
echo '{"token_ids": [1, 32000]}' > "$work/oov.jsonl"
expect_bad 'token_ids[1] = 32000 is outside the vocabulary' generate --model "$work/model" --requests "$work/oov.jsonl"
echo '{"token_ids": [1], "temperature": 1, "top_p": 0}' > "$work/topp.jsonl"
expect_bad 'topp.jsonl:1: "top_p" must be in (0, 1], got 0' generate --model "$work/model" --requests "$work/topp.jsonl"
printf '{"token_ids": [1]}\n{"token_ids": [1], "logit_bias": {"32000": 1}}\n' > "$work/bias.jsonl"
expect_bad 'request "2": logit_bias token id must be in [0, 32000), got 32000' generate --model "$work/model" --requests "$work/bias.jsonl"
expect_bad 'exceeds the model' generate --model "$work/model" --token-ids 1,2 --max-tokens 5000
# --max-model-len caps the context below the model's 4096; above it is an error at start.
expect_bad 'exceeds max-model-len (64 tokens)' generate --model "$work/model" --token-ids 1,2 \
  --max-tokens 63 --max-model-len 64
"$tessera" generate --model "$work/model" --token-ids 1,2 --max-tokens 62 --max-model-len 64 \
  > /dev/null 2>&1 || fail "generate within --max-model-len"
expect_bad '--max-model-len must be in [1, 4096]' generate --model "$work/model" --token-ids 1 \
  --max-model-len 4097

# plan: exit 0 when it fits, 1 with advice when not, 2 for bad flags; --json is JSON.
"$tessera" plan --model "$work/model" --gpu l4 > "$work/plan" || fail "plan: $(cat "$work/plan")"
grep -q '^fits$' "$work/plan" || fail "plan: $(cat "$work/plan")"
"$tessera" plan --preset llama-3-8b --gpu-memory 16GiB --json > "$work/plan.json"
[ $? -eq 1 ] || fail "plan of 8B bf16 on 16 GiB should not fit"
python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert not j["fits"] and "--quantization int8" in j["advice"][0], j' \
  "$work/plan.json" || fail "plan --json: $(cat "$work/plan.json")"
expect_bad '--gpu: unknown "v100"' plan --preset llama-3-8b --gpu v100
expect_bad '--quantization: unknown "int3"' plan --preset llama-3-8b --gpu h100 --quantization int3
expect_bad 'config.json' generate --model "$work/nowhere" --token-ids 1
expect_bad '--token-ids: "x" is not a non-negative integer' generate --model "$work/model" --token-ids 1,x
expect_bad '--backend must be cpu or cuda' generate --model "$work/model" --token-ids 1 --backend tpu

# The daemon's client commands: help, flag errors (exit 2, nothing on stdout) and a refused
# connection (exit 1 with the gRPC code). Calls against a live tesserad are the daemon's tests.
for cmd in complete health model-info; do
  "$tessera" $cmd --help > "$work/o" 2>&1 || fail "$cmd --help exits $?"
  grep -q -- '--server' "$work/o" || fail "$cmd --help does not list --server"
done
expect_bad '--server is required' complete --prompt hi
expect_bad 'one of --prompt or --token-ids is required' complete --server 127.0.0.1:1
expect_bad '--prompt excludes --token-ids' complete --server 127.0.0.1:1 --prompt a --token-ids 1
expect_bad 'INVALID_ARGUMENT: --token-ids: "x" is not a non-negative integer' complete --server 127.0.0.1:1 --token-ids 1,x
expect_bad '--priority' complete --server 127.0.0.1:1 --prompt a --priority urgent
expect_bad '--timeout: must be seconds >= 0' complete --server 127.0.0.1:1 --prompt a --timeout -1
expect_bad '--tls-ca' complete --server 127.0.0.1:1 --prompt a --tls-ca "$work/nowhere.pem"
expect_bad '--stream prints one sample' complete --server 127.0.0.1:1 --prompt a --stream --n 2
expect_bad '--server is required' health
# bench-serve checks its flags before it connects (a refused connection is exit 1).
expect_bad 'prompt must be a length N or a range MIN:MAX' bench-serve --server 127.0.0.1:1 \
  --request-rate 2 --duration 1 --class name=c,prompt=9:1
expect_bad 'rate_share must be a number > 0' bench-serve --server 127.0.0.1:1 --request-rate 2 \
  --duration 1 --tenant name=a,rate_share=0
expect_bad 'give exactly one of --request-rate, --request-rates and --trace' bench-serve \
  --server 127.0.0.1:1 --duration 1
expect_bad '--arrival' bench-serve --server 127.0.0.1:1 --request-rate 2 --duration 1 --arrival uniform
"$tessera" bench-serve --server 127.0.0.1:1 --request-rate 2 --duration 1 --timeout 5 \
  > "$work/o" 2> "$work/e"
[ $? -eq 1 ] && grep -q 'UNAVAILABLE: ModelInfo' "$work/e" || fail "bench-serve, no server: $(cat "$work/e")"
"$tessera" complete --server 127.0.0.1:1 --prompt a > /dev/null 2> "$work/e"
[ $? -eq 1 ] || fail "complete against a closed port should exit 1"
grep -q '^tessera complete: UNAVAILABLE: ' "$work/e" || fail "refused connection: $(cat "$work/e")"
"$tessera" health --server 127.0.0.1:1 > /dev/null 2> "$work/e"
[ $? -eq 1 ] || fail "health against a closed port should exit 1"

# `tessera adapters`: help and flag errors (calls against a live tesserad are the daemon's tests).
for cmd in load unload list; do
  "$tessera" adapters $cmd --help > "$work/o" 2>&1 || fail "adapters $cmd --help exits $?"
  grep -q -- '--server' "$work/o" || fail "adapters $cmd --help does not list --server"
done
"$tessera" adapters --help > "$work/o" 2>&1 || fail "adapters --help exits $?"
for word in load unload list; do grep -q "$word" "$work/o" || fail "adapters --help lacks $word"; done
expect_bad 'A subcommand is required' adapters
expect_bad '--server is required' adapters list
expect_bad 'name is required' adapters load --server 127.0.0.1:1
expect_bad '--wait-timeout requires --wait' adapters unload sql --server 127.0.0.1:1 --wait-timeout 5
expect_bad 'must be seconds >= 0' adapters unload sql --server 127.0.0.1:1 --wait --wait-timeout -1
expect_bad 'tessera adapters load: INVALID_ARGUMENT: ' adapters load ../etc --server 127.0.0.1:1
expect_bad 'tessera adapters unload: INVALID_ARGUMENT: ' adapters unload 'a/b' --server 127.0.0.1:1
expect_bad 'not expected: /x --path' adapters unload sql --server 127.0.0.1:1 --path /x
"$tessera" adapters list --server 127.0.0.1:1 > /dev/null 2> "$work/e"
[ $? -eq 1 ] || fail "adapters list against a closed port should exit 1"
grep -q '^tessera adapters list: UNAVAILABLE: ' "$work/e" || fail "refused connection: $(cat "$work/e")"

# make-model: a model with its own tokenizer, so text prompts work without fixtures. Its BOS
# (<|begin_of_text|>) is id 1984, after the 256 byte tokens and 1728 merged ones.
"$tessera" make-model "$work/made" 2> "$work/e" || fail "make-model: $(cat "$work/e")"
grep -q 'wrote llama-mini' "$work/e" || fail "make-model: $(cat "$work/e")"
"$tessera" make-model "$work/made" 2> "$work/e" || fail "make-model again: $(cat "$work/e")"
grep -q 'already holds llama-mini' "$work/e" || fail "make-model is not idempotent: $(cat "$work/e")"
"$tessera" generate --model "$work/made" --text "The morning train" --max-tokens 4 --threads 1 \
  > "$work/m.jsonl" 2> "$work/e" || fail "generate on the made model: $(cat "$work/e")"
grep -q '^{"id":"0","prompt_token_ids":\[1984,[0-9,]*\],"output_token_ids":\[[0-9]*,[0-9]*,[0-9]*,[0-9]*\],"text":' \
  "$work/m.jsonl" || fail "made model output: $(cat "$work/m.jsonl")"
expect_bad 'already holds something else (model.safetensors differs); pass --force' \
  make-model "$work/made" --seed 1
expect_bad '--preset: unknown "huge"' make-model "$work/other" --preset huge
expect_bad 'exists and is not a directory' make-model "$work/req.jsonl"

# The rest needs the fixtures' tokenizers (tiny-llama ships llama2's tokenizer.json). Expected
# ids and texts are Hugging Face tokenizers' own, from the fixtures' tokenizers/reference.json.
if [ -z "$fixtures" ] || [ ! -f "$fixtures/models/tiny-llama/tokenizer.json" ]; then
  echo "tessera_cli_test: all checks passed (tokenizer checks skipped: no fixtures)"
  exit 0
fi
tiny=$fixtures/models/tiny-llama
expect_out() {  # expect_out EXPECTED ARGS...
  local want=$1; shift
  local got
  got=$("$tessera" "$@" 2> "$work/e") || fail "exit $? for: $* -- $(cat "$work/e")"
  [ "$got" = "$want" ] || fail "$*: got '$got', want '$want'"
}
expect_out '{"ids":[22557,1526]}' tokenize --tokenizer "$tiny" --text "Hello world" --json
expect_out '{"ids":[1,22557,1526]}' tokenize --tokenizer "$tiny/tokenizer.json" --text "Hello world" \
  --add-special-tokens --json
expect_out '{"ids":[1879,28920,333,28345,11310,383,28797]}' tokenize --tokenizer "$tiny" \
  --text "naïve café résumé" --json
expect_out '{"text":"naïve café résumé"}' tokenize --tokenizer "$tiny" \
  --detokenize 1879,28920,333,28345,11310,383,28797 --json
expect_out '{"text":"tabs\tand\nnewlines\r\nmixed"}' tokenize --tokenizer "$tiny" \
  --detokenize 261,4737,12,391,13,1095,8063,28801,13,28719,3162 --json
expect_out '22557 1526' tokenize --tokenizer "$tiny" --text "Hello world"
expect_out 'Hello world' tokenize --tokenizer "$tiny" --detokenize 1,22557,1526,2 --skip-special-tokens
expect_bad 'token id 32000 is not in the vocabulary' tokenize --tokenizer "$tiny" --detokenize 1,32000
expect_bad '--detokenize: "x" is not a non-negative integer' tokenize --tokenizer "$tiny" --detokenize 1,x
expect_bad 'one of --text or --detokenize is required' tokenize --tokenizer "$tiny"
expect_bad "$work/nowhere" tokenize --tokenizer "$work/nowhere" --text hi
printf '{"model": {"type": "WordPiece"}}' > "$work/wp.json"
expect_bad 'WordPiece' tokenize --tokenizer "$work/wp.json" --text hi
expect_bad 'not valid UTF-8' tokenize --tokenizer "$tiny" --text $'caf\xe9'

# Text prompts: the same tokens as the ids Hugging Face gives for that text, and text output
# that reads on from the prompt.
"$tessera" generate --model "$tiny" --text "Hello world" --max-tokens 6 > "$work/t.jsonl" 2> "$work/e" \
  || fail "generate --text: $(cat "$work/e")"
"$tessera" generate --model "$tiny" --token-ids 1,22557,1526 --max-tokens 6 > "$work/i.jsonl" 2> "$work/e" \
  || fail "generate --token-ids: $(cat "$work/e")"
grep -q '"prompt_token_ids":\[1,22557,1526\]' "$work/t.jsonl" || fail "text prompt ids: $(cat "$work/t.jsonl")"
[ "$(cat "$work/t.jsonl")" = "$(cat "$work/i.jsonl")" ] || fail "text vs ids differ"
out_ids=$(grep -o '"output_token_ids":\[[0-9,]*\]' "$work/t.jsonl" | grep -o '[0-9,]*\]' | tr -d ']')
out_text=$(grep -o '"text":"[^"]*"' "$work/t.jsonl")
whole=$("$tessera" tokenize --tokenizer "$tiny" --detokenize "1,22557,1526,$out_ids" --skip-special-tokens --json)
[ "$whole" = "{\"text\":\"Hello world${out_text#\"text\":\"}}" ] || fail "output text '$out_text' does not follow the prompt in '$whole'"
cat > "$work/text.jsonl" <<'JSON'
{"id": "x", "text": "The capital of France is", "max_tokens": 3, "add_special_tokens": false}
JSON
"$tessera" generate --model "$tiny" --requests "$work/text.jsonl" > "$work/o" 2> "$work/e" || fail "text request: $(cat "$work/e")"
grep -q '"prompt_token_ids":\[415,' "$work/o" || fail "add_special_tokens false kept BOS: $(cat "$work/o")"
echo '{"text": "hi", "token_ids": [1]}' > "$work/both.jsonl"
expect_bad 'both.jsonl:1: "text" and "token_ids" exclude each other' generate --model "$tiny" --requests "$work/both.jsonl"
# n samples and stop strings go through the serving scheduler.
cat > "$work/n.jsonl" <<'JSON'
{"id": "n", "text": "Once upon a time", "max_tokens": 6, "n": 3, "temperature": 1.0, "ignore_eos": true}
{"id": "s", "text": "Once upon a time", "max_tokens": 6, "stop": ["\u00e9\u00e9\u00e9 never"], "min_tokens": 1}
JSON
"$tessera" generate --model "$tiny" --requests "$work/n.jsonl" > "$work/o" 2> "$work/e" || fail "n/stop: $(cat "$work/e")"
[ "$(sed -n 1p "$work/o" | grep -o '"output_token_ids":\[[0-9,]*\]' | wc -l)" -eq 4 ] \
  || fail "n=3 should print the first sample and 3 samples: $(sed -n 1p "$work/o")"
sed -n 2p "$work/o" | grep -q '"finish_reason":"length"' || fail "stop that never matches: $(sed -n 2p "$work/o")"
echo '{"text": "hi", "stop": 5}' > "$work/badstop.jsonl"
expect_bad '"stop" must be a string or an array of strings' generate --model "$tiny" --requests "$work/badstop.jsonl"
echo '{"token_ids": [1], "n": 0}' > "$work/badn.jsonl"
expect_bad '"n" must be in [1,' generate --model "$tiny" --requests "$work/badn.jsonl"
echo '{"token_ids": [1], "stop": ["x"]}' > "$work/stopnotok.jsonl"
expect_bad 'stop strings need a tokenizer' generate --model "$work/model" --requests "$work/stopnotok.jsonl"
echo '{"text": "hi"}' > "$work/notok.jsonl"
expect_bad '"text" needs a tokenizer' generate --model "$work/model" --requests "$work/notok.jsonl"
expect_bad '--text needs a tokenizer' generate --model "$work/model" --text hi

# LoRA adapters: greedy output on the fixture adapters against the PEFT references, one adapter at
# a time and all mixed in one run, and the errors.
adapters=$fixtures/adapters
if [ ! -f "$adapters/tiny-llama-r8-all/adapter_config.json" ]; then
  echo "tessera_cli_test: all checks passed (adapter checks skipped: no fixture adapters)"
  exit 0
fi
# make_requests OUT ADAPTER:REF:CASES...: one greedy request per case of refs/REF.public.json,
# its id "REF#CASE", on ADAPTER ("-" = the base model).
make_requests() {
  local out=$1; shift
  python3 - "$fixtures/refs" "$@" > "$out" <<'PY' || fail "make_requests $*"
import json, sys
for spec in sys.argv[2:]:
    adapter, ref, cases = spec.split(":")
    doc = json.load(open(f"{sys.argv[1]}/{ref}.public.json"))
    for i in cases.split(","):
        c = doc["cases"][int(i)]
        r = {"id": f"{ref}#{i}", "token_ids": c["prompt_ids"], "max_tokens": len(c["greedy"]),
             "ignore_eos": True}
        if adapter != "-":
            r["adapter"] = adapter
        print(json.dumps(r))
PY
}
# check_refs OUT COUNT: every output line's tokens equal its reference's greedy tokens up to the
# first step whose margin (top-1 minus top-2 logit) is below 1e-3, where fp32 rounding may flip it.
check_refs() {
  python3 - "$fixtures/refs" "$1" "$2" <<'PY' || fail "$1 differs from the references"
import json, sys
refs, out, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [json.loads(l) for l in open(out)]
bad = 0
for r in lines:
    ref, i = r["id"].rsplit("#", 1)
    c = json.load(open(f"{refs}/{ref}.public.json"))["cases"][int(i)]
    k = next((j for j, m in enumerate(c["margins"]) if m < 1e-3), len(c["greedy"]))
    got = r["output_token_ids"]
    if len(got) != len(c["greedy"]) or got[:k] != c["greedy"][:k]:
        print(f"{r['id']}: got {got}, want the first {k} of {c['greedy']}")
        bad += 1
if len(lines) != want:
    print(f"{out}: {len(lines)} results, want {want}")
    bad += 1
sys.exit(1 if bad else 0)
PY
}
r8=tiny-llama+tiny-llama-r8-all
r16=tiny-llama+tiny-llama-r16-attn
r4=tiny-llama+tiny-llama-r4-mlp
all=0,1,2,3,4,5,6,7
# Loaded up front with --adapter, under names of our choosing.
make_requests "$work/r8.jsonl" "a8:$r8:$all"
"$tessera" generate --model "$tiny" --requests "$work/r8.jsonl" \
  --adapter "a8=$adapters/tiny-llama-r8-all" > "$work/o" 2> "$work/e" || fail "r8: $(cat "$work/e")"
check_refs "$work/o" 8
grep -q 'adapter a8: rank 8' "$work/e" || fail "no adapter summary: $(cat "$work/e")"
make_requests "$work/r4.jsonl" "a4:$r4:$all"
"$tessera" generate --model "$tiny" --requests "$work/r4.jsonl" \
  --adapter "a4=$adapters/tiny-llama-r4-mlp" > "$work/o" 2> "$work/e" || fail "r4: $(cat "$work/e")"
check_refs "$work/o" 8
# By name from --adapter-dir, loaded on first use.
make_requests "$work/r16.jsonl" "tiny-llama-r16-attn:$r16:$all"
"$tessera" generate --model "$tiny" --requests "$work/r16.jsonl" --adapter-dir "$adapters" \
  > "$work/o" 2> "$work/e" || fail "r16: $(cat "$work/e")"
check_refs "$work/o" 8
# One run mixing the base model and the three adapters, request by request: each gets its own
# reference (the adapters' greedy tokens differ from the base model's on these prompts). With
# --max-loras 1 the adapters take turns in the one slot.
make_requests "$work/mixed.jsonl" "-:tiny-llama:0,2,5,6" "a8:$r8:0,2,5,6" \
  "tiny-llama-r16-attn:$r16:0,2,5,6" "a4:$r4:2,5,6"
python3 -c 'import random, sys; l = open(sys.argv[1]).readlines(); random.Random(7).shuffle(l); open(sys.argv[1], "w").writelines(l)' "$work/mixed.jsonl"
for slots in 8 1; do
  "$tessera" generate --model "$tiny" --requests "$work/mixed.jsonl" --max-loras $slots \
    --adapter "a8=$adapters/tiny-llama-r8-all" --adapter "a4=$adapters/tiny-llama-r4-mlp" \
    --adapter-dir "$adapters" > "$work/o" 2> "$work/e" || fail "mixed ($slots slots): $(cat "$work/e")"
  check_refs "$work/o" 15
done

# Errors: exit 2, nothing on stdout, a message naming the request or the flag.
printf '{"id": "u1", "token_ids": [1], "adapter": "nope"}\n' > "$work/unknown.jsonl"
expect_bad 'request "u1": adapter nope not found (load it with --adapter NAME=DIR, or give --adapter-dir)' \
  generate --model "$tiny" --requests "$work/unknown.jsonl" --adapter "a8=$adapters/tiny-llama-r8-all"
expect_bad 'request "u1": adapter nope not found (not given with --adapter, and --adapter-dir has no folder of that name)' \
  generate --model "$tiny" --requests "$work/unknown.jsonl" --adapter-dir "$adapters"
printf '{"token_ids": [1], "adapter": "../x"}\n' > "$work/badname.jsonl"
expect_bad 'badname.jsonl:1: "adapter" ' generate --model "$tiny" --requests "$work/badname.jsonl"
expect_bad '--adapter "a8": expected NAME=DIR' generate --model "$tiny" --token-ids 1 --adapter a8
expect_bad '--adapter "=dir": expected NAME=DIR' generate --model "$tiny" --token-ids 1 --adapter =dir
expect_bad '--adapter "a/b=dir": ' generate --model "$tiny" --token-ids 1 --adapter a/b=dir
expect_bad '--adapter a8 is given twice' generate --model "$tiny" --token-ids 1 \
  --adapter "a8=$adapters/tiny-llama-r8-all" --adapter "a8=$adapters/tiny-llama-r4-mlp"
expect_bad "adapter gone: the adapter folder does not exist ($work/nowhere" generate --model "$tiny" --token-ids 1 --adapter "gone=$work/nowhere"
expect_bad "--adapter-dir $work/nowhere: not a directory" generate --model "$tiny" --token-ids 1 \
  --adapter-dir "$work/nowhere"
expect_bad 'exceeds --max-lora-rank 8' generate --model "$tiny" --token-ids 1 --max-lora-rank 8 \
  --adapter "a16=$adapters/tiny-llama-r16-attn"
expect_bad 'this engine has no adapter slots' generate --model "$tiny" --requests "$work/r8.jsonl" \
  --max-loras 0 --adapter "a8=$adapters/tiny-llama-r8-all"
# A malformed adapter: the r8 weights with a config claiming rank 4.
mkdir -p "$work/lora/bad"
cp "$adapters/tiny-llama-r8-all/adapter_model.safetensors" "$work/lora/bad/"
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["r"] = 4; json.dump(c, open(sys.argv[2], "w"))' \
  "$adapters/tiny-llama-r8-all/adapter_config.json" "$work/lora/bad/adapter_config.json"
expect_bad 'adapter bad: ' generate --model "$tiny" --token-ids 1 --adapter "bad=$work/lora/bad"
grep -q 'rank' "$work/e" || fail "malformed adapter message lacks the reason: $(cat "$work/e")"
printf '{"id": "m1", "token_ids": [1], "adapter": "bad"}\n{"id": "m2", "token_ids": [1], "adapter": "bad"}\n' \
  > "$work/malformed.jsonl"
expect_bad 'request "m1": adapter bad: ' generate --model "$tiny" --requests "$work/malformed.jsonl" \
  --adapter-dir "$work/lora"
[ "$(wc -l < "$work/e")" -eq 1 ] || fail "one message per bad adapter: $(cat "$work/e")"
echo "tessera_cli_test: all checks passed"
