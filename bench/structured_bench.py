#!/usr/bin/env python3
"""The per-token cost of constrained decoding against unconstrained decoding, on the same
prompt and sampler, at batch 1 and batch 32 (concurrent requests, batched by the server).

Each request streams; its time per output token is (last chunk - first chunk) / (tokens - 1),
tokens from the usage the stream ends with; the cases run interleaved, round by round, and
the figure is the median over their requests. Unconstrained requests run with ignore_eos to a
fixed length; the constraints are chosen so that they allow at least that many tokens (a long
JSON array of strings, a long regex, any JSON object, GBNF), so both sides decode the same
number of tokens. A corpus schema (recipe) is measured too, over the tokens it takes.

  python3 bench/structured_bench.py                      # starts bin/piston serve on the default model
  python3 bench/structured_bench.py --url http://host:port
  python3 bench/structured_bench.py --llamacpp http://host:port   # also a llama.cpp server
                                                         # (llama-server -m MODEL.gguf -np 32 -c 65536)
Prints one table; --json FILE writes the figures.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "Write a long list of short notes about the weather in European cities, as JSON:"
LONG_ARRAY = {"type": "object", "properties": {"notes": {"type": "array", "items": {"type": "string", "maxLength": 40},
                                                         "minItems": 60, "maxItems": 80}}, "required": ["notes"]}
REGEX = r"(The (weather|sky|wind|rain) in [A-Z][a-z]{2,10} (is|was|will be) [a-z]{3,12}\. ){40,60}"
GBNF = ('root ::= "[" item ("," ws item){40,60} "]"\nitem ::= "{\\"city\\": \\"" [A-Z] [a-z]{2,12} "\\", '
        '\\"temp\\": " [0-9]{1,2} "}"\nws ::= " "?\n')


def corpus_schema(name):
    with open(os.path.join(ROOT, "tests", "fixtures", "json_schemas.json"), encoding="utf-8") as f:
        return json.load(f)["schemas"][name]


CASES = [  # name, extra request fields for piston, for llama.cpp (or None)
    ("unconstrained", {"ignore_eos": True}, {"ignore_eos": True}),
    ("json_schema (array)", {"structured_outputs": {"json": LONG_ARRAY}}, {"json_schema": LONG_ARRAY}),
    ("regex", {"structured_outputs": {"regex": REGEX}}, None),
    ("grammar (GBNF)", {"structured_outputs": {"grammar": GBNF}}, {"grammar": GBNF}),
    ("json_object", {"response_format": {"type": "json_object"}, "ignore_eos": True}, {"json_schema": {"type": "object"}}),
    ("json_schema (recipe)", {"structured_outputs": {"json": corpus_schema("recipe")}},
     {"json_schema": corpus_schema("recipe")}),
]


def piston_request(url, extra, n_tokens, seed):
    body = {"model": "smollm2", "prompt": PROMPT, "max_tokens": n_tokens, "temperature": 1.0, "seed": seed,
            "stream": True, "stream_options": {"include_usage": True}, **extra}
    t_first = t_last = None
    tokens = 0
    with requests.post(url + "/v1/completions", json=body, stream=True, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            d = json.loads(line[6:])
            if d.get("usage"):
                tokens = d["usage"]["completion_tokens"]
            if d.get("choices") and d["choices"][0].get("text"):
                now = time.perf_counter()
                t_first = t_first or now
                t_last = now
    return (t_last - t_first) / (tokens - 1) if tokens > 1 and t_first else None, tokens


def llamacpp_request(url, extra, n_tokens, seed):
    body = {"prompt": PROMPT, "n_predict": n_tokens, "temperature": 1.0, "seed": seed, "stream": False,
            "cache_prompt": False, **extra}
    r = requests.post(url + "/completion", json=body, timeout=600)
    r.raise_for_status()
    t = r.json()["timings"]
    return t["predicted_per_token_ms"] / 1e3, t["predicted_n"]


def run_round(fn, url, extra, n_tokens, batch, rnd):
    out = [None] * batch

    def one(i):
        out[i] = fn(url, extra, n_tokens, 1000 * rnd + i + 1)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(batch)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return [o for o in out if o[0]]


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else float("nan")


def added_ttft(sname, url, names):
    """The time to first token a schema adds (compilation included: piston's first use of a
    schema, which it then caches; llama.cpp converts and parses it for every request)."""
    def once(extra):
        t0 = time.perf_counter()
        if sname == "piston":
            body = {"model": "smollm2", "prompt": PROMPT, "max_tokens": 1, "temperature": 0, **extra}
            requests.post(url + "/v1/completions", json=body, timeout=600).raise_for_status()
        else:
            body = {"prompt": PROMPT, "n_predict": 1, "temperature": 0, "cache_prompt": False, **extra}
            requests.post(url + "/completion", json=body, timeout=600).raise_for_status()
        return (time.perf_counter() - t0) * 1e3
    plain = median([once({}) for _ in range(5)])
    out = {}
    for n in names:
        schema = corpus_schema(n)
        extra = {"structured_outputs": {"json": schema}} if sname == "piston" else {"json_schema": schema}
        out[n] = once(extra) - plain
    return plain, out


def start_piston(args):
    log = tempfile.NamedTemporaryFile(prefix="piston-bench-", suffix=".log", delete=False)
    cmd = [os.path.join(ROOT, "bin", "piston"), "serve", args.model, "--port", "0", "--max-model-len", "2048",
           "--max-num-seqs", "64", "--disable-log-stats", "--served-model-name", "smollm2"]
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        text = open(log.name, encoding="utf-8", errors="replace").read()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
        if m:
            url = f"http://127.0.0.1:{m.group(1)}"
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    return p, url
            except requests.RequestException:
                pass
        time.sleep(0.2)
    p.kill()
    sys.exit("piston did not start:\n" + open(log.name).read()[-2000:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="a running piston server (else one is started)")
    ap.add_argument("--llamacpp", help="a running llama.cpp server on the same GGUF")
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/piston/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds1", type=int, default=8, help="requests of each case at batch 1")
    ap.add_argument("--rounds32", type=int, default=2, help="rounds of 32 concurrent requests of each case")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--ttft", action="store_true", help="also the first-token time each corpus schema adds")
    args = ap.parse_args()
    proc, url = (None, args.url) if args.url else start_piston(args)
    try:
        piston_request(url, {}, 8, 0)  # warm up
        rows, results = [], {}
        servers = [("piston", piston_request, url)] + ([("llama.cpp", llamacpp_request, args.llamacpp)] if args.llamacpp else [])
        with open(os.path.join(ROOT, "tests", "fixtures", "json_schemas.json"), encoding="utf-8") as f:
            names = list(json.load(f)["schemas"])
        for sname, fn, surl in servers:
            if args.ttft:
                plain, added = added_ttft(sname, surl, [n for n in names if n != "recipe"])
                vals = sorted(added.values())
                print(f"{sname}: time to first token {plain:.1f} ms without a schema; a corpus schema's first use adds "
                      f"median {vals[len(vals) // 2]:.1f} ms, worst {vals[-1]:.1f} ms ({max(added, key=added.get)})", flush=True)
                results[f"{sname}/ttft"] = {"plain_ms": plain, "added_ms": added}
            cases = [(n, p if sname == "piston" else l) for n, p, l in CASES if (p if sname == "piston" else l) is not None]
            for batch, rounds in ((1, args.rounds1), (32, args.rounds32)):
                # the cases interleaved round by round, so that a change of load on a shared
                # machine falls on all of them alike; medians over the requests
                got = {n: [] for n, _ in cases}
                for rnd in range(rounds):
                    for n, extra in cases:
                        got[n] += run_round(fn, surl, extra, args.tokens, batch, rnd)
                base = median([t for t, _ in got["unconstrained"]]) * 1e3
                for n, _ in cases:
                    tpot = median([t for t, _ in got[n]]) * 1e3
                    ntok = sum(k for _, k in got[n]) / max(1, len(got[n]))
                    over = (tpot / base - 1) * 100 if n != "unconstrained" else 0.0
                    rows.append((sname, n, batch, tpot, ntok, over))
                    results[f"{sname}/{n}/{batch}"] = {"tpot_ms": tpot, "tokens": ntok, "overhead_pct": over}
                    print(f"{sname:9} {n:22} batch {batch:2}: {tpot:7.2f} ms/token over {ntok:5.0f} tokens"
                          f"{'' if n == 'unconstrained' else f'  ({over:+.1f}%)'}", flush=True)
        print("\n| server | constraint | batch | ms / token | tokens | vs unconstrained |\n|---|---|---|---|---|---|")
        for s, n, b, t, k, o in rows:
            print(f"| {s} | {n} | {b} | {t:.2f} | {k:.0f} | {'' if n == 'unconstrained' else f'{o:+.1f}%'} |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
