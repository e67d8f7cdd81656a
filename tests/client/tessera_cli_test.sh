#!/usr/bin/env bash
# End to end: the `tessera` binary as a user runs it. Writes a random model, generates from a
# JSON Lines file and from flags, and checks that bad input exits 2 with a message naming it.
set -uo pipefail
tessera=$1
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
expect_bad 'config.json' generate --model "$work/nowhere" --token-ids 1
expect_bad '--token-ids: "x" is not a non-negative integer' generate --model "$work/model" --token-ids 1,x
expect_bad '--backend must be cpu or cuda' generate --model "$work/model" --token-ids 1 --backend tpu
echo "tessera_cli_test: all checks passed"
