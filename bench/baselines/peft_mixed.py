#!/usr/bin/env python3
"""Peer baseline for bench/lora_bench: Hugging Face transformers + PEFT on the same synthetic shapes
(random bf16 weights on the GPU, sdpa attention), generate with prefill included:

  base:  the plain model, a batch of --batch prompts;
  mixed: the same batch through a PeftModel holding --adapters LoRA adapters (rank --rank on
         --targets, random non-zero weights), each row naming its adapter with PEFT's mixed-batch
         inference (generate(..., adapter_names=[one per row])); rows go round-robin over the
         adapters, so every adapter is in every step, as many adapters would be in a server.

Prints generated tokens/s of both and their ratio (lora_bench prints the same ratio for tessera).
Runs on the GPU host, where torch, transformers and peft are installed; small defaults, since it
shares one GPU call with the other benchmarks.

  peft_mixed.py [--shape llama-3.2-1b] [--batch 64] [--prompt 128] [--new-tokens 64]
                [--adapters 8] [--rank 16] [--targets q_proj,k_proj,v_proj,o_proj]
"""
import argparse
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from llama_shapes import SHAPES

ALIASES = {"1b": "llama-3.2-1b", "8b": "llama-3-8b"}


def timed_generate(model, ids, new_tokens, **kwargs):
    """Seconds of one greedy generate of exactly new_tokens tokens per row, after a short warm-up
    with the same arguments (so the timed call compiles and allocates nothing new)."""
    gen = dict(do_sample=False, pad_token_id=0, attention_mask=torch.ones_like(ids), **kwargs)
    with torch.inference_mode():
        model.generate(ids, max_new_tokens=4, min_new_tokens=4, **gen)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **gen)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    assert out.shape[1] - ids.shape[1] == new_tokens, out.shape
    return seconds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="llama-3.2-1b", choices=sorted(SHAPES) + sorted(ALIASES))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--adapters", type=int, default=8)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
    p.add_argument("--base-rows", type=int, default=0,
                   help="rows of the mixed batch left on the base model ('__base__')")
    args = p.parse_args()
    shape = ALIASES.get(args.shape, args.shape)
    if args.adapters < 1 or args.batch < 1 or args.base_rows >= args.batch:
        p.error("--adapters and --batch must be >= 1, --base-rows < --batch")

    config = LlamaConfig(vocab_size=128256, rms_norm_eps=1e-5, rope_theta=500000.0,
                         bos_token_id=128000, eos_token_id=128001, **SHAPES[shape])
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    print(f"peft_mixed {shape}: model made in {time.perf_counter() - t0:.1f} s", flush=True)
    ids = torch.randint(0, config.vocab_size, (args.batch, args.prompt), device="cuda")
    tokens = args.batch * args.new_tokens

    base_s = timed_generate(model, ids, args.new_tokens)
    print(f"peft_mixed {shape} base-only batch {args.batch}: {tokens / base_s:9.1f} tok/s "
          f"({base_s:.2f} s, prompt {args.prompt}, {args.new_tokens} new)", flush=True)

    # init_lora_weights=False: B is random too, so the adapters really change the output (PEFT's
    # default B = 0 would make them no-ops; the cost is the same either way).
    lora = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0, bias="none",
                      target_modules=args.targets.split(","), init_lora_weights=False,
                      task_type="CAUSAL_LM")
    names = [f"a{i}" for i in range(args.adapters)]
    peft_model = get_peft_model(model, lora, adapter_name=names[0])
    for name in names[1:]:
        peft_model.add_adapter(name, lora)
    peft_model = peft_model.to(device="cuda", dtype=torch.bfloat16).eval()
    rows = ["__base__"] * args.base_rows
    rows += [names[i % len(names)] for i in range(args.batch - args.base_rows)]
    mixed_s = timed_generate(peft_model, ids, args.new_tokens, adapter_names=rows)
    print(f"peft_mixed {shape} {args.adapters} adapters (rank {args.rank}, {args.targets}, "
          f"{args.base_rows} base rows) mixed batch {args.batch}: {tokens / mixed_s:9.1f} tok/s "
          f"({mixed_s:.2f} s), {base_s / mixed_s:.3f} of base-only", flush=True)


if __name__ == "__main__":
    main()
