#!/usr/bin/env python3
"""Writes tests/fixtures/smollm2_ref.json: llama.cpp's answers on the default model.

The reference no one here wrote: llama.cpp, driven through llama-cpp-python, on the same
GGUF file Piston serves. For each prompt it records
  - the prompt text, its parse_special flag and its token ids
    (llm.tokenize(text, add_bos=False, special=parse_special): the model's add_bos_token is false),
  - the top-10 (id, logit) after the prompt,
  - 64 greedy tokens from a manual loop (eval, argmax over the last logits; EOS is ignored,
    always 64), with the top-2 (id, logit) at every step (step 0 = after the prompt),
  - the detokenized greedy text (all 64, and the first 32 as bytes for `piston generate`).
Greedy ties are broken towards the lower id (np.argmax); none occur on these prompts.

One llama.cpp context, n_ctx 2048, n_batch = n_ubatch = 512 (so every prompt is one batch),
f16 KV cache and 8-bit activations (llama.cpp's defaults on the CPU), n_threads 2.
The output is deterministic for a given llama.cpp build and thread count: run it twice and
diff (`--check` does that in one go).

Usage: python3 tests/ref/make_fixture.py [--model PATH] [--out PATH] [--threads 2] [--check]
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
N_PREDICT = 64
TOP_N = 10

LONG_TEXT = (
    "The history of the printing press begins long before Johannes Gutenberg. In China, "
    "craftsmen carved whole pages into wooden blocks as early as the seventh century, and by "
    "the eleventh century an artisan named Bi Sheng had made movable type from baked clay. "
    "Korean printers later cast type in bronze, and in 1377 they produced the Jikji, the oldest "
    "surviving book printed with movable metal type. Gutenberg's contribution, around 1440 in "
    "Mainz, was a system rather than a single invention: a hand mould that cast letters of "
    "uniform height quickly, an alloy of lead, tin and antimony that melted at a low "
    "temperature and cooled without shrinking, an oil-based ink that clung to metal, and a "
    "screw press adapted from the ones used to make wine and olive oil.\n\n"
    "The effect on Europe was swift. Within fifty years, presses were at work in more than two "
    "hundred and fifty cities, and perhaps twenty million volumes had been printed. The price "
    "of books fell, literacy spread beyond the clergy and the nobility, and scholars could "
    "compare identical copies of a text for the first time, which made it possible to correct "
    "errors rather than multiply them. Martin Luther's pamphlets, printed by the thousand, "
    "carried the Reformation across the German lands faster than any church council could "
    "respond. Scientists such as Copernicus, Vesalius and later Galileo reached readers they "
    "would never meet, and the steady accumulation of printed knowledge laid the ground for "
    "the scientific revolution.\n\n"
    "Printing also changed languages themselves. Printers needed to sell books to as many "
    "readers as possible, so they favoured the dialects of large markets, and their choices "
    "of spelling and grammar slowly hardened into standards. William Caxton, who set up the "
    "first press in England in 1476, complained that the English of one county could hardly "
    "be understood in the next; a century later the printed forms of London had begun to "
    "prevail. Newspapers appeared in the seventeenth century, encyclopaedias in the "
    "eighteenth, and the steam-powered rotary press of the nineteenth century made cheap "
    "daily papers possible for millions of working people. In short, the press was not only "
    "a machine but a force that reshaped religion, science, politics and everyday life. "
    "Historians still argue about which of these changes mattered most, but few doubt that"
)

SYSTEM_MSG = "You are a concise assistant. Answer in one short paragraph."
USER_MSG = "Explain why the sky is blue."
USER_ONLY_MSG = "Write a haiku about the sea."

# (name, text or ("chat", messages), parse_special)
PROMPTS = [
    ("english", "The capital of France is", True),
    ("question", "What is the boiling point of water at sea level?", True),
    ("python", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    ", True),
    ("c", "#include <stdio.h>\n\nint main(void) {\n    int i;\n    for (i = 0; i < 10; i++) {\n", True),
    ("accents", "Café, naïve, résumé, Zürich, São Paulo — les élèves ont étudié à l'école", True),
    ("cjk", "日本の首都は東京です。中国の首都は北京です。韓国の首都は", True),
    ("emoji", "I love pizza 🍕 and ice cream 🍦! My favourite emoji is 😂 because", True),
    ("numbers", "1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377,", True),
    ("arith", "3.14159 * 2 = 6.28318; 12345 + 67890 = 80235; 2^10 = 1024; 99 / 3 =", True),
    ("contractions", "I'm sure they've done it, haven't they? It's John's dog's bone, we'll see.", True),
    ("whitespace", "  Leading spaces\n\n\n\tTabs\t\tand   several    spaces\n    indented line\r\n  trailing   ", True),
    ("long", LONG_TEXT, True),
    ("chat_system", ("chat", [{"role": "system", "content": SYSTEM_MSG},
                              {"role": "user", "content": USER_MSG}]), True),
    ("chat_default", ("chat", [{"role": "user", "content": USER_ONLY_MSG}]), True),
    ("special_as_text", "<|im_start|>user\nHello there<|im_end|>\n", False),
    ("single", "Hello", True),
]


def default_model():
    if os.environ.get("PISTON_MODEL"):
        return os.environ["PISTON_MODEL"]
    home = os.environ.get("PISTON_HOME", os.path.expanduser("~/.cache/piston"))
    return os.path.join(home, "SmolLM2-135M-Instruct.Q4_1.gguf")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def render_chat(model_path, messages):
    """Renders the GGUF's own tokenizer.chat_template with jinja2 (add_generation_prompt)."""
    import jinja2
    from gguf import GGUFReader
    tmpl = GGUFReader(model_path).fields["tokenizer.chat_template"].contents()
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as transformers does
    return env.from_string(tmpl).render(messages=messages, add_generation_prompt=True)


def topk(logits, k):
    # stable sort on -logit: equal logits keep ascending id order, like np.argmax
    idx = np.argsort(-logits, kind="stable")[:k]
    return [[int(i), float(logits[i])] for i in idx]


def run(model_path, threads):
    import llama_cpp
    from llama_cpp import Llama

    llm = Llama(model_path=model_path, n_ctx=2048, n_batch=512, n_ubatch=512, n_threads=threads,
                n_threads_batch=threads, logits_all=False, verbose=False)
    n_vocab = llm.n_vocab()
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    control = {i for i in range(n_vocab) if llama_cpp.llama_vocab_is_control(vocab, i)}

    def last_logits():
        # logits_all=False: llama.cpp computes the output row of the last token only;
        # llama-cpp-python does not copy it into llm.scores then, so read it from the context.
        ptr = llm._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float32)
    out = []
    for name, spec, special in PROMPTS:
        if isinstance(spec, tuple):
            text = render_chat(model_path, spec[1])
        else:
            text = spec
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
        llm.reset()
        llm.eval(ids)
        first = last_logits()
        top = topk(first, TOP_N)
        tokens, steps = [], []
        logits = first
        for step in range(N_PREDICT):
            steps.append(topk(logits, 2))
            t = int(np.argmax(logits))
            tokens.append(t)
            if step + 1 < N_PREDICT:
                llm.eval([t])
                logits = last_logits()
        text64 = llm.detokenize(tokens).decode("utf-8", errors="replace")
        bytes32 = llm.detokenize(tokens[:32])
        out.append({
            "name": name,
            "prompt": text,
            "parse_special": special,
            "prompt_ids": [int(i) for i in ids],
            "top": top,
            "tokens": tokens,
            "steps": steps,
            "text": text64,
            "text32_hex": bytes32.hex(),
            "control_in_32": any(t in control for t in tokens[:32]),
        })
        print(f"{name:16s} {len(ids):4d} prompt tokens, greedy: {text64[:60]!r}", file=sys.stderr)
    return {
        "llama_cpp_version": llama_cpp.__version__,
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace"),
        "model": os.path.basename(model_path),
        "model_sha256": sha256(model_path),
        "n_threads": threads,
        "n_ctx": 2048,
        "n_batch": 512,
        "n_predict": N_PREDICT,
        "top_n": TOP_N,
        "kv_cache": "f16",
        "control_tokens": sorted(control),
        "prompts": out,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "smollm2_ref.json"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check", action="store_true", help="run twice and fail if the runs differ")
    a = ap.parse_args()
    if not os.path.exists(a.model):
        sys.exit(f"make_fixture: {a.model}: no such file (set PISTON_MODEL)")
    res = run(a.model, a.threads)
    text = json.dumps(res, indent=1, ensure_ascii=False) + "\n"
    if a.check:
        again = json.dumps(run(a.model, a.threads), indent=1, ensure_ascii=False) + "\n"
        if again != text:
            sys.exit("make_fixture: two runs differ: llama.cpp is not deterministic here")
        print("make_fixture: two runs identical", file=sys.stderr)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"make_fixture: wrote {a.out} ({len(res['prompts'])} prompts)", file=sys.stderr)


if __name__ == "__main__":
    main()
