"""A Hugging Face directory (made from the default GGUF: tests/ref/make_hf_dir.py) against the
GGUF it came from, and against the libraries that define its files:

- every fixture prompt: the same prompt ids, the same greedy tokens, and at --precision f32
  the first step's 49152 logits within 1e-4 of the largest (the weights are the GGUF's,
  dequantized; only the summation order may differ); bf16 weights stay close
- tokenizer.json: Piston's ids equal the `tokenizers` library's on the tokenizer tests'
  hard-string corpus; chat prompts from tokenizer_config.json's template equal jinja2's
- generation_config.json: a request that omits sampling gets its defaults, a request's own
  values win, and --generation-config vllm ignores the file
- --load-format dummy from config.json: exactly the planned bytes, and it generates (with
  the directory's tokenizer it serves text); Qwen2 (bias) and Qwen3 (q/k norm) shapes run
- piston show: architecture, parameters, dtype, context, template and format
"""
import json
import os
import re
import shutil
import subprocess

import jinja2
import pytest
import requests
from tokenizers import Tokenizer

from conftest import describe_exit, load_reference, prompt_request, run_eval, threads
from hf_fixture import hf_bf16, hf_f32  # noqa: F401 (fixtures)
from server_fixture import Server

REFERENCE = load_reference()
NAMES = [p["name"] for p in REFERENCE["prompts"]]
N_PREDICT = 16
CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                      "tokenizer_smollm2.json")


def eval_all(piston, path, precision):
    reqs = [prompt_request(p, n_predict=N_PREDICT, top_n=4, full_logits=True) for p in REFERENCE["prompts"]]
    return dict(zip(NAMES, run_eval(piston, path, reqs, precision=precision)))


@pytest.fixture(scope="module")
def gguf_f32(piston, model):
    return eval_all(piston, model, "f32")


@pytest.fixture(scope="module")
def dir_f32(piston, hf_f32):  # noqa: F811
    return eval_all(piston, hf_f32, "f32")


@pytest.mark.parametrize("name", NAMES)
def test_directory_matches_gguf(name, gguf_f32, dir_f32):
    g, d = gguf_f32[name], dir_f32[name]
    assert d["prompt_ids"] == g["prompt_ids"], "tokenizer.json encodes the prompt differently from the GGUF"
    assert d["tokens"] == g["tokens"], "greedy tokens differ"
    gl, dl = g["logits"], d["logits"]
    scale = max(abs(x) for x in gl)
    worst = max(abs(a - b) for a, b in zip(gl, dl))
    assert worst <= 1e-4 * scale, f"f32 logits differ by {worst:.3g} (largest logit {scale:.3g})"


def test_bf16_directory_close(piston, hf_bf16, gguf_f32):  # noqa: F811
    """bf16 rounds every weight (8 bits of mantissa): the logits stay within a few percent and
    the first token is the GGUF's on most prompts."""
    d = eval_all(piston, hf_bf16, None)
    same_first = 0
    for n in NAMES:
        assert d[n]["prompt_ids"] == gguf_f32[n]["prompt_ids"]
        gl, dl = gguf_f32[n]["logits"], d[n]["logits"]
        scale = max(abs(x) for x in gl)
        worst = max(abs(a - b) for a, b in zip(gl, dl))
        assert worst <= 0.1 * scale, f"{n}: bf16 logits off by {worst:.3g} of {scale:.3g}"
        same_first += d[n]["tokens"][0] == gguf_f32[n]["tokens"][0]
    assert same_first >= len(NAMES) - 2, f"bf16: first token as the GGUF's on only {same_first} of {len(NAMES)}"


@pytest.fixture(scope="module")
def dir_server(piston, hf_f32):  # noqa: F811
    s = Server(piston, hf_f32)
    yield s
    s.check_clean_exit()


def test_tokenizer_json_matches_library(dir_server, hf_f32):  # noqa: F811
    lib = Tokenizer.from_file(os.path.join(hf_f32, "tokenizer.json"))
    with open(CORPUS, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    bad = []
    for c in cases:
        want = lib.encode(c["text"], add_special_tokens=False).ids  # the library always matches special tokens
        r = requests.post(dir_server("/tokenize"), json={"prompt": c["text"], "add_special_tokens": False}, timeout=30)
        assert r.status_code == 200, r.text
        if r.json()["tokens"] != want:
            bad.append(c["text"][:60])
    assert not bad, f"{len(bad)} of {len(cases)} corpus strings tokenize differently, e.g. {bad[:3]}"


CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another."}],
]


@pytest.mark.parametrize("conv", range(len(CONVERSATIONS)))
def test_chat_template_renders_as_jinja2(conv, dir_server, hf_f32):  # noqa: F811
    with open(os.path.join(hf_f32, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    text = jinja2.Environment().from_string(cfg["chat_template"]).render(
        messages=CONVERSATIONS[conv], add_generation_prompt=True, bos_token=cfg["bos_token"], eos_token=cfg["eos_token"])
    lib = Tokenizer.from_file(os.path.join(hf_f32, "tokenizer.json"))
    r = requests.post(dir_server("/tokenize"), json={"messages": CONVERSATIONS[conv]}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["tokens"] == lib.encode(text, add_special_tokens=False).ids


def completion(srv, **kw):
    body = {"prompt": "Once upon a time", "max_tokens": 12, "seed": 7, **kw}
    r = requests.post(srv("/v1/completions"), json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["text"]


def test_generation_config_defaults(dir_server, piston, hf_f32):  # noqa: F811
    """make_hf_dir.py wrote temperature 0.7, top_p 0.9, top_k 40, repetition_penalty 1.05."""
    implicit = completion(dir_server)
    explicit = completion(dir_server, temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.05)
    assert implicit == explicit, "a request without sampling fields does not get generation_config.json's"
    assert completion(dir_server, temperature=0) == completion(dir_server, temperature=0, top_p=0.5)
    s = Server(piston, hf_f32, "--generation-config", "vllm")
    try:
        assert completion(s) == completion(s, temperature=1.0, top_p=1.0, top_k=-1, repetition_penalty=1.0)
    finally:
        s.check_clean_exit()


def planned_bytes(cfg, dtype_bytes=2):
    """model_weight_bytes: every tensor the forward reads, each at a 256-byte aligned offset."""
    al = lambda n: (n + 255) // 256 * 256  # noqa: E731
    d, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = cfg.get("head_dim") or d // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    total = al(v * d * dtype_bytes) + al(d * 4) + (0 if cfg["tie_word_embeddings"] else al(v * d * dtype_bytes))
    layer = 2 * al(d * 4) + al(d * q * dtype_bytes) + 2 * al(d * kv * dtype_bytes) + al(q * d * dtype_bytes)
    layer += 3 * al(d * f * dtype_bytes)
    if cfg.get("architectures") == ["Qwen2ForCausalLM"]:
        layer += al(q * 4) + 2 * al(kv * 4)
    if cfg.get("architectures") == ["Qwen3ForCausalLM"]:
        layer += 2 * al(hd * 4)
    return total + cfg["num_hidden_layers"] * layer


TINY = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 1024, "max_position_embeddings": 512, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False}


@pytest.mark.parametrize("arch", ["LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"])
def test_dummy_from_config(arch, piston, tmp_path):
    cfg = dict(TINY, architectures=[arch], head_dim=64 if arch == "Qwen3ForCausalLM" else None)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    p = subprocess.run([piston, "bench", "latency", str(tmp_path / "config.json"), "--load-format", "dummy",
                        "--n-prompt", "8", "-n", "4", "-r", "1", "--threads", str(threads())],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{describe_exit(p.returncode)}\n{p.stderr[-3000:]}"
    m = re.search(r"dummy weights on cpu: .* in (\d+) tensors \((\d+) bytes\)", p.stderr)
    assert m, p.stderr[-2000:]
    assert int(m.group(2)) == planned_bytes(cfg), "dummy weights are not exactly the planned bytes"
    assert "tg4" in p.stdout


def test_dummy_directory_serves_text(piston, hf_f32, tmp_path):  # noqa: F811
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(hf_f32, f), tmp_path / f)
    s = Server(piston, str(tmp_path), "--load-format", "dummy", "--dtype", "float32")
    try:
        with open(tmp_path / "config.json") as f:
            cfg = json.load(f)
        m = re.search(r"\((\d+) bytes\)", s.text())
        assert m and int(m.group(1)) == planned_bytes(cfg, 4), s.text()[-2000:]
        r = requests.post(s("/v1/completions"), json={"prompt": "Hi", "max_tokens": 5, "ignore_eos": True,
                                                      "temperature": 0}, timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] == 5
    finally:
        s.check_clean_exit()


def show(piston, *args):
    p = subprocess.run([piston, "show", *args, "--json"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_show(piston, model, hf_f32, hf_bf16):  # noqa: F811
    g, d, b = show(piston, model), show(piston, hf_f32), show(piston, hf_bf16)
    for s in (g, d, b):
        assert s["architecture"] == "llama" and s["context_length"] == 8192 and s["chat_template"] == "chatml"
        assert s["layers"] == 30 and s["heads"] == 9 and s["kv_heads"] == 3 and s["head_dim"] == 64
        assert s["parameters"] == g["parameters"] and 130e6 < s["parameters"] < 140e6
    assert (g["format"], g["dtype"]) == ("gguf", "Q4_1")
    assert (d["format"], d["dtype"], d["files"], d["hf_architecture"]) == ("safetensors", "F32", 2, "LlamaForCausalLM")
    assert (b["format"], b["dtype"], b["files"]) == ("safetensors", "BF16", 1)
    assert "temperature 0.7" in d["generation_defaults"]
    assert show(piston, hf_bf16, "--dtype", "float32")["dtype"] == "F32"


def test_show_api(dir_server):
    r = requests.post(dir_server("/api/show"), json={"model": "smollm2"}, timeout=30)
    assert r.status_code == 200, r.text
    det = r.json()["details"]
    assert det["format"] == "safetensors" and det["quantization_level"] == "F32" and det["family"] == "llama"


def test_bad_directory_is_one_line(piston, tmp_path, hf_f32):  # noqa: F811
    shutil.copy(os.path.join(hf_f32, "config.json"), tmp_path / "config.json")
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    p = subprocess.run([piston, "generate", str(tmp_path), "-p", "x", "-n", "1"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1, describe_exit(p.returncode)
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("piston:")]
    assert len(lines) == 1 and "not a JSON object" in lines[0], p.stderr


def test_gguf_refuses_dtype(piston, model):
    p = subprocess.run([piston, "generate", model, "--dtype", "float16", "-p", "x", "-n", "1"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1 and "--dtype: a GGUF model's matrices compute in the types they are stored in" in p.stderr
