#!/usr/bin/env python3
"""The peer of `piston bench throughput` on a GPU: Hugging Face transformers' generate on a
Llama-3-8B-shaped model with random bf16 weights, greedy, every request forced to its full
output length, the prompts in batches. Prints one JSON line with output and total tokens/s
(scaled from the prompts it ran: say so next to Piston's 1000). Part of scripts/gpu-check.sh."""
import argparse
import json
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--input-len", type=int, default=1024)
    ap.add_argument("--output-len", type=int, default=128)
    a = ap.parse_args()
    cfg = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0,
                      rms_norm_eps=1e-5, torch_dtype=torch.bfloat16)
    torch.manual_seed(0)
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    model = model.to_empty(device="cuda").to(torch.bfloat16)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    model.eval()
    g = torch.Generator(device="cuda").manual_seed(0)
    ids = torch.randint(0, cfg.vocab_size, (a.prompts, a.input_len), device="cuda", generator=g)
    with torch.no_grad():  # warm-up
        model.generate(ids[:2], max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=0)
        torch.cuda.synchronize()
        t0 = time.time()
        for s in range(0, a.prompts, a.batch):
            model.generate(ids[s:s + a.batch], max_new_tokens=a.output_len, min_new_tokens=a.output_len,
                           do_sample=False, pad_token_id=0)
        torch.cuda.synchronize()
        dt = time.time() - t0
    out = a.prompts * a.output_len
    print(json.dumps({"prompts": a.prompts, "batch": a.batch, "elapsed_s": round(dt, 2),
                      "output_tokens_per_s": out / dt, "tokens_per_s": (out + a.prompts * a.input_len) / dt}))


if __name__ == "__main__":
    main()
