#!/usr/bin/env python3
"""Reference tokenizations for tests/unit/test_tokenizer.c, made by llama.cpp (through
llama-cpp-python, vocab_only), which no one here wrote.

Writes tests/fixtures/tokenizer_smollm2.json:
  cases     a corpus of hard strings, each tokenized with parse_special on and off
  invalid_utf8  byte strings that are not UTF-8 (hex), tokenized with parse_special on
  pieces    token_to_piece (special=False) of every id that occurs, as hex bytes
  eog       every id llama.cpp treats as end of generation
  variants  most of the corpus (parse_special off) under other pre-tokenizer types, run over the
            SmolLM2 vocabulary by a copy of the GGUF with tokenizer.ggml.pre replaced
  spm       a SentencePiece ("llama") vocabulary built here, tests/fixtures/spm_tiny.gguf,
            and llama.cpp's tokenizations of a small corpus with it

Run from the repository root:  python3 tests/ref/make_tokenizer_fixture.py [MODEL.gguf]
"""
import ctypes
import json
import os
import random
import sys
import tempfile
import unicodedata

import gguf
import llama_cpp

MODEL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "PISTON_MODEL", os.path.expanduser("~/.cache/piston/SmolLM2-135M-Instruct.Q4_1.gguf"))
OUT = "tests/fixtures/tokenizer_smollm2.json"
SPM_GGUF = "tests/fixtures/spm_tiny.gguf"
N_FUZZ = 200
VARIANTS = ["gpt-2", "default", "llama-bpe", "qwen2", "starcoder", "gpt-4o", "tekken"]


def paragraph():
    base = ("In 1969, Apollo 11 landed on the Moon; Neil Armstrong's first words were broadcast to "
            "roughly 600 million people. Engineers at NASA (and at MIT's Instrumentation Lab) had "
            "spent years on the guidance computer: 2,048 words of RAM, 36,864 words of ROM, and a "
            "clock of 1.024 MHz. \"It's not the size,\" one of them said, \"it's what you do with it.\" "
            "Today a phone is ~100,000x faster -- yet we still can't agree on tabs vs. spaces!\n\n")
    out, i = "", 0
    while len(out) < 3000:
        out += base.replace("1969", str(1969 + i)).replace("600", str(600 + 7 * i))
        i += 1
    return out[:3000]


def corpus():
    c = [
        "", "a", "Hello world", "Hello, world! How are you doing today?", " leading space",
        "trailing space ", "  two leading spaces", "   ", " ", "\n", "\t",
        "I'm you're we've they'll she'd it's don't", "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S DON'T",
        "'s 't 're 've 'm 'll 'd", "rock 'n' roll, it\u2019s fine", "\u017f's long s",
        "1234567890", "3.14159265358979", "The year 2024 had 366 days.", "1,000,000 and 1e-9 and 0x1F",
        "\uff10\uff11\uff12\uff13 full-width digits", "Arabic-Indic \u0660\u0661\u0662\u0663\u0664",
        "Roman \u216b and \u00bd \u00b2\u00b3", "caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade",
        "\u00c5ngstr\u00f6m \u00d8resund \u00c6ther", "Z\u00fcrich Stra\u00dfe \u00c4\u00d6\u00dc",
        "combining: e\u0301 a\u0308 n\u0303", "\U0001F600\U0001F603\U0001F604", "\U0001F44D\U0001F3FD thumbs",
        "family \U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 ZWJ",
        "rainbow \U0001F3F3\uFE0F\u200D\U0001F308 flag",
        "\U0001F1FA\U0001F1F8\U0001F1EB\U0001F1F7\U0001F1EF\U0001F1F5 flags", "\u2764\uFE0F heart, keycap 1\uFE0F\u20E3",
        "\u4f60\u597d\uff0c\u4e16\u754c\uff01", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
        "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4.", "\u4e2d\u6587English\u6df7\u5408text123",
        "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
        "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
        "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a",
        "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!", "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",
        "\u0130stanbul \u0131 \u01c5 titlecase \ufb01 ligature", "\U0001D58D\U0001D58A\U0001D591 math letters",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "int main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
        '{"name": "piston", "version": [1, 2, 3], "ok": true, "x": null}',
        "<div class=\"a\"><p>Hi &amp; bye</p></div>", "for i in $(seq 1 10); do echo \"$i\"; done",
        "^[a-zA-Z0-9._%+-]+@[a-z]+\\.[a-z]{2,}$",
        "https://example.com/path/to?query=1&x=y#frag", "mail me: someone@example.org",
        "!!!???...", "----====____", "@#$%^&*()", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ab" * 50,
        "a\u00a0b nbsp", "a\u3000b ideographic", "a\u2009b thin", "a\u200bb zero-width", "a\u0085b nel",
        "a\u180eb mvs", "x \n\t y", "\r\nwindows\r\nlines\r\n", "\n\n\n", " \n \n ", "end.\n",
        "<|im_start|>user\nhi<|im_end|>\n",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
        "<|endoftext|>", "text<|im_end|>more", "<|im_start|><|im_end|>", "<|im_start", "< |im_start| >",
        "<repo_name>foo<file_sep>bar", "<jupyter_code>print(1)<jupyter_output>1", " <|im_end|> ",
        paragraph(),
        # found by differential fuzzing: U+180E is not white space; marks after letters
        "|>\n\n\n\n\u180e\u180e\u180e\u180e", "\u180e\u180e\u180e're222", "\u5eb8\u0301've", "\u0940'd\U0001F700@\u0308",
    ]
    for k in range(1, 11):
        c.append("a" + " " * k + "b")
        c.append("x" + "\n" * k + "y")
        c.append("x" + "\t" * k + "y" + " " * k)
    return c + fuzz_corpus(N_FUZZ, 1)


def fuzz_corpus(n, seed):
    """Random mixtures of the character classes the regexes care about. Only code points
    assigned in this Python's Unicode version: PCRE2 and llama.cpp carry different Unicode
    versions, and a code point one of them does not know yet is classified differently."""
    rnd = random.Random(seed)

    def assigned(lo, hi):
        while True:
            c = chr(rnd.randint(lo, hi))
            if unicodedata.category(c) not in ("Cn", "Cs"):
                return c

    pools = [
        lambda: rnd.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") * rnd.randint(1, 3),
        lambda: rnd.choice("0123456789") * rnd.randint(1, 5),
        lambda: rnd.choice("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
        lambda: rnd.choice([" ", "\t", "\n", "\r", "\v", "\f", "\u00a0", "\u2003", "\u3000", "\u0085", "\u1680",
                            "\u180e", "\u2028", "\u200b", "\u202f", "\x1c"]) * rnd.randint(1, 4),
        lambda: "'" + rnd.choice(["s", "t", "re", "ve", "m", "ll", "d", "S", "T", "RE", "Ve", "M", "LL", "D", "x"]),
        lambda: rnd.choice("\u00e0\u00e9\u00ee\u00f5\u00fc\u00e7\u00f1\u00df\u00f8\u00e5\u00c6\u0152\u0133\u01c5\u01c8\uff21\uff41"),
        lambda: rnd.choice(["\u0301", "\u0308", "\u0940", "\u20e3", "\ufe0f", "\u200d"]),
        lambda: assigned(0x4E00, 0x9FFF), lambda: assigned(0xAC00, 0xD7A3), lambda: assigned(0x0600, 0x06FF),
        lambda: assigned(0x0900, 0x097F), lambda: assigned(0x1F300, 0x1FAFF), lambda: assigned(0x1D400, 0x1D7FF),
        lambda: assigned(0x80, 0xFFFD), lambda: assigned(0x10000, 0x3FFFF),
        lambda: rnd.choice(["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<file_sep>", "<|im_", "|>"]),
        lambda: rnd.choice([" the", " and", "ing", " is", "tion", " 1", " http://", "://", " def"]),
    ]
    return ["".join(rnd.choice(pools)() for _ in range(rnd.randint(1, 30))) for _ in range(n)]


# Not UTF-8: llama.cpp reads a byte that starts no well-formed sequence as U+FFFD and an
# overlong form as its code point (encoded surrogates are left out: PCRE2 and llama.cpp
# classify them differently, and no encoder produces them).
INVALID = [b"a\x80b", b"\xc3", b"caf\xc3 x", b"\xe2\x82 1", b"\xc0\x80\xc1\xbf", b"\xe0\x80\xaf!",
           b"\xf0\x80\x80\x80z", b"\xf8\xff hi", b"\xf0\x9f\x98", b" \xe4\xbd", b"<|im_end|>\xff<|im_start|>"]


def dump_cases(f, name, cases):
    f.write('"%s":[\n' % name)
    f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
    f.write("\n]")


def piece(vocab, tid, special=False):
    buf = ctypes.create_string_buffer(1024)
    n = llama_cpp.llama_token_to_piece(vocab, tid, buf, len(buf), 0, special)
    assert 0 <= n <= len(buf)
    return buf.raw[:n]


def load(path):
    return llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)


def copy_gguf(reader, path, replace):
    """A tensor-free copy of reader's metadata with the keys in replace changed."""
    arch = reader.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(path, arch)
    for k, f in reader.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture":
            continue
        v = replace.get(k, f.contents())
        sub = f.types[1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(k, v, f.types[0], sub_type=sub)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def spm_vocab():
    """A small SentencePiece vocabulary: specials, 256 byte tokens, characters, merges."""
    T = gguf.TokenType
    toks = [("<unk>", 0.0, T.UNKNOWN), ("<s>", 0.0, T.CONTROL), ("</s>", 0.0, T.CONTROL)]
    toks += [("<0x%02X>" % b, 0.0, T.BYTE) for b in range(256)]
    toks += [("<tool>", 0.0, T.USER_DEFINED), ("<|im_end|>", 0.0, T.CONTROL)]
    chars = list("\u2581abcdefghijklmnopqrstuvwxyzTHW.,!?'\u00e9\u4f60\u597d")
    merges = ["\u2581t", "he", "\u2581the", "\u2581a", "in", "\u2581in", "er", "\u2581h", "el", "\u2581hel", "lo",
              "\u2581hello", "\u2581w", "or", "\u2581wor", "ld", "\u2581world", "ing", "th", "\u2581th", "\u2581\u2581",
              "\u2581\u2581\u2581\u2581", "ca", "f\u00e9", "\u2581caf\u00e9", "\u2581ca", "at", "\u2581c", "\u2581cat",
              "\u2581T", "\u2581Th", "ll", "\u2581\u4f60\u597d", "'s", "an", "\u2581an", "\u2581and"]
    for i, ch in enumerate(chars):
        toks.append((ch, -100.0 - i, T.NORMAL))
    for i, m in enumerate(merges):
        # a few equal scores, so that ties must go to the leftmost pair
        toks.append((m, -1.0 - (i // 3), T.NORMAL))
    return toks


def write_spm(reader, path):
    w = gguf.GGUFWriter(path, "llama")
    for k in ["llama.block_count", "llama.context_length", "llama.embedding_length", "llama.feed_forward_length",
              "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.freq_base",
              "llama.attention.layer_norm_rms_epsilon", "llama.rope.dimension_count"]:
        f = reader.fields[k]
        w.add_key_value(k, f.contents(), f.types[0])
    toks = spm_vocab()
    w.add_tokenizer_model("llama")
    w.add_token_list([t[0] for t in toks])
    w.add_token_scores([t[1] for t in toks])
    w.add_token_types([int(t[2]) for t in toks])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


SPM_CORPUS = ["hello world", " hello", "hello  world", "the cat and the hat", "caf\u00e9", "\u4f60\u597d\u4e16\u754c",
              "emoji \U0001F600", "<s>hello</s>", "a<tool>b", "", " ", "\n", "The Thing's", "    four", "hello<|im_end|>",
              "x\u2581y"]


def main():
    reader = gguf.GGUFReader(MODEL)
    llm = load(MODEL)
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    texts = corpus()
    assert len(texts) >= 60
    cases, seen = [], set()
    for t in texts:
        b = t.encode("utf-8")
        sp = llm.tokenize(b, add_bos=False, special=True)
        pl = llm.tokenize(b, add_bos=False, special=False)
        seen.update(sp)
        seen.update(pl)
        cases.append({"text": t, "special": sp, "plain": pl})
    invalid = [{"hex": b.hex(), "special": llm.tokenize(b, add_bos=False, special=True)} for b in INVALID]
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    pieces = {str(i): piece(vocab, i).hex() for i in sorted(seen | set(range(0, n_vocab, 97)))}
    eog = [i for i in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, i)]

    variants = []
    with tempfile.TemporaryDirectory() as d:
        for pre in VARIANTS:
            path = os.path.join(d, pre + ".gguf")
            copy_gguf(reader, path, {"tokenizer.ggml.pre": pre})
            try:
                v = load(path)
            except Exception as e:  # this llama.cpp does not know the pre type
                print("variant %s skipped: %s" % (pre, e), file=sys.stderr)
                continue
            # the hand-written corpus and the first 50 random strings keep the file small
            variants.append({"pre": pre, "plain": [v.tokenize(t.encode(), add_bos=False, special=False)
                                                   for t in texts[:len(texts) - N_FUZZ + 50]]})
            del v

    write_spm(reader, SPM_GGUF)
    s = load(SPM_GGUF)
    svocab = llama_cpp.llama_model_get_vocab(s._model.model)
    spm_cases = []
    for t in SPM_CORPUS:
        case = {"text": t}
        for bos in (0, 1):
            for sp in (0, 1):
                case["bos%d_special%d" % (bos, sp)] = s.tokenize(t.encode(), add_bos=bool(bos), special=bool(sp))
        spm_cases.append(case)
    n_spm = llama_cpp.llama_vocab_n_tokens(svocab)
    spm_pieces = {str(i): piece(svocab, i).hex() for i in range(n_spm)}

    with open(OUT, "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write('"model":%s,\n"llama_cpp_python":%s,\n' % (json.dumps(os.path.basename(MODEL)),
                                                          json.dumps(llama_cpp.__version__)))
        dump_cases(f, "cases", cases)
        f.write(',\n"invalid_utf8":%s' % json.dumps(invalid))
        f.write(',\n"pieces":%s,\n"eog":%s,\n' % (json.dumps(pieces), json.dumps(eog)))
        dump_cases(f, "variants", variants)
        f.write(',\n"spm_eog":%s,\n"spm_pieces":%s,\n' % (
            json.dumps([i for i in range(n_spm) if llama_cpp.llama_vocab_is_eog(svocab, i)]), json.dumps(spm_pieces)))
        dump_cases(f, "spm", spm_cases)
        f.write("\n}\n")
    print("wrote %s: %d cases, %d variants, %d spm cases" % (OUT, len(cases), len(variants), len(spm_cases)))


if __name__ == "__main__":
    main()
