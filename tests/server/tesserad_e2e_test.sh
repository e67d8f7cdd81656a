#!/usr/bin/env bash
# tesserad end to end, as a user runs it: `tessera make-model` writes the default model, the daemon
# serves it on loopback, and the `tessera` CLI, curl and Python grpcio talk to it; then SIGTERM
# drains it. With TLS, a second daemon serves a self-signed certificate made here.
#   tesserad_e2e_test.sh TESSERAD TESSERA PROTO_ROOT GRPCIO_CLIENT_PY
set -uo pipefail
tesserad=$1 tessera=$2 proto_root=$3 grpcio_client=$4
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "tesserad_e2e: FAILED: $*" >&2; for f in "$work"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }
ok() { echo "tesserad_e2e: ok: $*"; }

# Starts tesserad with the given flags, logging to $work/$1.log; sets port, metrics_port and
# http_port.
start_daemon() {
  local name=$1; shift
  "$tesserad" --model "$work/model" --port 0 --metrics-port 0 --http-port 0 --threads 1 "$@" \
    >"$work/$name.log" 2>&1 &
  daemon_pid=$!
  pids+=("$daemon_pid")
  for _ in $(seq 1 600); do
    if grep -q "tesserad: serving" "$work/$name.log"; then break; fi
    kill -0 "$daemon_pid" 2>/dev/null || fail "$name exited at start"
    sleep 0.1
  done
  local line
  line=$(grep "tesserad: serving" "$work/$name.log") || fail "$name did not start"
  port=$(sed -E 's/.* on 127\.0\.0\.1:([0-9]+) .*/\1/' <<<"$line")
  metrics_port=$(sed -E 's|.*http://127\.0\.0\.1:([0-9]+)/metrics.*|\1|' <<<"$line")
  http_port=$(sed -nE 's|.*HTTP \(OpenAI API.* on https?://127\.0\.0\.1:([0-9]+).*|\1|p' \
    "$work/$name.log")
  [ -n "$http_port" ] || fail "$name logged no HTTP port"
}

# SSE framing of a streamed completion as curl receives it (headers in $1, body in $2): chunked
# text/event-stream, every event one `data: <JSON>` line and a blank line, `data: [DONE]` last.
check_sse() {
  python3 - "$1" "$2" <<'PY'
import json, sys
headers = open(sys.argv[1], encoding="utf-8").read().lower()
body = open(sys.argv[2], encoding="utf-8").read()
assert headers.startswith("http/1.1 200"), headers
assert "content-type: text/event-stream" in headers, headers
assert "transfer-encoding: chunked" in headers, headers
assert body.endswith("data: [DONE]\n\n"), repr(body[-80:])
events = body.split("\n\n")
assert events[-1] == "", repr(events[-1])
events = events[:-1]
assert len(events) >= 3, events
for e in events[:-1]:
    assert e.startswith("data: ") and "\n" not in e, repr(e)
    chunk = json.loads(e[len("data: "):])
    assert chunk["object"] == "text_completion", chunk
usage = json.loads(events[-2][len("data: "):])
assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 5, usage
PY
}

"$tessera" make-model "$work/model" >"$work/make-model.log" 2>&1 || fail "make-model"
ok "make-model wrote $(ls "$work/model" | tr '\n' ' ')"

start_daemon main --drain-timeout 60
server=127.0.0.1:$port
grep -q "memory plan: cpu (fp32): weights" "$work/main.log" || fail "no memory plan in the log"
# The profiling pass (--profile-steps, default 13; fewer on a busy machine) seeded the model.
grep -Eq "tesserad: step-time model from [0-9]+ profiled steps in [0-9.]+ s: constant=.*; fit error mean" \
  "$work/main.log" || fail "no step-time profile in the log"
ok "tesserad listening on $server, metrics on $metrics_port"

# The start's phases (server/start_log.h): a line each, in order, then a summary whose total is
# their sum; the same figures on /metrics.
python3 - "$work/main.log" >"$work/phases.txt" <<'PY' || fail "start-phase timings: $(cat "$work/phases.txt")"
import re, sys
log = open(sys.argv[1], encoding="utf-8").read()
phases = re.findall(r"tesserad: start phase=(\w+) seconds=([0-9]+\.[0-9]{4})$", log, re.M)
names = [n for n, _ in phases]
expected = ["process", "setup", "model_open", "weights", "kv_alloc", "adapters", "profile", "ready"]
assert names == expected, f"phases {names}, expected {expected}"
m = re.search(r"tesserad: start summary total_seconds=([0-9.]+)((?: \w+=[0-9.]+)+)$", log, re.M)
assert m, "no summary line"
total = float(m.group(1))
summary = dict(kv.split("=") for kv in m.group(2).split())
assert list(summary) == names, summary
for n, s in phases:
    assert summary[n] == s, (n, s, summary[n])
assert abs(sum(float(s) for _, s in phases) - total) <= 0.0001 * len(phases), (phases, total)
# The model is real (weights converted) and --profile-steps ran steps: both took time.
assert float(summary["weights"]) > 0 and float(summary["profile"]) > 0, summary
assert 0 < total < 120, total
print(" ".join(f"{n}={s}" for n, s in phases), f"total={total}")
PY
curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/start-metrics.txt" || fail "/metrics"
grep -Eq '^tessera_startup_phase_seconds\{model_name="model",phase="weights"\} [0-9.e-]+$' \
  "$work/start-metrics.txt" || fail "no tessera_startup_phase_seconds for weights on /metrics"
[ "$(grep -c '^tessera_startup_phase_seconds{' "$work/start-metrics.txt")" = 8 ] ||
  fail "tessera_startup_phase_seconds: $(grep '^tessera_startup' "$work/start-metrics.txt")"
ok "start phases: $(cat "$work/phases.txt")"

out=$("$tessera" health --server "$server") || fail "health exit $?"
[ "$out" = SERVING ] || fail "health printed '$out'"
out=$("$tessera" health --server "$server" --service tessera.v1.Inference) || fail "readiness"
ok "health: liveness and readiness SERVING"

"$tessera" model-info --server "$server" >"$work/info.json" || fail "model-info"
grep -q '"has_tokenizer": true' "$work/info.json" || fail "model-info: $(cat "$work/info.json")"
ok "model-info"

"$tessera" complete --server "$server" --prompt "Hello, world" --max-tokens 8 --stream \
  >"$work/stream.txt" 2>"$work/complete.err" || fail "complete --stream"
"$tessera" complete --server "$server" --prompt "Hello, world" --max-tokens 8 --json \
  >"$work/complete.json" 2>>"$work/complete.err" || fail "complete --json"
grep -q '"completion_tokens": *[1-8]\b' "$work/complete.json" || fail "complete --json: $(cat "$work/complete.json")"
# Greedy: the streamed text and the collected text are the same.
python3 - "$work/stream.txt" "$work/complete.json" <<'PY' || fail "streamed text differs from --json text"
import json, sys
streamed = open(sys.argv[1]).read().rstrip("\n")
collected = json.load(open(sys.argv[2]))["text"]
sys.exit(0 if streamed == collected else 1)
PY
ok "complete: streamed and collected text agree"

if "$tessera" complete --server "$server" --prompt "x" --temperature -1 2>"$work/bad.err"; then
  fail "temperature -1 accepted"
fi
grep -q "INVALID_ARGUMENT" "$work/bad.err" && grep -q temperature "$work/bad.err" ||
  fail "bad request: $(cat "$work/bad.err")"
ok "bad request: $(head -1 "$work/bad.err")"

curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || fail "/metrics"
grep -q '^vllm:generation_tokens_total{model_name="model"} ' "$work/metrics.txt" ||
  fail "/metrics lacks vllm:generation_tokens_total"
[ "$(curl -s "http://127.0.0.1:$metrics_port/healthz")" = ok ] || fail "/healthz"
curl -sf "http://127.0.0.1:$metrics_port/readyz" >/dev/null || fail "/readyz"
ok "/metrics, /healthz, /readyz"

# The HTTP port: probes as vLLM's, and a streamed completion's SSE framing as curl sees it.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/health")" = 200 ] ||
  fail "/health on the HTTP port"
# Into a file first: with pipefail, grep -q quitting at the first match would fail curl (SIGPIPE)
# once the page outgrows the pipe's buffer.
curl -sf "http://127.0.0.1:$http_port/metrics" >"$work/http-metrics.txt" &&
  grep -q '^vllm:num_requests_running' "$work/http-metrics.txt" || fail "/metrics on the HTTP port"
curl -sN -D "$work/sse.headers" -o "$work/sse.body" -H 'Content-Type: application/json' \
  -H 'x-request-id: e2e-sse-1' "http://127.0.0.1:$http_port/v1/completions" \
  -d '{"model": "model", "prompt": "Hello, world", "max_tokens": 5, "stream": true,
       "stream_options": {"include_usage": true}}' || fail "curl streamed completion"
check_sse "$work/sse.headers" "$work/sse.body" ||
  fail "SSE framing: $(cat "$work/sse.headers" "$work/sse.body")"
grep -qi '^x-request-id: e2e-sse-1' "$work/sse.headers" || fail "x-request-id not echoed"
code=$(curl -s -o "$work/404.json" -w '%{http_code}' "http://127.0.0.1:$http_port/v1/completions" \
  -d '{"model": "other", "prompt": "x"}')
[ "$code" = 404 ] && grep -q '"model_not_found"' "$work/404.json" || fail "unknown model: $code"
ok "HTTP port: /health, /metrics, SSE framing with data: [DONE], x-request-id, 404 model"

/usr/bin/python3 "$grpcio_client" "$server" "$proto_root" || fail "Python grpcio client"

# SIGTERM while a long completion streams: it finishes, new calls are refused, exit code 0.
"$tessera" complete --server "$server" --token-ids 1,2,3 --max-tokens 1500 --json \
  >"$work/long.json" 2>"$work/long.err" &
long_pid=$!
for _ in $(seq 1 200); do
  grep -q "requests_running{[^}]*} 1" <(curl -s "http://127.0.0.1:$metrics_port/metrics") && break
  sleep 0.05
done
kill -TERM "$daemon_pid"
for _ in $(seq 1 100); do
  ! curl -sf "http://127.0.0.1:$metrics_port/readyz" >/dev/null && break
  sleep 0.02
done
if "$tessera" health --server "$server" --service tessera.v1.Inference >"$work/drain-health.txt" 2>&1; then
  fail "readiness still SERVING while draining"
fi
wait "$long_pid" || fail "the stream in flight failed during the drain: $(cat "$work/long.err")"
wait "$daemon_pid"
rc=$?
[ $rc -eq 0 ] || fail "tesserad exited $rc after SIGTERM"
grep -q "tesserad: drained: 1 finished, 0 cancelled" "$work/main.log" || fail "drain log"
ok "SIGTERM: readiness NOT_SERVING, the stream finished, exit 0"

# --scheduling-policy: the default is slo; an unknown one exits 2 at once, naming the flag and
# the valid ones; fcfs serves the same greedy completion (policies change only timing).
grep -q "tesserad: scheduling policy slo" "$work/main.log" || fail "no default policy logged"
"$tesserad" --model "$work/model" --port 0 --metrics-port -1 --http-port -1 --scheduling-policy edf \
  >"$work/bad-policy.log" 2>&1
rc=$?
[ $rc -eq 2 ] || fail "--scheduling-policy edf: exit $rc"
grep -q -- '--scheduling-policy: unknown scheduling policy "edf"; valid: fcfs, priority, slo' \
  "$work/bad-policy.log" || fail "--scheduling-policy edf: $(cat "$work/bad-policy.log")"
start_daemon fcfs --scheduling-policy fcfs
grep -q "tesserad: scheduling policy fcfs" "$work/fcfs.log" || fail "fcfs not logged"
"$tessera" complete --server "127.0.0.1:$port" --prompt "Hello, world" --max-tokens 8 --json \
  >"$work/fcfs.json" 2>"$work/fcfs.err" || fail "complete under fcfs: $(cat "$work/fcfs.err")"
python3 - "$work/complete.json" "$work/fcfs.json" <<'PY' || fail "fcfs text differs from slo"
import json, sys
texts = [json.load(open(f))["text"] for f in sys.argv[1:]]
sys.exit(0 if texts[0] == texts[1] and texts[0] else 1)
PY
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "tesserad (fcfs) exited $? after SIGTERM"
ok "--scheduling-policy: edf refused with exit 2, fcfs serves the same text as slo"

# A missing model folder is the first thing reported, before the other files are read (a
# deployment's flags are checked this way: tests/deploy), and a file is not a model folder.
"$tesserad" --model "$work/no-model" --api-keys "$work/no-keys.json" --port 0 --metrics-port -1 \
  --http-port -1 >"$work/no-model.log" 2>&1
rc=$?
[ $rc -eq 2 ] || fail "--model of a missing folder: exit $rc"
grep -q -- "--model $work/no-model: no such directory" "$work/no-model.log" ||
  fail "--model of a missing folder: $(cat "$work/no-model.log")"
"$tesserad" --model "$work/model/config.json" --port 0 --metrics-port -1 --http-port -1 \
  >"$work/file-model.log" 2>&1
rc=$?
[ $rc -eq 2 ] || fail "--model of a file: exit $rc"
grep -q -- "--model $work/model/config.json: not a directory" "$work/file-model.log" ||
  fail "--model of a file: $(cat "$work/file-model.log")"
ok "--model: a missing folder is reported first, a file refused, exit 2"

# TLS with a self-signed certificate for localhost.
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" -keyout "$work/key.pem" -out "$work/cert.pem" \
    >/dev/null 2>&1 || fail "openssl"
  start_daemon tls --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
  out=$("$tessera" health --server "127.0.0.1:$port" --tls --tls-ca "$work/cert.pem" \
        --tls-server-name localhost) || fail "health over TLS"
  "$tessera" complete --server "127.0.0.1:$port" --tls --tls-ca "$work/cert.pem" \
    --tls-server-name localhost --prompt "Hi" --max-tokens 3 >/dev/null || fail "complete over TLS"
  if "$tessera" health --server "127.0.0.1:$port" --timeout 3 >/dev/null 2>&1; then
    fail "a plaintext client was served by the TLS port"
  fi
  # The HTTP port speaks TLS with the same certificate, streams included.
  curl -sN --cacert "$work/cert.pem" -D "$work/tls-sse.headers" -o "$work/tls-sse.body" \
    "https://localhost:$http_port/v1/completions" -d '{"prompt": "Hi", "max_tokens": 5,
    "stream": true, "stream_options": {"include_usage": true}}' || fail "curl over TLS"
  check_sse "$work/tls-sse.headers" "$work/tls-sse.body" || fail "SSE over TLS"
  if curl -s -m 3 "http://127.0.0.1:$http_port/health" >/dev/null 2>&1; then
    fail "plain HTTP was served by the TLS HTTP port"
  fi
  kill -INT "$daemon_pid"
  wait "$daemon_pid" || fail "tesserad (TLS) exited $? after SIGINT"
  ok "TLS: health, complete and HTTPS streaming with the CA, plaintext refused, SIGINT exit 0"
  # A key of another pair: refused at start, saying so (it used to read "cannot listen on ...").
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=other" \
    -keyout "$work/other-key.pem" -out "$work/other-cert.pem" >/dev/null 2>&1 || fail "openssl"
  if "$tesserad" --model "$work/model" --port 0 --metrics-port -1 --http-port -1 \
      --tls-cert "$work/cert.pem" \
      --tls-key "$work/other-key.pem" >"$work/tls-mismatch.log" 2>&1; then
    fail "tesserad started with a key that does not match its certificate"
  fi
  grep -q -- "--tls-key $work/other-key.pem: the key does not match the certificate" \
    "$work/tls-mismatch.log" || fail "mismatched key: $(tail -3 "$work/tls-mismatch.log")"
  ok "TLS: a key of another certificate is named at start"
fi
echo "tesserad_e2e: all passed"
