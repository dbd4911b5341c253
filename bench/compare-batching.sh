#!/usr/bin/env bash
# Batching gain on this machine: the same offline workload (random prompts, EOS ignored)
# through `piston bench throughput` one request at a time (--max-num-seqs 1) and 32 at once
# (--max-num-seqs 32), in the same run; prints both and the ratio of output tokens/s.
# usage: bench/compare-batching.sh [MODEL] [extra bench flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-smollm2}"; shift || true
common=(--num-prompts 32 --input-len 128 --output-len 128 --max-model-len 1024 "$@")
one=$(bin/piston bench throughput "$model" "${common[@]}" --max-num-seqs 1 --json)
many=$(bin/piston bench throughput "$model" "${common[@]}" --max-num-seqs 32 --json)
python3 - "$one" "$many" <<'PY'
import json, sys
one, many = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'max-num-seqs':>12} | {'requests/s':>10} | {'total tok/s':>11} | {'output tok/s':>12} | elapsed")
for r in (one, many):
    print(f"{r['max_num_seqs']:>12} | {r['requests_per_s']:>10.3f} | {r['tokens_per_s']:>11.1f} | {r['output_tokens_per_s']:>12.1f} | {r['elapsed_s']:.1f} s")
print(f"batching gain (output tokens/s, 32 vs 1): {many['output_tokens_per_s'] / one['output_tokens_per_s']:.2f}x")
PY
