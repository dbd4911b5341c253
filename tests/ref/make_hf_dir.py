#!/usr/bin/env python3
"""Converts a GGUF (the default model) into a Hugging Face model directory, for the tests of
Piston's safetensors / config.json / tokenizer.json loading. Made at test time, never committed.

  weights      every tensor dequantized by the `gguf` package, Q and K un-permuted back to the
               Hugging Face layout (llama.cpp's converter permutes them for its adjacent-pair
               RoPE), written with `safetensors` in --dtype (float32 or bfloat16, rounded to
               nearest even), in --shards files with model.safetensors.index.json when > 1
  config.json  LlamaForCausalLM with the GGUF's shapes, rope_theta, rms_norm_eps, tied embeddings
  tokenizer.json  built with the `tokenizers` library from the GGUF's vocabulary and merges:
               byte-level BPE, SmolLM's pre-tokenizer (digits one by one, then ByteLevel's GPT-2
               regex), the GGUF's control tokens as special added tokens
  tokenizer_config.json  the GGUF's chat template, BOS/EOS texts, add_bos_token
  generation_config.json  sampling defaults (--gen-defaults) and the EOS id

usage: make_hf_dir.py MODEL.gguf OUT_DIR [--dtype float32|bfloat16] [--shards N]
"""
import argparse
import json
import os

import gguf
import numpy as np
import safetensors
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
         "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
         "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
         "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"}


def field(r, key, default=None):
    f = r.fields.get(key)
    if f is None:
        return default
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[-1]).decode("utf-8")
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8", errors="surrogateescape") for i in f.data]
        return [f.parts[i][0].item() for i in f.data]
    return f.parts[-1][0].item()


def unpermute(w, n_head):
    """Inverse of llama.cpp's convert_hf_to_gguf permute (rows of each head interleaved)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_name(name):
    if name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if name == "output_norm.weight":
        return "model.norm.weight"
    if name == "output.weight":
        return "lm_head.weight"
    _, layer, rest = name.split(".", 2)
    base, kind = rest.rsplit(".", 1)
    return f"model.layers.{layer}.{NAMES[base]}.{kind}"


def to_bf16(a):
    """float32 -> bfloat16 bits, round to nearest even (what torch's .to(bfloat16) does)."""
    u = a.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def weights(r, arch):
    n_head, n_kv = field(r, f"{arch}.attention.head_count"), field(r, f"{arch}.attention.head_count_kv")
    out = {}
    for t in r.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape([int(x) for x in reversed(t.shape)]) if len(t.shape) > 1 else w.reshape(-1)
        if arch == "llama" and t.name.endswith("attn_q.weight"):
            w = unpermute(w, n_head)
        elif arch == "llama" and t.name.endswith("attn_k.weight"):
            w = unpermute(w, n_kv)
        out[hf_name(t.name)] = np.ascontiguousarray(w)
    return out


def write_safetensors(tensors, out_dir, dtype, shards):
    names = sorted(tensors)
    total = sum(tensors[n].size for n in names)
    groups, acc = [[] for _ in range(shards)], 0
    for n in names:  # contiguous runs of about equal size
        groups[min(shards - 1, acc * shards // total)].append(n)
        acc += tensors[n].size
    files = ["model.safetensors"] if shards == 1 else [
        f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)]
    weight_map, size = {}, 0
    for fname, group in zip(files, groups):
        keep, specs = [], {}
        for n in group:
            a = to_bf16(tensors[n]) if dtype == "bfloat16" else tensors[n].astype(np.float32)
            a = np.ascontiguousarray(a)
            keep.append(a)
            specs[n] = safetensors.TensorSpec(dtype=dtype, shape=list(tensors[n].shape), data_ptr=a.ctypes.data, data_len=a.nbytes)
            weight_map[n] = fname
            size += a.nbytes
        safetensors.serialize_file(specs, os.path.join(out_dir, fname), metadata={"format": "pt"})
        del keep
    if shards > 1:
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": size}, "weight_map": weight_map}, f, indent=2)


def write_tokenizer(r, out_dir):
    tokens, types = field(r, "tokenizer.ggml.tokens"), field(r, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field(r, "tokenizer.ggml.merges")]
    tk = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tk.decoder = decoders.ByteLevel()
    added = [AddedToken(tokens[i], special=types[i] == 3, normalized=False)
             for i in range(len(tokens)) if types[i] in (3, 4)]
    tk.add_special_tokens([a for a in added if a.special])
    tk.add_tokens([a for a in added if not a.special])
    tk.save(os.path.join(out_dir, "tokenizer.json"))
    bos, eos = field(r, "tokenizer.ggml.bos_token_id"), field(r, "tokenizer.ggml.eos_token_id")
    cfg = {"add_bos_token": bool(field(r, "tokenizer.ggml.add_bos_token", False)), "add_eos_token": False,
           "bos_token": tokens[bos], "eos_token": tokens[eos],
           "unk_token": tokens[field(r, "tokenizer.ggml.unknown_token_id", 0)],
           "pad_token": tokens[field(r, "tokenizer.ggml.padding_token_id", eos)],
           "chat_template": field(r, "tokenizer.chat_template"), "clean_up_tokenization_spaces": False,
           "model_max_length": field(r, "llama.context_length"), "tokenizer_class": "GPT2Tokenizer"}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return bos, eos


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("out")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--gen-defaults", default='{"temperature": 0.7, "top_p": 0.9, "top_k": 40, '
                    '"repetition_penalty": 1.05}', help="JSON merged into generation_config.json")
    a = ap.parse_args()
    r = gguf.GGUFReader(a.gguf)
    arch = field(r, "general.architecture")
    os.makedirs(a.out, exist_ok=True)
    tensors = weights(r, arch)
    write_safetensors(tensors, a.out, a.dtype, a.shards)
    bos, eos = write_tokenizer(r, a.out)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
              "hidden_size": field(r, f"{arch}.embedding_length"),
              "intermediate_size": field(r, f"{arch}.feed_forward_length"),
              "num_hidden_layers": field(r, f"{arch}.block_count"),
              "num_attention_heads": field(r, f"{arch}.attention.head_count"),
              "num_key_value_heads": field(r, f"{arch}.attention.head_count_kv"),
              "max_position_embeddings": field(r, f"{arch}.context_length"),
              "rms_norm_eps": field(r, f"{arch}.attention.layer_norm_rms_epsilon"),
              "rope_theta": field(r, f"{arch}.rope.freq_base", 10000.0), "rope_scaling": None,
              "tie_word_embeddings": "lm_head.weight" not in tensors, "vocab_size": len(field(r, "tokenizer.ggml.tokens")),
              "torch_dtype": a.dtype, "bos_token_id": bos, "eos_token_id": eos}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    gen = {"bos_token_id": bos, "eos_token_id": eos, "do_sample": True, **json.loads(a.gen_defaults)}
    with open(os.path.join(a.out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)


if __name__ == "__main__":
    main()
