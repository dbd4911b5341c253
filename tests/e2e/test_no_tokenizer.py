"""A model without a tokenizer (--load-format dummy of a built-in name, or of a directory that
holds only config.json) behaves as vLLM does under --skip-tokenizer-init: token-id prompts
work (ids checked against the config's vocab_size) and completions carry `token_ids` with empty
text; anything that needs text (a text prompt, a chat, /detokenize, a structured output) is
one 400 naming the missing tokenizer, in every dialect; the CLI's text commands refuse at start
with one line and exit 1. None of it may crash the process (it once did: a NULL tokenizer read).
"""
import json
import subprocess

import pytest
import requests

from conftest import describe_exit, threads
from server_fixture import MODEL_NAME, Server

TINY = {"architectures": ["LlamaForCausalLM"], "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": False}


def cli(piston, *args, stdin=None):
    return subprocess.run([piston, *args, "--load-format", "dummy", "--threads", str(threads())], input=stdin,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("cmd", [["generate", "smollm2-135m", "-p", "hi"], ["run", "smollm2-135m", "hi"]])
def test_text_commands_refuse(piston, cmd):
    p = cli(piston, *cmd)
    assert p.returncode == 1, f"{describe_exit(p.returncode)}\n{p.stderr[-2000:]}"
    errors = [line for line in p.stderr.splitlines() if "tokenizer" in line]
    assert len(errors) == 1 and errors[0].startswith("piston: "), p.stderr
    assert p.stdout == ""


def test_eval_token_ids(piston):
    p = cli(piston, "eval", "smollm2-135m", stdin=json.dumps({"ids": [1, 2, 3], "n_predict": 3, "top_n": 2}) + "\n")
    assert p.returncode == 0, f"{describe_exit(p.returncode)}\n{p.stderr[-2000:]}"
    r = json.loads(p.stdout)
    assert r["prompt_ids"] == [1, 2, 3] and len(r["tokens"]) == 3 and len(r["top"]) == 2


@pytest.mark.parametrize("req,why", [({"prompt": "hi"}, "no tokenizer"), ({"ids": [1, 49152]}, "[0, 49152)"),
                                     ({"ids": [-1]}, "[0, 49152)")])
def test_eval_refuses(piston, req, why):
    p = cli(piston, "eval", "smollm2-135m", stdin=json.dumps(req) + "\n")
    assert p.returncode == 1, f"{describe_exit(p.returncode)}\n{p.stderr[-2000:]}"
    assert why in p.stderr and p.stdout == ""


@pytest.fixture(scope="module")
def bare(piston, tmp_path_factory):
    d = tmp_path_factory.mktemp("config-only")
    (d / "config.json").write_text(json.dumps(TINY))
    s = Server(piston, str(d), "--load-format", "dummy")
    yield s
    s.check_clean_exit()


def post(s, path, body):
    return requests.post(s(path), json=body, timeout=120)


def test_token_ids_complete(bare):
    r = post(bare, "/v1/completions", {"prompt": [1, 2, 3], "max_tokens": 4, "temperature": 0, "ignore_eos": True})
    assert r.status_code == 200, r.text
    c = r.json()["choices"][0]
    assert c["text"] == "" and len(c["token_ids"]) == 4 and all(0 <= t < TINY["vocab_size"] for t in c["token_ids"])
    assert r.json()["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                                 "prompt_tokens_details": {"cached_tokens": 0}}
    batch = post(bare, "/v1/completions", {"prompt": [[1, 2, 3], [4]], "max_tokens": 2, "temperature": 0,
                                           "logprobs": 1, "ignore_eos": True})
    assert batch.status_code == 200, batch.text
    assert batch.json()["choices"][0]["token_ids"] == c["token_ids"][:2], "greedy ids differ between requests"


def test_token_ids_stream(bare):
    r = post(bare, "/v1/completions", {"prompt": [1, 2, 3], "max_tokens": 4, "temperature": 0, "ignore_eos": True,
                                       "stream": True})
    assert r.status_code == 200, r.text
    ids = []
    for line in r.text.splitlines():
        if line.startswith("data: {"):
            ids += json.loads(line[6:])["choices"][0].get("token_ids", [])
    whole = post(bare, "/v1/completions", {"prompt": [1, 2, 3], "max_tokens": 4, "temperature": 0, "ignore_eos": True})
    assert ids == whole.json()["choices"][0]["token_ids"]


@pytest.mark.parametrize("path,body", [
    ("/v1/completions", {"prompt": "hi"}),
    ("/v1/completions", {"prompt": ["hi", [1]]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/messages", {"max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}),
    ("/generate", {"inputs": "hi"}),
    ("/generate_stream", {"inputs": "hi"}),
    ("/api/generate", {"prompt": "hi", "stream": False}),
    ("/api/generate", {"prompt": "hi", "raw": True, "stream": False}),
    ("/api/chat", {"messages": [{"role": "user", "content": "hi"}], "stream": False}),
    ("/tokenize", {"prompt": "hi"}),
    ("/detokenize", {"tokens": [1, 2]}),
])
def test_text_refused(bare, path, body):
    r = post(bare, path, body if path.startswith("/generate") else dict(body, model=MODEL_NAME))  # TGI has none
    assert r.status_code == 400, f"{path}: {r.status_code} {r.text}"
    assert "no tokenizer" in r.text, r.text


@pytest.mark.parametrize("body,why", [
    ({"prompt": [1, 512]}, "[0, 512)"),
    ({"prompt": [1], "logit_bias": {"600": 5}}, "logit_bias"),
    ({"prompt": [1], "response_format": {"type": "json_object"}}, "tokenizer"),
])
def test_token_prompts_checked(bare, body, why):
    r = post(bare, "/v1/completions", dict(body, max_tokens=2))
    assert r.status_code == 400 and why in r.text, r.text


def test_ollama_context(bare):
    r = post(bare, "/api/generate", {"model": MODEL_NAME, "prompt": "", "context": [1, 2, 3], "stream": False,
                                     "options": {"num_predict": 2}})
    assert r.status_code == 200, r.text
    assert post(bare, "/health", {}).status_code in (200, 405)
    assert requests.get(bare("/health"), timeout=10).status_code == 200, "the server died"


def test_builtin_name_serves_ids(piston):
    s = Server(piston, "smollm2-135m", "--load-format", "dummy")
    try:
        assert "no tokenizer" in s.text()
        r = post(s, "/v1/completions", {"prompt": [1, 2], "max_tokens": 2, "ignore_eos": True})
        assert r.status_code == 200 and len(r.json()["choices"][0]["token_ids"]) == 2, r.text
        assert post(s, "/v1/completions", {"prompt": "hi"}).status_code == 400
    finally:
        s.check_clean_exit()
