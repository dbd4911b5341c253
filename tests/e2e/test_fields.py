"""Each route's fields are an allowlist (server/api_fields.c): a field Piston does not implement
is a 400 (TGI: 422) that names it, in the dialect's error shape (OpenAI's with `param`), never
ignored; metadata that real clients send, and fields at their neutral value, pass. Anthropic's
own list refuses the same way."""
import pytest
import requests

from server_fixture import server  # noqa: F401

MSGS = [{"role": "user", "content": "Hi"}]
CHAT = {"model": "smollm2", "messages": MSGS, "max_tokens": 2}
COMPLETION = {"model": "smollm2", "prompt": "Hi", "max_tokens": 2}

OPENAI_REFUSED = [  # (route, extra fields, the field named)
    ("/v1/chat/completions", {"foo_unknown": 1}, "foo_unknown"),
    ("/v1/chat/completions", {"typical_p": 0.5}, "typical_p"),
    ("/v1/chat/completions", {"top_a": 0.1}, "top_a"),
    ("/v1/chat/completions", {"thinking": {"type": "enabled"}}, "thinking"),
    ("/v1/chat/completions", {"echo": True}, "echo"),
    ("/v1/chat/completions", {"priority": 5}, "priority"),
    ("/v1/chat/completions", {"service_tier": "flex"}, "service_tier"),
    ("/v1/chat/completions", {"add_special_tokens": True}, "add_special_tokens"),
    ("/v1/completions", {"suffix": "x"}, "suffix"),
    ("/v1/completions", {"top_logprobs": 2}, "top_logprobs"),
    ("/v1/completions", {"foo_unknown": "x"}, "foo_unknown"),
]


@pytest.mark.parametrize("route,extra,name", OPENAI_REFUSED, ids=lambda v: v if isinstance(v, str) else None)
def test_openai_refuses_by_name(server, route, extra, name):
    r = requests.post(server(route), json={**(CHAT if "chat" in route else COMPLETION), **extra}, timeout=60)
    assert r.status_code == 400, r.text
    e = r.json()["error"]
    assert e["param"] == name and name in e["message"] and e["type"] == "BadRequestError"
    assert "leave it out" in e["message"] or "send" in e["message"]  # what to do


def test_openai_metadata_and_neutral_values_pass(server):
    neutral = {"user": "u1", "store": False, "metadata": {"k": "v"}, "service_tier": "auto", "priority": 0,
               "prompt_cache_key": "k", "safety_identifier": "s", "echo": False, "add_special_tokens": False,
               "stream_options": None, "top_k": 5, "min_p": 0.1, "repetition_penalty": 1.1, "seed": 1}
    assert requests.post(server("/v1/chat/completions"), json={**CHAT, **neutral}, timeout=60).status_code == 200
    for extra in ({"service_tier": "default", "user": "u", "add_special_tokens": False}, {"add_special_tokens": True}):
        r = requests.post(server("/v1/completions"), json={**COMPLETION, **extra}, timeout=60)
        assert r.status_code == 200, r.text


def test_add_special_tokens_false_drops_bos(server):
    a = requests.post(server("/v1/completions"), json={**COMPLETION, "max_tokens": 1}, timeout=60).json()
    b = requests.post(server("/v1/completions"), json={**COMPLETION, "max_tokens": 1, "add_special_tokens": False},
                      timeout=60).json()
    bos = requests.post(server("/tokenize"), json={"prompt": "Hi"}, timeout=60).json()["count"] - \
        requests.post(server("/tokenize"), json={"prompt": "Hi", "add_special_tokens": False}, timeout=60).json()["count"]
    assert a["usage"]["prompt_tokens"] - b["usage"]["prompt_tokens"] == bos


@pytest.mark.parametrize("body,name", [
    ({"inputs": "Hi", "parameters": {"max_new_tokens": 2, "foo": 1}}, "parameters.foo"),
    ({"inputs": "Hi", "parameters": {"max_new_tokens": 2, "truncate": 10}}, "parameters.truncate"),
    ({"inputs": "Hi", "parameters": {"max_new_tokens": 2}, "foo": 1}, "foo"),
])
@pytest.mark.parametrize("route", ["/generate", "/generate_stream", "/"])
def test_tgi_refuses_by_name(server, route, body, name):
    r = requests.post(server(route), json=body, timeout=60)
    assert r.status_code == 422 and r.json()["error"].startswith(f"'{name}'") and r.json()["error_type"] == "validation"


def test_tgi_client_fields_pass(server):
    # what huggingface_hub's text_generation sends (its None values dropped), and nulls
    p = {"max_new_tokens": 2, "details": True, "decoder_input_details": False, "do_sample": False, "stop": [],
         "return_full_text": False, "watermark": False, "top_n_tokens": None, "truncate": None, "adapter_id": None}
    assert requests.post(server("/"), json={"inputs": "Hi", "parameters": p, "stream": False}, timeout=60).status_code == 200


@pytest.mark.parametrize("route,extra,name", [
    ("/api/generate", {"suffix": "x"}, "suffix"),
    ("/api/generate", {"think": True}, "think"),
    ("/api/chat", {"think": True}, "think"),
    ("/api/chat", {"foo": 1}, "foo"),
    ("/api/generate", {"logprobs": True}, "logprobs"),
    ("/api/generate", {"options": {"mirostat": 2}}, "options.mirostat"),
    ("/api/chat", {"options": {"typical_p": 0.5}}, "options.typical_p"),
    ("/api/generate", {"options": {"repeat_last_n": 64}}, "options.repeat_last_n"),
    ("/api/generate", {"options": {"tfs_z": 0.5}}, "options.tfs_z"),
    ("/api/generate", {"options": {"penalize_newline": True}}, "options.penalize_newline"),
    ("/api/chat", {"options": {"top_a": 1}}, "options.top_a"),
])
def test_ollama_refuses_by_name(server, route, extra, name):
    body = {"model": "smollm2", "stream": False, **extra}
    body.update({"messages": MSGS} if route == "/api/chat" else {"prompt": "Hi"})
    body["options"] = {**extra.get("options", {}), "num_predict": 2}
    r = requests.post(server(route), json=body, timeout=60)
    assert r.status_code == 400 and r.json()["error"].startswith(f"'{name}'"), r.text


def test_ollama_runtime_options_pass(server):
    opts = {"num_predict": 2, "num_ctx": 1024, "num_thread": 2, "num_gpu": 0, "use_mmap": True, "num_batch": 512,
            "num_keep": 4, "mirostat": 0, "mirostat_tau": 5.0, "typical_p": 1.0, "tfs_z": 1, "repeat_last_n": -1,
            "penalize_newline": False}
    for route, body in (("/api/generate", {"prompt": "Hi", "suffix": "", "template": ""}), ("/api/chat", {"messages": MSGS})):
        r = requests.post(server(route), json={"model": "smollm2", "stream": False, "keep_alive": "5m", "think": False,
                                               "options": opts, **body}, timeout=60)
        assert r.status_code == 200, r.text


def test_anthropic_refuses_unknown_fields(server):
    r = requests.post(server("/v1/messages"), json={"model": "smollm2", "max_tokens": 2, "messages": MSGS, "top_a": 1},
                      timeout=60)
    assert r.status_code == 400 and "top_a" in r.json()["error"]["message"]
    assert r.json()["error"]["type"] == "invalid_request_error"
