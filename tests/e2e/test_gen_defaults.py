"""generation_config.json's defaults under every way in: the OpenAI, TGI, Ollama and Anthropic
routes and `piston generate` / `piston run` (a request's own values win, field by field), from
the model's directory or from --generation-config FOLDER, whose eos_token_id list ends
generation (ids out of the vocabulary ignored). The directory is tests/ref/make_hf_dir.py's,
whose generation_config.json says temperature 0.7, top_p 0.9, top_k 40, repetition_penalty 1.05.
"""
import json
import subprocess

import pytest
import requests

from conftest import describe_exit, run_eval, threads
from hf_fixture import hf_f32  # noqa: F401 (fixture)
from server_fixture import MODEL_NAME, Server

PROMPT = "Once upon a time"
FILE = ["--temperature", "0.7", "--top-p", "0.9", "--top-k", "40", "--repetition-penalty", "1.05"]
NEUTRAL = ["--temperature", "1", "--top-p", "1", "--top-k", "0", "--repetition-penalty", "1"]


def cli(piston, cmd, path, *args):
    p = subprocess.run([piston, cmd, path, *args, "--seed", "3", "-n", "10", "--threads", str(threads())],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{describe_exit(p.returncode)}\n{p.stderr[-2000:]}"
    return p.stdout


def test_generate_takes_the_defaults(piston, hf_f32, tmp_path):  # noqa: F811
    gen = lambda *a: cli(piston, "generate", hf_f32, "-p", PROMPT, *a)  # noqa: E731
    implicit = gen()
    assert implicit == gen(*FILE), "generate without sampling flags does not get generation_config.json's"
    assert implicit != gen(*NEUTRAL), "the defaults changed nothing: the test cannot tell"
    # a flag wins over the file for its field only: the file's repetition_penalty stays
    assert gen("--temperature", "0") == gen("--temperature", "0", "--repetition-penalty", "1.05",
                                            "--generation-config", "vllm")
    assert gen("--generation-config", "vllm") == gen(*NEUTRAL)
    (tmp_path / "c.yaml").write_text("temperature: 0\n")  # a field set by --config is set too
    assert gen("--config", str(tmp_path / "c.yaml")) == gen("--temperature", "0")


def test_run_takes_the_defaults(piston, hf_f32):  # noqa: F811
    run = lambda *a: cli(piston, "run", hf_f32, "Tell me a story.", *a)  # noqa: E731
    assert run() == run(*FILE), "run without sampling flags does not get generation_config.json's"


def greedy_ids(piston, path):
    return run_eval(piston, path, [{"prompt": PROMPT, "n_predict": 8, "top_n": 1}])[0]["tokens"]


@pytest.fixture(scope="module")
def folder(piston, hf_f32, tmp_path_factory):  # noqa: F811
    """--generation-config FOLDER: greedy by default, and the greedy run's 4th token an EOS"""
    ids = greedy_ids(piston, hf_f32)
    d = tmp_path_factory.mktemp("gencfg")
    (d / "generation_config.json").write_text(json.dumps({"temperature": 0.0, "eos_token_id": [10 ** 9, ids[3]]}))
    s = Server(piston, hf_f32, "--generation-config", str(d))
    yield s, ids.index(ids[3])
    s.check_clean_exit()


@pytest.fixture(scope="module")
def auto(piston, hf_f32):  # noqa: F811
    s = Server(piston, hf_f32)
    yield s
    s.check_clean_exit()


def post(s, path, body):
    r = requests.post(s(path), json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_folder_eos_ends_generation(folder, auto):
    s, first = folder
    body = {"prompt": PROMPT, "max_tokens": 8}
    c = post(s, "/v1/completions", body)
    assert c["choices"][0]["finish_reason"] == "stop", c
    assert c["usage"]["completion_tokens"] <= first + 1, c
    full = post(auto, "/v1/completions", dict(body, temperature=0, repetition_penalty=1.05))
    assert full["choices"][0]["finish_reason"] == "length" and full["usage"]["completion_tokens"] == 8
    assert full["choices"][0]["text"].startswith(c["choices"][0]["text"])


def tgi(s, **params):
    return post(s, "/generate", {"inputs": PROMPT, "parameters": {"max_new_tokens": 8, **params}})["generated_text"]


def ollama(s, **options):
    return post(s, "/api/generate", {"model": MODEL_NAME, "prompt": PROMPT, "raw": True, "stream": False,
                                     "options": {"num_predict": 8, **options}})["response"]


def anthropic(s, **kw):
    m = post(s, "/v1/messages", {"model": MODEL_NAME, "max_tokens": 8, **kw,
                                 "messages": [{"role": "user", "content": "Tell me a story."}]})
    return "".join(b.get("text", "") for b in m["content"])


def test_folder_defaults_in_every_dialect(folder):
    """The folder's temperature 0 makes each dialect's implicit request greedy."""
    s, _ = folder
    oai = {"prompt": PROMPT, "max_tokens": 3, "seed": 5}
    assert post(s, "/v1/completions", oai)["choices"] == post(s, "/v1/completions", dict(oai, temperature=0))["choices"]
    assert tgi(s, do_sample=True, seed=5) == tgi(s)
    assert ollama(s, seed=5) == ollama(s, temperature=0)
    assert anthropic(s) == anthropic(s, temperature=0)


def test_directory_defaults_in_tgi_and_ollama(auto):
    """The directory's own file under TGI (when it samples) and Ollama (over Ollama's own defaults)."""
    assert tgi(auto, do_sample=True, seed=5) == tgi(auto, do_sample=True, seed=5, temperature=0.7, top_p=0.9,
                                                   top_k=40, repetition_penalty=1.05)
    assert tgi(auto) == tgi(auto, repetition_penalty=1.05), "TGI without do_sample is greedy, with the file's penalty"
    assert ollama(auto, seed=5) == ollama(auto, seed=5, temperature=0.7, top_p=0.9, top_k=40, repeat_penalty=1.05)
