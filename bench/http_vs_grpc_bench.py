#!/usr/bin/python3
"""Per-token overhead of tesserad's HTTP (OpenAI SSE) path against its gRPC path.

  http_vs_grpc_bench.py TESSERAD MODEL_DIR PROTO_ROOT [--requests 20] [--tokens 256]
                        [--concurrency 1,8]

Starts one tesserad (CPU, the given model), then runs the same greedy requests (prompt "Once upon
a time", max_tokens, ignore_eos) over gRPC (grpcio, Generate streaming) and over HTTP (raw
http.client reading /v1/completions SSE), alternating the two so that both see the same machine
state, at each concurrency. Prints, per path: mean seconds per request, tokens per second and
mean milliseconds per token; the difference per token is the HTTP path's overhead (JSON chunks
built on the scheduler thread, SSE framing, HTTP/1.1) over gRPC's (protobuf, HTTP/2). Both
clients are Python, so each carries the same kind of client cost.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time

p = argparse.ArgumentParser()
p.add_argument("tesserad")
p.add_argument("model")
p.add_argument("proto_root")
p.add_argument("--requests", type=int, default=20)
p.add_argument("--tokens", type=int, default=256)
p.add_argument("--concurrency", default="1,8")
p.add_argument("--threads", default="2")
args = p.parse_args()

work = tempfile.mkdtemp(prefix="http_vs_grpc.")
subprocess.run(["protoc", f"-I{args.proto_root}", f"--python_out={work}",
                f"--grpc_python_out={work}",
                "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                "tessera/v1/model.proto", "tessera/v1/inference.proto"], check=True)
sys.path.insert(0, work)
import grpc  # noqa: E402
from tessera.v1 import inference_pb2, inference_pb2_grpc  # noqa: E402

log = os.path.join(work, "tesserad.log")
daemon = subprocess.Popen([args.tesserad, "--model", args.model, "--port", "0", "--http-port",
                           "0", "--metrics-port", "-1", "--threads", args.threads],
                          stdout=open(log, "w"), stderr=subprocess.STDOUT)
for _ in range(600):
    text = open(log).read()
    if "tesserad: serving" in text:
        break
    time.sleep(0.1)
grpc_port = int(re.search(r"serving \S+ on 127\.0\.0\.1:(\d+)", text).group(1))
http_port = int(re.search(r"on http://127\.0\.0\.1:(\d+)", text).group(1))
channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
stub = inference_pb2_grpc.InferenceStub(channel)


def run_grpc():
    request = inference_pb2.GenerateRequest(text="Once upon a time", max_tokens=args.tokens,
                                            ignore_eos=True, temperature=0)
    n = 0
    for m in stub.Generate(request, timeout=600):
        n += sum(len(s.token_ids) for s in m.samples)
    return n


def run_http():
    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=600)
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": args.tokens,
                       "ignore_eos": True, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    n = 0
    for line in resp:
        if line.startswith(b"data: {"):
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                n = chunk["usage"]["completion_tokens"]
    conn.close()
    return n


def measure(fn, concurrency):
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        tokens = sum(pool.map(lambda _: fn(), range(args.requests)))
    return time.perf_counter() - start, tokens


try:
    run_grpc(), run_http()  # warm up both paths
    for c in [int(x) for x in args.concurrency.split(",")]:
        totals = {"grpc": [0.0, 0], "http": [0.0, 0]}
        for _ in range(2):  # alternate, twice
            for name, fn in (("grpc", run_grpc), ("http", run_http)):
                seconds, tokens = measure(fn, c)
                totals[name][0] += seconds
                totals[name][1] += tokens
        per = {}
        for name, (seconds, tokens) in totals.items():
            per[name] = seconds / tokens * 1000
            print(f"concurrency {c:3d} {name:4s}: {tokens} tokens in {seconds:.2f} s, "
                  f"{tokens / seconds:8.1f} tokens/s, {per[name]:.4f} ms/token")
        print(f"concurrency {c:3d} http - grpc: {per['http'] - per['grpc']:+.4f} ms/token "
              f"({(per['http'] / per['grpc'] - 1) * 100:+.1f}%)")
finally:
    daemon.terminate()
    daemon.wait(timeout=60)
