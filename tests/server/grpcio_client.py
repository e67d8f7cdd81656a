#!/usr/bin/python3
"""Drives a running tesserad with Python grpcio, a client stack nobody here wrote.

Usage: grpcio_client.py HOST:PORT PROTO_ROOT [API_KEY]
Generates Python stubs from PROTO_ROOT with protoc into a temporary folder, then checks:
health (liveness and readiness), server reflection lists tessera.v1.Inference, ModelInfo,
Tokenize, a streamed Generate (text deltas add up; usage on the last message only), that a
bad request fails with INVALID_ARGUMENT naming the field, that bytes which do not parse as the
method's message fail with INVALID_ARGUMENT and a message, that grpc.health.v1 resolves through
reflection, and that a call with too much metadata fails alone while a stream on the same
connection finishes. Exits non-zero on the first failure.
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

        check_unparseable_requests(channel, metadata)
        check_health_resolves_through_reflection(channel)
        check_big_metadata_is_refused_alone(channel, stub, inference_pb2, metadata)


def varint(buf, i):
    value, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def fields(buf):
    """The top-level fields of a protobuf message: {number: [int or bytes, ...]}."""
    out, i = {}, 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def check_unparseable_requests(channel, metadata):
    """Bytes that are not the method's message: INVALID_ARGUMENT with a message (gRPC's own
    answer is UNIMPLEMENTED with none)."""
    import grpc
    cases = [
        ("/tessera.v1.Inference/Generate", b"\x12\x02\xff\xfe", "Generate, text not UTF-8"),
        ("/tessera.v1.Inference/Generate", b"\xff\xff\xff\xff", "Generate, garbage"),
        ("/tessera.v1.Inference/Tokenize", b"\x0a\x02\xc3\x28", "Tokenize, text not UTF-8"),
        ("/tessera.v1.Inference/ModelInfo", b"\x0f", "ModelInfo, garbage"),
        ("/tessera.v1.Admin/LoadAdapter", b"\x0a\x01\x80", "LoadAdapter, name not UTF-8"),
    ]
    for method, body, what in cases:
        if method.endswith("/Generate"):
            call = channel.unary_stream(method, request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)
        else:
            call = channel.unary_unary(method, request_serializer=lambda b: b,
                                       response_deserializer=lambda b: b)
        try:
            reply = call(body, metadata=metadata, timeout=10)
            if method.endswith("/Generate"):
                list(reply)
            check(False, f"{what}: accepted")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "cannot be parsed" in e.details()
                  and method in e.details(), f"{what} -> {e.code()} ({e.details()})")
    # A method the server lacks is still UNIMPLEMENTED.
    nope = channel.unary_unary("/tessera.v1.Inference/Nope", request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
    try:
        nope(b"", metadata=metadata, timeout=10)
        check(False, "an unknown method answered")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.UNIMPLEMENTED, f"unknown method -> {e.code()}")


def check_health_resolves_through_reflection(channel):
    """grpcurl resolves a listed service by asking for the file that defines it."""
    from google.protobuf import descriptor_pb2
    reflect = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=lambda b: b, response_deserializer=lambda b: b)
    for symbol in ["grpc.health.v1.Health", "grpc.health.v1.HealthCheckRequest"]:
        name = symbol.encode()
        # ServerReflectionRequest{file_containing_symbol = 4}
        replies = list(reflect(iter([b"\x22" + bytes([len(name)]) + name]), timeout=10))
        top = fields(replies[0]) if replies else {}
        check(7 not in top and 4 in top,
              f"reflection resolves {symbol} (error: {top.get(7)})")
        files = []
        for blob in fields(top[4][0]).get(1, []):  # FileDescriptorResponse.file_descriptor_proto
            f = descriptor_pb2.FileDescriptorProto()
            f.ParseFromString(blob)
            files.append(f)
        health = [f for f in files if f.package == "grpc.health.v1"]
        check(len(health) == 1 and
              [m.name for s in health[0].service for m in s.method] == ["Check", "Watch"],
              f"{symbol}: the file describes Health.Check and Health.Watch")


def check_big_metadata_is_refused_alone(channel, stub, inference_pb2, metadata):
    """A call with too much metadata fails alone; a stream on the same connection goes on."""
    import grpc
    request = inference_pb2.GenerateRequest(text="Once upon a time", max_tokens=1000,
                                            ignore_eos=True)
    stream = stub.Generate(request, metadata=metadata, timeout=120)
    first = next(stream)
    # Over gRPC's default 8 KiB, under --max-metadata-bytes (32 KiB): served.
    info = stub.ModelInfo(inference_pb2.ModelInfoRequest(),
                          metadata=metadata + [("x-padding", "a" * 20000)], timeout=10)
    check(info.model.vocab_size > 0, "a call with 20 KB of metadata is served")
    try:
        stub.ModelInfo(inference_pb2.ModelInfoRequest(),
                       metadata=metadata + [("x-padding", "a" * 40000)], timeout=10)
        check(False, "a call with 40 KB of metadata was served")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and
              "--max-metadata-bytes" in e.details(),
              f"40 KB of metadata -> {e.code()} ({e.details()})")
    messages = [first] + list(stream)
    check(messages[-1].HasField("usage") and messages[-1].usage.completion_tokens == 1000,
          "the stream running meanwhile finished with all its tokens")


if __name__ == "__main__":
    main()
