#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora, tests/fuzz/corpus/<name>/, from the tests' own
fixtures (the tokenizer, chat-template and JSON Schema corpora, spm_tiny.gguf) and a few
hand-made inputs in each target's input layout (see the comment at the top of each
tests/fuzz/fuzz_<name>.c). Small on purpose: the fuzzer grows its own working corpus under
build-fuzz/; what is committed is what `make test` replays. Run from the repository root;
the output is committed, so this only runs again when a layout changes. The committed
corpora are these seeds merged with the campaigns' corpora, minimized (libFuzzer's -merge=1
into a fresh directory) and cut to at most 60 files and 200 KB per target, the inputs that
added the most edges and features first (tests/fuzz/RUNS.md); running this again adds its
seeds back beside them.

usage: tests/fuzz/make_corpus.py
"""
import json
import os
import struct

import numpy as np
from safetensors.numpy import save

SEP = b"\0PFZ\0"
OUT = "tests/fuzz/corpus"
FIX = "tests/fixtures"


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def gguf_kv_str(key, val):
    k, v = key.encode(), val.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<I", 8) + struct.pack("<Q", len(v)) + v


def gguf_kv_u32(key, val):
    k = key.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<II", 4, val)


def gguf_kv_arr_str(key, vals):
    k = key.encode()
    out = struct.pack("<Q", len(k)) + k + struct.pack("<IIQ", 9, 8, len(vals))
    for v in vals:
        out += struct.pack("<Q", len(v.encode())) + v.encode()
    return out


def gguf(kvs, tensors=(), align=32):
    """A little-endian GGUF v3: kvs (encoded), tensors (name, dims, type, bytes)."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    infos, data = b"", b""
    for name, dims, typ, payload in tensors:
        data += b"\0" * (-len(data) % align)
        infos += struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(dims))
        infos += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", typ, len(data))
        data += payload
    body = head + infos
    return body + b"\0" * (-len(body) % align) + data


def gguf_seeds():
    put("gguf", "spm_tiny.gguf", open(f"{FIX}/spm_tiny.gguf", "rb").read())
    put("gguf", "empty_v3.gguf", gguf([]))
    f32 = np.arange(8, dtype=np.float32).tobytes()
    put("gguf", "tensors.gguf", gguf([gguf_kv_str("general.architecture", "llama"), gguf_kv_u32("general.alignment", 32)],
                                     [("a.weight", [8], 0, f32), ("b.weight", [4, 2], 0, f32), ("c.f16", [8], 1, f32[:16])]))
    toks = ["<unk>", "<s>", "</s>", "a", "b", "ab", "Ġ", "Ġa"]
    put("gguf", "gpt2_tok.gguf", gguf([
        gguf_kv_str("tokenizer.ggml.model", "gpt2"), gguf_kv_str("tokenizer.ggml.pre", "smollm"),
        gguf_kv_arr_str("tokenizer.ggml.tokens", toks), gguf_kv_arr_str("tokenizer.ggml.merges", ["a b", "Ġ a"]),
        gguf_kv_u32("tokenizer.ggml.bos_token_id", 1), gguf_kv_u32("tokenizer.ggml.eos_token_id", 2)]))
    nested = struct.pack("<Q", 5) + b"n.arr" + struct.pack("<IIQ", 9, 9, 2)
    nested += struct.pack("<IQ", 4, 2) + struct.pack("<II", 1, 2) + struct.pack("<IQ", 8, 1) + struct.pack("<Q", 2) + b"hi"
    put("gguf", "nested.gguf", gguf([nested]))


def tokenizer_seeds():
    fx = json.load(open(f"{FIX}/tokenizer_smollm2.json"))
    cases = [c["text"] for c in fx["cases"]]
    picked = cases[:: max(1, len(cases) // 40)][:40]
    for i, t in enumerate(picked):
        put("tokenizer", f"text_{i:02d}", bytes([i % 4]) + t.encode())
    for i, c in enumerate(fx["invalid_utf8"][:6]):
        put("tokenizer", f"invalid_{i}", b"\x02" + bytes.fromhex(c["hex"]))
    put("tokenizer", "special", b"\x03<|im_start|>user\nHi<|im_end|>\n<|endoftext|><|im_start|")
    ids = [0, 1, 2, 81, 19556, 905, 24211, 49151, 49152, -1, 2**31 - 1]
    put("tokenizer", "ids", b"\x80" + b"".join(struct.pack("<i", i) for i in ids))
    put("tokenizer", "ids_small_buf", b"\xa1" + b"".join(struct.pack("<i", i) for i in [24211, 216, 33, 190, 217, 1939]))
    # 0x04: SentencePiece's tokenizer (spm_tiny.gguf); 0x40 takes the ids modulo its vocabulary
    for i, t in enumerate(picked[:8] + ["  two  spaces\tand\ttabs", "\u2581already \u2581marked", "<s>x</s><unk>"]):
        put("tokenizer", f"spm_text_{i:02d}", bytes([4 | i % 4]) + t.encode())
    put("tokenizer", "spm_ids", b"\xc4" + b"".join(struct.pack("<i", i) for i in [0, 1, 2, 3, 259, 300, 1000, -7, 2**31 - 1]))


def chat_seeds():
    fx = json.load(open(f"{FIX}/chat_smollm2.json"))
    fam = {"chatml": 0, "llama3": 1, "llama31": 1, "llama2": 2, "mistral": 3, "zephyr": 4, "smollm2": 0, "qwen2": 0}
    roles = {"system": 0, "user": 1, "assistant": 2, "tool": 3}
    seen = set()
    for c in fx["cases"]:
        key = (c["template"], c["conversation"])
        if key in seen or len(seen) >= 30:
            continue
        seen.add(key)
        h = fam.get(c["template"], 0) | (8 if c["add_generation_prompt"] else 0)
        pieces = []
        for m in c["messages"]:
            pieces.append(bytes([roles.get(m["role"], 1)]) + (m.get("content") or "").encode())
        put("chat_template", f"{c['template']}_{c['conversation']}", bytes([h]) + b"\x1e".join(pieces))
    for name, t in fx["templates"].items():  # the Jinja sources, recognised from their text
        put("chat_template", f"jinja_{name}", b"\x0e" + t["source"].encode() + b"\x1e\x01Hello")
    tools = json.dumps([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
    put("chat_template", "tools_hermes", b"\x18" + tools.encode() + b"\x1e\x01What is the weather?\x1e\x02\x1fget_weather\x1f"
        + b'{"city": "Paris"}' + b"\x1e\x03sunny\x1fcall_1")
    put("chat_template", "tools_llama3", b"\x19" + tools.encode() + b"\x1e\x00sys\x1e\x01Hi")
    put("chat_template", "tools_nemo", b"\x1d" + tools.encode() + b"\x1e\x01Hi\x1e\x02\x1fget_weather\x1f{}\x1e\x03ok\x1fabc123xyz")
    put("chat_template", "own_tokens", b"\x2a<s>\x1f</s>\x1e\x01Hi\x1e\x02Hello\x1e\x01Bye")
    put("chat_template", "odd_role", b"\x08\x05developer:be brief\x1e\x81")


def schema_seeds():
    fx = json.load(open(f"{FIX}/json_schemas.json"))
    for name, s in fx["schemas"].items():
        put("json_schema", name, json.dumps(s))
    for i, u in enumerate(fx["unsupported"]):
        put("json_schema", f"unsupported_{i}", json.dumps(u["schema"]))


def regex_seeds():
    pats = [r"[a-z]+@[a-z]+\.(com|org)", r"\d{3}-\d{4}", r"(ab|cd)*e?f{2,5}", r"[^\s]{1,8}", r"\p{L}+|\u00e9",
            r"^(?:[A-Z][a-z]*\s?){1,3}$", r"\w+\b", r"(a|b|c){0,100}", r"[\x00-\x7f]+.", r"(?i)yes|no", "", r"a**",
            r"[]a]", r"\bfoo\B", r"x{3,2}", r"(unclosed", r"[\d\D]|\S\W"]
    for i, p in enumerate(pats):
        put("regex", f"re_{i:02d}", p)


def gbnf_seeds():
    gs = {
        "arith": 'root ::= expr\nexpr ::= term (("+" | "-") term)*\nterm ::= [0-9]+ | "(" expr ")"\n',
        "json": 'root ::= object\nobject ::= "{" ws (string ":" ws value ("," ws string ":" ws value)*)? "}"\n'
                'value ::= object | string | number | "true" | "false" | "null"\n'
                'string ::= "\\"" ([^"\\\\] | "\\\\" .)* "\\""\nnumber ::= "-"? [0-9]+ ("." [0-9]+)?\nws ::= [ \\t\\n]*\n',
        "choice": 'root ::= "yes" | "no" | "maybe"\n',
        "repeat": 'root ::= item{2,4} tail?\nitem ::= [a-c] # comment\ntail ::= "\\u00e9" | [^\\x00-\\x7f]\n',
        "leftrec": 'root ::= root "a" | "b"\n',
        "undefined": 'root ::= missing\n',
        "chars": "root ::= [\\]\\-\\\\a-z] \"\\x41\\n\\t\" .\n",
    }
    for k, v in gs.items():
        put("gbnf", k, v)


def safetensors_seeds():
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
           "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 4,
           "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
           "torch_dtype": "float32"}
    r = np.random.default_rng(0)
    t = {"model.embed_tokens.weight": r.standard_normal((4, 8), dtype=np.float32), "model.norm.weight": np.ones(8, np.float32)}
    L = "model.layers.0."
    for n, s in [("self_attn.q_proj", (8, 8)), ("self_attn.k_proj", (4, 8)), ("self_attn.v_proj", (4, 8)),
                 ("self_attn.o_proj", (8, 8)), ("mlp.gate_proj", (16, 8)), ("mlp.up_proj", (16, 8)), ("mlp.down_proj", (8, 16))]:
        t[L + n + ".weight"] = r.standard_normal(s, dtype=np.float32)
    t[L + "input_layernorm.weight"] = np.ones(8, np.float32)
    t[L + "post_attention_layernorm.weight"] = np.ones(8, np.float32)
    c = json.dumps(cfg).encode()
    put("safetensors", "tiny_llama", c + SEP + b"" + SEP + save(t))
    names = sorted(t)
    a = {k: t[k] for k in names[: len(names) // 2]}
    b = {k: t[k] for k in names[len(names) // 2:]}
    idx = json.dumps({"metadata": {}, "weight_map": {**{k: "s1.safetensors" for k in a}, **{k: "s2.safetensors" for k in b}}})
    put("safetensors", "sharded", c + SEP + idx.encode() + SEP + SEP + save(a) + SEP + save(b))
    bf = {"x": np.zeros((2, 3), np.float16), "y": np.arange(4, dtype=np.int64)}
    put("safetensors", "mixed_dtypes", b"{}" + SEP + SEP + save(bf, metadata={"format": "pt"}))
    hdr = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    put("safetensors", "hand", json.dumps({**cfg, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
        "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32}}).encode()
        + SEP + SEP + struct.pack("<Q", len(hdr)) + hdr + b"\0" * 8)


def api_seeds():
    R = ["/v1/completions", "/v1/chat/completions", "/generate", "/generate_stream", "/", "/api/generate", "/api/chat",
         "/v1/messages", "/v1/messages/count_tokens", "/tokenize", "/detokenize", "/api/show", "/v1/models", "/info",
         "/api/tags", "/health", "/v1/models/smollm2", "/api/ps", "GET /v1/completions", "/nowhere"]
    tail = SEP + bytes(range(1, 60))
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"}},
              "required": ["name"]}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
              "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}]
    bodies = {
        "/v1/completions": [{"prompt": "Once upon a time", "max_tokens": 5, "logprobs": 2, "echo": True},
                            {"prompt": [[1, 2, 3], [4, 5]], "n": 2, "stream": True, "stream_options": {"include_usage": True}},
                            {"prompt": ["a", "b"], "stop": ["\n", "x"], "seed": 7, "prompt_logprobs": 1, "best_of": 2, "n": 2},
                            {"prompt": "x", "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}},
                            {"prompt": "x", "guided_regex": "[a-z]{3}", "logit_bias": {"81": 5}},
                            {"prompt": "x", "guided_choice": ["yes", "no"]},
                            {"prompt": "x", "structured_outputs": {"grammar": 'root ::= "a"+'}}],
        "/v1/chat/completions": [{"model": "smollm2", "messages": msgs, "max_tokens": 4, "logprobs": True, "top_logprobs": 3},
                                 {"messages": msgs, "stream": True, "tools": tools, "tool_choice": "auto"},
                                 {"messages": msgs + [{"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                   "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                                  {"role": "tool", "tool_call_id": "c1", "content": "sunny"}], "tools": tools, "tool_choice": "required"},
                                 {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                                  "response_format": {"type": "json_object"}, "n": 3, "temperature": 0.5}],
        "/generate": [{"inputs": "Hello", "parameters": {"max_new_tokens": 5, "details": True, "decoder_input_details": True,
                                                         "top_n_tokens": 2, "stop": ["\n"], "seed": 1}},
                      {"inputs": "x", "parameters": {"grammar": {"type": "json", "value": schema}}},
                      {"inputs": "x", "parameters": {"grammar": {"type": "regex", "value": "a+"}, "do_sample": True}}],
        "/generate_stream": [{"inputs": "Hello", "parameters": {"max_new_tokens": 3, "details": True}}],
        "/": [{"inputs": "Hello", "stream": True, "parameters": {"max_new_tokens": 2}}],
        "/api/generate": [{"model": "smollm2", "prompt": "Why?", "stream": False, "options": {"num_predict": 4, "temperature": 0}},
                          {"model": "smollm2", "prompt": "x", "format": "json", "raw": True},
                          {"model": "smollm2", "prompt": "x", "format": schema, "system": "s", "template": "{{ .Prompt }}"},
                          {"model": "smollm2"}],
        "/api/chat": [{"model": "smollm2", "messages": msgs, "tools": tools, "stream": True},
                      {"model": "smollm2", "messages": msgs, "format": "json", "options": {"num_ctx": 128, "stop": ["a"]}},
                      {"model": "smollm2", "messages": [{"role": "user", "content": "x", "images": ["aGk="]}]}],
        "/v1/messages": [{"model": "smollm2", "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}], "system": "Be brief."},
                         {"model": "smollm2", "max_tokens": 8, "stream": True, "messages": [{"role": "user", "content": [
                             {"type": "text", "text": "Hi"}]}], "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
                          "tool_choice": {"type": "any"}, "stop_sequences": ["x"]},
                         {"model": "smollm2", "max_tokens": 8, "messages": [{"role": "user", "content": "w?"}, {"role": "assistant",
                          "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "P"}}]},
                          {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]}]}],
        "/v1/messages/count_tokens": [{"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}]}],
        "/tokenize": [{"prompt": "Hello world", "add_special_tokens": True}, {"messages": msgs, "add_generation_prompt": True}],
        "/detokenize": [{"tokens": [19556, 905, 24211]}, {"tokens": [-1, 99999999]}],
        "/api/show": [{"model": "smollm2"}, {"name": "nope"}],
    }
    for i, r in enumerate(R):
        flags = 0
        for j, b in enumerate(bodies.get(r, [None])):
            body = json.dumps(b).encode() if b is not None else b""
            name = (r.strip("/").replace("/", "_").replace(" ", "_") or "root") + f"_{j}"
            put("api", name, bytes([i, flags | (j % 2) << 3 | (0x20 if j == 1 else 0) | 0x80]) + body + tail)
    put("api", "auth_missing", bytes([1, 0x01]) + json.dumps({"messages": msgs}).encode())
    put("api", "auth_ok", bytes([1, 0x07 | 0x10]) + json.dumps({"messages": msgs}).encode() + tail)
    put("api", "short_context", bytes([0, 0x40]) + json.dumps({"prompt": "word " * 80, "max_tokens": 10}).encode())
    put("api", "malformed", bytes([1, 0]) + b'{"messages": [')


def hf_tokenizer_seeds():
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "H": 3, "e": 4, "l": 5, "o": 6, "He": 7,
             "ll": 8, "Hell": 9, "Hello": 10, "\u0120": 11, "w": 12, "r": 13, "d": 14, "\u0120w": 15}
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i, c in enumerate(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])]
    base = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": bl, "post_processor": None, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": vocab, "merges": ["H e", "l l", "He ll", "Hell o", "\u0120 w"]}}
    cfg = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "add_bos_token": False}
    put("hf_tokenizer", "bytelevel", json.dumps(base))
    put("hf_tokenizer", "with_config", json.dumps(base).encode() + SEP + json.dumps(cfg).encode())
    seq = dict(base, pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": False},
        {"type": "Digits", "individual_digits": True}, bl]}, normalizer={"type": "NFC"})
    put("hf_tokenizer", "sequence_nfc", json.dumps(seq))
    pairs = dict(base, model=dict(base["model"], merges=[["H", "e"], ["l", "l"]], ignore_merges=True))
    post = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|im_start|>", "type_id": 0}},
                                                     {"Sequence": {"id": "A", "type_id": 0}}]}
    put("hf_tokenizer", "pairs_post", json.dumps(dict(pairs, post_processor=post)))
    put("hf_tokenizer", "metaspace", json.dumps(dict(base, pre_tokenizer={"type": "Metaspace", "replacement": "\u2581"},
                                                     model=dict(base["model"], byte_fallback=True))))
    put("hf_tokenizer", "string_split", json.dumps(dict(base, pre_tokenizer={"type": "Split", "pattern": {"String": "."},
                                                                             "behavior": "Isolated"})))
    # SentencePiece-style (Llama-2, Mistral): "▁" pieces, <0xNN> byte fallback, merged by the list
    spm_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "<0xE2>": 4, "\u2581": 5, "H": 6, "e": 7, "l": 8,
                 "o": 9, "\u2581H": 10, "ll": 11, "\u2581He": 12, "\u2581Hell": 13, "\u2581Hello": 14}
    spm = dict(base, added_tokens=[{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                                    "normalized": False, "special": True} for i, c in enumerate(["<unk>", "<s>", "</s>"])],
               pre_tokenizer={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
               model=dict(base["model"], byte_fallback=True, unk_token="<unk>", vocab=spm_vocab,
                          merges=["\u2581 H", "l l", "\u2581H e", "\u2581He ll", "\u2581Hell o"]))
    put("hf_tokenizer", "spm_metaspace", json.dumps(spm))
    put("hf_tokenizer", "spm_legacy", json.dumps(dict(spm, pre_tokenizer=None, normalizer={"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]})))


def main():
    gguf_seeds()
    tokenizer_seeds()
    chat_seeds()
    schema_seeds()
    regex_seeds()
    gbnf_seeds()
    safetensors_seeds()
    api_seeds()
    hf_tokenizer_seeds()


if __name__ == "__main__":
    main()
