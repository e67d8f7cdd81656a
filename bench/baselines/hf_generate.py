#!/usr/bin/env python3
"""Peer baseline for bench/engine_bench: Hugging Face transformers generate on the same synthetic
shapes (random bf16 weights on the GPU, prompt of --prompt random tokens, --new-tokens greedy
tokens, prefill included), printed as tokens/s per batch size. Runs on the GPU host, where torch
and transformers are installed.

  hf_generate.py [--shape llama-3.2-1b] [--batches 1,64] [--cache dynamic|static]
"""
import argparse
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from llama_shapes import SHAPES


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="llama-3.2-1b", choices=sorted(SHAPES))
    p.add_argument("--batches", default="1,64")
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--cache", default="dynamic", choices=["dynamic", "static"])
    args = p.parse_args()

    config = LlamaConfig(vocab_size=128256, rms_norm_eps=1e-5, rope_theta=500000.0,
                         bos_token_id=128000, eos_token_id=128001, **SHAPES[args.shape])
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    gen = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False,
               pad_token_id=0)
    if args.cache == "static":
        gen["cache_implementation"] = "static"
    for batch in [int(b) for b in args.batches.split(",")]:
        ids = torch.randint(0, config.vocab_size, (batch, args.prompt), device="cuda")
        with torch.inference_mode():
            # Warm-up with the timed call's own arguments: a static cache is sized by
            # max_new_tokens, and torch.compile recompiles for a new size, so a shorter warm-up
            # left the compilation inside the timed call.
            for _ in range(2 if args.cache == "static" else 1):
                model.generate(ids, **gen)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = model.generate(ids, **gen)
            torch.cuda.synchronize()
            dt = time.perf_counter() - t0
        new = (out.shape[1] - args.prompt) * batch
        print(f"transformers {args.shape} cache={args.cache} batch {batch:4d}: "
              f"{new / dt:9.1f} tok/s with prefill ({dt:.2f} s)", flush=True)


if __name__ == "__main__":
    main()
