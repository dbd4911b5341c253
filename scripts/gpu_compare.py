#!/usr/bin/env python3
"""Greedy tokens and logits of the CUDA backend against the CPU backend's (--precision f32),
from one binary, on the golden fixture's prompts (tests/fixtures/smollm2_ref.json): per
prompt, whether the greedy tokens agree, and where they part, whether it is at a near-tie of
the CPU's top two (as tests/e2e/test_golden.py reports llama.cpp's); and the largest
difference of the first step's top logits. Prints one `result:` line; exit 1 on a mismatch
that is not a near-tie. Part of scripts/gpu-check.sh."""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_eval(piston, model, device, reqs):
    cmd = [piston, "eval", model, "--device", device, "--precision", "f32"]
    stdin = "".join(json.dumps(r) + "\n" for r in reqs).encode()
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=120)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr.decode()[-2000:]}")
    return [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--piston", default=os.path.join(ROOT, "bin", "piston"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--n-predict", type=int, default=16)
    ap.add_argument("--out")
    a = ap.parse_args()
    ref = json.load(open(os.path.join(ROOT, "tests", "fixtures", "smollm2_ref.json")))
    reqs = [{"prompt": p["prompt"], "parse_special": p["parse_special"], "add_special": True,
             "n_predict": a.n_predict, "top_n": 10} for p in ref["prompts"]]
    cpu, gpu = run_eval(a.piston, a.model, "cpu", reqs), run_eval(a.piston, a.model, "cuda", reqs)
    rows, bad = [], 0
    for p, c, g in zip(ref["prompts"], cpu, gpu):
        worst = max(abs(x[1] - y[1]) for x, y in zip(c["top"], g["top"]))
        same, note = 0, "all equal"
        for k, (tc, tg) in enumerate(zip(c["tokens"], g["tokens"])):
            if tc != tg:
                gap = c["steps"][k][0][1] - c["steps"][k][1][1]
                near = gap < 0.05
                note = f"part at step {k} ({'near-tie' if near else 'MISMATCH'}, CPU top-2 gap {gap:.4f})"
                bad += not near
                break
            same += 1
        rows.append({"prompt": p["name"], "same_tokens": same, "of": len(c["tokens"]),
                     "max_top_logit_diff": worst, "note": note})
        print(f"{p['name']:24s} {same:3d}/{len(c['tokens'])} tokens equal, first-step top-10 logits within "
              f"{worst:.4f}: {note}")
    if a.out:
        json.dump(rows, open(a.out, "w"), indent=1)
    print(f"result: {len(rows) - bad}/{len(rows)} prompts agree (near-ties allowed), "
          f"worst first-step logit difference {max(r['max_top_logit_diff'] for r in rows):.4f}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
