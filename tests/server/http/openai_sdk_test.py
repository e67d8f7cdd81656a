"""The official OpenAI Python SDK (a client nobody here wrote) against the real tesserad process.

  openai_sdk_test.py TESSERAD FIXTURES_DIR

Serves the tiny-llama fixture over HTTP with the Llama 3.1 chat template (from the chat-template
fixtures) and a PEFT adapter, and checks: models listing (the adapter with its parent),
completions, chat streaming with usage, cached prompt tokens, an adapter selected by `model`,
400 / 401 / 403 / 404 / 413 / 429 / 503 (draining) errors, a tool call parsed back (Llama 3.1 JSON), and a cancelled stream
freeing its request
(vllm:num_requests_running back to 0 long before the stream could have finished), and sleep mode
(/sleep, /wake_up: admin only, 503 to the SDK while asleep, the same greedy text after the wake).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import openai

tesserad, fixtures = sys.argv[1], sys.argv[2]
model_dir = os.path.join(fixtures, "models", "tiny-llama")
adapter_dir = os.path.join(fixtures, "adapters", "tiny-llama-r8-all")
work = tempfile.mkdtemp(prefix="openai_sdk_test.")
daemons = []


def fail(message):
    print("openai_sdk_test: FAILED:", message, file=sys.stderr)
    for d in daemons:
        d["proc"].kill()
        print("--- log", file=sys.stderr)
        with open(d["log"]) as f:
            print(f.read()[-3000:], file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("openai_sdk_test: ok:", message)


def start(name, *flags):
    log = os.path.join(work, name + ".log")
    proc = subprocess.Popen(
        [tesserad, "--model", model_dir, "--port", "0", "--metrics-port", "-1", "--http-port",
         "0", "--threads", "1", "--chat-template", template, *flags],
        stdout=open(log, "w"), stderr=subprocess.STDOUT)
    daemons.append({"proc": proc, "log": log})
    for _ in range(600):
        text = open(log).read()
        m = re.search(r"on http://127\.0\.0\.1:(\d+)", text)
        if m and "tesserad: serving" in text:
            return int(m.group(1))
        if proc.poll() is not None:
            fail(name + " exited at start")
        time.sleep(0.1)
    fail(name + " did not start")


def metric(port, name):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = [float(line.split()[-1]) for line in body.splitlines()
              if line.startswith(name + "{") or line.startswith(name + " ")]
    return sum(values)


with open(os.path.join(fixtures, "chat_templates", "llama3_1.json")) as f:
    template = os.path.join(work, "llama3_1.jinja")
    with open(template, "w") as out:
        out.write(json.load(f)["template"])

port = start("open", "--adapter", f"r8={adapter_dir}")
client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)

models = client.models.list()
ids = {m.id: m for m in models.data}
check("tiny-llama" in ids and "r8" in ids, f"models listed: {sorted(ids)}")
check(getattr(ids["r8"], "parent", None) == "tiny-llama", "the adapter's parent is the base model")

c = client.completions.create(model="tiny-llama", prompt="Hello, world", max_tokens=6,
                              temperature=0)
check(c.object == "text_completion" and len(c.choices) == 1 and c.choices[0].text,
      f"completion text {c.choices[0].text!r}")
check(c.usage.completion_tokens == 6 and c.usage.prompt_tokens > 0,
      f"completion usage {c.usage}")

# The prefix cache: the same long prompt again finds its full blocks cached, and says so in
# OpenAI's usage.prompt_tokens_details.cached_tokens.
long_prompt = "The quick brown fox jumps over the lazy dog. " * 8
first = client.completions.create(model="tiny-llama", prompt=long_prompt, max_tokens=2,
                                  temperature=0)
again = client.completions.create(model="tiny-llama", prompt=long_prompt, max_tokens=2,
                                  temperature=0)
cached = again.usage.prompt_tokens_details.cached_tokens
check(first.usage.prompt_tokens > 32 and
      first.usage.prompt_tokens_details.cached_tokens == 0 and
      cached >= 32 and cached < again.usage.prompt_tokens,
      f"cached prompt tokens: first {first.usage}, again {again.usage}")

stream = client.chat.completions.create(
    model="tiny-llama", messages=[{"role": "user", "content": "Say something."}], max_tokens=8,
    temperature=0, stream=True, stream_options={"include_usage": True})
chunks = list(stream)
text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and
            ch.choices[0].finish_reason]
usage = [ch.usage for ch in chunks if ch.usage is not None]
check(chunks[0].choices[0].delta.role == "assistant", "the first chat chunk carries the role")
check(text and finishes == ["length"], f"streamed chat text {text!r}, finish {finishes}")
check(len(usage) == 1 and usage[0].completion_tokens == 8 and not chunks[-1].choices,
      f"the last chunk is the usage: {usage}")
whole = client.chat.completions.create(
    model="tiny-llama", messages=[{"role": "user", "content": "Say something."}], max_tokens=8,
    temperature=0)
check(whole.choices[0].message.content == text, "greedy chat: streamed text == whole text")

base = client.completions.create(model="tiny-llama", prompt="The adapter", max_tokens=8,
                                 temperature=0)
adapted = client.completions.create(model="r8", prompt="The adapter", max_tokens=8,
                                    temperature=0)
check(adapted.model == "r8" and adapted.choices[0].text != base.choices[0].text,
      f"model=r8 runs the adapter: {adapted.choices[0].text!r} vs {base.choices[0].text!r}")

try:
    client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
    fail("an unknown model was served")
except openai.NotFoundError as e:
    check(e.status_code == 404 and e.code == "model_not_found" and "no-such-model" in e.message,
          f"404 unknown model: {e.body}")
try:
    client.completions.create(model="tiny-llama", prompt="x", max_tokens=1, temperature="hot")
    fail("a bad temperature was accepted")
except openai.BadRequestError as e:
    check(e.status_code == 400 and e.body.get("param") == "temperature",
          f"400 names the field: {e.body}")

# A tool call parsed back (Llama 3.1 JSON, detected from the template). A random tiny model will
# not write one, so the call text comes from vLLM's continue_final_message + echo (the reply
# starts with the open assistant message) and the model's own output is only its EOS (logit_bias,
# max_tokens 1): the template with tools, the parser and the SDK see a real tool call.
tools = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]
call = client.chat.completions.create(
    model="tiny-llama", tools=tools, max_tokens=1, temperature=0, logit_bias={"2": 100},
    messages=[{"role": "user", "content": "Weather in Paris?"},
              {"role": "assistant",
               "content": '{"name": "get_weather", "parameters": {"city": "Paris"}}'}],
    extra_body={"continue_final_message": True, "add_generation_prompt": False, "echo": True})
choice = call.choices[0]
calls = choice.message.tool_calls or []
check(choice.finish_reason == "tool_calls" and len(calls) == 1 and
      calls[0].function.name == "get_weather" and
      json.loads(calls[0].function.arguments) == {"city": "Paris"} and
      calls[0].id.startswith("chatcmpl-tool-") and not choice.message.content,
      f"a tool call parsed back: {choice.message}")

# A stream closed by the client frees its request within a step.
check(metric(port, "vllm:num_requests_running") == 0, "nothing running before the long stream")
long = client.completions.create(model="tiny-llama", prompt="Count", max_tokens=3500,
                                 temperature=0, stream=True, extra_body={"ignore_eos": True})
it = iter(long)
next(it), next(it)
check(metric(port, "vllm:num_requests_running") == 1, "the long stream is running")
closed_at = time.monotonic()
long.close()
while metric(port, "vllm:num_requests_running") != 0:
    if time.monotonic() - closed_at > 10:
        fail("the closed stream's request still runs")
    time.sleep(0.02)
freed_after = time.monotonic() - closed_at
check(freed_after < 2, f"the closed stream's request was freed after {freed_after:.3f} s")
# Freed by the cancel, not by finishing: far fewer than its 3500 tokens were generated.
generated = metric(port, "vllm:generation_tokens_total")
check(generated < 3000, f"the closed stream stopped early ({generated:.0f} tokens in all)")

# Draining: a new request is refused 503 (and /health says 503) while a stream still runs.
draining = client.completions.create(model="tiny-llama", prompt="Count", max_tokens=3500,
                                     temperature=0, stream=True, extra_body={"ignore_eos": True})
it = iter(draining)
next(it), next(it)
daemons[0]["proc"].terminate()
deadline = time.monotonic() + 10
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
    except urllib.error.HTTPError as e:
        if e.code == 503:
            break
    if time.monotonic() > deadline:
        fail("/health never said 503 after SIGTERM")
    time.sleep(0.02)
try:
    client.completions.create(model="tiny-llama", prompt="x", max_tokens=1)
    fail("a draining daemon took a new request")
except openai.APIStatusError as e:
    check(e.status_code == 503 and e.body.get("message"), f"503 while draining: {e.body}")
draining.close()


def raw_post(port, path, body, key):
    """POSTs JSON with a bearer key; returns (status, parsed body)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {key}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


keys = os.path.join(work, "keys.json")
with open(keys, "w") as f:
    json.dump({"keys": [{"key": "sk-good", "tenant": "acme", "role": "user"},
                        {"key": "sk-metered", "tenant": "metered", "role": "user"},
                        {"key": "sk-ops", "tenant": "ops", "role": "admin"}],
               "tenants": {"metered": {"tokens_per_minute": 30}}}, f)
kport = start("keys", "--api-keys", keys, "--max-request-bytes", "4096")
bad = openai.OpenAI(base_url=f"http://127.0.0.1:{kport}/v1", api_key="sk-bad", max_retries=0)
try:
    bad.models.list()
    fail("an unknown key was let in")
except openai.AuthenticationError as e:
    check(e.status_code == 401, f"401 for an unknown key: {e.body}")
good = openai.OpenAI(base_url=f"http://127.0.0.1:{kport}/v1", api_key="sk-good", max_retries=0)
check(good.completions.create(model="tiny-llama", prompt="hi", max_tokens=2).usage
      .completion_tokens == 2, "a known key generates")

# 403: loading adapters is for admin keys.
status, body = raw_post(kport, "/v1/load_lora_adapter",
                        {"lora_name": "x", "lora_path": adapter_dir}, "sk-good")
check(status == 403 and body["error"]["message"], f"403 for a user key loading an adapter: {body}")
# 413: a body over --max-request-bytes.
try:
    good.completions.create(model="tiny-llama", prompt="x " * 4000, max_tokens=1)
    fail("a body over --max-request-bytes was taken")
except openai.APIStatusError as e:
    check(e.status_code == 413, f"413 for a body over the limit: {e.body}")
# 429: the tenant's tokens per minute (30) cannot cover a second prompt + 20 tokens.
metered = openai.OpenAI(base_url=f"http://127.0.0.1:{kport}/v1", api_key="sk-metered",
                        max_retries=0)
first = metered.completions.create(model="tiny-llama", prompt="hi", max_tokens=20,
                                   extra_body={"ignore_eos": True})
check(first.usage.completion_tokens == 20, "the metered tenant's first request runs")
try:
    metered.completions.create(model="tiny-llama", prompt="hi", max_tokens=20,
                               extra_body={"ignore_eos": True})
    fail("the tenant's tokens-per-minute limit let a second request through")
except openai.RateLimitError as e:
    check(e.status_code == 429 and e.body.get("message"), f"429 over tokens per minute: {e.body}")

# Sleep mode: admin keys only; asleep, the SDK gets 503 saying so, the daemon is live but not
# ready; after the wake the same greedy text.
def greedy_text():
    return good.completions.create(model="tiny-llama", prompt="Once upon a time", max_tokens=8,
                                   temperature=0, extra_body={"ignore_eos": True}).choices[0].text


def probe(port, path):
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).status
    except urllib.error.HTTPError as e:
        return e.code


awake_text = greedy_text()
status, body = raw_post(kport, "/sleep?level=1", {}, "sk-good")
check(status == 403 and body["error"]["message"], f"403 for a user key asking for sleep: {body}")
status, body = raw_post(kport, "/sleep?level=1", {}, "sk-ops")
check(status == 200, f"an admin key puts the daemon to sleep: {body}")
try:
    greedy_text()
    fail("a sleeping daemon took a request")
except openai.APIStatusError as e:
    check(e.status_code == 503 and "asleep" in e.body.get("message", ""), f"503 asleep: {e.body}")
check(probe(kport, "/healthz") == 200 and probe(kport, "/readyz") == 503,
      "asleep: live, not ready")
metrics = urllib.request.urlopen(f"http://127.0.0.1:{kport}/metrics", timeout=5).read().decode()
check('vllm:engine_sleep_state{model_name="tiny-llama",sleep_state="weights_offloaded"} 1'
      in metrics, "vllm:engine_sleep_state says weights_offloaded")
status, body = raw_post(kport, "/wake_up", {}, "sk-ops")
check(status == 200 and body["wake_seconds"] > 0, f"woken: {body}")
check(probe(kport, "/readyz") == 200, "ready again after the wake")
check(greedy_text() == awake_text, "the same greedy text after the wake")

for d in daemons:
    d["proc"].terminate()
    d["proc"].wait(timeout=30)
print("openai_sdk_test: passed")
