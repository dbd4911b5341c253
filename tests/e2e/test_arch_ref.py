"""The forward of each architecture feature against a NumPy float64 forward written here from
the transformers modelling code (not from Piston's): tiny random models, written at test time,
whose every logit after a prompt of random ids must match.

- LlamaForCausalLM with Llama-3.1's rope_scaling (rope_type llama3: transformers'
  _compute_llama3_parameters), untied output head
- Qwen2ForCausalLM: q/k/v projection biases, tied embeddings
- Qwen3ForCausalLM: per-head RMSNorm of q and k before RoPE, head_dim given apart from
  hidden_size / heads
- the same Qwen3 model as a GGUF file (architecture qwen3, written with the `gguf` package,
  NeoX RoPE on unpermuted weights as llama.cpp's converter leaves them): the q/k-norm path
  of the GGUF loader

The directories hold config.json, model.safetensors (f32) and the default model's tokenizer
(tests/ref/make_hf_dir.py's, for its 49152 ids; the prompts are ids, so it is never used).

Tolerance: max|diff| / max|ref| <= 1e-3, as tests/e2e/test_numpy_ref.py's. Piston runs f32
throughout here (--precision f32, f32 weights, f32 KV cache), so an honest forward lands at
float32 rounding (measured: 2e-7 to 4e-7 on all four); 1e-3 leaves room for other summation
orders and fast exp/silu, as the default model's test does. Each test also proves it can tell: the reference with the feature
left out (no rope_scaling, no biases, no q/k norm) must miss by more than 10x the tolerance.
"""
import json
import os
import sys

import numpy as np
import pytest

from conftest import ROOT, run_eval

sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))

REL_MAX = 1e-3
VOCAB = 49152  # the default model's tokenizer, copied in
BASE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": VOCAB, "max_position_embeddings": 4096, "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0, "torch_dtype": "float32"}
CONFIGS = {
    "llama3": dict(BASE, architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=False,
                   rope_theta=500000.0, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                      "high_freq_factor": 4.0,
                                                      "original_max_position_embeddings": 64}),
    "qwen2": dict(BASE, architectures=["Qwen2ForCausalLM"], model_type="qwen2", tie_word_embeddings=True),
    "qwen3": dict(BASE, architectures=["Qwen3ForCausalLM"], model_type="qwen3", tie_word_embeddings=False,
                  head_dim=32),
}
PROMPT = [int(i) for i in np.random.default_rng(11).integers(0, VOCAB, 40)]


def head_dim(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def random_weights(cfg, seed):
    """HF names -> float32 arrays ([out, in] for projections), scaled so activations stay O(1)."""
    rng = np.random.default_rng(seed)
    d, f, hd = cfg["hidden_size"], cfg["intermediate_size"], head_dim(cfg)
    qd, kvd = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    mat = lambda o, i: (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)  # noqa: E731
    norm = lambda n: (1 + 0.1 * rng.standard_normal(n)).astype(np.float32)  # noqa: E731
    w = {"model.embed_tokens.weight": rng.standard_normal((VOCAB, d)).astype(np.float32),
         "model.norm.weight": norm(d)}
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = mat(VOCAB, d)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w.update({p + "input_layernorm.weight": norm(d), p + "post_attention_layernorm.weight": norm(d),
                  p + "self_attn.q_proj.weight": mat(qd, d), p + "self_attn.k_proj.weight": mat(kvd, d),
                  p + "self_attn.v_proj.weight": mat(kvd, d), p + "self_attn.o_proj.weight": mat(d, qd),
                  p + "mlp.gate_proj.weight": mat(f, d), p + "mlp.up_proj.weight": mat(f, d),
                  p + "mlp.down_proj.weight": mat(d, f)})
        if cfg["architectures"] == ["Qwen2ForCausalLM"]:
            for n, k in (("q", qd), ("k", kvd), ("v", kvd)):
                w[p + f"self_attn.{n}_proj.bias"] = (0.5 * rng.standard_normal(k)).astype(np.float32)
        if cfg["architectures"] == ["Qwen3ForCausalLM"]:
            w[p + "self_attn.q_norm.weight"] = (1 + 0.5 * rng.standard_normal(hd)).astype(np.float32)
            w[p + "self_attn.k_norm.weight"] = (1 + 0.5 * rng.standard_normal(hd)).astype(np.float32)
    return w


def inv_freq(cfg, scaling=True):
    """transformers' default and llama3 rope_init_fn."""
    hd = head_dim(cfg)
    f = 1.0 / cfg["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    rs = cfg.get("rope_scaling")
    if not rs or not scaling:
        return f
    old = rs["original_max_position_embeddings"]
    low_wl, high_wl = old / rs["low_freq_factor"], old / rs["high_freq_factor"]
    wl = 2 * np.pi / f
    out = np.where(wl > low_wl, f / rs["factor"], f)
    smooth = (old / wl - rs["low_freq_factor"]) / (rs["high_freq_factor"] - rs["low_freq_factor"])
    mid = ~(wl < high_wl) & ~(wl > low_wl)
    return np.where(mid, (1 - smooth) * out / rs["factor"] + smooth * out, out)


def forward(cfg, w, ids, bias=True, qk_norm=True, scaling=True):
    """LlamaModel / Qwen2Model / Qwen3Model in float64; the logits after the last id."""
    g = {k: v.astype(np.float64) for k, v in w.items()}
    nh, nkv, hd, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], head_dim(cfg), cfg["rms_norm_eps"]
    rms = lambda x, s: x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * s  # noqa: E731
    T = len(ids)
    ang = np.arange(T)[:, None] * inv_freq(cfg, scaling)[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], -1))[:, None], np.sin(np.concatenate([ang, ang], -1))[:, None]
    rot = lambda x: np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1)  # noqa: E731 (rotate_half)
    mask = np.triu(np.full((T, T), -np.inf), 1)
    x = g["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, g[p + "input_layernorm.weight"])
        q, k, v = (h @ g[p + f"self_attn.{n}_proj.weight"].T + (g.get(p + f"self_attn.{n}_proj.bias", 0) if bias else 0)
                   for n in "qkv")
        q, k, v = q.reshape(T, nh, hd), k.reshape(T, nkv, hd), v.reshape(T, nkv, hd)
        if qk_norm and p + "self_attn.q_norm.weight" in g:
            q, k = rms(q, g[p + "self_attn.q_norm.weight"]), rms(k, g[p + "self_attn.k_norm.weight"])
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = np.repeat(k, nh // nkv, axis=1), np.repeat(v, nh // nkv, axis=1)
        s = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        a = np.einsum("hts,shd->thd", s / s.sum(-1, keepdims=True), v).reshape(T, nh * hd)
        x = x + a @ g[p + "self_attn.o_proj.weight"].T
        h = rms(x, g[p + "post_attention_layernorm.weight"])
        gate = h @ g[p + "mlp.gate_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * (h @ g[p + "mlp.up_proj.weight"].T)) @ g[p + "mlp.down_proj.weight"].T
    head = g.get("lm_head.weight", g["model.embed_tokens.weight"])
    return rms(x[-1], g["model.norm.weight"]) @ head.T


def write_hf(d, cfg, w, model):
    from safetensors.numpy import save_file
    import gguf
    from make_hf_dir import write_tokenizer
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    save_file(w, os.path.join(d, "model.safetensors"))
    write_tokenizer(gguf.GGUFReader(model), d)
    return d


def write_gguf_qwen3(path, cfg, w, model):
    """The Qwen3 weights under llama.cpp's names and keys, the default model's tokenizer keys."""
    import gguf
    r = gguf.GGUFReader(model)
    out = gguf.GGUFWriter(path, "qwen3")
    out.add_name("tiny-qwen3")
    out.add_block_count(cfg["num_hidden_layers"])
    out.add_context_length(cfg["max_position_embeddings"])
    out.add_embedding_length(cfg["hidden_size"])
    out.add_feed_forward_length(cfg["intermediate_size"])
    out.add_head_count(cfg["num_attention_heads"])
    out.add_head_count_kv(cfg["num_key_value_heads"])
    out.add_key_length(head_dim(cfg))
    out.add_value_length(head_dim(cfg))
    out.add_rope_freq_base(cfg["rope_theta"])
    out.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    for field in r.fields.values():
        if field.name.startswith("tokenizer."):
            vtype = field.types[0]
            sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
            out.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
                 "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
                 "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
                 "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
                 "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
                 "mlp.down_proj.weight": "ffn_down.weight"}
    for i in range(cfg["num_hidden_layers"]):
        names.update({f"model.layers.{i}.{k}": f"blk.{i}.{v}" for k, v in per_layer.items()})
    for k, v in w.items():
        out.add_tensor(names[k], v)
    out.write_header_to_file()
    out.write_kv_data_to_file()
    out.write_tensors_to_file()
    out.close()
    return path


def piston_logits(piston, path):
    res = run_eval(piston, path, [{"ids": PROMPT, "n_predict": 1, "top_n": 1, "full_logits": True}], precision="f32")
    return np.asarray(res[0]["logits"], dtype=np.float64)


def check(ours, ref, without):
    assert ours.shape == ref.shape and np.all(np.isfinite(ours))
    rel = np.abs(ours - ref).max() / np.abs(ref).max()
    miss = np.abs(without - ref).max() / np.abs(ref).max()
    print(f"max|diff|/max|ref| {rel:.2e}; the reference without the feature: {miss:.2e}")
    assert miss > 10 * REL_MAX, f"the feature changes the logits by only {miss:.2e}: this test cannot tell"
    assert rel <= REL_MAX, f"max|diff|/max|ref| = {rel:.2e} > {REL_MAX}"


OFF = {"llama3": {"scaling": False}, "qwen2": {"bias": False}, "qwen3": {"qk_norm": False}}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_directory_matches_numpy(name, piston, model, tmp_path):
    cfg = CONFIGS[name]
    w = random_weights(cfg, seed=len(name))
    path = write_hf(str(tmp_path / name), cfg, w, model)
    check(piston_logits(piston, path), forward(cfg, w, PROMPT), forward(cfg, w, PROMPT, **OFF[name]))


def test_gguf_qwen3_matches_numpy(piston, model, tmp_path):
    cfg = CONFIGS["qwen3"]
    w = random_weights(cfg, seed=3)
    path = write_gguf_qwen3(str(tmp_path / "qwen3.gguf"), cfg, w, model)
    check(piston_logits(piston, path), forward(cfg, w, PROMPT), forward(cfg, w, PROMPT, qk_norm=False))
