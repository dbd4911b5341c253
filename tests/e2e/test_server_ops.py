"""Operating the server (issue 13): one access-log line per request, field by field, for good
and bad requests in every dialect, as text and as JSON; X-Request-Id taken from the client or
made, echoed and logged; CORS preflights and headers as vLLM sets them up; every name of
--served-model-name and the Ollama tag forms accepted, and the "tgi" model of
huggingface_hub's client; the flag forms of the one parser (--flag=value, --no-X, 16k)."""
import json
import re
import subprocess
import time

import pytest
import requests

from server_fixture import Server

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def access_lines(srv, n_before=0):
    # the readiness probes' GET /health lines are left out: the last one may be written after a
    # test has counted the lines before its own requests
    lines = [ln for ln in srv.text().splitlines() if re.match(TS + r" (INFO|WARN|ERROR) +\S+:\d+ \"", ln)
             and '"GET /health"' not in ln]
    return lines[n_before:]


def wait_lines(srv, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = access_lines(srv)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return access_lines(srv)


def parse_access(line):
    m = re.match(TS + r" (\w+) +(\S+) \"(\S+) (\S+)\" (\d+) (\S+) (.*)$", line)
    assert m, line
    level, peer, method, path, status, dialect, rest = m.groups()
    fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', rest))
    return dict(level=level, peer=peer, method=method, path=path, status=int(status), dialect=dialect, **fields)


@pytest.fixture(scope="module")
def srv(piston, model):
    s = Server(piston, model, "--served-model-name", "smollm2", "alias-two", "--allowed-origins",
               '["http://good.example"]', "--enable-log-requests", "--max-num-batched-tokens=1k")
    yield s
    s.check_clean_exit()


def test_access_log_fields(srv):
    n0 = len(access_lines(srv))
    r = requests.post(srv("/v1/completions"), json={"model": "smollm2", "prompt": "Hello", "max_tokens": 4,
                                                    "temperature": 0}, headers={"X-Request-Id": "client-id-7"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "client-id-7"
    bad = requests.post(srv("/api/generate"), data="{not json")
    assert bad.status_code == 400 and bad.headers["x-request-id"].startswith("req-")
    tgi = requests.post(srv("/generate"), json={"inputs": "Hi", "parameters": {"max_new_tokens": 3}})
    assert tgi.status_code == 200
    lines = wait_lines(srv, n0 + 3)[n0:]
    assert len(lines) == 3, lines
    ok, err, t = (parse_access(ln) for ln in lines)
    assert ok["status"] == 200 and ok["method"] == "POST" and ok["path"] == "/v1/completions"
    assert ok["dialect"] == "openai" and ok["model"] == "smollm2" and ok["id"] == "client-id-7"
    assert ok["prompt_tokens"] == "1" and ok["output_tokens"] == "4" and ok["finish"] == "length"
    assert float(ok["ttft_ms"]) > 0 and float(ok["duration_ms"]) >= float(ok["ttft_ms"])
    assert ok["peer"].startswith("127.0.0.1:")
    assert err["status"] == 400 and err["level"] == "WARN" and err["dialect"] == "ollama"
    assert err["id"] == bad.headers["x-request-id"] and "malformed JSON" in err["error"]
    assert t["dialect"] == "tgi" and t["output_tokens"] == "3"
    # --enable-log-requests: the parameters of the generation requests
    assert re.search(r"request client-id-7: smollm2, 1 prompt\(s\) of 1 tokens, n=1, max_tokens=4", srv.text())


# one good and one bad request per dialect: (path, good body, bad body)
DIALECTS = {
    "openai": ("/v1/completions", {"model": "smollm2", "prompt": "Hi", "max_tokens": 2}, {"prompt": "Hi", "max_tokens": -1}),
    "tgi": ("/generate", {"inputs": "Hi", "parameters": {"max_new_tokens": 2}}, {"inputs": "Hi", "parameters": {"top_p": 7}}),
    "ollama": ("/api/generate", {"model": "smollm2", "prompt": "Hi", "stream": False, "options": {"num_predict": 2}},
               {"model": "smollm2", "prompt": "Hi", "stream": "yes"}),
    "anthropic": ("/v1/messages", {"model": "smollm2", "max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]},
                  {"model": "smollm2", "max_tokens": 2, "messages": []}),
}


def send_every_dialect(server):
    """Each dialect's good and bad request, each with its own X-Request-Id: {id: (dialect, status)}."""
    sent = {}
    for dialect, (path, good, bad) in DIALECTS.items():
        for kind, body in (("good", good), ("bad", bad)):
            rid = f"{dialect}-{kind}-{time.monotonic_ns()}"
            r = requests.post(server(path), json=body, headers={"X-Request-Id": rid}, timeout=60)
            assert (r.status_code == 200) == (kind == "good"), (dialect, kind, r.status_code, r.text)
            assert r.headers["x-request-id"] == rid
            sent[rid] = (dialect, r.status_code)
    return sent


def check_every_dialect(sent, records):
    """records: {request id: {dialect, status, model, output_tokens, error}} read from the log."""
    for rid, (dialect, status) in sent.items():
        rec = records.get(rid)
        assert rec, (rid, sorted(records))
        assert rec["dialect"] == dialect and int(rec["status"]) == status, (rid, rec)
        if status == 200:
            assert int(rec["output_tokens"]) == 2 and not rec.get("error"), (rid, rec)
            assert dialect == "tgi" or rec["model"] == "smollm2", (rid, rec)
        else:
            assert rec.get("error") and rec["level"] == "WARN" and int(rec["output_tokens"]) == 0, (rid, rec)


def test_access_log_every_dialect_text(srv):
    sent = send_every_dialect(srv)
    deadline, records = time.monotonic() + 10, {}
    while time.monotonic() < deadline and not set(sent) <= set(records):
        records = {f["id"]: dict(f, error=f.get("error", "").strip('"')) for f in map(parse_access, access_lines(srv))}
        time.sleep(0.05)
    check_every_dialect(sent, records)


def test_client_gone_is_logged(srv):
    n0 = len(access_lines(srv))
    with requests.post(srv("/v1/completions"), json={"prompt": "Count:", "max_tokens": 400, "stream": True,
                                                     "ignore_eos": True}, stream=True, timeout=30) as r:
        next(r.iter_lines())
    line = wait_lines(srv, n0 + 1)[n0]
    f = parse_access(line)
    assert f["status"] == 200 and f["finish"] == "client_gone", line


def test_cors(srv):
    pre = requests.options(srv("/v1/chat/completions"), headers={
        "Origin": "http://good.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "http://good.example"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "authorization" in pre.headers["access-control-allow-headers"]
    r = requests.get(srv("/v1/models"), headers={"Origin": "http://good.example"})
    assert r.headers["access-control-allow-origin"] == "http://good.example"
    other = requests.get(srv("/v1/models"), headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def preflight(server, origin, method="POST", headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return requests.options(server("/v1/chat/completions"), headers=h)


def test_cors_preflight_refusals(srv):
    """As Starlette's CORSMiddleware (vLLM's) answers: 400 naming what is disallowed."""
    bad = preflight(srv, "http://evil.example")
    assert bad.status_code == 400 and bad.text == "Disallowed CORS origin", bad.text
    assert "access-control-allow-origin" not in bad.headers and bad.headers["vary"] == "Origin"
    # "*" in --allowed-methods is Starlette's list of every standard method
    assert preflight(srv, "http://good.example", "PATCH").status_code == 200
    odd = preflight(srv, "http://good.example", "FROB")
    assert odd.status_code == 400 and odd.text == "Disallowed CORS method"
    both = preflight(srv, "http://evil.example", "FROB")
    assert both.status_code == 400 and both.text == "Disallowed CORS origin, method"
    # an OPTIONS without Origin is no preflight: the route's answer
    assert requests.options(srv("/v1/chat/completions"), headers={"Access-Control-Request-Method": "POST"}
                            ).status_code == 405


def test_cors_preflight_lists(piston, model):
    s = Server(piston, model, "--allowed-origins", "http://a.example,http://b.example", "--allowed-methods",
               '["GET", "POST"]', "--allowed-headers", '["Authorization"]', "--allow-credentials")
    try:
        ok = preflight(s, "http://b.example", "POST", "authorization, content-type")
        assert ok.status_code == 200 and ok.text == "OK"
        assert ok.headers["access-control-allow-origin"] == "http://b.example"
        assert ok.headers["access-control-allow-credentials"] == "true"
        assert ok.headers["access-control-allow-methods"] == "GET, POST"
        assert "Authorization" in ok.headers["access-control-allow-headers"]
        assert preflight(s, "http://b.example", "DELETE").text == "Disallowed CORS method"
        hdr = preflight(s, "http://a.example", "GET", "x-secret")
        assert hdr.status_code == 400 and hdr.text == "Disallowed CORS headers"
        assert preflight(s, "http://c.example", "PUT", "x-secret").text == "Disallowed CORS origin, method, headers"
    finally:
        s.check_clean_exit()


def test_model_names(srv):
    ids = [m["id"] for m in requests.get(srv("/v1/models")).json()["data"]]
    assert ids == ["smollm2", "alias-two"]
    for name in ("smollm2", "alias-two", "smollm2:latest", "tgi"):
        r = requests.post(srv("/v1/chat/completions"), json={
            "model": name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        assert r.status_code == 200, (name, r.text)
    r = requests.post(srv("/v1/chat/completions"), json={"messages": [{"role": "user", "content": "hi"}],
                                                          "max_tokens": 2})
    assert r.status_code == 200
    assert requests.post(srv("/v1/completions"), json={"model": "nope", "prompt": "x"}).status_code == 404
    import ollama
    out = ollama.Client(host=srv.url).generate(model="smollm2:latest", prompt="Hi", options={"num_predict": 2})
    assert out["done"]


def test_default_name_hides_the_path(piston, model, monkeypatch):
    """Without --served-model-name, a model given by its path is served as the file's base name
    without .gguf: no route shows the path; requests naming the path (as vLLM's clients do, vLLM
    serving a model under the name it was given) are still taken."""
    import os
    import server_fixture
    base = [a for a in server_fixture.BASE_ARGS if a not in ("--served-model-name", server_fixture.MODEL_NAME)]
    monkeypatch.setattr(server_fixture, "BASE_ARGS", base)
    path = os.path.abspath(model)
    name = os.path.basename(path)[:-len(".gguf")] if path.endswith(".gguf") else os.path.basename(path)
    s = Server(piston, path)
    try:
        pages = {p: requests.get(s(p)).text for p in ("/v1/models", "/info", "/api/tags", "/api/ps", "/metrics")}
        pages["/api/show"] = requests.post(s("/api/show"), json={"model": name}).text
        for p, text in pages.items():
            assert os.path.dirname(path) not in text, (p, text[:400])
        assert [m["id"] for m in requests.get(s("/v1/models")).json()["data"]] == [name]
        assert f'model_name="{name}"' in pages["/metrics"]
        assert any(m["name"] in (name, name + ":latest") for m in requests.get(s("/api/tags")).json()["models"])
        for want in (name, path):
            r = requests.post(s("/v1/completions"), json={"model": want, "prompt": "Hi", "max_tokens": 1})
            assert r.status_code == 200, (want, r.text)
        assert requests.post(s("/v1/completions"), json={"model": "nope", "prompt": "x"}).status_code == 404
    finally:
        s.stop()


FULL_FORMS = ("library/smollm2:latest", "registry.ollama.ai/library/smollm2:latest", "registry.ollama.ai/library/smollm2",
              "library/smollm2")


def test_model_names_ollama_full_forms(srv):
    import ollama
    client = ollama.Client(host=srv.url)
    for name in FULL_FORMS:
        assert client.generate(model=name, prompt="Hi", options={"num_predict": 2})["done"], name
        assert client.chat(model=name, messages=[{"role": "user", "content": "Hi"}], options={"num_predict": 2})["done"]
        assert client.show(name)["details"], name
        r = requests.post(srv("/v1/chat/completions"), json={
            "model": name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        assert r.status_code == 200, (name, r.text)
    for name in ("library/other:latest", "registry.ollama.ai/library/smollm2:7b", "smollm2:7b", "registry.ollama.ai/"):
        r = requests.post(srv("/api/generate"), json={"model": name, "prompt": "Hi", "stream": False})
        assert r.status_code == 404, (name, r.text)


def test_model_names_per_dialect(srv):
    """TGI's own routes take any model field, as TGI does; OpenAI, Ollama and Anthropic answer an unknown
    name with 404 (vLLM's and Ollama's answer), except huggingface_hub's placeholders on OpenAI's routes."""
    for path, body in (("/generate", {"inputs": "Hi", "parameters": {"max_new_tokens": 2}}),
                       ("/generate_stream", {"inputs": "Hi", "parameters": {"max_new_tokens": 2}}),
                       ("/", {"inputs": "Hi", "parameters": {"max_new_tokens": 2}})):
        for name in ("whatever", "tgi", "gpt-4"):
            r = requests.post(srv(path), json={**body, "model": name})
            assert r.status_code == 200, (path, name, r.text)
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    for name, want in (("tgi", 200), ("dummy", 200), ("nope", 404), ("gpt-4", 404)):
        assert requests.post(srv("/v1/chat/completions"), json={**chat, "model": name}).status_code == want, name
        assert requests.post(srv("/v1/completions"), json={"model": name, "prompt": "x", "max_tokens": 2}
                             ).status_code == want, name
    for name in ("tgi", "dummy", "nope"):
        r = requests.post(srv("/api/generate"), json={"model": name, "prompt": "Hi", "stream": False})
        assert r.status_code == 404, (name, r.text)
        r = requests.post(srv("/api/chat"), json={"model": name, "messages": chat["messages"], "stream": False})
        assert r.status_code == 404, (name, r.text)
        r = requests.post(srv("/v1/messages"), json={"model": name, "max_tokens": 2, "messages": chat["messages"]})
        assert r.status_code == 404, (name, r.text)
    r = requests.post(srv("/v1/messages"), json={"model": FULL_FORMS[1], "max_tokens": 2, "messages": chat["messages"]})
    assert r.status_code == 200, r.text


def test_huggingface_hub_client_without_a_model(srv):
    """huggingface_hub's InferenceClient against a TGI-style base URL sends model "tgi"."""
    hub = pytest.importorskip("huggingface_hub")
    client = hub.InferenceClient(base_url=srv.url)
    out = client.chat_completion(messages=[{"role": "user", "content": "Hello"}], max_tokens=4)
    assert out.choices[0].message.content is not None
    text = client.text_generation("The sky is", max_new_tokens=3)
    assert isinstance(text, str)


def test_json_log_format(piston, model):
    s = Server(piston, model, "--log-format", "json")
    try:
        requests.post(s("/v1/completions"), json={"prompt": "Hi", "max_tokens": 2})
        deadline = time.monotonic() + 10
        recs = []
        # the readiness probes' /health records are there from the start; wait for this request's
        # own, which the server may write just after the client has its response
        while time.monotonic() < deadline and not any(r.get("msg") == "request" and r.get("path") == "/v1/completions"
                                                      for r in recs):
            recs = [json.loads(ln) for ln in s.text().splitlines() if ln.startswith("{")]
            time.sleep(0.05)
        assert recs and all({"time", "level", "msg"} <= set(r) for r in recs)
        req = [r for r in recs if r["msg"] == "request" and r.get("path") == "/v1/completions"][-1]
        assert req["status"] == 200 and req["path"] == "/v1/completions" and req["output_tokens"] == 2
        assert req["dialect"] == "openai" and req["request_id"].startswith("req-")
        sent = send_every_dialect(s)
        deadline, records = time.monotonic() + 10, {}
        while time.monotonic() < deadline and not set(sent) <= set(records):
            records = {r["request_id"]: r for r in (json.loads(ln) for ln in s.text().splitlines() if ln.startswith("{"))
                       if r.get("msg") == "request"}
            time.sleep(0.05)
        check_every_dialect(sent, records)
    finally:
        s.check_clean_exit()


@pytest.mark.parametrize("args, words", [
    (["--max-num-seq", "4"], ["unknown flag --max-num-seq", "did you mean --max-num-seqs"]),
    (["--quantization", "awq"], ["--quantization", "GGUF"]),
    (["--port"], ["--port needs a value"]),
    (["--port=x"], ["--port expects an integer"]),
    (["--pipeline-parallel-size", "2"], ["--pipeline-parallel-size"]),
])
def test_flag_forms_refused(piston, model, args, words):
    p = subprocess.run([piston, "serve", model, *args], capture_output=True, timeout=30)
    err = p.stderr.decode()
    assert p.returncode != 0 and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words), err


def test_flag_forms_help(piston):
    out = subprocess.run([piston, "serve", "--help"], capture_output=True, timeout=30).stdout.decode()
    for flag in ("--max-model-len", "--gpu-memory-utilization", "--allowed-origins", "--log-format"):
        assert flag in out
    assert "[default: 0.9]" in out
    top = subprocess.run([piston, "--help"], capture_output=True, timeout=30).stdout.decode()
    for cmd in ("generate", "run", "serve", "eval", "bench latency", "bench throughput", "bench bandwidth"):
        assert cmd in top


def test_flag_forms_accepted(piston, model):
    p = subprocess.run([piston, "generate", model, "--prompt=Hello", "-n=3", "--temperature=0", "--no-enable-prefix-caching",
                        "--max-model-len=1k", "--trust-remote-code"], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert "--trust-remote-code has no effect" in p.stderr.decode()
