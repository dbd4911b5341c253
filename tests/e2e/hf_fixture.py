"""Hugging Face model directories made from the default GGUF at test time by
tests/ref/make_hf_dir.py (never committed): f32 in two shards with an index, and bf16 in one
file. Session-scoped: each is converted once per pytest run (a few seconds each)."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

MAKE = os.path.join(ROOT, "tests", "ref", "make_hf_dir.py")


def convert(model, out, *args):
    if not os.path.exists(os.path.join(out, "config.json")):
        p = subprocess.run([sys.executable, MAKE, model, out, *args], capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            pytest.fail(f"make_hf_dir.py failed:\n{p.stderr[-3000:]}")
    return out


@pytest.fixture(scope="session")
def hf_f32(model, tmp_path_factory):
    return convert(model, str(tmp_path_factory.mktemp("hf") / "SmolLM2-f32"), "--dtype", "float32", "--shards", "2")


@pytest.fixture(scope="session")
def hf_bf16(model, tmp_path_factory):
    return convert(model, str(tmp_path_factory.mktemp("hf") / "SmolLM2-bf16"), "--dtype", "bfloat16")
