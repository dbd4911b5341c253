"""A small OpenAI-compatible server for testing the load generator (`piston bench serve`):
it streams known tokens at known times, so that every metric can be checked against the
schedule it was given, and it records when each request arrived and how many were in
flight at once.

Each request gets `max_tokens` chunks: the first after `ttft` seconds, then one every `itl`
seconds; chunk k carries the text " tK". Options (attributes of FakeOpenAI): usage (send the
usage chunk), tokenize (offer /tokenize, counting whitespace-separated words), fail_every
(every Nth request, by arrival, gets a 500), drop_every (every Nth request is cut off after
its second chunk, without the end of the chunked body), model_id (the one model of /v1/models).
"""
import http.server
import json
import socketserver
import threading
import time


class FakeOpenAI:
    def __init__(self, ttft=0.2, itl=0.05, usage=True, tokenize=True, fail_every=0, drop_every=0, chat_role=True,
                 model_id="fake-model"):
        self.ttft, self.itl = ttft, itl
        self.usage, self.tokenize = usage, tokenize
        self.fail_every, self.drop_every = fail_every, drop_every
        self.chat_role = chat_role
        self.model_id = model_id
        self.lock = threading.Lock()
        self.arrivals = []          # time.monotonic() of each generation request
        self.bodies = []
        self.inflight = 0
        self.max_inflight = 0
        self.count = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _json(self, code, obj):
                b = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": fake.model_id, "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def _chunk(self, obj):
                data = ("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                if self.path == "/tokenize":
                    if not fake.tokenize:
                        return self._json(404, {"error": {"message": "not found"}})
                    text = body.get("prompt") or body.get("content") or ""
                    return self._json(200, {"tokens": list(range(len(text.split())))})
                if self.path not in ("/v1/completions", "/v1/chat/completions"):
                    return self._json(404, {"error": {"message": "not found"}})
                chat = self.path.endswith("chat/completions")
                t_arrive = time.monotonic()
                with fake.lock:
                    fake.count += 1
                    k = fake.count
                    fake.arrivals.append(t_arrive)
                    fake.bodies.append(body)
                    fake.inflight += 1
                    fake.max_inflight = max(fake.max_inflight, fake.inflight)
                try:
                    if fake.fail_every and k % fake.fail_every == 0:
                        return self._json(500, {"error": {"message": f"injected failure {k}"}})
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    ntok = int(body.get("max_tokens", 16))
                    if chat and fake.chat_role:  # a role-only first chunk carries no text
                        self._chunk({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
                    for i in range(ntok):
                        due = t_arrive + fake.ttft + i * fake.itl
                        time.sleep(max(0.0, due - time.monotonic()))
                        if fake.drop_every and k % fake.drop_every == 0 and i == 2:
                            self.close_connection = True
                            self.connection.shutdown(2)
                            return
                        text = f" t{i}"
                        choice = {"index": 0, "delta": {"content": text}} if chat else {"index": 0, "text": text}
                        self._chunk({"choices": [choice]})
                    fin = {"index": 0, "finish_reason": "length"}
                    fin.update({"delta": {}} if chat else {"text": ""})
                    self._chunk({"choices": [fin]})
                    if fake.usage:
                        self._chunk({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": ntok}})
                    self._chunk("[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                finally:
                    with fake.lock:
                        fake.inflight -= 1

        class Srv(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 256

        self.httpd = Srv(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.httpd.shutdown()
        self.httpd.server_close()
