"""Strict HTTP/1.1 framing (RFC 9112) on raw sockets, each with the exact status: bare LF
and a header hidden in another's line, whitespace before a colon, obs-fold, a version other
than 1.0/1.1 (505), Host missing or doubled, chunk data not followed by CRLF, a
Transfer-Encoding other than chunked (501), Content-Length with Transfer-Encoding or twice;
trailer fields that must never count as headers (not for the API key, not for framing);
100 Continue only after the headers and the API key passed. Real clients (requests, curl,
http.client) keep working. One server with an API key serves the module."""
import http.client
import json
import shutil
import subprocess

import pytest
import requests

from raw_http import connect, raw, read_all, status_of, statuses
from server_fixture import Server

KEY = "framing-key"
TOK = json.dumps({"prompt": "Hello world"}).encode()


@pytest.fixture(scope="module")
def srv(piston, model):
    # /tokenize open (--public-routes) so that the framing cases need no key; the others keep it
    s = Server(piston, model, "--api-key", KEY, "--public-routes", "/tokenize", "--max-request-body", "65536",
               "--request-timeout", "5")
    yield s
    s.check_clean_exit()


def completion(n=1):
    return json.dumps({"model": "smollm2", "prompt": "Hi", "max_tokens": n}).encode()


def test_bare_lf_is_refused(srv):
    assert status_of(raw(srv, b"GET /health HTTP/1.1\nHost: x\n\n")) == 400
    assert status_of(raw(srv, b"GET /health HTTP/1.1\r\nHost: x\n\r\n")) == 400
    # a header hidden inside another's line (a proxy splitting on CRLF sees one X-A header)
    out = raw(srv, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-A: a\nAuthorization: Bearer %s\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (KEY.encode(), len(completion()), completion()))
    assert status_of(out) == 400 and b"bare LF" in out
    assert status_of(raw(srv, b"GET /health HTTP/1.1\r\nHost: x\rX-B: b\r\n\r\n")) == 400  # bare CR


def test_field_name_whitespace_and_folding(srv):
    out = raw(srv, b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n")
    assert status_of(out) == 400 and b"colon" in out
    assert status_of(raw(srv, b"GET /health HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n")) == 400
    assert status_of(raw(srv, b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n")) == 400
    assert status_of(raw(srv, b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n")) == 400


def test_http_version(srv):
    assert status_of(raw(srv, b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n")) == 505
    assert status_of(raw(srv, b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n")) == 505
    assert status_of(raw(srv, b"GET /health HTTP/1.2\r\nHost: x\r\n\r\n")) == 505
    assert status_of(raw(srv, b"GET /health HTTP/1\r\nHost: x\r\n\r\n")) == 400
    assert status_of(raw(srv, b"GET  /health HTTP/1.1\r\nHost: x\r\n\r\n")) == 400
    assert status_of(raw(srv, b"GET /health HTTP/1.0\r\n\r\n")) == 200


def test_host(srv):
    out = raw(srv, b"GET /health HTTP/1.1\r\n\r\n")
    assert status_of(out) == 400 and b"Host" in out
    assert status_of(raw(srv, b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")) == 400
    assert status_of(raw(srv, b"GET /health HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n")) == 400
    assert status_of(raw(srv, b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")) == 200


def chunked_tokenize(body, extra=b""):
    return (b"POST /tokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n" % KEY.encode() + extra + b"\r\n" + body)


def test_chunk_data_must_end_with_crlf(srv):
    good = b"%x\r\n%s\r\n0\r\n\r\n" % (len(TOK), TOK)
    assert status_of(raw(srv, chunked_tokenize(good))) == 200
    bad = b"%x\r\n%sXX0\r\n\r\n" % (len(TOK), TOK)
    out = raw(srv, chunked_tokenize(bad))
    assert status_of(out) == 400 and b"CRLF" in out
    # the same, the data and what follows it in separate reads
    out = raw(srv, chunked_tokenize(b"%x\r\n%s" % (len(TOK), TOK)), b"\r", b"X0\r\n\r\n", pause=0.2)
    assert status_of(out) == 400
    out = raw(srv, chunked_tokenize(b"%x\r\n%s" % (len(TOK), TOK)), b"\r\n0\r\n\r\n", pause=0.2)
    assert status_of(out) == 200


def test_chunk_size_whitespace_only_before_extension(srv):
    # RFC 9112 7.1.1: BWS after the size is allowed only before a chunk extension's ';'
    for line in (b"%x \r\n", b"%x\t\r\n", b"%x  x\r\n"):
        out = raw(srv, chunked_tokenize(line % len(TOK) + TOK + b"\r\n0\r\n\r\n"))
        assert status_of(out) == 400, line
    for line in (b"%x ;a=b\r\n", b"%x  ;a\r\n", b"%x;a\r\n"):  # (http-parser refuses a tab there)
        out = raw(srv, chunked_tokenize(line % len(TOK) + TOK + b"\r\n0\r\n\r\n"))
        assert status_of(out) == 200, line


def test_transfer_encoding_and_content_length(srv):
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(TOK), TOK)
    for te in (b"gzip, chunked", b"identity", b"chunked, chunked", b"x-custom"):
        out = raw(srv, b"POST /tokenize HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: %s\r\n\r\n%s" % (te, body))
        assert status_of(out) == 501, te
    out = raw(srv, b"POST /tokenize HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"
              b"\r\n" + body)
    assert status_of(out) == 501
    out = raw(srv, b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s"
              % (len(body), body))
    assert status_of(out) == 400
    out = raw(srv, b"POST /tokenize HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert status_of(out) == 400
    out = raw(srv, b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n%s"
              % (len(TOK), len(TOK) + 1, TOK + b" "))
    assert status_of(out) == 400
    out = raw(srv, b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n{")
    assert status_of(out) == 400
    out = raw(srv, b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
              % (len(TOK), TOK))
    assert status_of(out) == 200


def test_trailers_never_authenticate(srv):
    gen = completion()
    body = b"%x\r\n%s\r\n0\r\nAuthorization: Bearer %s\r\n\r\n" % (len(gen), gen, KEY.encode())
    out = raw(srv, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert status_of(out) == 401
    # with the key in the header, the same trailer is harmless
    out = raw(srv, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
              b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % KEY.encode() + body)
    assert status_of(out) == 200


def test_trailers_never_count_as_headers_or_framing(srv):
    # a trailer's X-Request-Id is not the request's; a trailer's Content-Length frames nothing:
    # the request pipelined behind it is answered as a request of its own
    body = (b"%x\r\n%s\r\n0\r\nX-Request-Id: from-trailer\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"
            % (len(TOK), TOK))
    out = raw(srv, chunked_tokenize(body, b"X-Request-Id: from-header\r\n").replace(b"Connection: close\r\n", b"") +
              b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert statuses(out) == [200, 200]
    assert b"from-header" in out and b"from-trailer" not in out
    assert b"\"count\":2" in out and b"\"status\":\"ok\"" in out


def expect_head(path, length, key=KEY):
    auth = b"Authorization: Bearer %s\r\n" % key.encode() if key else b""
    return (b"POST %s HTTP/1.1\r\nHost: x\r\n%sExpect: 100-continue\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (path.encode(), auth, length))


def test_expect_continue_only_after_the_checks(srv):
    gen = completion()
    # a wrong key or none: 401 at once, no 100 Continue, and the connection closes
    for key in ("wrong", None):
        s = connect(srv)
        s.sendall(expect_head("/v1/completions", len(gen), key))
        out = read_all(s)
        s.close()
        assert status_of(out) == 401 and b"100 Continue" not in out, out[:300]
    # a body over the limit: 413, no 100 Continue
    s = connect(srv)
    s.sendall(expect_head("/v1/completions", 10 << 20))
    out = read_all(s)
    s.close()
    assert status_of(out) == 413 and b"100 Continue" not in out
    # a bad head: 400, no 100 Continue
    s = connect(srv)
    s.sendall(expect_head("/v1/completions", len(gen)).replace(b"Expect:", b"Expect :"))
    out = read_all(s)
    s.close()
    assert status_of(out) == 400 and b"100 Continue" not in out
    # the right key: 100 Continue, then the answer
    s = connect(srv)
    s.sendall(expect_head("/v1/completions", len(gen)))
    assert s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    s.sendall(gen)
    out = read_all(s)
    s.close()
    assert status_of(out) == 200 and b"\"choices\"" in out


def test_wrong_key_refused_before_the_body(srv):
    # no Expect: the 401 comes before a byte of the body was sent, and the connection closes
    s = connect(srv)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Length: 60000\r\n\r\n")
    out = read_all(s)
    s.close()
    assert status_of(out) == 401 and b"Connection: close" in out and b"WWW-Authenticate: Bearer" in out


def test_real_clients_still_work(srv):
    auth = {"Authorization": f"Bearer {KEY}"}
    r = requests.post(srv("/v1/completions"), json=json.loads(completion(2)), headers=auth, timeout=60)
    assert r.status_code == 200, r.text
    # requests sends a generator as a chunked body
    r = requests.post(srv("/tokenize"), data=iter([TOK[:4], TOK[4:]]), timeout=60)
    assert r.status_code == 200 and r.json()["count"] == 2
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request("POST", "/tokenize", body=TOK, headers={"Content-Type": "application/json"})
    resp = c.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["count"] == 2
    c.close()
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    big = json.dumps({"prompt": "x " * 900}).encode()  # curl sends Expect: 100-continue over 1 KiB
    for extra in ([], ["-H", "Transfer-Encoding: chunked"]):
        p = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-H", "Content-Type: application/json",
                            *extra, "--data-binary", "@-", srv("/tokenize")], input=big, capture_output=True,
                           timeout=60)
        assert p.returncode == 0 and p.stdout.endswith(b"\n200"), p.stdout[-300:] + p.stderr


def test_head_over_the_limit_is_431_however_it_ends(srv):
    # a head longer than --max-header-size is refused as too large whether it arrives whole or
    # in pieces, whatever lies beyond the limit (fuzz_http found the verdict depending on the split)
    filler = b"".join(b"X-F%d: %s\r\n" % (i, b"a" * 100) for i in range(200))  # ~21 KB > 16 KB
    head = b"GET /health HTTP/1.1\r\nHost: x\r\n" + filler + b"X-Bad : 1\r\n\r\n"
    assert status_of(raw(srv, head)) == 431
    assert status_of(raw(srv, head[:9000], head[9000:], pause=0.2)) == 431
