"""Golden outputs: Piston's default path against llama.cpp on the default model.

tests/fixtures/smollm2_ref.json (tests/ref/make_fixture.py) holds, per prompt, llama.cpp's
token ids, its top-10 logits after the prompt and 64 greedy tokens with the top-2 logits at
every step. All prompts go through one `piston eval` process (conftest.golden_results).

Tolerances (measured, not guessed). Both engines round activations to 8 bits before every
quantized matmul, and this model's residual stream carries values up to ~1e4 in its last
layers, so the rounding moves logits by tenths, not thousandths. Against the exact answer
(tests/ref/numpy_forward.py, float64; itself checked against llama.cpp's f32 path to 2e-6):
                               llama.cpp q8            piston q8
  first step, top-10 logits    max 0.43, mean 0.23     max 0.49, mean 0.30   (16 prompts)
  steps 1..63, top-2 logits    max 1.12, p99 0.62      max 1.01, p99 0.53    (teacher-forced,
                                                                   9 steps x 16 prompts)
The two errors are independent, so |piston - llama.cpp| <= the sum of the two maxima:
  TOL_FIRST = 1.0   first step, each top-10 logit (0.43 + 0.49; seen so far: 0.72)
  TOL_STEP  = 2.2   top-1 logit at later steps (1.12 + 1.01; seen so far: 1.47)
  NEAR_TIE  = 0.7   the paths may part only where llama.cpp's top-2 gap is below this: the
                    gap itself (logit[top1] - logit[top2], same two ids) differs between the
                    engines by up to 0.63 (p99 0.50, mean 0.12) over the same 144 steps.
A real bug moves logits by whole units (measured with the NumPy model: NEOX-style RoPE or
the wrong GQA head mapping change the logits by ~0.7 of their range, ~15; RoPE base 1e4
instead of 1e5 by ~3) and derails the greedy path within a few tokens.
"""
import subprocess

import pytest

from conftest import load_reference, run_eval, threads

TOL_FIRST = 1.0
TOL_STEP = 2.2
NEAR_TIE = 0.7
MIN_AGREE = 32      # greedy tokens that must agree unless the paths part at a near-tie
MAX_RESYNC = 8

REF = load_reference()
NAMES = [p["name"] for p in REF["prompts"]]
BY_NAME = {p["name"]: p for p in REF["prompts"]}


def gap(step):
    return step[0][1] - step[1][1]


@pytest.mark.parametrize("name", NAMES)
def test_prompt_ids(name, golden_results):
    assert golden_results[name]["prompt_ids"] == BY_NAME[name]["prompt_ids"]


@pytest.mark.parametrize("name", NAMES)
def test_first_step_top10(name, golden_results):
    ref = BY_NAME[name]["top"]
    got = golden_results[name]["top"]
    assert len(got) == len(ref) == 10
    r = {i: lg for i, lg in ref}
    g = {i: lg for i, lg in got}
    worst = max((abs(g[i] - r[i]) for i in r if i in g), default=0.0)
    print(f"{name}: top-10 max|diff| {worst:.3f} (tolerance {TOL_FIRST})")
    assert [lg for _, lg in got] == sorted((lg for _, lg in got), reverse=True), "top not sorted"
    for i, lg in ref:
        if i in g:
            assert abs(g[i] - lg) <= TOL_FIRST, f"id {i}: piston {g[i]:.4f} llama.cpp {lg:.4f}"
        else:  # fell out of piston's top-10: only if it was at the edge
            assert lg - got[-1][1] <= TOL_FIRST, \
                f"id {i} (llama.cpp {lg:.4f}) missing from piston's top-10 {got}"
    for i, lg in got:
        if i not in r:
            assert lg - ref[-1][1] <= TOL_FIRST, \
                f"id {i} (piston {lg:.4f}) is not in llama.cpp's top-10 {ref}"
    # order: a pair may be swapped only where llama.cpp's logits are within tolerance
    order = [i for i, _ in got if i in r]
    for a in range(len(order)):
        for b in range(a + 1, len(order)):
            i, j = order[a], order[b]
            assert r[j] - r[i] <= TOL_FIRST, \
                f"piston puts {i} before {j}, llama.cpp has {r[i]:.4f} < {r[j]:.4f}"


def _compare_path(ref, got_tokens, got_steps, start, log):
    """Compares piston's greedy tokens/steps against llama.cpp's from step `start` on.
    Returns the first step where the paths part, or None."""
    for k, (t, st) in enumerate(zip(got_tokens, got_steps)):
        s = start + k
        rs = ref["steps"][s]
        if t != ref["tokens"][s]:
            return s
        assert st[0][0] == t, f"step {s}: steps[0] id {st[0][0]} is not the greedy token {t}"
        d = abs(st[0][1] - rs[0][1])
        log.append(d)
        assert d <= TOL_STEP, (f"step {s}: top-1 logit piston {st[0][1]:.4f} llama.cpp "
                               f"{rs[0][1]:.4f} (|diff| {d:.3f} > {TOL_STEP})")
    return None


@pytest.mark.parametrize("name", NAMES)
def test_greedy(name, golden_results, piston, model):
    """Greedy continuation equals llama.cpp's. Where the paths part at a near-tie, the test
    says so, resynchronises piston on llama.cpp's token (an eval of the prompt plus llama.cpp's
    tokens so far) and checks the rest."""
    ref = BY_NAME[name]
    got = golden_results[name]
    n = len(ref["tokens"])
    assert len(got["tokens"]) == n and len(got["steps"]) == n, "want exactly n_predict tokens"
    log, partings, start = [], [], 0
    tokens, steps = got["tokens"], got["steps"]
    while True:
        s = _compare_path(ref, tokens, steps, start, log)
        if s is None:
            break
        rs, ps = ref["steps"][s], steps[s - start]
        msg = (f"{name}: paths part at step {s}: llama.cpp {ref['tokens'][s]} "
               f"(top-2 {rs[0][0]}:{rs[0][1]:.4f} {rs[1][0]}:{rs[1][1]:.4f}, gap {gap(rs):.4f}); "
               f"piston {tokens[s - start]} (top-2 {ps[0][0]}:{ps[0][1]:.4f} "
               f"{ps[1][0]}:{ps[1][1]:.4f}, gap {gap(ps):.4f})")
        print(msg)
        assert gap(rs) < NEAR_TIE, msg + f" -- not a near-tie (llama.cpp's gap >= {NEAR_TIE})"
        partings.append(s)
        assert len(partings) <= MAX_RESYNC, f"{name}: more than {MAX_RESYNC} partings"
        if s + 1 >= n:
            break
        # resynchronise: continue from llama.cpp's token
        start = s + 1
        ids = ref["prompt_ids"] + ref["tokens"][:start]
        r = run_eval(piston, model, [{"ids": ids, "n_predict": n - start, "top_n": 2}])[0]
        tokens, steps = r["tokens"], r["steps"]
    first = partings[0] if partings else n
    print(f"{name}: greedy agrees on the first {first} of {n} tokens"
          + (f", partings at near-ties {partings} (resynchronised)" if partings else "")
          + (f"; top-1 logit max|diff| {max(log):.3f}" if log else ""))
    if first < MIN_AGREE:
        print(f"{name}: NOTE parted before token {MIN_AGREE}, allowed only because it is a near-tie")


def _control_free(tokens):
    ctl = set(REF["control_tokens"])
    return not any(t in ctl for t in tokens)


GEN_NAMES = [p["name"] for p in REF["prompts"]
             if p["parse_special"] and "<|" not in p["prompt"] and not p["control_in_32"]
             and not p["prompt"].startswith("-") and len(p["prompt_ids"]) < 100]


def _drop_incomplete_utf8(b):
    for cut in range(0, 4):
        try:
            (b[:len(b) - cut] if cut else b).decode("utf-8")
            return b[:len(b) - cut] if cut else b
        except UnicodeDecodeError:
            continue
    return b


@pytest.mark.parametrize("name", GEN_NAMES)
def test_generate_text(name, golden_results, piston, model):
    """`piston generate --temperature 0 -n 32` prints llama.cpp's detokenized greedy text.
    Where `piston eval` parted from llama.cpp at a near-tie (see test_greedy), the expected
    text is piston's own greedy tokens detokenized by llama.cpp (needs llama-cpp-python)."""
    ref = BY_NAME[name]
    ours = golden_results[name]["tokens"][:32]
    if ours == ref["tokens"][:32]:
        want = bytes.fromhex(ref["text32_hex"])
    else:
        llama_cpp = pytest.importorskip("llama_cpp", reason="paths parted; need llama.cpp to detokenize")
        if not _control_free(ours):
            pytest.skip("piston's greedy path has a control token in its first 32")
        llm = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
        want = llm.detokenize(ours)
    p = subprocess.run([piston, "generate", model, "-p", ref["prompt"], "-n", "32",
                        "--temperature", "0", "--threads", str(threads())],
                       capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")[-2000:]
    out = p.stdout
    # an incomplete UTF-8 sequence at the very end may be held back, or flushed as U+FFFD
    cut = _drop_incomplete_utf8(want)
    ok = {want, cut}
    if cut != want:
        ok.add(cut + "\ufffd".encode())
    ok |= {x + b"\n" for x in ok}
    assert out in ok, f"piston generate printed {out!r}\nllama.cpp's greedy text is {want!r}"
