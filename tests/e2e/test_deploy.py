"""The deployment under deploy/ (issue 13): the Kubernetes manifests validate offline against
the API version the README names (kubernetes-validate, strict); the Grafana dashboard's
queries name only metrics that a live server's /metrics exports; /health, the readiness probe,
answers 503 while the model loads; and a rolling update on one machine drops nothing: two
servers behind a small proxy that routes, as a Service does, to ready endpoints only and tries
each request once (a Service retries neither a refused connection nor a 503); the first server
leaves the rotation (its pod deleted), its preStop window passes, then SIGTERM under a
streaming load while the second serves; every request completes, and the stopped server
exits 0."""
import glob
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml

from conftest import ROOT, threads
from hf_fixture import hf_f32  # noqa: F401 (fixture)
from server_fixture import Server

K8S_VERSION = "1.32.0"  # deploy/README.md


def test_manifests_validate():
    import kubernetes_validate
    files = sorted(glob.glob(os.path.join(ROOT, "deploy", "k8s", "*.yaml")))
    assert len(files) >= 5
    for f in files:
        for doc in yaml.safe_load_all(open(f)):
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on an error


def test_deployment_grace_covers_the_shutdown():
    d = yaml.safe_load(open(os.path.join(ROOT, "deploy", "k8s", "deployment.yaml")))
    spec = d["spec"]["template"]["spec"]
    c = spec["containers"][0]
    timeout = int([a for a in c["args"] if a.startswith("--shutdown-timeout=")][0].split("=")[1])
    pre = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert spec["terminationGracePeriodSeconds"] > pre + timeout
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"


# Each library the Makefile links (DEP_LIBS), as Debian/Ubuntu package it: the -dev package
# the build stages need, and the shared library the run stages need, by release where the
# names differ (Ubuntu 24.04's 64-bit time_t renames: libssl3t64; utf8proc's soname 3).
# libc's (m, dl, pthread, rt) come with every image. A new -l fails here until it is added
# to this table and to deploy/Dockerfile.
LIB_PACKAGES = {
    "uv": ("libuv1-dev", {"libuv1", "libuv1t64"}),
    "http_parser": ("libhttp-parser-dev", {"libhttp-parser2.9"}),
    "cjson": ("libcjson-dev", {"libcjson1"}),
    "pcre2-8": ("libpcre2-dev", {"libpcre2-8-0"}),
    "edit": ("libedit-dev", {"libedit2"}),
    "utf8proc": ("libutf8proc-dev", {"libutf8proc2", "libutf8proc3"}),
    "crypto": ("libssl-dev", {"libssl3", "libssl3t64"}),
}
LIBC = {"m", "dl", "pthread", "rt"}


def dockerfile_stages():
    """{stage name: the packages its apt-get install lines name}"""
    stages, name = {}, None
    text = open(os.path.join(ROOT, "deploy", "Dockerfile")).read().replace("\\\n", " ")
    for line in text.splitlines():
        m = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line.strip(), re.I)
        if m:
            name = m.group(1)
            stages[name] = set()
        elif name and "apt-get install" in line:
            cmd = line.split("apt-get install", 1)[1].split("&&")[0]
            stages[name] |= {w for w in cmd.split() if not w.startswith("-")}
    return stages


def test_dockerfile_has_every_linked_library():
    """Static (docker is not usable here): the Dockerfile once stopped building when the
    Makefile began to link -lutf8proc -lcrypto and no stage installed them."""
    mk = open(os.path.join(ROOT, "Makefile")).read()
    dep = re.search(r"^DEP_LIBS\s*:?=(.*)$", mk, re.M)
    assert dep, "the Makefile has no DEP_LIBS line"
    libs = [w[2:] for w in dep.group(1).split() if w.startswith("-l") and w[2:] not in LIBC]
    assert "utf8proc" in libs and "crypto" in libs
    unknown = [lib for lib in libs if lib not in LIB_PACKAGES]
    assert not unknown, f"-l{unknown}: add the packages to LIB_PACKAGES here and to deploy/Dockerfile"
    stages = dockerfile_stages()
    builds, runs = [s for s in stages if s.startswith("build-")], ["cuda", "cpu"]
    assert len(builds) == 2 and all(r in stages for r in runs), stages.keys()
    for lib in libs:
        dev, run = LIB_PACKAGES[lib]
        for s in builds:
            assert dev in stages[s], f"stage {s} does not install {dev} (for -l{lib})"
        for s in runs:
            assert stages[s] & run, f"stage {s} installs none of {sorted(run)} (for -l{lib})"


def dashboard_metrics():
    d = json.load(open(os.path.join(ROOT, "deploy", "grafana", "piston-dashboard.json")))
    exprs = [t["expr"] for p in d["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in d["templating"]["list"] if v.get("type") == "query"]
    return exprs, set(re.findall(r"vllm:[a-z_]+", " ".join(exprs)))


def test_dashboard_queries_name_exported_metrics(piston, model):
    exprs, names = dashboard_metrics()
    assert len(names) >= 8
    s = Server(piston, model)
    try:
        requests.post(s("/v1/completions"), json={"prompt": "Hi", "max_tokens": 3})
        text = requests.get(s("/metrics")).text
        exported = set(re.findall(r"^(vllm:[a-z_]+)", text, re.M))
        missing = sorted(n for n in names if n not in exported)
        assert not missing, f"the dashboard queries metrics /metrics does not export: {missing}"
        assert "finished_reason=" in text  # the label the requests panel groups by
    finally:
        s.check_clean_exit()


class Proxy(ThreadingHTTPServer):
    """Round-robin over the endpoints of a Service: backends whose readiness probe (/health)
    answers 200, checked every 50 ms, less those taken out of rotation (a pod being deleted
    leaves the endpoints at once, while its preStop runs). Each request goes to one backend,
    once: a Service retries neither a refused connection nor a 503, so neither does this."""
    daemon_threads = True

    def __init__(self, backends):
        self.backends, self.ready, self.removed, self.i, self.stop = backends, list(backends), set(), 0, False
        self.sent = {b: 0 for b in backends}  # requests routed to each backend
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        threading.Thread(target=self.watch, daemon=True).start()

    def watch(self):
        while not self.stop:
            ok = []
            for b in self.backends:
                try:
                    if requests.get(f"http://127.0.0.1:{b}/health", timeout=1).status_code == 200:
                        ok.append(b)
                except requests.RequestException:
                    pass
            with self.lock:
                self.ready = ok
            time.sleep(0.05)

    def remove(self, port):
        """The endpoint leaves the Service (the pod is terminating)."""
        with self.lock:
            self.removed.add(port)

    def pick(self):
        with self.lock:
            live = [b for b in self.ready if b not in self.removed]
            self.i += 1
            if not live:
                return None
            self.sent[live[self.i % len(live)]] += 1
            return live[self.i % len(live)]


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        port = self.server.pick()
        if port is None:
            self.send_error(503, "no ready endpoint")
            return
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("POST", self.path, body, {"Content-Type": "application/json"})
            r = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            self.send_error(502, f"backend {port}: {e!r}")
            return
        self.send_response(r.status)
        self.send_header("Content-Type", r.getheader("Content-Type", "text/plain"))
        self.send_header("Connection", "close")
        self.end_headers()
        while chunk := r.read1(65536):
            self.wfile.write(chunk)
            self.wfile.flush()
        conn.close()


def test_rolling_update_drops_nothing(piston, model):
    a, b = Server(piston, model), Server(piston, model)
    proxy = Proxy([a.port, b.port])
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{proxy.server_address[1]}/v1/completions"
    done, failures = [], []
    deadline = time.monotonic() + 6

    def client(k):
        while time.monotonic() < deadline:
            try:
                with requests.post(url, json={"prompt": f"Count to {k}:", "max_tokens": 24, "stream": True,
                                              "ignore_eos": True}, stream=True, timeout=60) as r:
                    lines = [ln for ln in r.iter_lines() if ln]
                if r.status_code != 200 or lines[-1] != b"data: [DONE]":
                    failures.append((r.status_code, lines[-1:]))
                else:
                    done.append(k)
            except requests.RequestException as e:
                failures.append(repr(e))

    def long_stream():  # routed to the first server before it left: still streaming at SIGTERM
        with requests.post(a("/v1/completions"), json={"prompt": "Count:", "max_tokens": 300, "stream": True,
                                                       "ignore_eos": True}, stream=True, timeout=120) as r:
            lines = [ln for ln in r.iter_lines() if ln]
        return r.status_code, lines[-1:]

    try:
        with ThreadPoolExecutor(9) as pool:
            futs = [pool.submit(client, k) for k in range(8)]
            time.sleep(1.5)
            long = pool.submit(long_stream)
            time.sleep(0.5)
            sent_a = proxy.sent[a.port]
            proxy.remove(a.port)  # the pod is deleted: its endpoint goes, then preStop sleeps
            time.sleep(0.3)
            assert not long.done()
            rc = a.stop(timeout=60)  # then SIGTERM: the streams it still serves finish
            for f in futs:
                f.result()
        assert long.result() == (200, [b"data: [DONE]"]), long.result()
        assert rc == 0, a.text()[-3000:]
        assert not failures, failures[:5]
        # SIGTERM found streams in flight, and they finished
        assert re.search(r"shutting down: [1-9]\d* requests in flight", a.text()), a.text()[-3000:]
        assert len(done) >= 16
        assert sent_a > 0 and proxy.sent[a.port] == sent_a and "POST /v1/completions" in a.text()
        assert "POST /v1/completions" in b.text()
    finally:
        proxy.stop = True
        proxy.shutdown()
        b.check_clean_exit()


def test_health_is_503_while_loading(piston, hf_f32, tmp_path):  # noqa: F811
    """The listener opens before the model loads (the engine thread loads it): /health, the
    readiness probe, answers 503 until the model is ready, so no pod gets traffic early. The load
    is held by config.json being a FIFO that this test writes only once it has seen the 503s."""
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(hf_f32, f), tmp_path / f)
    cfg = open(os.path.join(hf_f32, "config.json"), "rb").read()
    os.mkfifo(tmp_path / "config.json")
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([piston, "serve", str(tmp_path), "--load-format", "dummy", "--dtype", "float32",
                             "--host", "127.0.0.1", "--port", "0", "--max-model-len", "512", "--kv-cache-memory",
                             "64M", "--threads", str(threads())], stdout=log, stderr=subprocess.STDOUT)
    try:
        url, deadline = None, time.monotonic() + 30
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", open(tmp_path / "serve.log").read())
            url = m and m.group(1)
            time.sleep(0.05)
        assert url, open(tmp_path / "serve.log").read()
        for _ in range(5):
            h = requests.get(url + "/health", timeout=5)
            assert h.status_code == 503 and "loading" in h.text, h.text
            time.sleep(0.05)
        assert requests.post(url + "/v1/completions", json={"prompt": "Hi"}, timeout=5).status_code == 503
        with open(tmp_path / "config.json", "wb") as f:  # the loader is blocked in its open: the load goes on
            f.write(cfg)
        deadline = time.monotonic() + 60
        while requests.get(url + "/health", timeout=5).status_code != 200:
            assert time.monotonic() < deadline and proc.poll() is None, open(tmp_path / "serve.log").read()
            time.sleep(0.05)
        r = requests.post(url + "/v1/completions", json={"prompt": "Hi", "max_tokens": 2}, timeout=60)
        assert r.status_code == 200, r.text
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, open(tmp_path / "serve.log").read()[-3000:]
