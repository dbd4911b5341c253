"""The API key on every route: with --api-key, each route answers 401 without the key (or
with a wrong one) and works with it, through Authorization: Bearer or Anthropic's x-api-key,
except the probes /health, /metrics and /version. A path that names no route is a 401 too
without the key (nothing learned of which routes exist). --public-routes opens more.
/api/show and /v1/models never show the server's filesystem path."""
import os

import pytest
import requests

from server_fixture import MODEL_NAME, Server

KEY = "k3y-for-tests"
AUTH = {"Authorization": f"Bearer {KEY}"}

# (method, path, body) of every route but the open ones
ROUTES = [
    ("GET", "/", None),
    ("GET", "/v1/models", None),
    ("GET", f"/v1/models/{MODEL_NAME}", None),
    ("POST", "/v1/completions", {"model": MODEL_NAME, "prompt": "Hi", "max_tokens": 1}),
    ("POST", "/v1/chat/completions", {"model": MODEL_NAME, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}),
    ("POST", "/tokenize", {"prompt": "Hi"}),
    ("POST", "/detokenize", {"tokens": [1, 2]}),
    ("POST", "/generate", {"inputs": "Hi", "parameters": {"max_new_tokens": 1}}),
    ("POST", "/generate_stream", {"inputs": "Hi", "parameters": {"max_new_tokens": 1}}),
    ("POST", "/", {"inputs": "Hi", "parameters": {"max_new_tokens": 1}}),
    ("GET", "/info", None),
    ("POST", "/api/generate", {"model": MODEL_NAME, "prompt": "Hi", "stream": False, "options": {"num_predict": 1}}),
    ("POST", "/api/chat", {"model": MODEL_NAME, "messages": [{"role": "user", "content": "Hi"}], "stream": False,
                           "options": {"num_predict": 1}}),
    ("GET", "/api/tags", None),
    ("POST", "/api/show", {"model": MODEL_NAME}),
    ("GET", "/api/ps", None),
    ("GET", "/api/version", None),
    ("POST", "/v1/messages", {"model": MODEL_NAME, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}),
    ("POST", "/v1/messages/count_tokens", {"model": MODEL_NAME, "messages": [{"role": "user", "content": "Hi"}]}),
]
OPEN = ["/health", "/metrics", "/version"]


@pytest.fixture(scope="module")
def srv(piston, model):
    s = Server(piston, model, "--api-key", KEY)
    yield s
    s.check_clean_exit()


def call(srv, method, path, body, headers):
    return requests.request(method, srv(path), json=body, headers=headers, timeout=120)


@pytest.mark.parametrize("method,path,body", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_route_needs_the_key(srv, method, path, body):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"x-api-key": "nope"}):
        r = call(srv, method, path, body, headers)
        assert r.status_code == 401, f"{method} {path} {headers}: {r.status_code} {r.text[:200]}"
        assert "error" in r.json()
    for headers in (AUTH, {"x-api-key": KEY}):
        r = call(srv, method, path, body, headers)
        assert r.status_code == 200, f"{method} {path}: {r.status_code} {r.text[:200]}"


def test_probes_are_open(srv):
    for path in OPEN:
        assert requests.get(srv(path), timeout=10).status_code == 200, path


def test_unknown_paths_need_the_key(srv):
    assert requests.get(srv("/v1/nothing"), timeout=10).status_code == 401
    assert requests.get(srv("/v1/nothing"), headers=AUTH, timeout=10).status_code == 404
    assert requests.delete(srv("/v1/completions"), timeout=10).status_code == 401
    assert requests.delete(srv("/v1/completions"), headers=AUTH, timeout=10).status_code == 405


def test_no_filesystem_path(srv, model):
    r = call(srv, "POST", "/api/show", {"model": MODEL_NAME}, AUTH).json()
    assert os.path.dirname(model) not in r["modelfile"]
    assert r["modelfile"] == f"FROM {os.path.basename(model)}\n"
    for card in call(srv, "GET", "/v1/models", None, AUTH).json()["data"]:
        assert card["root"] == os.path.basename(model)


def test_public_routes_flag(piston, model):
    s = Server(piston, model, "--api-key", KEY, "--public-routes", "/v1/models, /api/tags")
    try:
        assert requests.get(s("/v1/models"), timeout=10).status_code == 200
        assert requests.get(s("/api/tags"), timeout=10).status_code == 200
        assert requests.get(s("/api/ps"), timeout=10).status_code == 401
        assert requests.post(s("/tokenize"), json={"prompt": "x"}, timeout=10).status_code == 401
    finally:
        s.check_clean_exit()


def test_no_key_no_auth(piston, model):
    s = Server(piston, model)
    try:
        for method, path, body in ROUTES[:8]:
            assert call(s, method, path, body, {}).status_code == 200, path
    finally:
        s.check_clean_exit()
