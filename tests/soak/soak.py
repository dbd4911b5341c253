#!/usr/bin/env python3
"""Soak test of `piston serve` (make soak, make soak-asan; not part of make test).

Starts the server itself on a free loopback port, precomputes the answer of every distinct
greedy request by sending it alone on the idle server, then runs N concurrent clients
(asyncio, raw HTTP/1.1 over asyncio streams) for S seconds across every dialect, streaming
and not. Each client draws, request after request, one behaviour:

  normal      a well-formed request, read whole, on a keep-alive connection it reuses
  hangup      a quarter of all requests: closed mid-request (headers or body half sent),
              while queued, mid-stream after k events, or before a whole answer (FIN or RST)
  slow        reads the answer a few bytes at a time through a tiny receive buffer
  never-read  sends a streaming request and never reads; gives up after a while (or is cut
              by the server's --stream-stall-timeout where the binary has that flag)
  pipelined   2-4 requests written at once on one keep-alive connection, answers read in order
  garbage     random bytes, bad framing, invalid JSON, oversized headers: a 4xx or a close
  slowloris   header bytes dribbled slowly: whole requests (answered) or endless (cut: 408)

A warm-up phase (load, then drain) comes first; the server's RSS at idle after it is the
baseline. After the main phase and a drain, it checks, printing PASS or FAIL for each:
every well-formed request that was not abandoned answered 2xx and, when greedy, with the text
it gets alone; garbage got a 4xx or a close, never a 5xx or a hang; endless slowloris were cut;
RSS back within 5% of the baseline; /metrics running, waiting and KV cache usage at 0; the
lone greedy answers unchanged after the soak; a clean exit 0 at SIGTERM with no sanitizer
report in the log. Exit status 1 when a check fails.

Usage: tests/soak/soak.py [--bin build-asan/bin/piston] [--clients 256] [--seconds 600]
PISTON_BIN and PISTON_MODEL are read as in tests/e2e (default bin/piston and the default
model in ~/.cache/piston).
"""
import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL_NAME = "smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
REQUEST_TIMEOUT = 8          # the server's --request-timeout: endless slowloris are cut after it
STALL_TIMEOUT = 5            # --stream-stall-timeout, where the binary has it
ANSWER_TIMEOUT = 300         # a well-formed request not answered whole within this is a hang (--answer-timeout)

PROMPTS = [("The capital of France is", 8), ("Water boils at", 16),
           ("Write a haiku about the sea.", 32), ("List three prime numbers.", 48)]
SAMPLED_PROMPTS = ["Tell me a joke.", "Once upon a time", "Name a colour."]
DIALECTS = ["oai_cmpl", "oai_chat", "tgi", "ollama_gen", "ollama_chat", "anthropic"]


# ---------------------------------------------------------------- requests of each dialect

def make_request(dialect, prompt, n, stream, greedy=True):
    """(path, body dict) of one request."""
    msgs = [{"role": "user", "content": prompt}]
    temp = 0 if greedy else 0.8
    if dialect == "oai_cmpl":
        return "/v1/completions", {"model": MODEL_NAME, "prompt": prompt, "max_tokens": n,
                                   "temperature": temp, "stream": stream}
    if dialect == "oai_chat":
        return "/v1/chat/completions", {"model": MODEL_NAME, "messages": msgs, "max_tokens": n,
                                        "temperature": temp, "stream": stream}
    if dialect == "tgi":
        params = {"max_new_tokens": n}
        if not greedy:
            params.update(do_sample=True, temperature=temp)
        return ("/generate_stream" if stream else "/generate"), {"inputs": prompt, "parameters": params}
    if dialect == "ollama_gen":
        return "/api/generate", {"model": MODEL_NAME, "prompt": prompt, "stream": stream,
                                 "options": {"num_predict": n, "temperature": temp}}
    if dialect == "ollama_chat":
        return "/api/chat", {"model": MODEL_NAME, "messages": msgs, "stream": stream,
                             "options": {"num_predict": n, "temperature": temp}}
    if dialect == "anthropic":
        return "/v1/messages", {"model": MODEL_NAME, "messages": msgs, "max_tokens": n,
                                "temperature": temp, "stream": stream}
    raise ValueError(dialect)


class Req:
    def __init__(self, dialect, prompt, n, stream, greedy=True):
        self.dialect, self.stream, self.greedy = dialect, stream, greedy
        self.path, body = make_request(dialect, prompt, n, stream, greedy)
        self.body = json.dumps(body).encode()
        self.key = (dialect, prompt, n, stream) if greedy else None

    def wire(self, keep_alive=True):
        head = (f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self.body)}\r\n" + ("" if keep_alive else "Connection: close\r\n") + "\r\n")
        return head.encode() + self.body

    def describe(self):
        return f"POST {self.path} {self.body.decode()}"


GREEDY = [Req(d, p, n, s) for d in DIALECTS for p, n in PROMPTS for s in (False, True)]


def random_request(rng, stream=None, greedy=None):
    if greedy is None:
        greedy = rng.random() < 0.85
    if stream is None:
        stream = rng.random() < 0.5
    if greedy:
        r = rng.choice([g for g in GREEDY if g.stream == stream])
        return r
    return Req(rng.choice(DIALECTS), rng.choice(SAMPLED_PROMPTS), rng.choice([8, 16, 24]), stream, greedy=False)


# ---------------------------------------------------------------- answers: text and events

def text_of(dialect, j):
    """The text of a whole (non-streamed) answer."""
    if dialect == "oai_cmpl":
        return j["choices"][0]["text"]
    if dialect == "oai_chat":
        return j["choices"][0]["message"]["content"] or ""
    if dialect == "tgi":
        return j["generated_text"]
    if dialect == "ollama_gen":
        return j["response"]
    if dialect == "ollama_chat":
        return j["message"]["content"]
    if dialect == "anthropic":
        return "".join(b.get("text", "") for b in j["content"] if b.get("type") == "text")
    raise ValueError(dialect)


class StreamParser:
    """Splits a streamed body into events (SSE or NDJSON) as bytes arrive: the text, the
    number of events with text, whether the stream ended properly, the time of the first token."""

    def __init__(self, dialect, t0):
        self.dialect, self.t0 = dialect, t0
        self.sse = not dialect.startswith("ollama")
        self.buf, self.parts, self.events, self.done = b"", [], 0, False
        self.final = None     # TGI: generated_text of the last event
        self.ttft = None
        self.error = None

    def feed(self, data):
        self.buf += data
        sep = b"\n\n" if self.sse else b"\n"
        while sep in self.buf:
            ev, self.buf = self.buf.split(sep, 1)
            self._event(ev.decode("utf-8", "replace"))

    def _event(self, ev):
        if self.sse:
            data = "\n".join(ln[5:].lstrip(" ") for ln in ev.split("\n") if ln.startswith("data:"))
            if not data:
                return
        else:
            data = ev.strip()
            if not data:
                return
        if data == "[DONE]":
            self.done = True
            return
        try:
            j = json.loads(data)
        except ValueError:
            self.error = f"bad event {data[:200]!r}"
            return
        if isinstance(j, dict) and ("error" in j or j.get("type") == "error"):
            self.error = f"error event {data[:300]}"
            return
        t = ""
        d = self.dialect
        if d == "oai_cmpl":
            t = j["choices"][0]["text"] if j.get("choices") else ""
        elif d == "oai_chat":
            t = (j["choices"][0]["delta"].get("content") or "") if j.get("choices") else ""
        elif d == "tgi":
            if not j["token"].get("special"):
                t = j["token"]["text"]
            if j.get("generated_text") is not None:
                self.final, self.done = j["generated_text"], True
        elif d == "ollama_gen":
            t = j.get("response", "")
            self.done = self.done or j.get("done", False)
        elif d == "ollama_chat":
            t = j.get("message", {}).get("content", "")
            self.done = self.done or j.get("done", False)
        elif d == "anthropic":
            if j.get("type") == "content_block_delta":
                t = j["delta"].get("text", "")
            elif j.get("type") == "message_stop":
                self.done = True
        if t:
            self.parts.append(t)
            self.events += 1
            if self.ttft is None:
                self.ttft = time.monotonic() - self.t0

    def text(self):
        return self.final if self.final is not None else "".join(self.parts)


# ---------------------------------------------------------------- HTTP/1.1 over asyncio streams

class Closed(Exception):
    pass


class Conn:
    """One client connection. `piece` and `pause` make a slow reader."""

    def __init__(self, reader, writer, piece=65536, pause=0.0):
        self.r, self.w, self.piece, self.pause, self.buf = reader, writer, piece, pause, b""
        self.used = 0
        self.last = time.monotonic()

    @classmethod
    async def open(cls, port, rcvbuf=None, piece=65536, pause=0.0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", port))
        r, w = await asyncio.open_connection(sock=s, limit=max(piece, 1024))
        return cls(r, w, piece, pause)

    async def send(self, data):
        self.w.write(data)
        await self.w.drain()

    async def _fill(self):
        if self.pause:
            await asyncio.sleep(self.pause)
        d = await self.r.read(self.piece)
        if not d:
            raise Closed("connection closed by the server")
        self.buf += d

    async def readline(self):
        while b"\n" not in self.buf:
            await self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    async def readexactly(self, n, sink=None):
        while n > 0:
            if not self.buf:
                await self._fill()
            take, self.buf = self.buf[:n], self.buf[n:]
            n -= len(take)
            sink(take)

    async def read_response(self, sink):
        """Status, headers; the body goes to sink(bytes) as it arrives."""
        line = await self.readline()
        m = re.match(rb"HTTP/1\.[01] (\d{3})", line)
        if not m:
            raise Closed(f"bad status line {line[:80]!r}")
        status, headers = int(m.group(1)), {}
        while True:
            h = await self.readline()
            if not h:
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.readline()).split(b";")[0], 16)
                if size == 0:
                    while await self.readline():
                        pass
                    break
                await self.readexactly(size, sink)
                await self.readline()
        elif "content-length" in headers:
            await self.readexactly(int(headers["content-length"]), sink)
        else:
            try:
                while True:
                    if self.buf:
                        sink(self.buf)
                        self.buf = b""
                    await self._fill()
            except Closed:
                pass
            headers["connection"] = "close"
        self.used += 1
        self.last = time.monotonic()
        return status, headers

    def close(self, rst=False):
        try:
            if rst:
                sock = self.w.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.w.close()
        except OSError:
            pass


async def exchange(conn, req, t0=None, on_event=None):
    """Reads one answer of req on conn (already sent). (status, text or None, parser|body)."""
    t0 = t0 or time.monotonic()
    if req.stream:
        parser = StreamParser(req.dialect, t0)

        def sink(b):
            parser.feed(b)
            if on_event:
                on_event(parser)
        status, headers = await conn.read_response(sink)
        parser.feed(b"\n\n")
        return status, headers, parser
    chunks = []
    status, headers = await conn.read_response(chunks.append)
    return status, headers, b"".join(chunks)


class HangUp(Exception):
    pass


# ---------------------------------------------------------------- the load

class Soak:
    def __init__(self, args, port):
        self.args, self.port = args, port
        self.ref = {}
        self.kinds = Counter()      # requests by kind
        self.errors = Counter()     # errors by kind
        self.findings = []          # (kind, detail), the first few of each kind are printed
        self.ttft, self.latency = [], []
        self.ok = 0
        self.stop_at = 0.0
        self.persist = {}           # client id -> keep-alive Conn

    def error(self, kind, detail):
        self.errors[kind] += 1
        if sum(1 for k, _ in self.findings if k == kind) < 5:
            self.findings.append((kind, detail))

    def judge(self, req, status, body, where, ttft=False):
        """A well-formed request that was not abandoned: 2xx and, when greedy, the lone text."""
        if not 200 <= status < 300:
            self.error(f"status_{status}", f"{where}: {req.describe()} -> {status} {body!r:.300}")
            return
        if req.stream:
            p = body
            if p.error:
                self.error("stream_error_event", f"{where}: {req.describe()}: {p.error}")
                return
            if not p.done:
                self.error("stream_incomplete", f"{where}: {req.describe()}: no end event; text {p.text()!r}")
                return
            text = p.text()
            if ttft and p.ttft is not None:
                self.ttft.append(p.ttft)
        else:
            try:
                text = text_of(req.dialect, json.loads(body))
            except (ValueError, KeyError, IndexError, TypeError) as e:
                self.error("bad_body", f"{where}: {req.describe()}: {e!r} in {body[:300]!r}")
                return
        if req.key is not None and req.key in self.ref and text != self.ref[req.key]:
            self.error("mismatch", f"{where}: {req.describe()}\n      got   {text!r}\n      alone {self.ref[req.key]!r}")
            return
        self.ok += 1

    async def one(self, req, port=None, **conn_kw):
        """One request alone on a fresh connection: (status, text)."""
        conn = await Conn.open(port or self.port, **conn_kw)
        try:
            await conn.send(req.wire(keep_alive=False))
            status, _, body = await exchange(conn, req)
        finally:
            conn.close()
        if req.stream:
            return status, body.text() if body.done and not body.error else None
        try:
            return status, text_of(req.dialect, json.loads(body))
        except (ValueError, KeyError, IndexError, TypeError):
            return status, None

    async def references(self):
        out = {}
        for r in GREEDY:
            status, text = await asyncio.wait_for(self.one(r), ANSWER_TIMEOUT)
            if status != 200 or text is None:
                raise SystemExit(f"reference request failed: {r.describe()} -> {status}")
            out[r.key] = text
        return out

    async def saturate(self, n_seqs, rng):
        """Touches the server's high-water marks once before the RSS baseline: n_seqs tiny
        requests at once (a step of every sequence: the logits of all rows) and long distinct
        prompts at once (prefill steps of --max-num-batched-tokens: the whole forward scratch).
        Pages first touched later would read as growth."""
        async def post(path, obj):
            r = Req("oai_cmpl", "", 1, False, greedy=False)
            r.path, r.body = path, json.dumps(obj).encode()
            return await asyncio.wait_for(self.one(r), ANSWER_TIMEOUT)

        words = ["river", "stone", "cloud", "seven", "lamp", "orbit", "cedar", "piano", "frost", "maple"]
        longs = []
        for i in range(3):
            prompt, count = f"{i} {rng.random()}", 0
            while count < 900:
                prompt += " " + " ".join(rng.choice(words) for _ in range(60))
                _, t = await get(self.port, "/tokenize", {"model": MODEL_NAME, "prompt": prompt})
                count = json.loads(t)["count"]
            longs.append({"model": MODEL_NAME, "prompt": prompt, "max_tokens": 2, "temperature": 0})
        tiny = [{"model": MODEL_NAME, "prompt": f"{i}:", "max_tokens": 4, "temperature": 0} for i in range(n_seqs)]
        res = await asyncio.gather(*(post("/v1/completions", b) for b in tiny + longs))
        bad = [st for st, _ in res if st != 200]
        if bad:
            self.error(f"status_{bad[0]}", f"saturation requests: {len(bad)} not 200")

    # ---- behaviours

    async def b_normal(self, cid, rng):
        req = random_request(rng)
        self.kinds[f"normal_{'stream' if req.stream else 'whole'}"] += 1
        conn = self.persist.pop(cid, None)
        if conn is not None and time.monotonic() - conn.last > 10:
            conn.close()
            conn = None
        reused = conn is not None
        if conn is None:
            conn = await Conn.open(self.port)
        t0 = time.monotonic()
        try:
            await conn.send(req.wire())
            status, headers, body = await asyncio.wait_for(exchange(conn, req, t0), ANSWER_TIMEOUT)
        except asyncio.TimeoutError:
            conn.close()
            self.error("timeout", f"normal: {req.describe()} not answered within {ANSWER_TIMEOUT}s")
            return
        except (Closed, ConnectionError) as e:
            conn.close()
            self.error("conn_closed_keepalive" if reused else "conn_closed",
                       f"normal ({'reused' if reused else 'fresh'} connection, {conn.used} answers before): "
                       f"{req.describe()}: {e!r}")
            return
        self.latency.append(time.monotonic() - t0)
        self.judge(req, status, body, "normal", ttft=True)
        if headers.get("connection", "").lower() == "close" or rng.random() < 0.2:
            conn.close()
        else:
            self.persist[cid] = conn

    async def b_hangup(self, cid, rng):
        mode = rng.choice(["mid_headers", "mid_body", "queued", "mid_stream", "mid_stream", "before_answer"])
        self.kinds[f"hangup_{mode}"] += 1
        req = random_request(rng, stream=True if mode == "mid_stream" else None)
        wire = req.wire()
        conn = await Conn.open(self.port)
        rst = rng.random() < 0.5
        try:
            if mode == "mid_headers":
                await conn.send(wire[:rng.randint(1, wire.index(b"\r\n\r\n"))])
                await asyncio.sleep(rng.uniform(0, 0.5))
            elif mode == "mid_body":
                await conn.send(wire[:len(wire) - rng.randint(1, len(req.body))])
                await asyncio.sleep(rng.uniform(0, 0.5))
            elif mode == "queued":
                await conn.send(wire)
                await asyncio.sleep(rng.uniform(0, 0.3))
            elif mode == "before_answer":
                await conn.send(wire)
                await asyncio.sleep(rng.uniform(0.2, 5))
            else:
                after = rng.randint(1, 6)

                def on_event(p):
                    if p.events >= after:
                        raise HangUp()
                await conn.send(wire)
                try:
                    await asyncio.wait_for(exchange(conn, req, on_event=on_event), ANSWER_TIMEOUT)
                except HangUp:
                    pass
        except (Closed, ConnectionError, asyncio.TimeoutError):
            pass
        finally:
            conn.close(rst)

    async def b_slow(self, cid, rng):
        req = random_request(rng)
        self.kinds["slow_reader"] += 1
        conn = await Conn.open(self.port, rcvbuf=2048, piece=rng.choice([16, 64, 256]), pause=rng.uniform(0.01, 0.1))
        try:
            t0 = time.monotonic()
            await conn.send(req.wire(keep_alive=False))
            status, _, body = await asyncio.wait_for(exchange(conn, req, t0), ANSWER_TIMEOUT * 2)
        except asyncio.TimeoutError:
            self.error("timeout", f"slow reader: {req.describe()}")
            return
        except (Closed, ConnectionError) as e:
            self.error("conn_closed", f"slow reader: {req.describe()}: {e!r}")
            return
        finally:
            conn.close()
        self.judge(req, status, body, "slow reader")

    async def b_never_read(self, cid, rng):
        req = random_request(rng, stream=True)
        self.kinds["never_read"] += 1
        conn = await Conn.open(self.port, rcvbuf=1024)
        try:
            await conn.send(req.wire())
            await asyncio.sleep(min(rng.uniform(5, 30), max(0.0, self.stop_at - time.monotonic()) + 1))
        except (ConnectionError, OSError):
            pass
        finally:
            conn.close(rst=rng.random() < 0.5)

    async def b_pipelined(self, cid, rng):
        reqs = [random_request(rng) for _ in range(rng.randint(2, 4))]
        self.kinds["pipelined"] += len(reqs)
        conn = await Conn.open(self.port)
        try:
            await conn.send(b"".join(r.wire() for r in reqs))
            for i, r in enumerate(reqs):
                t0 = time.monotonic()
                try:
                    status, _, body = await asyncio.wait_for(exchange(conn, r, t0), ANSWER_TIMEOUT)
                except asyncio.TimeoutError:
                    self.error("timeout", f"pipelined {i + 1}/{len(reqs)}: {r.describe()}")
                    return
                except (Closed, ConnectionError) as e:
                    self.error("conn_closed", f"pipelined {i + 1}/{len(reqs)}: {r.describe()}: {e!r}")
                    return
                self.judge(r, status, body, f"pipelined {i + 1}/{len(reqs)}")
        finally:
            conn.close()

    async def b_garbage(self, cid, rng):
        good = random_request(rng, stream=False).wire()
        kinds = {
            "random_bytes": os.urandom(rng.randint(1, 300)) + b"\r\n\r\n",
            "bad_request_line": b"PO ST /v1/completions HTTP/9.9\r\n\r\n",
            "bad_content_length": b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            "bad_chunked": (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"zz\r\nhello\r\n0\r\n\r\n"),
            "invalid_json": (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n"
                             b"{\"model\": [}"),
            "wrong_types": self._post(b"/v1/completions", {"model": MODEL_NAME, "prompt": 5, "max_tokens": "x"}),
            "unknown_route": self._post(b"/v1/nothing", {"a": 1}),
            "huge_header": b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
            "truncated_then_garbage": good[:len(good) // 2] + os.urandom(64),
        }
        kind = rng.choice(list(kinds))
        self.kinds[f"garbage_{kind}"] += 1
        conn = await Conn.open(self.port)
        try:
            await conn.send(kinds[kind])
            if kind == "truncated_then_garbage":
                conn.w.write_eof()
            status, _ = await asyncio.wait_for(conn.read_response(lambda b: None), REQUEST_TIMEOUT + 15)
            if status >= 500 or status < 400:
                self.error(f"garbage_got_{status}", f"garbage {kind}: answered {status}")
        except asyncio.TimeoutError:
            self.error("garbage_hang", f"garbage {kind}: neither answered nor closed in {REQUEST_TIMEOUT + 15}s")
        except (Closed, ConnectionError):
            pass   # closed without an answer: acceptable for bytes that are not HTTP
        finally:
            conn.close()

    @staticmethod
    def _post(path, obj):
        b = json.dumps(obj).encode()
        return b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(b) + b

    async def b_slowloris(self, cid, rng):
        endless = rng.random() < 0.5
        self.kinds["slowloris_endless" if endless else "slowloris_whole"] += 1
        conn = await Conn.open(self.port)
        try:
            if endless:
                t0 = time.monotonic()
                head = b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                i = 0
                try:
                    while time.monotonic() - t0 < REQUEST_TIMEOUT + 20:
                        b = head[i:i + 1] if i < len(head) else b"X-Pad-%d: y\r\n" % i
                        await conn.send(b)
                        i += 1
                        await asyncio.sleep(0.5)
                    self.error("slowloris_not_cut", f"endless slowloris still open after {REQUEST_TIMEOUT + 20}s")
                except (ConnectionError, OSError):
                    pass   # cut by the server
                return
            req = random_request(rng)
            wire = req.wire(keep_alive=False)
            split = wire.index(b"\r\n\r\n") + 4
            delay = min(0.04, (REQUEST_TIMEOUT - 3) / split)
            t0 = time.monotonic()
            try:
                for i in range(split):
                    await conn.send(wire[i:i + 1])
                    await asyncio.sleep(delay)
                await conn.send(wire[split:])
                status, _, body = await asyncio.wait_for(exchange(conn, req, t0), ANSWER_TIMEOUT)
            except asyncio.TimeoutError:
                self.error("timeout", f"slowloris whole: {req.describe()}")
                return
            except (Closed, ConnectionError) as e:
                self.error("conn_closed", f"slowloris whole ({time.monotonic() - t0:.1f}s): {req.describe()}: {e!r}")
                return
            self.judge(req, status, body, "slowloris whole")
        finally:
            conn.close()

    # ---- clients

    async def client(self, cid, seed):
        rng = random.Random(seed)
        table = [(0.25, self.b_hangup), (0.08, self.b_slow), (0.04, self.b_never_read), (0.07, self.b_pipelined),
                 (0.03, self.b_garbage), (0.02, self.b_slowloris)]
        while time.monotonic() < self.stop_at:
            x, fn = rng.random(), self.b_normal
            for p, f in table:
                if x < p:
                    fn = f
                    break
                x -= p
            try:
                await fn(cid, rng)
            except (ConnectionError, OSError) as e:
                self.error("connect_failed", f"{fn.__name__}: {e!r}")
                await asyncio.sleep(0.5)
        c = self.persist.pop(cid, None)
        if c:
            c.close()

    async def phase(self, seconds, clients, seed):
        self.stop_at = time.monotonic() + seconds
        await asyncio.gather(*(self.client(i, seed * 100003 + i) for i in range(clients)))


# ---------------------------------------------------------------- server, RSS, metrics

def rss_kib(pid, field="VmRSS"):
    """VmRSS (or RssAnon, RssFile) of pid in KiB from /proc/PID/status."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def smaps(pid):
    """{(start, end, name): Rss KiB} of every mapping of pid (compared by start and name: a
    heap grows at its end)."""
    out, key = {}, None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    parts = line.split()
                    a, b = parts[0].split("-")
                    key = (int(a, 16), int(b, 16), parts[5] if len(parts) > 5 else "[anon]")
                elif line.startswith("Rss:") and key:
                    out[key] = int(line.split()[1])
    except OSError:
        pass
    return out


def smaps_growth(before, after, min_kib=1024):
    """Lines naming the mappings whose RSS grew by min_kib or more (by size: which buffer it is)."""
    rows = []
    base = {(k[0], k[2]): v for k, v in before.items()}
    for k, v in after.items():
        d = v - base.get((k[0], k[2]), 0)
        if d >= min_kib:
            rows.append((d, k, v))
    rows.sort(reverse=True)
    return [f"{k[2]:12s} {(k[1] - k[0]) / 1048576:8.1f} MiB mapping at {k[0]:#x}: RSS {(v - d) / 1024:.1f} -> "
            f"{v / 1024:.1f} MiB" + (" (new)" if (k[0], k[2]) not in base else "") for d, k, v in rows[:8]]


def malloc_in_use(pid, logpath):
    """glibc's malloc_stats() of the idle server (through gdb; it prints to the server's
    stderr, the log): (system bytes, in use bytes) of all arenas, or None. In use growing
    between two idle points is memory the server holds; system growing alone is retention."""
    before = log_text(logpath).count("Total (incl. mmap):")
    try:
        subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "call (void)malloc_stats()"],
                       capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for _ in range(20):
        t = log_text(logpath)
        blocks = t.split("Total (incl. mmap):")
        if len(blocks) - 1 > before:
            m = re.search(r"system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)", blocks[-1])
            if m:
                return int(m.group(1)), int(m.group(2))
        time.sleep(0.1)
    return None


def rss_split(pid):
    return f"anon {rss_kib(pid, 'RssAnon') / 1024:.1f}, file {rss_kib(pid, 'RssFile') / 1024:.1f}"


async def rss_sampler(pid, samples, t_start, every):
    while True:
        v = rss_kib(pid)
        if v is None:
            return
        samples.append((time.monotonic() - t_start, v))
        await asyncio.sleep(every)


async def get(port, path, post=None):
    """GET path (or POST the JSON post): (status, body text)."""
    conn = await Conn.open(port)
    try:
        if post is None:
            await conn.send(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        else:
            b = json.dumps(post).encode()
            await conn.send(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                            f"Content-Type: application/json\r\nContent-Length: {len(b)}\r\n\r\n".encode() + b)
        chunks = []
        status, _ = await asyncio.wait_for(conn.read_response(chunks.append), 30)
        return status, b"".join(chunks).decode("utf-8", "replace")
    finally:
        conn.close()


async def gauges(port):
    _, text = await get(port, "/metrics")
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(vllm:[a-z_]+)\{([^}]*)\} (\S+)$", line)
        if m and "finished_reason" not in m.group(2):
            out[m.group(1)] = float(m.group(3))
    return out


async def wait_idle(port, timeout):
    """The gauges once running, waiting and KV usage are all 0 (or the last seen at timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        g = await gauges(port)
        idle = (g.get("vllm:num_requests_running", 1) == 0 and g.get("vllm:num_requests_waiting", 1) == 0
                and g.get("vllm:kv_cache_usage_perc", 1) == 0)
        if idle or time.monotonic() > deadline:
            return g, idle
        await asyncio.sleep(0.5)


def start_server(args, log):
    helptext = subprocess.run([args.bin, "serve", "--help"], capture_output=True, text=True).stdout
    extra = []
    if "--stream-stall-timeout" in helptext:
        extra += ["--stream-stall-timeout", str(STALL_TIMEOUT)]
    cmd = [args.bin, "serve", args.model, "--host", "127.0.0.1", "--port", "0", "--threads", str(args.threads),
           "--served-model-name", MODEL_NAME, "--max-model-len", "1024", "--kv-cache-memory", args.kv_cache,
           "--max-num-seqs", str(args.max_num_seqs), "--request-timeout", str(REQUEST_TIMEOUT),
           "--disable-uvicorn-access-log", *extra, *args.server_args]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    return proc, cmd, bool(extra)


def log_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


async def wait_ready(proc, logpath, timeout):
    deadline = time.monotonic() + timeout
    port = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited during start ({proc.returncode}):\n{log_text(logpath)[-3000:]}")
        if port is None:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log_text(logpath))
            port = int(m.group(1)) if m else None
        if port is not None:
            try:
                if (await get(port, "/health"))[0] == 200:
                    return port
            except (OSError, Closed, asyncio.TimeoutError):
                pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"the server was not healthy within {timeout}s:\n{log_text(logpath)[-3000:]}")


def pct(xs, q):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q / 100 * len(s)))]


# ---------------------------------------------------------------- main

async def main(args):
    log = tempfile.NamedTemporaryFile(prefix="piston-soak-", suffix=".log", delete=False)
    proc, cmd, stall = start_server(args, log)
    t_start = time.monotonic()
    print(f"soak: {' '.join(cmd)}\nsoak: server log {log.name}", flush=True)
    samples, marks, checks = [], {}, []

    def check(name, ok, detail="", skip=None):
        checks.append((name, "SKIP" if skip else ("PASS" if ok else "FAIL"), skip or detail))

    sampler = None
    try:
        port = await wait_ready(proc, log.name, 300)
        sampler = asyncio.create_task(rss_sampler(proc.pid, samples, t_start, args.rss_every))
        soak = Soak(args, port)
        marks["ready"] = rss_kib(proc.pid)
        t = time.monotonic()
        soak.ref = await soak.references()
        print(f"soak: {len(soak.ref)} lone greedy references in {time.monotonic() - t:.0f}s"
              f"{'; --stream-stall-timeout ' + str(STALL_TIMEOUT) if stall else '; no --stream-stall-timeout in this binary'}",
              flush=True)

        warm = args.warmup if args.warmup is not None else min(60, max(10, args.seconds // 10))
        t = time.monotonic()
        if not args.sanitized:
            await soak.saturate(args.max_num_seqs, random.Random(args.seed))
            print(f"soak: {args.max_num_seqs} requests at once and 3 long prompts in {time.monotonic() - t:.0f}s",
                  flush=True)
        print(f"soak: warm-up, {args.clients} clients for {warm}s", flush=True)
        await soak.phase(warm, args.clients, args.seed)
        g, idle = await wait_idle(port, 60)
        await asyncio.sleep(3)
        base = rss_kib(proc.pid)
        marks["after warm-up (idle)"] = base
        marks["split warm-up"] = rss_split(proc.pid)
        maps_base = smaps(proc.pid)
        if args.malloc_stats:
            marks["malloc warm-up"] = malloc_in_use(proc.pid, log.name)
        print(f"soak: after warm-up RSS {base / 1024:.1f} MiB; main phase, {args.clients} clients for {args.seconds}s",
              flush=True)
        t_main = time.monotonic()
        marks["t_main"] = t_main - t_start
        await soak.phase(args.seconds, args.clients, args.seed + 1)
        main_s = time.monotonic() - t_main
        marks["t_end"] = time.monotonic() - t_start
        g, idle = await wait_idle(port, 120)
        await asyncio.sleep(5)
        end = rss_kib(proc.pid)
        marks["after load (idle)"] = end
        marks["split end"] = rss_split(proc.pid)
        grown = smaps_growth(maps_base, smaps(proc.pid))
        if args.malloc_stats:
            marks["malloc end"] = malloc_in_use(proc.pid, log.name)
        g = await gauges(port)
        _, mtext = await get(port, "/metrics")
        m = re.search(r"^vllm:num_preemptions_total\{[^}]*\} (\S+)$", mtext, re.M)
        preempt = m.group(1) if m else "?"

        # the lone answers again, after the soak
        again = await soak.references() if not args.sanitized else None
        changed = [k for k in soak.ref if again[k] != soak.ref[k]] if again else []
        print(f"soak: main phase took {main_s:.0f}s", flush=True)
    finally:
        if sampler:
            sampler.cancel()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = "hung at SIGTERM (killed)"
        else:
            rc = f"exited early ({proc.returncode})"
    text = log_text(log.name)

    # ---- figures
    total = sum(soak.kinds.values())
    print(f"\n=== soak: {args.clients} clients, {args.seconds}s main + {warm}s warm-up, binary {args.bin}")
    print(f"requests by kind ({total}):")
    for k, v in sorted(soak.kinds.items()):
        print(f"  {k:32s} {v}")
    print(f"well-formed answered and judged OK: {soak.ok}")
    print(f"errors by kind ({sum(soak.errors.values())}):" + ("" if soak.errors else " none"))
    for k, v in sorted(soak.errors.items()):
        print(f"  {k:32s} {v}")
    for k, d in soak.findings:
        print(f"  [{k}] {d}")
    print(f"TTFT (normal streams, {len(soak.ttft)}): p50 {pct(soak.ttft, 50):.3f}s  p99 {pct(soak.ttft, 99):.3f}s")
    print(f"latency (whole answers, normal, {len(soak.latency)}): p50 {pct(soak.latency, 50):.3f}s  "
          f"p99 {pct(soak.latency, 99):.3f}s")
    print("RSS (MiB):")
    n = len(samples)
    for i in sorted({int(j * (n - 1) / 9) for j in range(10)} if n else []):
        ts, v = samples[i]
        phase = "ref/warm" if ts < marks.get("t_main", 1e9) else ("main" if ts < marks.get("t_end", 1e9) else "after")
        print(f"  t={ts:7.0f}s {v / 1024:8.1f}  ({phase})")
    if samples:
        print(f"  peak {max(v for _, v in samples) / 1024:.1f}")
    for k, split in (("ready", ""), ("after warm-up (idle)", "split warm-up"), ("after load (idle)", "split end")):
        print(f"  {k}: {marks[k] / 1024:.1f}" + (f" ({marks[split]})" if split else ""))
    if grown:
        print("  mappings that grew from after warm-up to after the load:")
        for line in grown:
            print("    " + line)
    for k in ("malloc warm-up", "malloc end"):
        if marks.get(k):
            print(f"  {k}: malloc system {marks[k][0] / 1048576:.1f} MiB, in use {marks[k][1] / 1048576:.1f} MiB")
    print(f"preemptions: {preempt}")
    print(f"gauges at the end: {json.dumps({k: g.get(k) for k in ('vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc')})}")

    # ---- checks
    wf_errors = {k: v for k, v in soak.errors.items() if not k.startswith(("garbage", "slowloris_not"))}
    check("well-formed requests: 2xx, complete, equal to the lone answer", not wf_errors,
          ", ".join(f"{k} {v}" for k, v in wf_errors.items()))
    garb = {k: v for k, v in soak.errors.items() if k.startswith("garbage")}
    check("garbage: a 4xx or a close, never a 5xx or a hang", not garb, ", ".join(f"{k} {v}" for k, v in garb.items()))
    check("endless slowloris cut by the server", not soak.errors.get("slowloris_not_cut"))
    growth = (end - base) / base
    check("RSS after the load within 5% of after warm-up", growth <= 0.05,
          f"{base / 1024:.1f} -> {end / 1024:.1f} MiB ({growth * 100:+.1f}%)",
          skip="--sanitized: ASan's quarantine and shadow memory are not the server's" if args.sanitized else None)
    check("running, waiting and KV cache usage at 0", idle,
          f"running {g.get('vllm:num_requests_running')} waiting {g.get('vllm:num_requests_waiting')} "
          f"kv {g.get('vllm:kv_cache_usage_perc')}")
    check("lone greedy answers unchanged after the soak", not changed,
          "; ".join(f"{k}: {soak.ref[k]!r} -> {again[k]!r}" for k in changed[:3]),
          skip="--sanitized: not asked again (minutes under ASan)" if args.sanitized else None)
    check("server exit 0 at SIGTERM", rc == 0, str(rc))
    bad = [b for b in ("AddressSanitizer", "LeakSanitizer", "runtime error:") if b in text]
    check("no sanitizer report in the server log", not bad, ", ".join(bad))
    if bad:
        i = min(text.find(b) for b in bad)
        print(text[max(0, i - 2000):i + 6000])
    print("checks:")
    for name, verdict, detail in checks:
        print(f"  {verdict}  {name}" + (f"  ({detail})" if detail else ""))
    failed = [c for c in checks if c[1] == "FAIL"]
    passed = [c for c in checks if c[1] == "PASS"]
    print(f"soak: {'FAIL' if failed else 'PASS'} ({len(passed)} passed, {len(failed)} failed, "
          f"{len(checks) - len(passed) - len(failed)} skipped); server log {log.name}")
    if not failed and not args.keep_log:
        os.unlink(log.name)
    return 1 if failed else 0


def parse_args():
    home = os.environ.get("PISTON_HOME") or os.path.expanduser("~/.cache/piston")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("PISTON_BIN") or os.path.join(ROOT, "bin", "piston"))
    ap.add_argument("--model", default=os.environ.get("PISTON_MODEL") or os.path.join(home, GGUF))
    ap.add_argument("--clients", type=int, default=256)
    ap.add_argument("--seconds", type=int, default=600, help="the main phase")
    ap.add_argument("--warmup", type=int, default=None, help="seconds of load before the RSS baseline "
                    "[default: a tenth of --seconds, 10 to 60]")
    ap.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 8))
    ap.add_argument("--kv-cache", default="128M", help="--kv-cache-memory: small enough that the warm-up "
                    "touches all of it (and requests queue and get preempted at 256 clients)")
    ap.add_argument("--max-num-seqs", type=int, default=256)
    ap.add_argument("--rss-every", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep-log", action="store_true")
    ap.add_argument("--malloc-stats", action="store_true", help="glibc malloc_stats() of the idle server at "
                    "the baseline and at the end, through gdb (not with the ASan build)")
    ap.add_argument("--server-args", default="", help="more flags for piston serve")
    ap.add_argument("--sanitized", action="store_true", help="an ASan/UBSan server (~8x slower): no long "
                    "prompts before the baseline, no RSS check, the lone answers not asked again (reported SKIP)")
    ap.add_argument("--answer-timeout", type=float, default=ANSWER_TIMEOUT,
                    help="seconds within which a well-formed request must be answered whole")
    a = ap.parse_args()
    globals()["ANSWER_TIMEOUT"] = a.answer_timeout
    a.server_args = a.server_args.split()
    if not os.access(a.bin, os.X_OK):
        ap.error(f"{a.bin} not found or not executable (make, or make asan for build-asan/bin/piston)")
    if not os.path.exists(a.model):
        ap.error(f"model {a.model} not found: make model")
    return a


if __name__ == "__main__":
    args = parse_args()
    try:
        sys.exit(asyncio.run(main(args)))
    except KeyboardInterrupt:
        sys.exit(130)
