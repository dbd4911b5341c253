"""Shared fixtures of the end-to-end tests: the model, the piston binary, the llama.cpp
reference (tests/fixtures/smollm2_ref.json, written by tests/ref/make_fixture.py) and a
helper that runs `piston eval` on many requests in one process.

Environment: PISTON_MODEL (a .gguf), else $PISTON_HOME/SmolLM2-135M-Instruct.Q4_1.gguf,
else ~/.cache/piston/SmolLM2-135M-Instruct.Q4_1.gguf; PISTON_BIN (default bin/piston);
PISTON_TEST_THREADS (default: all cores, at most 8).
"""
import hashlib
import json
import os
import signal
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "smollm2_ref.json")
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_path():
    if os.environ.get("PISTON_MODEL"):
        return os.environ["PISTON_MODEL"]
    home = os.environ.get("PISTON_HOME") or os.path.expanduser("~/.cache/piston")
    return os.path.join(home, MODEL_NAME)


def threads():
    return int(os.environ.get("PISTON_TEST_THREADS") or min(os.cpu_count() or 1, 8))


def load_reference():
    with open(FIXTURE, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def model():
    p = model_path()
    if not os.path.exists(p):
        pytest.skip(f"model {p} not found: set PISTON_MODEL, or `make model` to fetch it")
    return p


@pytest.fixture(scope="session")
def piston():
    p = os.environ.get("PISTON_BIN") or os.path.join(ROOT, "bin", "piston")
    if not os.access(p, os.X_OK):
        pytest.fail(f"{p} not found or not executable: run `make` first")
    return p


@pytest.fixture(scope="session")
def reference(model):
    """The llama.cpp fixture, after checking that it was made from this very model file."""
    ref = load_reference()
    h = hashlib.sha256()
    with open(model, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != ref["model_sha256"]:
        pytest.skip(f"{model} is not the file the reference was made from "
                    f"(sha256 {ref['model_sha256'][:12]}...): golden outputs do not apply")
    return ref


def describe_exit(rc):
    if rc < 0:
        return f"killed by signal {signal.Signals(-rc).name}"
    return f"exit code {rc}"


def run_eval(piston, model, requests, precision=None, extra=(), timeout=600):
    """Runs one `piston eval` process on all `requests` (dicts, one JSON line each) and returns
    its responses in order. Fails the test, with piston's stderr, on any protocol error."""
    cmd = [piston, "eval", model, "--threads", str(threads()), *extra]
    if precision:
        cmd += ["--precision", precision]
    stdin = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in requests)
    p = subprocess.run(cmd, input=stdin.encode("utf-8"), capture_output=True, timeout=timeout)
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)}: {describe_exit(p.returncode)}\nstderr:\n{err[-3000:]}")
    lines = [ln for ln in p.stdout.decode("utf-8").splitlines() if ln.strip()]
    if len(lines) != len(requests):
        pytest.fail(f"piston eval answered {len(lines)} lines to {len(requests)} requests\n"
                    f"stderr:\n{err[-3000:]}")
    return [json.loads(ln) for ln in lines]


def prompt_request(p, **kw):
    """The eval request for one fixture prompt (no BOS is added: the model says add_bos false)."""
    r = {"prompt": p["prompt"], "parse_special": p["parse_special"], "add_special": True}
    r.update(kw)
    return r


@pytest.fixture(scope="session")
def golden_results(piston, model, reference):
    """Piston's default (q8) answers to every fixture prompt, from one eval process."""
    reqs = [prompt_request(p, n_predict=reference["n_predict"], top_n=reference["top_n"])
            for p in reference["prompts"]]
    res = run_eval(piston, model, reqs)
    return {p["name"]: r for p, r in zip(reference["prompts"], res)}
