#!/usr/bin/env python3
"""pp512 / tg128 side by side: Piston against llama.cpp, same GGUF, same threads.

Piston:    bin/piston bench latency MODEL -p 512 -n 128 -r REPS --threads N --json
llama.cpp: through llama-cpp-python, measured the way llama-bench measures:
  pp512  512 random tokens evaluated in one batch (n_batch = n_ubatch = 512) into an empty
         KV cache, logits of the last token only;
  tg128  a 16-token prompt, then 128 single-token evals (the prompt is not timed);
  one warm-up run of each is excluded, then REPS timed runs; mean ± sd of tokens/s.

Usage: python3 bench/compare-llamacpp.py [--model PATH] [--threads N] [--reps 5]
                                         [--piston bin/piston] [--skip-piston] [--skip-llama]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_PP, N_TG, N_TG_PROMPT = 512, 128, 16


def default_model():
    if os.environ.get("PISTON_MODEL"):
        return os.environ["PISTON_MODEL"]
    home = os.environ.get("PISTON_HOME") or os.path.expanduser("~/.cache/piston")
    return os.path.join(home, "SmolLM2-135M-Instruct.Q4_1.gguf")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return 0.0


def stats(xs):
    return {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0}


def bench_llamacpp(model, threads, reps):
    from llama_cpp import Llama
    llm = Llama(model_path=model, n_ctx=1024, n_batch=N_PP, n_ubatch=N_PP, n_threads=threads,
                n_threads_batch=threads, logits_all=False, verbose=False)
    rng = np.random.default_rng(0)
    vocab = llm.n_vocab()
    pp_tokens = [int(t) for t in rng.integers(0, vocab, N_PP)]
    tg_prompt = [int(t) for t in rng.integers(0, vocab, N_TG_PROMPT)]

    def pp():
        llm.reset()  # n_tokens = 0: eval() drops the whole KV cache first
        t = time.perf_counter()
        llm.eval(pp_tokens)
        return N_PP / (time.perf_counter() - t)

    def tg():
        llm.reset()
        llm.eval(tg_prompt)
        tok = int(rng.integers(0, vocab))
        t = time.perf_counter()
        for _ in range(N_TG):
            llm.eval([tok])
        return N_TG / (time.perf_counter() - t)

    out = {}
    for name, fn in (("pp", pp), ("tg", tg)):
        fn()  # warm-up
        out[name] = stats([fn() for _ in range(reps)])
    return out


def bench_piston(piston, model, threads, reps):
    cmd = [piston, "bench", "latency", model, "-p", str(N_PP), "-n", str(N_TG), "-r", str(reps),
           "--threads", str(threads), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare-llamacpp: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    for line in reversed(p.stdout.strip().splitlines()):
        try:
            res = json.loads(line)
        except ValueError:
            continue
        if "pp" in res and "tg" in res:
            return res
    sys.exit(f"compare-llamacpp: no JSON result in piston's output:\n{p.stdout[-2000:]}")


def piston_version(piston):
    try:
        p = subprocess.run([piston, "--version"], capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).strip().splitlines()[0] if p.returncode == 0 else "?"
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def fmt(s):
    return f"{s['mean']:9.2f} ± {s['sd']:6.2f}" if s else f"{'-':>18s}"


def main():
    ap = argparse.ArgumentParser(description="pp512/tg128: Piston vs llama.cpp on one GGUF")
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--piston", default=os.path.join(ROOT, "bin", "piston"))
    ap.add_argument("--skip-piston", action="store_true")
    ap.add_argument("--skip-llama", action="store_true")
    ap.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    a = ap.parse_args()
    if not os.path.exists(a.model):
        sys.exit(f"compare-llamacpp: {a.model}: no such file (--model or PISTON_MODEL)")
    if a.reps < 2:
        sys.exit("compare-llamacpp: --reps must be at least 2 (for the standard deviation)")

    load0 = loadavg()
    if load0 > 0.5:
        print(f"compare-llamacpp: warning: load average {load0:.2f} before starting: other work "
              "is running and the numbers will be noisy (llama.cpp's OpenMP threads suffer most "
              "when cores are oversubscribed)", file=sys.stderr)
    ll = pi = None
    ll_ver = "-"
    if not a.skip_llama:
        import llama_cpp
        ll_ver = llama_cpp.__version__
        ll = bench_llamacpp(a.model, a.threads, a.reps)
    if not a.skip_piston:
        pi = bench_piston(a.piston, a.model, a.threads, a.reps)

    print(f"model:     {a.model}")
    print(f"cpu:       {cpu_model()} ({os.cpu_count()} logical cpus), threads {a.threads}")
    print(f"llama.cpp: llama-cpp-python {ll_ver}")
    print(f"piston:    {piston_version(a.piston) if pi else '-'}"
          + (f" (reported threads {pi.get('threads')})" if pi else ""))
    print(f"reps:      {a.reps} (+1 warm-up, excluded), tokens/s mean ± sd")
    print(f"load avg:  {load0:.2f} at start, {loadavg():.2f} at end (1-minute; want ~0)\n")
    print(f"{'test':6s} | {'llama.cpp t/s':>18s} | {'piston t/s':>18s} | ratio")
    print(f"{'-' * 6}-+-{'-' * 18}-+-{'-' * 18}-+------")
    for key, label in (("pp", f"pp{N_PP}"), ("tg", f"tg{N_TG}")):
        l = ll[key] if ll else None
        p = pi[key] if pi else None
        ratio = f"{p['mean'] / l['mean']:.2f}" if l and p else "-"
        print(f"{label:6s} | {fmt(l)} | {fmt(p)} | {ratio}")
    if a.json:
        print(json.dumps({"threads": a.threads, "cpu": cpu_model(), "llama_cpp": ll, "piston": pi}))


if __name__ == "__main__":
    main()
