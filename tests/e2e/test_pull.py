"""`piston pull` against a fake Hub on loopback (tests/e2e/fake_hub.py), on a small model made
here (a tiny LlamaForCausalLM with random safetensors weights and the default model's
tokenizer.json), so nothing reaches the internet:

- a pull end to end: the Hugging Face cache as huggingface_hub lays it out (blobs named by
  hash, snapshots/COMMIT linking into them, refs/main), read back by huggingface_hub itself;
  a connection dropped mid-file is resumed with a Range request; a second pull fetches nothing
- an interrupted pull keeps its partial file and the next run resumes it
- a corrupt file (its bytes do not hash to what the Hub reports) is rejected and removed
- a gated repository needs HF_TOKEN
- `piston serve ORG/NAME` of a model not in the cache pulls it, then serves it
"""
import hashlib
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import requests
from safetensors.numpy import save_file

from fake_hub import FakeHub, files_of
from hf_fixture import hf_f32  # noqa: F401 (fixture)
from server_fixture import Server

REPO = "PistonTest/tiny-llama"
CFG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
       "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 49152,
       "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
       "torch_dtype": "float32"}


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory, hf_f32):  # noqa: F811
    d = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    h, f, v = CFG["hidden_size"], CFG["intermediate_size"], CFG["vocab_size"]
    t = {"model.embed_tokens.weight": rng.normal(0, 0.02, (v, h)), "model.norm.weight": np.ones(h)}
    for i in range(CFG["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t.update({p + "input_layernorm.weight": np.ones(h), p + "post_attention_layernorm.weight": np.ones(h),
                  p + "self_attn.q_proj.weight": rng.normal(0, 0.02, (h, h)),
                  p + "self_attn.k_proj.weight": rng.normal(0, 0.02, (32, h)),
                  p + "self_attn.v_proj.weight": rng.normal(0, 0.02, (32, h)),
                  p + "self_attn.o_proj.weight": rng.normal(0, 0.02, (h, h)),
                  p + "mlp.gate_proj.weight": rng.normal(0, 0.02, (f, h)),
                  p + "mlp.up_proj.weight": rng.normal(0, 0.02, (f, h)),
                  p + "mlp.down_proj.weight": rng.normal(0, 0.02, (h, f))})
    save_file({k: np.ascontiguousarray(a, dtype=np.float32) for k, a in t.items()}, str(d / "model.safetensors"),
              metadata={"format": "pt"})
    (d / "config.json").write_text(json.dumps(CFG))
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(os.path.join(hf_f32, name), d / name)
    (d / "README.md").write_text("not needed by an engine: never downloaded\n")
    return str(d)


@pytest.fixture
def hub(tiny_repo):
    h = FakeHub(REPO, files_of(tiny_repo))
    yield h
    h.close()


def pull(piston, hub, cache, *args, env=None):
    e = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    e.update({"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache), **(env or {})})
    return subprocess.run([piston, "pull", REPO, *args], capture_output=True, text=True, timeout=300, env=e)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_pull_end_to_end(piston, hub, tiny_repo, tmp_path):
    hub.drop_after["model.safetensors"] = (1 << 20, 1)  # the first transfer breaks off after 1 MiB
    p = pull(piston, hub, tmp_path)
    assert p.returncode == 0, p.stderr
    repo_dir = tmp_path / ("models--" + REPO.replace("/", "--"))
    snap = repo_dir / "snapshots" / hub.commit
    assert p.stdout.strip() == str(snap)
    assert (repo_dir / "refs" / "main").read_text() == hub.commit
    names = sorted(os.listdir(snap))
    assert names == ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                     "tokenizer_config.json"], names  # README.md is not for an engine
    st = snap / "model.safetensors"
    assert os.path.islink(st) and os.readlink(st) == "../../blobs/" + sha256(os.path.join(tiny_repo, "model.safetensors"))
    assert sha256(st) == sha256(os.path.join(tiny_repo, "model.safetensors"))
    ranges = [r for (_, path, r) in hub.log if path.endswith("/model.safetensors") and r]
    assert ranges == [f"bytes={1 << 20}-"], hub.log
    assert not [f for f in os.listdir(repo_dir / "blobs") if f.endswith(".incomplete")]
    from huggingface_hub import scan_cache_dir, try_to_load_from_cache
    assert try_to_load_from_cache(REPO, "model.safetensors", cache_dir=str(tmp_path)) == str(st)
    info = scan_cache_dir(str(tmp_path))
    assert [r.repo_id for r in info.repos] == [REPO] and not info.warnings
    n_before = len(hub.log)
    p = pull(piston, hub, tmp_path)
    assert p.returncode == 0, p.stderr
    assert not [x for x in hub.log[n_before:] if "/resolve/" in x[1]], "a second pull downloaded again"
    e = {**os.environ, "HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    s = subprocess.run([piston, "show", REPO, "--json"], capture_output=True, text=True, env=e, timeout=60)
    assert s.returncode == 0 and json.loads(s.stdout)["path"] == str(snap), s.stderr


def test_pull_resumes_across_runs(piston, hub, tmp_path):
    hub.drop_after["model.safetensors"] = (1 << 20, 99)
    p = pull(piston, hub, tmp_path)
    assert p.returncode == 1 and "the partial file is kept" in p.stderr, p.stderr
    blobs = tmp_path / ("models--" + REPO.replace("/", "--")) / "blobs"
    part = [f for f in os.listdir(blobs) if f.endswith(".incomplete")]
    assert len(part) == 1
    have = os.path.getsize(blobs / part[0])
    assert have >= 1 << 20
    hub.drop_after.clear()
    p = pull(piston, hub, tmp_path)
    assert p.returncode == 0, p.stderr
    gets = [r for (_, path, r) in hub.log if path.endswith("/model.safetensors")]
    assert gets[-1] == f"bytes={have}-", gets


def test_pull_rejects_corrupt_file(piston, hub, tmp_path):
    hub.corrupt.add("model.safetensors")
    p = pull(piston, hub, tmp_path)
    assert p.returncode == 1
    assert "model.safetensors: sha256" in p.stderr and "corrupt" in p.stderr, p.stderr
    repo_dir = tmp_path / ("models--" + REPO.replace("/", "--"))
    assert not os.path.exists(repo_dir / "snapshots" / hub.commit / "model.safetensors")
    good = hub._meta["model.safetensors"]["lfs"]["sha256"]
    blobs = os.listdir(repo_dir / "blobs")
    assert good not in blobs and good + ".incomplete" not in blobs, blobs
    hub.corrupt.clear()
    assert pull(piston, hub, tmp_path).returncode == 0


def test_pull_gated_needs_token(piston, hub, tmp_path):
    hub.token = "hf_secret"
    p = pull(piston, hub, tmp_path)
    assert p.returncode == 1 and "HF_TOKEN" in p.stderr, p.stderr
    assert pull(piston, hub, tmp_path, env={"HF_TOKEN": "hf_secret"}).returncode == 0


def test_serve_pulls_a_missing_model(piston, hub, tmp_path):
    s = Server(piston, REPO, env={"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path)})
    try:
        r = requests.post(s("/v1/completions"), json={"prompt": "Hello", "max_tokens": 3, "ignore_eos": True},
                          timeout=60)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 3, r.text
        assert "downloading it" in s.text()
    finally:
        s.check_clean_exit()
