#!/usr/bin/env python3
"""pp512 / tg128 side by side: Piston against llama.cpp, same GGUF, same threads.

Piston:    bin/piston bench latency MODEL -p 512 -n 128 -r REPS --threads N --json
llama.cpp: llama.cpp's own llama-bench, built by bench/llamacpp_build.py from the source in
           the llama-cpp-python sdist with the CPU's features named (never -march=native,
           which picks AMX on some Intel VMs and then dies of SIGILL), cached outside the repo:
             llama-bench -m MODEL -p 512 -n 128 -r REPS -t N -b 512 -ub 512 -o json
  pp512  512 random tokens evaluated in one batch into an empty KV cache;
  tg128  128 single-token evals from an empty KV cache;
  one warm-up run of each is excluded, then REPS timed runs; mean ± sd of tokens/s.
  `piston bench latency` runs the same two tests the same way.

Why llama-bench rather than the Python binding (still there as --python): it is the
measurement llama.cpp's own numbers are quoted in; it has no ctypes call and logits copy per
generated token inside the timed loop of tg128; and it shares one cmake build with the
llama-server of bench/compare-llamacpp-server, where `pip install llama-cpp-python` compiles
all of llama.cpp a second time. --python uses llama-cpp-python, installing it when missing
with the same CPU switches (llamacpp_build.py pip-install) and measuring as above, except
that tg128 starts after a 16-token prompt.

Usage: python3 bench/compare-llamacpp.py [--model PATH] [--threads N] [--reps 5]
                                         [--piston bin/piston] [--skip-piston] [--skip-llama]
                                         [--python] [--llama-version V]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import llamacpp_build  # noqa: E402
from server_proc import CpuMeter  # noqa: E402

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


def bench_llamabench(binary, model, threads, reps):
    cmd = [binary, "-m", model, "-p", str(N_PP), "-n", str(N_TG), "-r", str(reps),
           "-t", str(threads), "-b", str(N_PP), "-ub", str(N_PP), "-o", "json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare-llamacpp: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    out = {}
    for t in json.loads(p.stdout):  # one object per test: pp has n_gen 0, tg has n_prompt 0
        key = "pp" if t["n_gen"] == 0 else "tg"
        out[key] = {"mean": t["avg_ts"], "sd": t["stddev_ts"]}
    return out


def bench_llamacpp_python(model, threads, reps):
    import numpy as np
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
    ap.add_argument("--python", action="store_true",
                    help="measure llama.cpp through llama-cpp-python instead of llama-bench")
    ap.add_argument("--llama-version", default=llamacpp_build.PINNED_VERSION,
                    help="llama-cpp-python release whose llama.cpp is measured")
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
    noise = {}  # other processes' share of the CPUs during each side's run
    ll_ver = "-"
    if not a.skip_llama and a.python:
        llamacpp_build.pip_install(a.llama_version)
        import llama_cpp
        ll_ver = f"llama-cpp-python {llama_cpp.__version__}"
        ll = bench_llamacpp_python(a.model, a.threads, a.reps)
    elif not a.skip_llama:
        try:
            built = llamacpp_build.ensure_built(a.llama_version)
        except RuntimeError as e:
            sys.exit(f"compare-llamacpp: {e}")
        ll_ver = (f"llama-bench, llama.cpp {built['llama_cpp']} from the llama-cpp-python "
                  f"{built['version']} sdist")
        meter = CpuMeter(None).start()  # llama-bench runs as a child: "loadgen" is its share
        ll = bench_llamabench(built["llama-bench"], a.model, a.threads, a.reps)
        noise["llama.cpp"] = meter.stop().get("others")
    if not a.skip_piston:
        meter = CpuMeter(None).start()
        pi = bench_piston(a.piston, a.model, a.threads, a.reps)
        noise["piston"] = meter.stop().get("others")

    print(f"model:     {a.model}")
    print(f"cpu:       {cpu_model()} ({os.cpu_count()} logical cpus), threads {a.threads}")
    print(f"llama.cpp: {ll_ver}")
    print(f"piston:    {piston_version(a.piston) if pi else '-'}"
          + (f" (reported threads {pi.get('threads')})" if pi else ""))
    print(f"reps:      {a.reps} (+1 warm-up, excluded), tokens/s mean ± sd")
    print(f"load avg:  {load0:.2f} at start, {loadavg():.2f} at end (1-minute; want ~0)")
    print("others:    " + (", ".join(f"{k} {v:.0%}" for k, v in noise.items() if v is not None) or "-")
          + " of the CPUs used by other processes during the runs (want ~0%; llama.cpp's "
          "spinning threads suffer most)\n")
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
