"""Bad input and hostile HTTP, each answered with the right status and error body while the
server keeps serving: malformed JSON, wrong types, unknown model, max_tokens over the context,
a prompt over --max-model-len, a body over the limit, a header flood, missing or wrong API
key, unknown route, wrong method, a full queue (503 / TGI's 429), slow and idle clients.
The HTTP layer's manners too: keep-alive, pipelining, chunked bodies, Expect: 100-continue,
HTTP/1.0, HEAD. One server with small limits and an API key serves the module."""
import json
import re
import socket
import time

import pytest
import requests

from raw_http import raw, status_of
from server_fixture import MODEL_NAME, Server, metric, metrics

KEY = "sekret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def srv(piston, model):
    s = Server(piston, model, "--api-key", KEY, "--max-request-body", "65536", "--max-header-size", "8192",
               "--max-headers", "50", "--request-timeout", "1.5", "--timeout-keep-alive", "1.5",
               "--max-num-seqs", "1", "--max-queued-requests", "1")
    yield s
    s.check_clean_exit()


def post(srv, path, body=None, data=None, headers=AUTH, **kw):
    return requests.post(srv(path), json=body, data=data, headers=headers, timeout=60, **kw)


def still_serving(srv):
    r = post(srv, "/v1/completions", {"model": MODEL_NAME, "prompt": "Hi", "max_tokens": 2})
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] >= 1


def openai_error(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    e = r.json()["error"]
    assert set(e) == {"message", "type", "param", "code"} and e["code"] == status and e["message"]
    return e


def test_malformed_json_and_wrong_types(srv):
    openai_error(post(srv, "/v1/completions", data="{\"prompt\": "), 400)
    openai_error(post(srv, "/v1/chat/completions", data=""), 400)
    openai_error(post(srv, "/v1/completions", data="[1, 2]"), 400)
    e = openai_error(post(srv, "/v1/completions", {"model": MODEL_NAME, "prompt": "x", "max_tokens": "ten"}), 400)
    assert "max_tokens" in e["message"]
    openai_error(post(srv, "/v1/completions", {"model": MODEL_NAME, "prompt": 5}), 400)
    openai_error(post(srv, "/v1/completions", {"model": MODEL_NAME, "prompt": "x", "temperature": "hot"}), 400)
    openai_error(post(srv, "/v1/completions", {"model": MODEL_NAME, "prompt": "x", "stop": [1, 2]}), 400)
    openai_error(post(srv, "/v1/completions", {"model": MODEL_NAME, "prompt": [10**9]}), 400)
    openai_error(post(srv, "/v1/chat/completions", {"model": MODEL_NAME, "messages": "hi"}), 400)
    openai_error(post(srv, "/v1/chat/completions", {"model": MODEL_NAME, "messages": [{"role": "tool",
                                                                                         "content": "x"}]}), 400)
    r = post(srv, "/api/generate", data="{oops")
    assert r.status_code == 400 and set(r.json()) == {"error"}
    r = post(srv, "/api/chat", {"model": MODEL_NAME, "messages": [{"role": "user", "content": "x"}],
                                "options": {"temperature": "x"}})
    assert r.status_code == 400 and "temperature" in r.json()["error"]
    still_serving(srv)


def test_unknown_model(srv):
    e = openai_error(post(srv, "/v1/completions", {"model": "gpt-17", "prompt": "x"}), 404)
    assert "gpt-17" in e["message"]
    openai_error(requests.get(srv("/v1/models/gpt-17"), headers=AUTH, timeout=10), 404)
    r = post(srv, "/api/chat", {"model": "llama9", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404


def test_lengths(srv):
    e = openai_error(post(srv, "/v1/completions", {"model": MODEL_NAME, "prompt": "Hello", "max_tokens": 4000}), 400)
    assert "maximum context length is 2048" in e["message"]
    long_prompt = "word " * 3000
    e = openai_error(post(srv, "/v1/completions", {"model": MODEL_NAME, "prompt": long_prompt, "max_tokens": 1}), 400)
    assert "maximum context length is 2048" in e["message"] and "input tokens" in e["message"]
    openai_error(post(srv, "/v1/chat/completions", {"model": MODEL_NAME, "messages": [{"role": "user",
                                                                                         "content": long_prompt}]}), 400)
    r = post(srv, "/generate", {"inputs": long_prompt})
    assert r.status_code == 422 and r.json()["error_type"] == "validation"
    r = post(srv, "/api/generate", {"model": MODEL_NAME, "prompt": long_prompt, "stream": False})
    assert r.status_code == 400
    still_serving(srv)


def test_body_and_header_limits(srv):
    # a declared body over the limit is refused before it is sent
    head = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n").encode()
    out = raw(srv, head)
    assert status_of(out) == 413 and b"too large" in out
    # a chunked body that grows over the limit
    chunk = b"x" * 30000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    out = raw(srv, (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n").encode() + body)
    assert status_of(out) == 413
    # too many headers, and one enormous header
    flood = "".join(f"X-Flood-{i}: {i}\r\n" for i in range(500))
    out = raw(srv, f"GET /health HTTP/1.1\r\nHost: x\r\n{flood}\r\n".encode())
    assert status_of(out) == 431
    out = raw(srv, f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 100000}\r\n\r\n".encode())
    assert status_of(out) == 431
    out = raw(srv, b"GARBAGE / HTTP/1.1\r\n\r\n")
    assert status_of(out) == 400
    still_serving(srv)


def test_api_key(srv):
    body = {"model": MODEL_NAME, "prompt": "x", "max_tokens": 1}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                    {"Authorization": f"Bearer {KEY}x"}):
        openai_error(post(srv, "/v1/completions", body, headers=headers), 401)
    assert requests.get(srv("/v1/models"), timeout=10).status_code == 401
    assert post(srv, "/generate", {"inputs": "x"}, headers={}).status_code == 401
    assert post(srv, "/api/generate", {"model": MODEL_NAME, "prompt": "x"}, headers={}).status_code == 401
    assert post(srv, "/api/chat", {"model": MODEL_NAME, "messages": []}, headers={}).status_code == 401
    # open routes
    assert requests.get(srv("/health"), timeout=10).status_code == 200
    assert requests.get(srv("/metrics"), timeout=10).status_code == 200
    assert requests.get(srv("/v1/models"), headers=AUTH, timeout=10).status_code == 200


def test_routes_and_methods(srv):
    openai_error(requests.get(srv("/v1/nothing"), headers=AUTH, timeout=10), 404)
    r = requests.get(srv("/api/nothing"), headers=AUTH, timeout=10)
    assert r.status_code == 404 and "error" in r.json()
    e = openai_error(requests.get(srv("/v1/completions"), headers=AUTH, timeout=10), 405)
    assert e["message"]
    r = requests.get(srv("/v1/completions"), headers=AUTH, timeout=10)
    assert "POST" in r.headers["allow"]
    assert requests.delete(srv("/health"), timeout=10).status_code == 405
    r = requests.head(srv("/health"), timeout=10)
    assert r.status_code == 200 and r.content == b""


def test_keep_alive_pipelining_chunked_expect(srv):
    tok = json.dumps({"prompt": "Hello world"}).encode()
    # two requests in one write: two answers, in order, on one connection
    req = (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
           % (KEY.encode(), len(tok), tok))
    out = raw(srv, req)
    assert out.count(b"HTTP/1.1 200 OK") == 2
    assert out.index(b"\"status\"") < out.index(b"\"tokens\"")
    # a streamed generation with a request pipelined behind it: answered after the stream ends
    gen = json.dumps({"model": MODEL_NAME, "prompt": "Hi", "max_tokens": 4, "stream": True}).encode()
    out = raw(srv, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
              b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (KEY.encode(), len(gen), gen))
    assert out.count(b"HTTP/1.1 200 OK") == 2
    assert b"Transfer-Encoding: chunked" in out
    assert out.index(b"data: [DONE]") < out.index(b"\"status\"")
    assert b"0\r\n\r\nHTTP/1.1 200 OK" in out  # the chunked stream ended before the next response
    # HTTP/1.0 streaming: no chunked coding, the body ends with the connection
    out = raw(srv, b"POST /v1/completions HTTP/1.0\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s" %
              (KEY.encode(), len(gen), gen))
    assert status_of(out) == 200 and b"chunked" not in out and out.rstrip().endswith(b"data: [DONE]")
    # a chunked request body
    body = b"5\r\n" + tok[:5] + b"\r\n" + b"%x\r\n" % (len(tok) - 5) + tok[5:] + b"\r\n0\r\n\r\n"
    out = raw(srv, b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n"
              b"Connection: close\r\n\r\n" % KEY.encode() + body)
    assert status_of(out) == 200 and b"\"count\":2" in out
    # Expect: 100-continue
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
              b"\r\nExpect: 100-continue\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n" % len(tok))
    assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
    s.sendall(tok)
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    assert status_of(out) == 200
    # HTTP/1.0: answered, then closed
    out = raw(srv, b"GET /health HTTP/1.0\r\n\r\n")
    assert status_of(out) == 200 and b"Connection: close" in out


def test_slow_and_idle_clients(srv):
    # a request that does not arrive whole within --request-timeout: 408, closed
    t0 = time.monotonic()
    out = raw(srv, b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() +
              b"\r\nContent-Length: 100\r\n\r\n{", timeout=10)
    assert status_of(out) == 408 and time.monotonic() - t0 < 8
    # an idle keep-alive connection is closed after --timeout-keep-alive
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    assert s.recv(65536).startswith(b"HTTP/1.1 200")
    t0 = time.monotonic()
    assert s.recv(100) == b"" and time.monotonic() - t0 < 8
    s.close()
    still_serving(srv)


def open_stream(srv, path, body):
    """Start a streaming request on a raw socket; returns the socket once the first bytes of
    the body arrived (the request is then running in the engine)."""
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s" %
              (path.encode(), KEY.encode(), len(data), data))
    return s


def test_full_queue_and_disconnect_while_queued(srv):
    # --max-num-seqs 1 and --max-queued-requests 1: one runs, one waits, the next is refused
    long = {"model": MODEL_NAME, "prompt": "Tell me a long story.", "max_tokens": 1000, "ignore_eos": True,
            "stream": True}
    a = open_stream(srv, "/v1/completions", long)
    assert a.recv(4096).startswith(b"HTTP/1.1 200")  # running: its stream has begun
    b = open_stream(srv, "/v1/completions", long)  # waits in the queue
    deadline = time.monotonic() + 10
    while metric(metrics(srv), "vllm:num_requests_waiting") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric(metrics(srv), "vllm:num_requests_waiting") == 1
    openai_error(post(srv, "/v1/completions", {"model": MODEL_NAME, "prompt": "x", "max_tokens": 1}), 503)
    r = post(srv, "/generate", {"inputs": "x"})
    assert r.status_code == 429 and r.json() == {"error": "Model is overloaded", "error_type": "overloaded"}
    assert post(srv, "/api/generate", {"model": MODEL_NAME, "prompt": "x"}).status_code == 503
    before = metrics(srv)
    b.close()  # hangs up while queued
    a.close()  # hangs up mid-stream
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = metrics(srv)
        if metric(m, "vllm:num_requests_running") == 0 and metric(m, "vllm:num_requests_waiting") == 0:
            break
        time.sleep(0.05)
    assert metric(m, "vllm:num_requests_running") == 0 and metric(m, "vllm:num_requests_waiting") == 0
    assert metric(m, "vllm:kv_cache_usage_perc") == 0
    aborts = metric(m, "vllm:request_success_total", finished_reason="abort") - \
        metric(before, "vllm:request_success_total", finished_reason="abort")
    assert aborts == 2
    still_serving(srv)


@pytest.mark.parametrize("args, words", [
    (["--bogus", "1"], ["unknown flag", "--bogus"]),
    (["--device", "cuda"], ["cuda"]),
    (["--port", "70000"], ["--port"]),
    (["--host", "no.such.host.invalid"], ["--host"]),
    (["--kv-cache-memory", "lots"], ["--kv-cache-memory"]),
    (["--max-model-len", "100000"], ["--max-model-len"]),
    (["--chat-template", "nope"], ["--chat-template"]),
])
def test_serve_flag_errors(piston, model, args, words):
    """A bad flag: one clear line on stderr and a non-zero exit, before or while loading."""
    import subprocess
    p = subprocess.run([piston, "serve", model, "--port", "0", "--kv-cache-memory", "64M", *args],
                       capture_output=True, timeout=120)
    err = p.stderr.decode()
    assert p.returncode not in (0, 134, 139) and p.returncode > 0, err
    # the start-up log (timestamped INFO lines) aside, one error: "piston: ..." before the
    # server runs, a timestamped ERROR line once it does
    lines = [ln for ln in err.splitlines() if not re.match(r"\d{4}-\d\d-\d\dT[\d:.]+Z (INFO|WARN) ", ln)]
    assert len(lines) == 1 and re.match(r"(piston: |\d{4}-\d\d-\d\dT[\d:.]+Z ERROR )", lines[0]), err
    assert all(w.lower() in lines[0].lower() for w in words), err
