"""Hostile inputs to the piston command line: every one must end in one clear line on stderr,
nothing on stdout, a non-zero exit code and no crash.

The bad files are made here, in tmp_path: a missing file, wrong magic, the real model cut at
several points (inside the header, the metadata, the tensor infos, the tensor data, one byte
short), the real model with one tensor's type patched to 42, the real model with
general.architecture patched to "mamba" (same length as "llama", so every offset stays valid
and only the architecture is wrong), and prompts longer than the context.
"""
import os
import shutil
import subprocess

import pytest
from gguf import GGUFReader

from conftest import describe_exit, threads

ERROR_PREFIXES = ("piston: ", "error: ")


def run(cmd, stdin=b"", timeout=120):
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)


def assert_clean_error(p, *words, any_of=()):
    """One line on stderr that starts like an error and names the problem; nothing on stdout;
    a non-zero exit that is not a signal (a crash, an abort, a sanitizer's 134/139)."""
    err = p.stderr.decode("utf-8", "replace")
    lines = err.strip().splitlines()
    assert p.returncode != 0, f"exit code 0 on a bad input; stderr: {err!r}"
    assert p.returncode > 0 and p.returncode not in (134, 139), \
        f"piston crashed ({describe_exit(p.returncode)}); stderr: {err[-2000:]}"
    assert p.stdout == b"", f"stdout should be empty, got {p.stdout[:300]!r}"
    assert len(lines) == 1, f"want exactly one line on stderr, got {len(lines)}: {err[-2000:]!r}"
    line = lines[0]
    assert line.startswith(ERROR_PREFIXES), f"stderr line does not start with {ERROR_PREFIXES}: {line!r}"
    low = line.lower()
    for w in words:
        assert w.lower() in low, f"error line should mention {w!r}: {line!r}"
    if any_of:
        assert any(w.lower() in low for w in any_of), f"error line should mention one of {any_of}: {line!r}"
    print(line)


COMMANDS = {
    "generate": lambda piston, path: [piston, "generate", path, "-p", "Hello", "-n", "1",
                                      "--threads", str(threads())],
    "eval": lambda piston, path: [piston, "eval", path, "--threads", str(threads())],
}


@pytest.fixture(params=sorted(COMMANDS))
def command(request):
    return COMMANDS[request.param]


def test_missing_file(piston, tmp_path, command):
    path = str(tmp_path / "no-such-model.gguf")
    p = run(command(piston, path))
    assert_clean_error(p, any_of=("no such file", "not found", "cannot open", "does not exist"))


@pytest.mark.parametrize("content", [b"", b"hello world\n" * 100, b"GGUX" + b"\0" * 4092,
                                     b"\x00\x00\x00\x00" + b"\x03" + b"\0" * 1000],
                         ids=["empty", "text", "GGUX", "zeros"])
def test_wrong_magic(piston, tmp_path, command, content):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    p = run(command(piston, str(path)))
    # an empty file may fairly be called truncated rather than not-a-GGUF
    assert_clean_error(p, any_of=("not a gguf", "magic", "truncated") if not content
                       else ("not a gguf", "magic"))


def _cut_points(model):
    r = GGUFReader(model)
    size = os.path.getsize(model)
    tensors = r.tensors
    return {
        "magic-only": 4,
        "in-header": 12,                                   # inside tensor_count
        "in-metadata": r.fields["tokenizer.ggml.tokens"].offset + 1000,
        "in-tensor-infos": tensors[len(tensors) // 2].field.offset + 10,
        "before-data": tensors[-1].field.offset + 20,      # last tensor info cut short
        "in-tensor-data": r.data_offset + (size - r.data_offset) // 3,
        "one-byte-short": size - 1,
    }


CUTS = ["magic-only", "in-header", "in-metadata", "in-tensor-infos", "before-data",
        "in-tensor-data", "one-byte-short"]


@pytest.mark.parametrize("cut", CUTS)
def test_truncated(piston, model, tmp_path, cut):
    at = _cut_points(model)[cut]
    path = tmp_path / f"cut-{cut}.gguf"
    with open(model, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read(at))
    p = run(COMMANDS["generate"](piston, str(path)))
    assert_clean_error(p, any_of=("truncated", "end of file", "eof", "too short", "too small",
                                  "beyond", "past the end"))


def _patched_copy(model, tmp_path, name, offset, data):
    path = tmp_path / name
    shutil.copyfile(model, path)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)
    return str(path)


def test_unsupported_tensor_type(piston, model, tmp_path, command):
    r = GGUFReader(model)
    t = next(t for t in r.tensors if t.name == "blk.0.attn_q.weight")
    # tensor info parts: name_len u64, name, n_dims u32, dims u64[n], type u32, offset u64
    type_off = t.field.offset + sum(part.nbytes for part in t.field.parts[:-2])
    assert int(t.field.parts[-2][0]) == int(t.tensor_type)
    path = _patched_copy(model, tmp_path, "type42.gguf", type_off, (42).to_bytes(4, "little"))
    p = run(command(piston, path))
    assert_clean_error(p, "type", "42")


def test_unsupported_architecture(piston, model, tmp_path, command):
    r = GGUFReader(model)
    f = r.fields["general.architecture"]
    assert f.contents() == "llama"
    val_off = f.offset + sum(part.nbytes for part in f.parts[:-1])
    path = _patched_copy(model, tmp_path, "mamba.gguf", val_off, b"mamba")
    assert GGUFReader(path).fields["general.architecture"].contents() == "mamba"
    p = run(command(piston, path))
    assert_clean_error(p, "architecture", "mamba")


LONG_PROMPT = " ".join(f"word{i}" for i in range(60))  # > 100 tokens


def test_prompt_longer_than_max_model_len(piston, model):
    p = run([piston, "generate", model, "--max-model-len", "16", "-p", LONG_PROMPT, "-n", "4",
             "--threads", str(threads())])
    assert_clean_error(p, "context")


def test_prompt_longer_than_model_context(piston, model):
    # ~9000 tokens against the model's own 8192 (llama.context_length)
    text = "the " * 9000
    p = run([piston, "generate", model, "-p", text, "-n", "1", "--threads", str(threads())],
            timeout=300)
    assert_clean_error(p, "context")
