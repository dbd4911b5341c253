"""The TGI and Ollama dialects over raw HTTP, checked field by field against their documented
schemas (TGI's router OpenAPI: GenerateResponse, StreamResponse, Info; Ollama's API docs:
/api/generate, /api/chat, /api/tags, /api/show, /api/ps, /api/version), plus /tokenize,
/detokenize and /version."""
import json

import requests

from server_fixture import MODEL_NAME, server  # noqa: F401  (the fixture)

PROMPT = "The capital of France is"
TGI_FINISH = {"length", "eos_token", "stop_sequence"}


def sse_events(resp):
    """The JSON payloads of an SSE stream (TGI writes "data:" without a space)."""
    out = []
    for line in (x.decode("utf-8") for x in resp.iter_lines()):
        if line and line.startswith("data:"):
            out.append(json.loads(line[5:]))
    return out


def check_token(t):
    assert set(t) >= {"id", "text", "logprob", "special"}
    assert isinstance(t["id"], int) and isinstance(t["text"], str) and isinstance(t["special"], bool)
    assert t["logprob"] is None or t["logprob"] <= 0


def test_tgi_generate(server):  # noqa: F811
    r = requests.post(server("/generate"), json={"inputs": PROMPT, "parameters": {"max_new_tokens": 8}}, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"generated_text"} and "Paris" in body["generated_text"]
    r = requests.post(server("/generate"), json={"inputs": PROMPT, "parameters": {
        "max_new_tokens": 8, "details": True, "decoder_input_details": True, "top_n_tokens": 2, "seed": 5,
        "return_full_text": True}}, timeout=60)
    body = r.json()
    assert body["generated_text"].startswith(PROMPT + " Paris")
    d = body["details"]
    assert d["finish_reason"] in TGI_FINISH and d["generated_tokens"] == len(d["tokens"]) <= 8
    assert d["seed"] == 5
    assert len(d["prefill"]) == 5 and all(set(p) == {"id", "text", "logprob"} for p in d["prefill"])
    for t in d["tokens"]:
        check_token(t)
    assert len(d["top_tokens"]) == len(d["tokens"]) and all(len(tt) == 2 for tt in d["top_tokens"])
    assert "".join(t["text"] for t in d["tokens"]) == body["generated_text"][len(PROMPT):]


def test_tgi_generate_stream(server):  # noqa: F811
    whole = requests.post(server("/generate"), json={"inputs": PROMPT, "parameters": {"max_new_tokens": 6}},
                          timeout=60).json()["generated_text"]
    with requests.post(server("/generate_stream"), json={"inputs": PROMPT, "parameters": {"max_new_tokens": 6}},
                       stream=True, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        ev = sse_events(r)
    assert len(ev) == 6
    for i, e in enumerate(ev):
        assert e["index"] == i + 1
        check_token(e["token"])
        if i < len(ev) - 1:
            assert e["generated_text"] is None and e["details"] is None
    last = ev[-1]
    assert last["generated_text"] == whole == "".join(e["token"]["text"] for e in ev)
    assert last["details"]["finish_reason"] == "length" and last["details"]["generated_tokens"] == 6


def test_tgi_compat_route_and_stop(server):  # noqa: F811
    r = requests.post(server("/"), json={"inputs": PROMPT, "parameters": {"max_new_tokens": 12, "stop": ["\n"],
                                                                          "details": True}}, timeout=60)
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    assert "\n" not in body[0]["generated_text"]
    assert body[0]["details"]["finish_reason"] == "stop_sequence"
    with requests.post(server("/"), json={"inputs": PROMPT, "stream": True, "parameters": {"max_new_tokens": 3}},
                       stream=True, timeout=60) as r:
        assert len(sse_events(r)) == 3


def test_tgi_info(server):  # noqa: F811
    info = requests.get(server("/info"), timeout=10).json()
    for k in ("model_id", "model_dtype", "model_device_type", "max_concurrent_requests", "max_best_of",
              "max_stop_sequences", "max_input_tokens", "max_total_tokens", "waiting_served_ratio",
              "max_batch_total_tokens", "max_waiting_tokens", "validation_workers", "version"):
        assert k in info, k
    assert info["model_id"] == MODEL_NAME and info["max_total_tokens"] == 2048


def test_tgi_errors(server):  # noqa: F811
    r = requests.post(server("/generate"), json={"inputs": PROMPT, "parameters": {"max_new_tokens": "x"}}, timeout=10)
    assert r.status_code == 422 and r.json()["error_type"] == "validation" and "max_new_tokens" in r.json()["error"]
    r = requests.post(server("/generate"), json={"parameters": {}}, timeout=10)
    assert r.status_code == 422 and "inputs" in r.json()["error"]
    r = requests.post(server("/generate"), json={"inputs": "x", "parameters": {"max_new_tokens": 5000}}, timeout=10)
    assert r.status_code == 422 and "maximum context length" in r.json()["error"]
    r = requests.post(server("/generate"), data="{not json", timeout=10)
    assert r.status_code == 400 and set(r.json()) == {"error", "error_type"}


def ndjson(resp):
    return [json.loads(line) for line in resp.iter_lines() if line]


def check_done(o):
    assert o["done"] is True and o["done_reason"] in ("stop", "length")
    for k in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
              "eval_duration"):
        assert isinstance(o[k], int) and o[k] >= 0, k
    assert o["total_duration"] >= o["eval_duration"]


def test_ollama_generate(server):  # noqa: F811
    body = {"model": MODEL_NAME, "prompt": "Why is the sky blue?", "options": {"num_predict": 6, "temperature": 0}}
    with requests.post(server("/api/generate"), json=body, stream=True, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
        lines = ndjson(r)
    for o in lines[:-1]:
        assert o["model"] == MODEL_NAME and o["done"] is False and isinstance(o["response"], str)
        assert o["created_at"].endswith("Z") and "T" in o["created_at"]
    last = lines[-1]
    check_done(last)
    assert last["response"] == "" and last["eval_count"] == 6 and last["done_reason"] == "length"
    assert isinstance(last["context"], list) and len(last["context"]) == last["prompt_eval_count"] + 6
    text = "".join(o["response"] for o in lines)
    one = requests.post(server("/api/generate"), json={**body, "stream": False}, timeout=60).json()
    check_done(one)
    assert one["response"] == text
    # continuing from a context
    more = requests.post(server("/api/generate"), json={"model": MODEL_NAME, "prompt": "And why?", "stream": False,
                                                        "context": one["context"], "options": {"num_predict": 3}},
                         timeout=60).json()
    assert more["prompt_eval_count"] > len(one["context"])
    # raw prompt, Ollama's tag, stop
    raw = requests.post(server("/api/generate"), json={"model": MODEL_NAME + ":latest", "prompt": "The capital of "
                        "France is", "raw": True, "stream": False, "options": {"num_predict": 10, "temperature": 0,
                                                                               "stop": ["."]}}, timeout=60).json()
    assert raw["response"].strip().startswith("Paris") and "." not in raw["response"]
    assert raw["done_reason"] == "stop"


def test_ollama_chat(server):  # noqa: F811
    body = {"model": MODEL_NAME, "messages": [{"role": "user", "content": "Say hello."}],
            "options": {"num_predict": 5, "seed": 1, "temperature": 0}}
    with requests.post(server("/api/chat"), json=body, stream=True, timeout=60) as r:
        lines = ndjson(r)
    for o in lines[:-1]:
        assert o["message"]["role"] == "assistant" and o["done"] is False
    check_done(lines[-1])
    assert lines[-1]["message"] == {"role": "assistant", "content": ""}
    one = requests.post(server("/api/chat"), json={**body, "stream": False}, timeout=60).json()
    assert one["message"]["content"] == "".join(o["message"]["content"] for o in lines)
    check_done(one)
    load = requests.post(server("/api/chat"), json={"model": MODEL_NAME, "messages": []}, timeout=10).json()
    assert load["done"] is True and load["done_reason"] == "load"


def test_ollama_models(server):  # noqa: F811
    tags = requests.get(server("/api/tags"), timeout=10).json()
    m = tags["models"][0]
    assert m["name"] == MODEL_NAME + ":latest" and m["size"] > 1e7
    assert m["details"]["format"] == "gguf" and m["details"]["family"] == "llama"
    assert m["details"]["quantization_level"] == "Q4_1" and m["details"]["parameter_size"] == "135M"
    ps = requests.get(server("/api/ps"), timeout=10).json()
    assert ps["models"][0]["name"] == m["name"] and "expires_at" in ps["models"][0]
    show = requests.post(server("/api/show"), json={"model": MODEL_NAME}, timeout=10).json()
    assert show["model_info"]["general.architecture"] == "llama" and "details" in show
    assert requests.post(server("/api/show"), json={"model": "nope"}, timeout=10).status_code == 404
    assert "version" in requests.get(server("/api/version"), timeout=10).json()
    r = requests.post(server("/api/generate"), json={"model": "nope", "prompt": "x"}, timeout=10)
    assert r.status_code == 404 and set(r.json()) == {"error"}


def test_tokenize_detokenize_version(server):  # noqa: F811
    t = requests.post(server("/tokenize"), json={"prompt": PROMPT}, timeout=10).json()
    assert t["count"] == len(t["tokens"]) == 5 and t["max_model_len"] == 2048
    d = requests.post(server("/detokenize"), json={"tokens": t["tokens"]}, timeout=10).json()
    assert d["prompt"] == PROMPT
    chat = requests.post(server("/tokenize"), json={"messages": [{"role": "user", "content": "hi"}]}, timeout=10).json()
    assert chat["count"] > 3
    assert requests.get(server("/version"), timeout=10).json()["version"]
