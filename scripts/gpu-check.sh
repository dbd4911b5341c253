#!/usr/bin/env bash
# The GPU checks, as one script (make gpu-check).
#
#   scripts/gpu-check.sh            here, on the CPU machine: build the bundle in build-gpu/
#                                   (bin/piston and the two CUDA tests with libuv, http-parser,
#                                   PCRE2 and cudart static, libcjson.so.1 beside them, a
#                                   2-layer cut of the default model) and print the call that
#                                   runs the rest on a lent GPU
#   scripts/gpu-check.sh --device   there (the device tool, build-gpu carried): the op harness
#                                   on the GPU, compute-sanitizer memcheck and racecheck, the
#                                   whole forward and the golden prompts against the CPU
#                                   backend, the benchmarks; one summary table last, every log
#                                   under $OUT. Each step has its own time limit so the whole
#                                   stays under 8 minutes.
set -u
cd "$(dirname "$0")/.."
G=build-gpu

prepare() {
  set -e
  local cuda_home
  cuda_home=$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")
  # static where the GPU machine has nothing (its image has no libuv or cJSON); cJSON beside
  local libs="-l:libuv_a.a -l:libhttp_parser.a -l:libpcre2-8.a -l:libedit.a -l:libtinfo.a -l:libbsd.a -l:libmd.a -l:libutf8proc.a -l:libcrypto.a -lcjson -lm -pthread \
    -Wl,-rpath,'\$\$ORIGIN/../lib' -L$cuda_home/lib64 -lcudart_static -ldl -lrt -l:libstdc++.a"
  make -j"$(nproc)" BUILD=$G BIN=$G/bin CUDA=1 LDLIBS="$libs" \
    $G/bin/piston $G/tests/test_backend_ops $G/tests/test_cuda_forward
  mkdir -p $G/lib $G/gguf
  cp -L "$(ldconfig -p | awk '/libcjson.so.1 / {print $NF; exit}')" $G/lib/libcjson.so.1
  strip --strip-debug $G/bin/piston $G/tests/test_backend_ops $G/tests/test_cuda_forward
  local model
  model=$(scripts/fetch-model.sh)
  [ -s $G/gguf/smollm2-2l.gguf ] || python3 tests/ref/cut_gguf.py "$model" $G/gguf/smollm2-2l.gguf --layers 2
  local carry="$G/bin $G/lib $G/gguf $G/tests/test_backend_ops $G/tests/test_cuda_forward"
  echo "gpu-check: bundle ready: $(du -shc $carry | tail -n 1 | cut -f1) to carry (at most 64 MiB)"
  echo "gpu-check: on a lent GPU: command \"scripts/gpu-check.sh --device\", carry [$(printf '"%s", ' $carry | sed 's/, $//')], timeout_s 540"
}

# ---- on the GPU machine ----
OUT=${OUT:-/tmp/gpu-check}
declare -a ROWS=()
row() { ROWS+=("| $1 | $2 | $3 |"); }

# step NAME SECONDS CMD...: log to $OUT/NAME.log, one summary row
step() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$? dt=$((SECONDS - t0))
  local last; last=$(grep -E "passed, [0-9]+ failed|ERROR SUMMARY|RACECHECK SUMMARY|^result:" "$OUT/$name.log" | tail -n 1)
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then row "$name" "TIMEOUT after ${limit}s" "${last:-}"
  elif [ $rc -ne 0 ]; then row "$name" "FAIL (exit $rc, ${dt}s)" "${last:-$(tail -n 1 "$OUT/$name.log")}"
  else row "$name" "ok (${dt}s)" "${last:-}"; fi
  return $rc
}

find_cublas() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda-12*/lib64 /usr/lib/x86_64-linux-gnu \
           $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cublas", "lib") for p in nvidia.__path__))' 2>/dev/null); do
    if ls "$d"/libcublas.so.1[23]* >/dev/null 2>&1; then echo "$d"; return; fi
  done
}

device() {
  mkdir -p "$OUT"
  local P=$G/bin/piston T0=$SECONDS
  [ -x $P ] || { echo "gpu-check: $P missing: run scripts/gpu-check.sh here first and carry $G"; exit 1; }
  export LD_LIBRARY_PATH="$G/lib:$(find_cublas):${LD_LIBRARY_PATH:-}"
  { nvidia-smi; echo; ldd $P; echo; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; } > "$OUT/00-env.log" 2>&1
  local cut=$G/gguf/smollm2-2l.gguf
  step 01-bandwidth 60 $P bench bandwidth --device cuda --size 4G --json
  step 02-ops 120 env PISTON_TEST_BACKEND=cuda $G/tests/test_backend_ops
  step 03-forward 60 env PISTON_MODEL=$cut $G/tests/test_cuda_forward
  step 04-golden 90 python3 scripts/gpu_compare.py --piston $P --model $cut --out "$OUT/golden.json"
  local san; san=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
  if [ -n "$san" ]; then
    step 05-memcheck 120 env PISTON_TEST_BACKEND=cuda PISTON_TEST_SMALL=1 "$san" --tool memcheck --error-exitcode 9 \
      $G/tests/test_backend_ops
    step 06-racecheck 90 env PISTON_TEST_BACKEND=cuda PISTON_TEST_SMALL=1 "$san" --tool racecheck --error-exitcode 9 \
      $G/tests/test_backend_ops
  else
    row 05-sanitizer "skipped" "compute-sanitizer not found"
  fi
  step 07-decode 120 $P bench latency llama-3-8b --load-format dummy --device cuda -p 512 -n 128 -r 3 --json
  step 08-throughput 200 $P bench throughput llama-3-8b --load-format dummy --device cuda --num-prompts 1000 \
    --input-len 1024 --output-len 128 --json
  local left=$((460 - (SECONDS - T0)))
  if [ $left -gt 60 ]; then
    step 09-transformers $left python3 scripts/hf_bench.py --prompts 64 --input-len 1024 --output-len 128
  else
    row 09-transformers "skipped" "no time left (${left}s)"
  fi
  summary
}

json_field() { python3 -c "import json,sys; d=json.loads([l for l in open('$1') if l.startswith('{')][-1]); print($2)" 2>/dev/null; }

summary() {
  local copy tg gbs thr hf
  copy=$(json_field "$OUT/01-bandwidth.log" "d['copy_gbs']")
  tg=$(json_field "$OUT/07-decode.log" "round(d['tg']['mean'],1)")
  gbs=$(json_field "$OUT/07-decode.log" "d['tg_gbs']")
  thr=$(json_field "$OUT/08-throughput.log" "round(d['output_tokens_per_s'],1), round(d['tokens_per_s'],1)")
  hf=$(json_field "$OUT/09-transformers.log" "round(d['output_tokens_per_s'],1), round(d['tokens_per_s'],1)")
  {
    echo "## Piston gpu-check ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1))"
    echo
    echo "| step | status | detail |"
    echo "| --- | --- | --- |"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "| figure | value |"
    echo "| --- | --- |"
    echo "| device-to-device copy | ${copy:-?} GB/s |"
    echo "| Llama-3-8B bf16 batch-1 decode | ${tg:-?} tok/s, ${gbs:-?} GB/s |"
    if [ -n "$copy" ] && [ -n "$gbs" ]; then
      echo "| decode bandwidth / copy bandwidth | $(python3 -c "print(f'{100*$gbs/$copy:.0f}%')") |"
    fi
    echo "| bench throughput 1000 x 1024/128 (output, total tok/s) | ${thr:-?} |"
    echo "| transformers generate, same prompts (output, total tok/s) | ${hf:-?} |"
  } | tee "$OUT/summary.md"
}

case "${1:-}" in
  --device) device ;;
  "") prepare ;;
  *) echo "usage: scripts/gpu-check.sh [--device]"; exit 2 ;;
esac
