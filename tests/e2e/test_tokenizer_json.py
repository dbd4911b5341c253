"""tokenizer.json pre-tokenizers beyond SmolLM2's own, against the `tokenizers` library: the
default model's vocabulary and merges under Llama-3's split regex (case-insensitive
contractions, digits in threes, ignore_merges) and Qwen2's (an NFC normalizer, single
digits), each written by the library itself; Piston's ids (its /tokenize, served from a
--load-format dummy directory holding only config.json and the tokenizer files) must equal
the library's on the tokenizer tests' hard-string corpus."""
import json
import os
import unicodedata

import pytest
import requests
from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers

from hf_fixture import hf_f32  # noqa: F401 (fixture)
from server_fixture import Server

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
          r"|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s+(?!\S)|\s+")
CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                      "tokenizer_smollm2.json")
CONFIG = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
          "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 49152, "max_position_embeddings": 2048,
          "tie_word_embeddings": True}


def variant(src, out, regex, nfc, ignore_merges):
    tk = Tokenizer.from_file(os.path.join(src, "tokenizer.json"))
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tk.normalizer = normalizers.NFC() if nfc else None
    path = os.path.join(out, "tokenizer.json")
    tk.save(path)
    with open(path) as f:
        j = json.load(f)
    j["model"]["ignore_merges"] = ignore_merges
    with open(path, "w") as f:
        json.dump(j, f, ensure_ascii=False)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(CONFIG, f)
    with open(os.path.join(src, "tokenizer_config.json")) as f, open(os.path.join(out, "tokenizer_config.json"), "w") as g:
        g.write(f.read())
    return Tokenizer.from_file(path)


@pytest.mark.parametrize("name, regex, nfc, ignore_merges", [("llama3", LLAMA3, False, True),
                                                              ("qwen2", QWEN2, True, False)])
def test_pre_tokenizer_matches_library(name, regex, nfc, ignore_merges, piston, hf_f32, tmp_path):  # noqa: F811
    lib = variant(hf_f32, str(tmp_path), regex, nfc, ignore_merges)
    with open(CORPUS, encoding="utf-8") as f:
        texts = [c["text"] for c in json.load(f)["cases"]]
    texts += ["e\u0301t\u00e9 cafe\u0301", "\u212b\u0041\u030a", "I'M HE'LL WE'VE \u017f'S"]  # NFC and case folds
    s = Server(piston, str(tmp_path), "--load-format", "dummy", "--dtype", "float32")
    try:
        bad = []
        for t in texts:
            want = lib.encode(t, add_special_tokens=False).ids
            r = requests.post(s("/tokenize"), json={"prompt": t, "add_special_tokens": False}, timeout=30)
            assert r.status_code == 200, r.text
            if r.json()["tokens"] != want:
                bad.append((t[:40], unicodedata.name(t[0], "?") if t else ""))
        assert not bad, f"{name}: {len(bad)} of {len(texts)} strings differ from the library, e.g. {bad[:4]}"
    finally:
        s.check_clean_exit()
