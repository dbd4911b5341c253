"""Streams that cannot end well: a client that stops reading (--stream-stall-timeout and
--stream-max-backlog cut its stream, abort its request in the engine and log why, while a
slow but reading client keeps its stream), and a shutdown whose grace period ends with
streams running (each ends with its dialect's error event and the terminating chunk, and
the process exits 1)."""
import json
import re
import signal
import socket
import time

import pytest
import requests

from server_fixture import MODEL_NAME, Server, metric, metrics

COUNTING = "Count from 1 to 1000, separated by commas: 1, 2, 3, 4, 5,"


def request_bytes(path, body):
    data = json.dumps(body).encode()
    return b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        path.encode(), len(data), data)


def non_reader(srv, body):
    """A client with a tiny receive window that sends a streaming request and never reads."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(request_bytes("/v1/completions", body))
    return s


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def idle(srv):
    m = metrics(srv)
    return metric(m, "vllm:num_requests_running") == 0 and metric(m, "vllm:num_requests_waiting") == 0


# logprobs make every event about a kilobyte, so that a stalled client's window fills at once
BIG_STREAM = {"model": MODEL_NAME, "prompt": "Tell me a story.", "max_tokens": 1500, "ignore_eos": True,
              "stream": True, "logprobs": 20}


@pytest.fixture(scope="module")
def stall_srv(piston, model):
    s = Server(piston, model, "--stream-stall-timeout", "1")
    yield s
    s.check_clean_exit()


def test_stalled_reader_is_cut_and_aborted(stall_srv):
    srv = stall_srv
    aborts = metric(metrics(srv), "vllm:request_success_total", finished_reason="abort")
    s = non_reader(srv, BIG_STREAM)
    try:
        assert wait_for(lambda: "stream stalled" in srv.text(), 30), srv.text()[-3000:]
        assert wait_for(lambda: idle(srv), 10)
        m = metrics(srv)
        assert metric(m, "vllm:kv_cache_usage_perc") == 0
        assert metric(m, "vllm:request_success_total", finished_reason="abort") == aborts + 1
        line = [ln for ln in srv.text().splitlines() if "stream stalled" in ln][-1]
        assert '"POST /v1/completions"' in line and "read nothing for 1s" in line
        # the connection is gone: what the client reads now ends (EOF or reset)
        s.settimeout(10)
        with pytest.raises((ConnectionResetError, EOFError)):
            while True:
                if not s.recv(1 << 20):
                    raise EOFError
    finally:
        s.close()
    # the server serves on
    r = requests.post(srv("/v1/completions"), json={"model": MODEL_NAME, "prompt": "Hi", "max_tokens": 2}, timeout=60)
    assert r.status_code == 200


def test_slow_reader_keeps_its_stream(stall_srv):
    # reads a little every half second for longer than the stall timeout: never cut
    srv = stall_srv
    body = dict(BIG_STREAM, max_tokens=120)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(request_bytes("/v1/completions", body).replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"))
    s.settimeout(30)
    out = b""
    t0 = time.monotonic()
    while chunk := s.recv(16384):
        out += chunk
        time.sleep(0.02 if time.monotonic() - t0 > 3 else 0.5)
    s.close()
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"0\r\n\r\n")
    assert b"data: [DONE]" in out and b"\"error\"" not in out


def test_backlog_bound_cuts_the_stream(piston, model):
    srv = Server(piston, model, "--stream-stall-timeout", "0", "--stream-max-backlog", "1K")
    try:
        s = non_reader(srv, BIG_STREAM)
        try:
            assert wait_for(lambda: "stream backlog over 1024 bytes" in srv.text(), 60), srv.text()[-3000:]
            assert wait_for(lambda: idle(srv), 10)
            assert metric(metrics(srv), "vllm:kv_cache_usage_perc") == 0
        finally:
            s.close()
    finally:
        srv.check_clean_exit()


def dechunk(raw):
    """The body of a chunked response, and whether it ended with the terminating chunk."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head, head
    body = b""
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        n = int(size_line.split(b";")[0], 16)
        if n == 0:
            return body, rest == b"\r\n"
        body, rest = body + rest[:n], rest[n:]
        assert rest[:2] == b"\r\n"
        rest = rest[2:]
    return body, False


STREAMS = {
    "openai": ("/v1/chat/completions", {"model": MODEL_NAME, "messages": [{"role": "user", "content": COUNTING}],
                                        "max_tokens": 1500, "ignore_eos": True, "stream": True, "temperature": 0}),
    "tgi": ("/generate_stream", {"inputs": COUNTING, "parameters": {"max_new_tokens": 1500}}),
    # greedy and still counting at 1500 tokens (a raw /api/generate stops after ~90, and the
    # Anthropic default, temperature 1, at any length): none may end before the grace period
    "ollama": ("/api/chat", {"model": MODEL_NAME, "messages": [{"role": "user", "content": COUNTING}],
                             "options": {"num_predict": 1500, "temperature": 0}}),
    "anthropic": ("/v1/messages", {"model": MODEL_NAME, "max_tokens": 1500, "stream": True, "temperature": 0,
                                   "messages": [{"role": "user", "content": COUNTING}]}),
}


def last_event(dialect, body):
    text = body.decode()
    if dialect == "ollama":
        return [json.loads(ln) for ln in text.splitlines() if ln.strip()][-1], None
    events = [e for e in text.split("\n\n") if e.strip()]
    return events[-1], events[-2] if len(events) > 1 else None


def test_shutdown_ends_each_stream_in_its_dialect(piston, model):
    srv = Server(piston, model, "--shutdown-timeout", "1", "--max-num-seqs", "8")
    socks = {}
    for name, (path, body) in STREAMS.items():
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        s.sendall(request_bytes(path, body))
        socks[name] = s
    first = {name: s.recv(65536) for name, s in socks.items()}  # every stream has begun
    for name, b in first.items():
        assert b.startswith(b"HTTP/1.1 200"), (name, b[:300])
    # and a request that answers at its end, not streamed: it gets a 503 when cut
    whole = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    whole.sendall(request_bytes("/v1/completions", {"model": MODEL_NAME, "prompt": COUNTING, "max_tokens": 1500,
                                                    "ignore_eos": True}))
    assert wait_for(lambda: metric(metrics(srv), "vllm:num_requests_running") == 5, 30)
    srv.proc.send_signal(signal.SIGTERM)
    out = {}
    for name, s in socks.items():
        data = first[name]
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        out[name] = data
    data = b""
    while chunk := whole.recv(65536):
        data += chunk
    whole.close()
    rc = srv.proc.wait(timeout=60)
    log = srv.text()
    assert rc == 1, log[-3000:]
    assert "5 requests aborted" in log and "stopped with exit status 1" in log
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), data[:300]
    err = json.loads(body)["error"]
    assert "shut down" in err["message"] and err["code"] == 503
    for name, raw in out.items():
        body, terminated = dechunk(raw)
        assert terminated, (name, raw[-300:])
        last, before = last_event(name, body)
        if name == "openai":
            assert last == "data: [DONE]"
            err = json.loads(before[len("data: "):])["error"]
            assert "shut down" in err["message"] and err["code"] == 503
        elif name == "tgi":
            err = json.loads(last[len("data:"):].strip())
            assert "shut down" in err["error"] and err["error_type"] == "overloaded"
        elif name == "ollama":
            assert "shut down" in last["error"]
        else:
            ev, _, data = last.partition("\n")
            assert ev == "event: error"
            err = json.loads(data[len("data: "):])
            assert err["type"] == "error" and err["error"]["type"] == "overloaded_error"
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert bad not in log


def test_shutdown_within_grace_still_exits_0(piston, model):
    srv = Server(piston, model, "--shutdown-timeout", "30")
    r = requests.post(srv("/v1/completions"), json={"model": MODEL_NAME, "prompt": "Hi", "max_tokens": 2}, timeout=60)
    assert r.status_code == 200
    srv.check_clean_exit()
