#!/usr/bin/env python3
"""Structured outputs over many seeds (the long run of tests/e2e/test_structured.py and
test_tools.py): every schema of tests/fixtures/json_schemas.json, the regex, choice and GBNF
cases, and the tool calls (required, auto), each over --seeds seeds at temperature 1 on the
real default model. Every finished output must parse and validate (jsonschema, formats
included; Python's re; the tools' parameter schemas); outputs cut by max_tokens are counted
apart (only the schemas without a size bound, and tool turns, may have them). Prints a table and exits 1 on any invalid
output.

  python3 scripts/structured_seeds.py --seeds 20          # starts bin/piston serve
  python3 scripts/structured_seeds.py --url http://127.0.0.1:8000 --seeds 50
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import openai

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from test_structured import CORPUS, PROMPT, RECURSIVE, validate  # noqa: E402
from test_tools import ASK, SCHEMAS, TOOLS  # noqa: E402

REGEX = r"(Mon|Tue|Wed|Thu|Fri) [0-2][0-9]:[0-5][0-9], room [A-D][1-9]"
GRAMMAR = 'root ::= greeting ", " name "!"\ngreeting ::= "Hello" | "Hi"\nname ::= [A-Z] [a-z]{1,8}\n'


def start(model):
    log = tempfile.NamedTemporaryFile(prefix="piston-seeds-", suffix=".log", delete=False)
    p = subprocess.Popen([os.path.join(ROOT, "bin", "piston"), "serve", model, "--port", "0", "--max-model-len", "2048",
                          "--max-num-seqs", "64", "--disable-log-stats", "--served-model-name", "smollm2"],
                         stdout=log, stderr=subprocess.STDOUT)
    import requests
    for _ in range(600):
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", open(log.name, errors="replace").read())
        if m:
            url = f"http://127.0.0.1:{m.group(1)}"
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    return p, url
            except requests.RequestException:
                pass
        time.sleep(0.2)
    sys.exit("piston did not start")


def job(c, kind, name, payload, seed):
    try:
        if kind == "schema":
            r = c.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": f"{PROMPT} ({name})"}],
                                          temperature=1.0, seed=seed, max_tokens=700,
                                          response_format={"type": "json_schema", "json_schema": {"name": name, "schema": payload}})
            ch = r.choices[0]
            if ch.finish_reason == "length":
                return "length"
            validate(json.loads(ch.message.content), payload)
        elif kind in ("regex", "grammar"):
            r = c.completions.create(model="smollm2", prompt="Say it:", temperature=1.0, seed=seed, max_tokens=60,
                                     extra_body={"structured_outputs": {kind: payload}})
            pat = REGEX if kind == "regex" else r"(Hello|Hi), [A-Z][a-z]{1,8}!"
            if not re.fullmatch(pat, r.choices[0].text):
                return f"no match: {r.choices[0].text!r}"
        elif kind == "choice":
            r = c.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Is water wet?"}],
                                          temperature=1.0, seed=seed, max_tokens=10,
                                          extra_body={"structured_outputs": {"choice": payload}})
            if r.choices[0].message.content not in payload:
                return f"not a choice: {r.choices[0].message.content!r}"
        else:  # tools
            r = c.chat.completions.create(model="smollm2", messages=ASK, tools=TOOLS, tool_choice=payload, temperature=1.0,
                                          seed=seed, max_tokens=400)
            ch = r.choices[0]
            if ch.finish_reason == "length":
                return "length"
            if payload == "required" and not ch.message.tool_calls:
                return "no call"
            for t in ch.message.tool_calls or []:
                jsonschema.validate(json.loads(t.function.arguments), SCHEMAS[t.function.name])
        return "ok"
    except (ValueError, jsonschema.ValidationError) as e:
        return f"invalid: {str(e).splitlines()[0]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/piston/SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()
    proc, url = (None, args.url) if args.url else start(args.model)
    c = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=600)
    cases = [("schema", n, s) for n, s in CORPUS["schemas"].items()]
    cases += [("regex", "regex", REGEX), ("grammar", "grammar", GRAMMAR), ("choice", "choice", ["yes", "no", "it depends"]),
              ("tools", "tools required", "required"), ("tools", "tools auto", "auto")]
    jobs = [(k, n, p, seed) for k, n, p in cases for seed in range(1, args.seeds + 1)]
    t0 = time.time()
    try:
        with ThreadPoolExecutor(32) as pool:
            res = list(pool.map(lambda a: (a, job(c, *a)), jobs))
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    table, bad = {}, []
    for (k, n, p, seed), r in res:
        t = table.setdefault(n, {"ok": 0, "length": 0, "bad": 0})
        if r == "ok":
            t["ok"] += 1
        elif r == "length" and (n in RECURSIVE or k == "tools"):
            t["length"] += 1
        else:
            t["bad"] += 1
            bad.append(f"{n} seed {seed}: {r}")
    print(f"{len(jobs)} requests in {time.time() - t0:.0f} s, {args.seeds} seeds each, temperature 1")
    print("| case | valid | cut by max_tokens | invalid |\n|---|---|---|---|")
    for n, t in table.items():
        print(f"| {n} | {t['ok']} | {t['length']} | {t['bad']} |")
    total = sum(t["ok"] for t in table.values()), sum(t["length"] for t in table.values()), len(bad)
    print(f"| all | {total[0]} | {total[1]} | {total[2]} |")
    for b in bad[:20]:
        print("INVALID", b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
