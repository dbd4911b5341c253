"""JSON bodies, strictly: bytes after the JSON value are a 400 in every dialect (trailing
white space is fine); a body that is not UTF-8 is a 400, and no error body ever carries
invalid UTF-8, whatever the request held (a model name, a path, a header); an OpenAI error's
`param` names the field that failed."""
import json

import pytest
import requests

from raw_http import raw
from server_fixture import MODEL_NAME, server  # noqa: F401

BODIES = {
    "/v1/completions": {"model": MODEL_NAME, "prompt": "Hi", "max_tokens": 1},
    "/v1/chat/completions": {"model": MODEL_NAME, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1},
    "/generate": {"inputs": "Hi", "parameters": {"max_new_tokens": 1}},
    "/api/generate": {"model": MODEL_NAME, "prompt": "Hi", "stream": False, "options": {"num_predict": 1}},
    "/v1/messages": {"model": MODEL_NAME, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]},
    "/tokenize": {"prompt": "Hi"},
}


def send(srv, path, data):
    return requests.post(srv(path), data=data, headers={"Content-Type": "application/json"}, timeout=120)


def valid_json_error(r, status=400):
    assert r.status_code == status, r.text
    body = r.content.decode("utf-8")  # raises on invalid UTF-8
    return json.loads(body)


@pytest.mark.parametrize("path", list(BODIES))
def test_trailing_bytes(server, path):  # noqa: F811
    body = json.dumps(BODIES[path]).encode()
    for tail in (b" xyz", b"{}", b"\x00", b"1"):
        e = valid_json_error(send(server, path, body + tail))
        assert "after the JSON value" in json.dumps(e), e
    assert send(server, path, body + b" \r\n\t ").status_code == 200


@pytest.mark.parametrize("path", list(BODIES))
def test_invalid_utf8_never_echoed(server, path):  # noqa: F811
    for bad in (b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"caf\xe9"):
        body = json.dumps(BODIES[path]).encode().replace(b'"Hi"', b'"' + bad + b'"', 1)
        body = body.replace(MODEL_NAME.encode(), MODEL_NAME.encode() + bad)
        e = valid_json_error(send(server, path, body))
        assert "UTF-8" in json.dumps(e)


def test_error_messages_quoting_the_request_stay_utf8(server):  # noqa: F811
    # a JSON escape is valid UTF-8 in the body, and the model name it spells is quoted back
    r = send(server, "/v1/chat/completions", b'{"model": "x\\u00e9\\ud83d\\ude00", "messages": [{"role": "user", "content": "Hi"}]}')
    e = valid_json_error(r, 404)["error"]
    assert "x\u00e9\U0001F600" in e["message"] and e["param"] == "model"
    # a path with raw bytes: the 404 quotes it with U+FFFD
    out = raw(server, b"GET /v1/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert b" 404 " in head.split(b"\r\n")[0]
    json.loads(body.decode("utf-8"))


@pytest.mark.parametrize("path,body,param", [
    ("/v1/completions", {"prompt": "x", "temperature": "hot"}, "temperature"),
    ("/v1/completions", {"prompt": "x", "max_tokens": "ten"}, "max_tokens"),
    ("/v1/completions", {"prompt": "x", "stop": [1, 2]}, "stop"),
    ("/v1/completions", {"prompt": "x", "n": 0}, "n"),
    ("/v1/completions", {"prompt": "x", "suffix": "y"}, "suffix"),
    ("/v1/completions", {"prompt": [10**9]}, "prompt"),
    ("/v1/completions", {"prompt": 5}, "prompt"),
    ("/v1/completions", {"prompt": "x", "model": "nope"}, "model"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "temperature": -1}, "temperature"),
    ("/v1/chat/completions", {"messages": [{"content": "x"}]}, "messages"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "response_format": 3}, "response_format"),
])
def test_param_names_the_field(server, path, body, param):  # noqa: F811
    r = requests.post(server(path), json=body, timeout=60)
    assert r.status_code in (400, 404), r.text
    assert r.json()["error"]["param"] == param, r.json()
