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
  for f in "$fixtures"/chat_templates/*.json; do
    family=$(basename "$f" .json)
    mkdir -p "$work/$family/cases"
    # A model folder whose tokenizer_config.json has the fixture's special tokens and template;
    # one request file per case, and its clock (if any) beside it.
    python3 - "$f" "$work/$family" <<'PY' || fail "prepare $f"
import json, os, sys
fixture = json.load(open(sys.argv[1]))
config = dict(fixture["special_tokens"])
config["chat_template"] = fixture["template"]
json.dump(config, open(os.path.join(sys.argv[2], "tokenizer_config.json"), "w"))
for c in fixture["cases"]:
    base = os.path.join(sys.argv[2], "cases", c["name"])
    json.dump(c, open(base + ".json", "w"), ensure_ascii=False)
    open(base + ".now", "w").write(c.get("now", ""))
PY
    for c in "$work/$family"/cases/*.json; do
      base=${c%.json}
      args=(chat-template --tokenizer-config "$work/$family")
      [ -s "$base.now" ] && args+=(--now "$(cat "$base.now")")
      "$tessera" "${args[@]}" < "$c" > "$base.out" 2> "$base.err"
      echo $? > "$base.rc"
    done
  done
  python3 - "$work" <<'PY' || fail "fixture cases through the CLI"
import glob, json, os, sys
count = 0
for c in sorted(glob.glob(os.path.join(sys.argv[1], "*", "cases", "*.json"))):
    base = c[:-len(".json")]
    case = json.load(open(c))
    rc = int(open(base + ".rc").read())
    err = open(base + ".err").read()
    out = json.load(open(base + ".out")) if rc in (0, 2) else None
    want = (0, {"prompt": case["expected"]}) if "expected" in case else (2, {"error": case["error"]})
    if (rc, out) != want:
        sys.exit(f"{c}: exit {rc}, {out!r} {err}; want {want!r}")
    count += 1
if count != 47:
    sys.exit(f"ran {count} fixture cases, expected 47")
PY
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
