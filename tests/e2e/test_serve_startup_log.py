"""`piston serve`'s log from its first line: every line timestamped (or JSON with --log-format
json), the flag notes printed before the server runs included; the configuration line once
the engine has resolved it (the model's context length, the KV cache's bytes and dtype, the
device, the seed, the chat template, CORS); --disable-log-requests as vLLM means it (no
parameter lines, the access log stays)."""
import json
import re
import time

import requests

from server_fixture import Server

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO |WARN |ERROR) ")


def wait_for(s, pred, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pred(s.text()):
        time.sleep(0.05)
    return s.text()


def test_json_log_from_the_first_line_and_resolved_config(piston, model):
    s = Server(piston, model, "--log-format", "json", "--trust-remote-code", "--disable-log-requests", "--seed", "5",
               "--allowed-methods", "GET,POST", "--allow-credentials")
    try:
        r = requests.post(s("/v1/completions"), json={"prompt": "Hi", "max_tokens": 2})
        assert r.status_code == 200
        text = wait_for(s, lambda t: '"path":"/v1/completions"' in t)
        recs = [json.loads(ln) for ln in text.splitlines()]  # every line, the first included, is JSON
        assert recs[0]["msg"].startswith("note: --trust-remote-code has no effect"), recs[0]
        cfg = [r["msg"] for r in recs if r["msg"].startswith("config: ")]
        assert len(cfg) == 1, cfg
        kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', cfg[0]))
        assert kv["max_model_len"] == "2048" and int(kv["kv_cache_bytes"]) > 0 and int(kv["num_kv_blocks"]) > 0
        assert kv["kv_cache_dtype"] == "F16" and kv["device"].startswith('"cpu') and int(kv["threads"]) >= 1
        assert kv["seed"] == "5" and kv["chat_template"] == "chatml" and kv["dtype"] == "Q4_1"
        assert kv["allowed_methods"] == "GET,POST" and kv["allow_credentials"] == "on"
        assert kv["access_log"] == "on" and kv["log_requests"] == "off" and kv["public_routes"] == "none"
        # --disable-log-requests: the access log stays, no parameter lines
        assert any(r["msg"] == "request" and r.get("path") == "/v1/completions" for r in recs)
        assert not any(r["msg"].startswith("request req-") for r in recs)
    finally:
        s.check_clean_exit()


def test_text_log_every_line_timestamped(piston, model):
    s = Server(piston, model, "--uvicorn-log-level", "info", "--enable-log-requests")
    try:
        requests.post(s("/v1/completions"), json={"prompt": "Hi", "max_tokens": 2})
        text = wait_for(s, lambda t: "POST /v1/completions" in t)
        lines = text.splitlines()
        assert lines and all(STAMP.match(ln) for ln in lines), [ln for ln in lines if not STAMP.match(ln)]
        assert "note: --uvicorn-log-level has no effect" in lines[0]
        assert re.search(r"request \S+: smollm2, 1 prompt\(s\)", text)  # --enable-log-requests
    finally:
        s.check_clean_exit()


def test_disable_uvicorn_access_log_turns_the_access_log_off(piston, model):
    s = Server(piston, model, "--disable-uvicorn-access-log")
    try:
        requests.post(s("/v1/completions"), json={"prompt": "Hi", "max_tokens": 2})
        time.sleep(0.5)
        assert "POST /v1/completions" not in s.text()
        assert "access_log=off" in s.text()
    finally:
        s.check_clean_exit()
