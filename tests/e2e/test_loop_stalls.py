"""No request stalls the others: work that grows with the input (parsing a long body,
tokenizing a long prompt, rendering /tokenize's answer) runs on libuv's worker pool, not on
the loop thread that serves every connection. While a 7 MB prompt is parsed and tokenized
(about a second of CPU), /health keeps answering: many times, each well under 200 ms (the
loop-thread version took 1.5 s; the bound is generous so that this is no benchmark). A client
that leaves while its work is queued, and a shutdown meanwhile, are clean; the worker's
tokens are the same as the loop's."""
import json
import os
import socket
import subprocess
import tempfile
import time

import pytest
import requests

from server_fixture import MODEL_NAME, Server, server  # noqa: F401

TEXT = ("The quick brown fox jumps over the lazy dog. " * 160000)[:7_000_000]
PARTS = [{"type": "text", "text": "part %d" % i} for i in range(100000)]  # joining them must be linear
BODIES = {
    "/tokenize#parts": {"model": MODEL_NAME, "messages": [{"role": "user", "content": PARTS}]},
    "/v1/messages/count_tokens#blocks": {"model": MODEL_NAME, "system": PARTS, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/completions": {"model": MODEL_NAME, "prompt": TEXT, "max_tokens": 1},
    "/v1/chat/completions": {"model": MODEL_NAME, "messages": [{"role": "user", "content": TEXT}], "max_tokens": 1},
    "/tokenize": {"model": MODEL_NAME, "prompt": TEXT},
    "/api/generate": {"model": MODEL_NAME, "prompt": TEXT, "stream": False},
    "/v1/messages/count_tokens": {"model": MODEL_NAME, "messages": [{"role": "user", "content": TEXT}]},
}


@pytest.fixture(scope="module")
def body_files():
    files = {}
    for path, body in BODIES.items():
        f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(body, f)
        f.close()
        files[path] = f.name
    yield files
    for name in files.values():
        os.unlink(name)


@pytest.mark.parametrize("path", list(BODIES))
def test_health_answers_while_a_huge_prompt_is_tokenized(server, body_files, path):  # noqa: F811
    # curl in its own process sends the body, so that this one only measures /health
    big = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                            "--data-binary", "@" + body_files[path], server(path.split("#")[0])], stdout=subprocess.PIPE, text=True)
    s = requests.Session()
    worst, polls = 0.0, 0
    while big.poll() is None:
        t = time.monotonic()
        assert s.get(server("/health"), timeout=30).status_code == 200
        worst = max(worst, time.monotonic() - t)
        polls += 1
    status = big.stdout.read()
    assert status in ("200", "400"), status  # 400: longer than --max-model-len, which is found after tokenizing
    assert polls >= 5, f"{path}: only {polls} /health answers while it ran"
    assert worst < 0.2, f"{path}: /health took {worst * 1000:.0f} ms while a long prompt was tokenized"


def test_worker_tokens_equal_inline_tokens(server):  # noqa: F811
    def count(n):
        r = requests.post(server("/tokenize"), json={"prompt": "hello world " * n}, timeout=60)
        assert r.status_code == 200
        return r.json()["count"]
    small, big = count(10), count(20000)  # 120 bytes: tokenized inline; 240 KB: on the worker pool
    assert big - small == 2 * (20000 - 10)
    msgs = [{"role": "user", "content": "hello world " * 20000}]
    n = requests.post(server("/tokenize"), json={"messages": msgs}, timeout=60).json()["count"]
    r = requests.post(server("/v1/chat/completions"), json={"model": MODEL_NAME, "messages": msgs, "max_tokens": 1},
                      timeout=60)
    assert r.status_code == 400 and str(n) in r.json()["error"]["message"]


def send_and_leave(port, path, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % (path.encode(), len(data)) + data)
    s.close()


def test_client_gone_while_its_prompt_is_tokenized(server):  # noqa: F811
    data = json.dumps(BODIES["/v1/chat/completions"]).encode()
    for path in ("/v1/chat/completions", "/tokenize", "/v1/completions"):
        send_and_leave(server.port, path, data if path != "/v1/completions" else json.dumps(BODIES[path]).encode())
    time.sleep(0.5)
    r = requests.post(server("/v1/completions"), json={"model": MODEL_NAME, "prompt": "Hi", "max_tokens": 2}, timeout=60)
    assert r.status_code == 200


def test_shutdown_waits_for_queued_work(piston, model):
    s = Server(piston, model)
    data = json.dumps(BODIES["/tokenize"]).encode()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    sock.sendall(b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                 % len(data) + data)
    time.sleep(0.2)
    s.check_clean_exit()  # SIGTERM while the work is queued or running: exits 0
    sock.close()
