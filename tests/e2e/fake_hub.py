"""A small stand-in for the Hugging Face Hub's HTTP API on loopback, for the tests of
`piston pull`: GET /api/models/REPO/revision/REV?blobs=true (the commit and the files with
their size and hash: LFS sha256 for weights, the git blob sha1 for the rest, as the Hub
reports them) and GET /REPO/resolve/COMMIT/FILE with Range support. Faults for the tests:
`drop_after[FILE] = (bytes, times)` cuts the connection after that many bytes, that many
times; `corrupt` is a set of files served with one byte flipped; `token` requires
Authorization: Bearer TOKEN. Every request is logged in `log` (method, path, Range)."""
import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    def __init__(self, repo, files, commit="c0ffee" * 6 + "0123", lfs_suffixes=(".safetensors", ".gguf")):
        self.repo, self.files, self.commit = repo, files, commit  # files: name -> path on disk
        self.lfs_suffixes = lfs_suffixes
        self.drop_after, self.corrupt, self.token, self.log = {}, set(), None, []
        self._meta = {}
        for name, path in files.items():
            with open(path, "rb") as f:
                data = f.read()
            lfs = name.endswith(lfs_suffixes)
            self._meta[name] = {"rfilename": name, "size": len(data), "blobId": git_sha1(data)}
            if lfs:
                self._meta[name]["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                                           "pointerSize": 134}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                hub.log.append(("GET", self.path, self.headers.get("Range")))
                if hub.token and self.headers.get("Authorization") != f"Bearer {hub.token}":
                    return self._send(401, b'{"error":"Invalid credentials"}')
                api = f"/api/models/{hub.repo}/revision/"
                if self.path.startswith(api):
                    rev = self.path[len(api):].split("?")[0]
                    if rev not in ("main", hub.commit):
                        return self._send(404, b'{"error":"Revision Not Found"}')
                    body = {"id": hub.repo, "sha": hub.commit, "siblings": list(hub._meta.values())}
                    return self._send(200, json.dumps(body).encode(), "application/json")
                prefix = f"/{hub.repo}/resolve/"
                if not self.path.startswith(prefix):
                    return self._send(404, b"not found")
                rev, _, name = self.path[len(prefix):].partition("/")
                if rev not in ("main", hub.commit) or name not in hub.files:
                    return self._send(404, b"Entry not found")
                self._file(name)

            def _send(self, code, body, ctype="text/plain"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _file(self, name):
                with open(hub.files[name], "rb") as f:
                    data = bytearray(f.read())
                if name in hub.corrupt:
                    data[len(data) // 2] ^= 0xFF
                start, rng = 0, self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                body = bytes(data[start:])
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("ETag", f'"{hub._meta[name].get("lfs", {}).get("sha256", hub._meta[name]["blobId"])}"')
                self.send_header("X-Repo-Commit", hub.commit)
                self.end_headers()
                cut = hub.drop_after.get(name)
                if cut and cut[1] > 0:
                    hub.drop_after[name] = (cut[0], cut[1] - 1)
                    self.wfile.write(body[:cut[0]])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the connection drops mid-body
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def files_of(directory):
    return {n: os.path.join(directory, n) for n in sorted(os.listdir(directory))}
