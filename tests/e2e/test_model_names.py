"""Models by the names users know, found where their tools keep them, never copied:

- a Hugging Face cache laid out as huggingface_hub lays it out (models--ORG--NAME with refs/main
  and snapshots/COMMIT linking to the converted directory's files): `piston serve ORG/NAME`
  serves it, and huggingface_hub itself reads the same layout
- an Ollama store (manifests/registry.ollama.ai/library/NAME/TAG, blobs/sha256-HEX linking to
  the default GGUF): `piston serve NAME[:TAG]` serves the blob, and the manifest's template
  layer picks the chat template family
- a name found nowhere is one line naming each place looked (the Hub here is a closed
  loopback port: no test reaches the internet)
"""
import hashlib
import json
import os
import re
import socket
import subprocess

import pytest
import requests

from hf_fixture import hf_f32  # noqa: F401 (fixture)
from server_fixture import Server

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "HuggingFaceTB/SmolLM2-Converted"


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory):
    base = tmp_path_factory.mktemp("names")
    return {"HF_HUB_CACHE": str(base / "hub"), "OLLAMA_MODELS": str(base / "ollama"), "HF_HUB_OFFLINE": "1",
            "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}


@pytest.fixture(scope="module")
def hf_cache(offline_env, hf_f32):  # noqa: F811
    repo = os.path.join(offline_env["HF_HUB_CACHE"], "models--" + REPO.replace("/", "--"))
    snap = os.path.join(repo, "snapshots", COMMIT)
    os.makedirs(snap)
    os.makedirs(os.path.join(repo, "refs"))
    os.makedirs(os.path.join(repo, "blobs"))
    for f in os.listdir(hf_f32):
        os.symlink(os.path.join(hf_f32, f), os.path.join(snap, f))
    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(COMMIT)
    return snap


def run(piston, env, *args, timeout=120):
    return subprocess.run([piston, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})


def test_hf_cache_layout_is_huggingface_hubs(hf_cache, offline_env):
    from huggingface_hub import try_to_load_from_cache
    got = try_to_load_from_cache(REPO, "config.json", cache_dir=offline_env["HF_HUB_CACHE"])
    assert got == os.path.join(hf_cache, "config.json")


def test_serve_hf_cache_name(piston, hf_cache, offline_env):
    p = run(piston, offline_env, "show", REPO, "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["path"] == hf_cache and info["format"] == "safetensors" and info["name"] == REPO
    s = Server(piston, REPO, env=offline_env)
    try:
        r = requests.post(s("/v1/completions"), json={"prompt": "The capital of France is", "max_tokens": 3,
                                                      "temperature": 0}, timeout=120)
        assert r.status_code == 200 and r.json()["choices"][0]["text"].strip().startswith("Paris"), r.text
    finally:
        s.check_clean_exit()


GO_CHATML = ("{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
             "<|im_start|>assistant\n")
GO_LLAMA3 = ("{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
             "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n")


@pytest.fixture(scope="module")
def ollama_store(offline_env, model):
    root = offline_env["OLLAMA_MODELS"]
    blobs = os.path.join(root, "blobs")
    os.makedirs(blobs)
    h = hashlib.sha256()
    with open(model, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    os.symlink(model, os.path.join(blobs, "sha256-" + h.hexdigest()))
    man = os.path.join(root, "manifests", "registry.ollama.ai", "library", "smollm")
    os.makedirs(man)
    for tag, tmpl in (("latest", GO_CHATML), ("llama3tmpl", GO_LLAMA3)):
        th = hashlib.sha256(tmpl.encode()).hexdigest()
        with open(os.path.join(blobs, "sha256-" + th), "w") as f:
            f.write(tmpl)
        layers = [{"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:" + h.hexdigest(),
                   "size": os.path.getsize(model)},
                  {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + th, "size": len(tmpl)}]
        with open(os.path.join(man, tag), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "layers": layers}, f)
    return os.path.join(blobs, "sha256-" + h.hexdigest())


def test_serve_ollama_name(piston, ollama_store, offline_env):
    for name in ("smollm", "smollm:latest"):
        p = run(piston, offline_env, "show", name, "--json")
        assert p.returncode == 0, p.stderr
        info = json.loads(p.stdout)
        assert info["path"] == ollama_store and info["format"] == "gguf" and info["chat_template"] == "chatml"
    p = run(piston, offline_env, "show", "smollm:llama3tmpl", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["chat_template"] == "llama3", p.stderr
    s = Server(piston, "smollm", env=offline_env)
    try:
        r = requests.post(s("/v1/chat/completions"), json={"messages": [{"role": "user", "content": "Hi"}],
                                                           "max_tokens": 4}, timeout=120)
        assert r.status_code == 200, r.text
    finally:
        s.check_clean_exit()


def test_name_found_nowhere(piston, offline_env):
    env = dict(offline_env)
    env.pop("HF_HUB_OFFLINE")  # it tries the Hub too: a closed loopback port
    p = run(piston, env, "serve", "nobody/no-such-model")
    assert p.returncode == 2
    # serve's lines are timestamped from the first, its errors included
    lines = [ln for ln in p.stderr.splitlines() if re.match(r"\S+Z ERROR model ", ln)]
    assert len(lines) == 1, p.stderr
    line = lines[0]
    assert "no such file or directory" in line and "models--nobody--no-such-model" in line
    assert "manifests/registry.ollama.ai/nobody/no-such-model/latest" in line and "not downloadable" in line
    p = run(piston, offline_env, "generate", "nothing:7b", "-p", "x")
    assert p.returncode != 0 and "library/nothing/7b" in p.stderr and "Hugging Face" not in p.stderr


def test_revision_download_dir_and_model_flag(piston, hf_cache, offline_env):
    """vLLM's --revision, --download-dir and --model name the same cached snapshot."""
    repo = os.path.dirname(os.path.dirname(hf_cache))
    with open(os.path.join(repo, "refs", "v1"), "w") as f:
        f.write(COMMIT)
    for args in (["show", REPO, "--revision", "v1", "--json"], ["show", "--model", REPO, "--revision=" + COMMIT,
                                                                 "--json"]):
        p = run(piston, offline_env, *args)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["path"] == hf_cache
    p = run(piston, offline_env, "show", REPO, "--revision", "nope")
    assert p.returncode != 0 and "refs/nope" in p.stderr, p.stderr
    elsewhere = {**offline_env, "HF_HUB_CACHE": os.path.join(repo, "no-such-cache")}
    p = run(piston, elsewhere, "show", REPO, "--download-dir", offline_env["HF_HUB_CACHE"], "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["path"] == hf_cache, p.stderr
