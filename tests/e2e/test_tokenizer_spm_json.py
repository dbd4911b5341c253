"""A SentencePiece-style tokenizer.json (what Llama-2 and Mistral v0.1-v0.3 ship: a BPE with
byte_fallback over "▁"-escaped text, <0xNN> byte tokens, <unk> <s> </s>) against the
`tokenizers` library: a small one trained here on the hard-string corpus (so its merges are
the library's own, not a list Piston's SentencePiece scores would reproduce by accident), in
both spellings the Hub holds: the Metaspace pre-tokenizer (prepend_scheme first, split false:
transformers' LlamaConverter today) and the legacy normalizers (Prepend "▁", Replace " " ->
"▁", no pre-tokenizer). Piston's ids (its /tokenize from a --load-format dummy directory) must
equal the library's on every corpus string, with and without special tokens, and /detokenize
must give the library's decoding back."""
import json
import os
import re

import pytest
import requests
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from server_fixture import Server

CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                      "tokenizer_smollm2.json")
SPECIAL = ["<unk>", "<s>", "</s>"]
BYTES = [f"<0x{b:02X}>" for b in range(256)]
EXTRA = ["naïve café ☃ 😀 <s>inside</s> text", "  two  spaces\tand\ttabs\n\nnewlines", "▁already▁escaped",
         "", " ", "x", "日本語のテキスト", "<unk>"]


def corpus():
    with open(CORPUS, encoding="utf-8") as f:
        return [c["text"] for c in json.load(f)["cases"]] + EXTRA


def spm_tokenizer(texts, legacy):
    """Trained with the library, then laid out as Llama-2's: specials 0-2, bytes 3-258, pieces."""
    tk = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    # a limited alphabet, so that rarer characters (CJK, emoji) take the byte fallback
    # not on "<|endoftext|>" and its kind: a whole piece of one would be an EOG token to Piston, as to llama.cpp
    train = [re.sub(r"<\|[a-z_]+\|>", " ", t) for t in texts]
    tk.train_from_iterator(train * 3, trainers.BpeTrainer(vocab_size=600, limit_alphabet=80, show_progress=False))
    trained = json.loads(tk.to_str())["model"]
    pieces = [t for t, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]) if t not in SPECIAL + BYTES]
    vocab = {t: i for i, t in enumerate(SPECIAL + BYTES + pieces)}
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in trained["merges"]]
    out = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    if legacy:
        out.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    else:
        out.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    out.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    out.add_special_tokens(SPECIAL)
    out.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return out


@pytest.fixture(scope="module", params=["metaspace", "legacy"])
def spm(request, piston, tmp_path_factory):
    texts = corpus()
    lib = spm_tokenizer(texts, request.param == "legacy")
    d = tmp_path_factory.mktemp("spm-" + request.param)
    lib.save(str(d / "tokenizer.json"))
    (d / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "eos_token": "</s>",
                                                         "unk_token": "<unk>", "add_bos_token": True}))
    (d / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": lib.get_vocab_size(),
        "max_position_embeddings": 4096, "tie_word_embeddings": True}))
    s = Server(piston, str(d), "--load-format", "dummy", "--dtype", "float32")
    yield s, Tokenizer.from_file(str(d / "tokenizer.json")), texts
    s.check_clean_exit()


def tokenize(s, text, add_special):
    r = requests.post(s("/tokenize"), json={"prompt": text, "add_special_tokens": add_special}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["tokens"]


@pytest.mark.parametrize("add_special", [False, True])
def test_ids_match_library(spm, add_special):
    s, lib, texts = spm
    bad = []
    for t in texts:
        want = lib.encode(t, add_special_tokens=add_special).ids
        got = tokenize(s, t, add_special)
        if got != want:
            bad.append((t[:40], got[:12], want[:12]))
    assert not bad, f"{len(bad)} of {len(texts)} strings differ, e.g. {bad[:3]}"
    fallback = sum(1 for t in texts for i in lib.encode(t).ids if 3 <= i < 259)
    assert fallback > 20, "the corpus never reached the byte fallback: the test cannot tell"


def test_detokenize_matches_library(spm):
    s, lib, texts = spm
    bad = []
    for t in texts:
        ids = lib.encode(t, add_special_tokens=False).ids
        r = requests.post(s("/detokenize"), json={"tokens": ids}, timeout=60)
        assert r.status_code == 200, r.text
        if r.json()["prompt"] != lib.decode(ids):
            bad.append((t[:40], r.json()["prompt"][:40], lib.decode(ids)[:40]))
    assert not bad, f"{len(bad)} of {len(texts)} decodings differ, e.g. {bad[:3]}"
