#!/usr/bin/env bash
# End to end: `tessera chat-template` as a user runs it, on fixture templates written out as a
# model's tokenizer_config.json. Every public fixture case goes through the binary: a rendered
# case prints {"prompt"} equal to the fixture's expected string (exit 0), a refused case prints
# {"error"} with the template's message (exit 2). Bad templates, bad requests and a hostile
# template exit 1 with a message naming the problem.
set -uo pipefail
tessera=$1
fixtures=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

if [ -d "$fixtures/chat_templates" ]; then
  count=0
  for f in "$fixtures"/chat_templates/*.json; do
    mkdir -p "$work/model"
    # tokenizer_config.json: the fixture's special tokens and its template.
    python3 - "$f" "$work/model/tokenizer_config.json" "$work/cases" <<'PY' || fail "prepare $f"
import json, os, sys
fixture = json.load(open(sys.argv[1]))
config = dict(fixture["special_tokens"])
config["chat_template"] = fixture["template"]
json.dump(config, open(sys.argv[2], "w"))
os.makedirs(sys.argv[3], exist_ok=True)
for c in fixture["cases"]:
    json.dump(c, open(os.path.join(sys.argv[3], c["name"] + ".json"), "w"), ensure_ascii=False)
PY
    for c in "$work"/cases/*.json; do
      now=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("now", ""))' "$c")
      args=(chat-template --tokenizer-config "$work/model/tokenizer_config.json")
      [ -n "$now" ] && args+=(--now "$now")
      "$tessera" "${args[@]}" < "$c" > "$work/out" 2> "$work/err"
      rc=$?
      python3 - "$c" "$work/out" "$rc" <<'PY' || fail "$(basename "$f") $(basename "$c"): $(cat "$work/err")"
import json, sys
case = json.load(open(sys.argv[1]))
out = json.load(open(sys.argv[2]))
rc = int(sys.argv[3])
if "expected" in case:
    assert rc == 0, f"exit {rc}"
    assert out == {"prompt": case["expected"]}, f"got {out!r}"
else:
    assert rc == 2, f"exit {rc}"
    assert out == {"error": case["error"]}, f"got {out!r}"
PY
      count=$((count + 1))
    done
    rm -rf "$work/cases" "$work/model"
  done
  [ "$count" -eq 47 ] || fail "ran $count fixture cases, expected 47"
fi

# --now fixes the clock strftime_now() reads.
mkdir -p "$work/m"
cat > "$work/m/tokenizer_config.json" <<'JSON'
{"bos_token": "<s>", "chat_template": "{{ bos_token }}{{ strftime_now('%d %B %Y') }}|{{ messages[0].content }}"}
JSON
echo '{"messages": [{"role": "user", "content": "hé \"q\""}]}' > "$work/req.json"
out=$("$tessera" chat-template --tokenizer-config "$work/m" --now 2024-07-26T10:00:00 < "$work/req.json") \
  || fail "--now render"
[ "$out" = '{"prompt":"<s>26 July 2024|hé \"q\""}' ] || fail "--now output: $out"

# --chat-template replaces the model's template.
printf '{%% for m in messages %%}[{{ m.role }}]{%% endfor %%}\n' > "$work/t.jinja"
out=$("$tessera" chat-template --tokenizer-config "$work/m/tokenizer_config.json" \
  --chat-template "$work/t.jinja" < "$work/req.json") || fail "--chat-template"
[ "$out" = '{"prompt":"[user]"}' ] || fail "--chat-template output: $out"

expect_fail() {  # expect_fail MESSAGE_FRAGMENT TEMPLATE_FILE REQUEST_FILE [ARGS...]
  local want=$1 tmpl=$2 req=$3; shift 3
  timeout 20 "$tessera" chat-template --tokenizer-config "$work/m" --chat-template "$tmpl" "$@" \
    < "$req" > "$work/o" 2> "$work/e"
  local rc=$?
  [ $rc -eq 1 ] || fail "exit $rc (want 1) for $tmpl -- $(cat "$work/e")"
  grep -qF -- "$want" "$work/e" || fail "message lacks '$want': $(cat "$work/e")"
  [ ! -s "$work/o" ] || fail "printed a result despite failing: $(cat "$work/o")"
}
printf 'ok\n{%% if %%}\n' > "$work/bad.jinja"
expect_fail "chat template line 2: expected an expression" "$work/bad.jinja" "$work/req.json"
printf '{%% macro f(n) %%}{{ f(n + 1) }}{%% endmacro %%}\n{{ f(0) }}' > "$work/rec.jinja"
expect_fail "macro calls nested deeper than" "$work/rec.jinja" "$work/req.json"
printf '{%% for i in range(100000) %%}{{ "x" * 100000 }}{%% endfor %%}' > "$work/big.jinja"
expect_fail "output exceeds" "$work/big.jinja" "$work/req.json"
echo '{"messages": 5}' > "$work/badreq.json"
expect_fail 'stdin: "messages" must be a list of message objects' "$work/t.jinja" "$work/badreq.json"
echo 'not json' > "$work/notjson.json"
expect_fail 'stdin: not a JSON object' "$work/t.jinja" "$work/notjson.json"
expect_fail '--now: "noon" is not YYYY-MM-DDTHH:MM:SS' "$work/t.jinja" "$work/req.json" --now noon

echo "PASS"
