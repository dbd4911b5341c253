"""Load: 64 concurrent streaming clients over the three dialects, a quarter of them hanging
up mid-stream. Every other stream must complete with the text a lone greedy request gets,
and afterwards /metrics must show nothing running or waiting, the KV cache empty, and one
abort per client that hung up. Then SIGTERM with a request in flight: it still completes,
and the server exits 0."""
import json
import signal
import socket
import threading
import time

import requests

from server_fixture import MODEL_NAME, Server, metric, metrics, server  # noqa: F401  (the fixture)

PROMPTS = ["The capital of France is", "Water boils at", "The first man on the moon was",
           "A list of prime numbers: 2, 3,"]
MAX_TOKENS = 24
CLIENTS = 64


def reference(srv):
    out = []
    for p in PROMPTS:
        r = requests.post(srv("/v1/completions"), json={"model": MODEL_NAME, "prompt": p, "max_tokens": MAX_TOKENS,
                                                        "temperature": 0, "ignore_eos": True}, timeout=120)
        out.append(r.json()["choices"][0]["text"])
    return out


def stream_openai(srv, prompt):
    body = {"model": MODEL_NAME, "prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0, "ignore_eos": True,
            "stream": True}
    text, done = "", False
    with requests.post(srv("/v1/completions"), json=body, stream=True, timeout=300) as r:
        assert r.status_code == 200
        for line in (x.decode("utf-8") for x in r.iter_lines()):
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                text += json.loads(line[6:])["choices"][0]["text"]
    assert done
    return text


def stream_tgi(srv, prompt):
    body = {"inputs": prompt, "parameters": {"max_new_tokens": MAX_TOKENS, "stop": []}}
    last = None
    with requests.post(srv("/generate_stream"), json=body, stream=True, timeout=300) as r:
        for line in (x.decode("utf-8") for x in r.iter_lines()):
            if line.startswith("data:"):
                last = json.loads(line[5:])
    return last["generated_text"] if last and last["details"]["finish_reason"] == "length" else None


def stream_ollama(srv, prompt):
    body = {"model": MODEL_NAME, "prompt": prompt, "raw": True,
            "options": {"num_predict": MAX_TOKENS, "temperature": 0, "repeat_penalty": 1.0, "top_k": 0, "top_p": 1}}
    text = ""
    with requests.post(srv("/api/generate"), json=body, stream=True, timeout=300) as r:
        for line in (x.decode("utf-8") for x in r.iter_lines()):
            if line:
                o = json.loads(line)
                text += o["response"]
                if o["done"] and o["done_reason"] != "length":
                    return None
    return text


def hang_up(srv, prompt, after_events=3):
    """Stream with a raw socket and close it after a few events, mid-stream."""
    body = json.dumps({"model": MODEL_NAME, "prompt": prompt, "max_tokens": 500, "ignore_eos": True,
                       "stream": True}).encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=300)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    got = b""
    while got.count(b"data: ") < after_events:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    s.close()
    return got.count(b"data: ")


def test_64_streams_with_hangups(server):  # noqa: F811
    ref = reference(server)
    before = metrics(server)
    results, errors = {}, []
    kinds = [stream_openai, stream_tgi, stream_ollama]

    def run(i):
        try:
            p = i % len(PROMPTS)
            if i % 4 == 3:
                results[i] = ("hangup", hang_up(server, PROMPTS[p]))
            else:
                results[i] = ("text", p, kinds[i % 3](server, PROMPTS[p]))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert len(results) == CLIENTS
    hangups = [r for r in results.values() if r[0] == "hangup"]
    assert len(hangups) == CLIENTS // 4 and all(n >= 3 for _, n in hangups)
    for i, r in results.items():
        if r[0] == "text":
            assert r[2] == ref[r[1]], f"client {i}: {r[2]!r} != {ref[r[1]]!r}"
    deadline = time.monotonic() + 20
    while True:
        m = metrics(server)
        idle = metric(m, "vllm:num_requests_running") == 0 and metric(m, "vllm:num_requests_waiting") == 0
        if idle and metric(m, "vllm:kv_cache_usage_perc") == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert metric(m, "vllm:num_requests_running") == 0
    assert metric(m, "vllm:num_requests_waiting") == 0
    assert metric(m, "vllm:kv_cache_usage_perc") == 0
    aborts = metric(m, "vllm:request_success_total", finished_reason="abort") - \
        metric(before, "vllm:request_success_total", finished_reason="abort")
    assert aborts == CLIENTS // 4
    done = metric(m, "vllm:request_success_total", finished_reason="length") - \
        metric(before, "vllm:request_success_total", finished_reason="length")
    assert done == CLIENTS - CLIENTS // 4


def test_sigterm_lets_in_flight_requests_finish(piston, model):
    s = Server(piston, model, "--shutdown-timeout", "60")
    body = {"model": MODEL_NAME, "prompt": "Count:", "max_tokens": 40, "ignore_eos": True, "stream": True}
    with requests.post(s("/v1/completions"), json=body, stream=True, timeout=120) as r:
        lines = (x.decode("utf-8") for x in r.iter_lines())
        first = next(line for line in lines if line.startswith("data: "))
        assert first
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # no new connections once draining
        try:
            refused = requests.get(s("/health"), timeout=5).status_code != 200
        except requests.ConnectionError:
            refused = True
        assert refused
        rest = [line for line in lines if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]"
    assert sum(len(json.loads(x[6:])["choices"][0]["text"]) > 0 for x in rest[:-1]) >= 30
    s.check_clean_exit()
