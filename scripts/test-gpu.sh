#!/usr/bin/env bash
# make test-gpu: the op harness and the whole-forward comparison with the CPU on a real GPU,
# from the binaries `make` built (with nvcc). Without a usable CUDA device it says so and
# reports the checks skipped; it never counts them as passed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
tests=("$BUILD/tests/test_backend_ops" "$BUILD/tests/test_cuda_forward")
for t in "${tests[@]}"; do
  [ -x "$t" ] || { echo "test-gpu: $t is missing: run make first"; exit 1; }
done
if ! bin/piston generate smollm2 --device cuda -p x -n 1 >/dev/null 2>/tmp/piston-gpu-probe.$$; then
  echo "test-gpu: skipped: $(tail -n 1 /tmp/piston-gpu-probe.$$)"
  echo "0 passed, 0 failed, ${#tests[@]} skipped"
  rm -f /tmp/piston-gpu-probe.$$
  exit 0
fi
rm -f /tmp/piston-gpu-probe.$$
PISTON_TEST_BACKEND=cuda tests/run-unit.sh "${tests[@]}"
