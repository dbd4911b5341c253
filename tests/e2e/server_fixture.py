"""Runs `piston serve` for the server tests: on a free loopback port (--port 0; the port is
read back from the server's first log line), with a small context and KV cache so that the
tests stay light on 2 cores, waiting for /health before use and stopping it with SIGTERM
afterwards (it must exit 0, and an ASan build must have reported nothing).

Import the fixture into a test module (`from server_fixture import server`): each module
gets its own server. PISTON_SERVER_ARGS adds flags to every server started here.
"""
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import describe_exit, threads

MODEL_NAME = "smollm2"
BASE_ARGS = ["--max-model-len", "2048", "--kv-cache-memory", "256M", "--served-model-name", MODEL_NAME,
             "--max-num-seqs", "64", "--disable-log-stats"]


class Server:
    def __init__(self, piston, model, *args, env=None):
        self.log = tempfile.NamedTemporaryFile(prefix="piston-serve-", suffix=".log", delete=False)
        cmd = [piston, "serve", model, "--host", "127.0.0.1", "--port", "0", "--threads", str(threads()),
               *BASE_ARGS, *args, *os.environ.get("PISTON_SERVER_ARGS", "").split()]
        full_env = dict(os.environ)
        full_env.pop("PISTON_API_KEY", None)
        full_env.update(env or {})
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env)
        self.port = None
        self.url = None
        self._wait_ready()

    def text(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def _fail(self, why):
        self.kill()
        pytest.fail(f"{' '.join(self.cmd)}: {why}\nlog:\n{self.text()[-4000:]}")

    def _wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail(f"exited during start ({describe_exit(self.proc.returncode)})")
            if self.port is None:
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.text())
                if m:
                    self.port = int(m.group(1))
                    self.url = f"http://127.0.0.1:{self.port}"
            if self.port is not None:
                try:
                    if requests.get(self.url + "/health", timeout=2).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        self._fail(f"not healthy within {timeout}s")

    def __call__(self, path):
        return self.url + path

    def stop(self, timeout=60):
        """SIGTERM, then the exit code (killing it if it hangs)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                pytest.fail(f"the server did not stop within {timeout}s of SIGTERM\nlog:\n{self.text()[-4000:]}")
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def check_clean_exit(self):
        rc = self.stop()
        log = self.text()
        assert rc == 0, f"server exit: {describe_exit(rc)}\nlog:\n{log[-4000:]}"
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert bad not in log, f"sanitizer report in the server log:\n{log[-8000:]}"
        os.unlink(self.log.name)


@pytest.fixture(scope="module")
def server(piston, model):
    s = Server(piston, model)
    yield s
    s.check_clean_exit()


def metrics(srv):
    """/metrics parsed with prometheus_client: {(sample name, frozenset(labels)): value}."""
    from prometheus_client.parser import text_string_to_metric_families
    r = requests.get(srv("/metrics"), timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def metric(m, name, **labels):
    labels.setdefault("model_name", MODEL_NAME)
    return m.get((name, frozenset(labels.items())), 0.0)
