#!/usr/bin/python3
"""Drives a running tesserad with Python grpcio, a client stack nobody here wrote.

Usage: grpcio_client.py HOST:PORT PROTO_ROOT [API_KEY]
Generates Python stubs from PROTO_ROOT with protoc into a temporary folder, then checks:
health (liveness and readiness), server reflection lists tessera.v1.Inference, ModelInfo,
Tokenize, a streamed Generate (text deltas add up; usage on the last message only), and that a
bad request fails with INVALID_ARGUMENT naming the field. Exits non-zero on the first failure.
"""
import os
import subprocess
import sys
import tempfile


def generate_stubs(proto_root, out):
    protos = ["tessera/v1/model.proto", "tessera/v1/inference.proto"]
    subprocess.run(
        ["protoc", f"-I{proto_root}", f"--python_out={out}", f"--grpc_python_out={out}",
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"] + protos,
        check=True)
    sys.path.insert(0, out)


def check(condition, what):
    if not condition:
        print(f"grpcio_client: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"grpcio_client: ok: {what}")


def main():
    target, proto_root = sys.argv[1], sys.argv[2]
    metadata = [("authorization", f"Bearer {sys.argv[3]}")] if len(sys.argv) > 3 else []
    import grpc
    with tempfile.TemporaryDirectory() as out:
        generate_stubs(proto_root, out)
        from tessera.v1 import inference_pb2, inference_pb2_grpc

        channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(channel).result(timeout=30)
        # grpc.health.v1 by hand (stubs generated under the name "grpc" would clash with grpcio):
        # HealthCheckRequest{service = 1}; HealthCheckResponse{status = 1}, SERVING = 1.
        health = channel.unary_unary("/grpc.health.v1.Health/Check",
                                     request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)
        for service in ["", "tessera.v1.Inference"]:
            name = service.encode()
            reply = health(b"\x0a" + bytes([len(name)]) + name if name else b"", timeout=10)
            check(reply == b"\x08\x01", f"health '{service}' SERVING")

        # Server reflection, spoken by hand: ServerReflectionRequest{list_services: "*"} is field 7.
        reflect = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda b: b, response_deserializer=lambda b: b)
        replies = list(reflect(iter([b"\x3a\x01*"]), timeout=10))
        check(any(b"tessera.v1.Inference" in r for r in replies),
              "reflection lists tessera.v1.Inference")

        stub = inference_pb2_grpc.InferenceStub(channel)
        info = stub.ModelInfo(inference_pb2.ModelInfoRequest(), metadata=metadata, timeout=10)
        check(info.model.vocab_size > 0 and info.kv_token_capacity > 0, "ModelInfo")
        tok = stub.Tokenize(inference_pb2.TokenizeRequest(text="Hello world"), metadata=metadata,
                            timeout=10)
        check(len(tok.token_ids) > 0 and len(tok.tokens) == len(tok.token_ids), "Tokenize")

        request = inference_pb2.GenerateRequest(text="Once upon a time", max_tokens=12,
                                                ignore_eos=True, logprobs=2)
        messages = list(stub.Generate(request, metadata=metadata, timeout=60))
        check(len(messages) >= 2, f"Generate streamed {len(messages)} messages")
        check(all(not m.HasField("usage") for m in messages[:-1]) and
              messages[-1].HasField("usage"), "usage on the last message only")
        ids = [t for m in messages for s in m.samples for t in s.token_ids]
        check(len(ids) == 12 and messages[-1].usage.completion_tokens == 12, "12 tokens")
        finish = [s.finish_reason for m in messages for s in m.samples if s.finish_reason]
        check(finish == [inference_pb2.FINISH_REASON_LENGTH], "finish reason LENGTH")
        check(all(len(s.logprobs) == len(s.token_ids) for m in messages for s in m.samples),
              "one logprob entry per token")

        try:
            list(stub.Generate(inference_pb2.GenerateRequest(text="x", top_p=3.0),
                               metadata=metadata, timeout=10))
            check(False, "top_p=3 is refused")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "top_p" in e.details(),
                  f"top_p=3 -> INVALID_ARGUMENT ({e.details()})")


if __name__ == "__main__":
    main()
