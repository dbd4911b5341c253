#!/usr/bin/env bash
# make test-cuda-emu's runner: the emulated CUDA tests through run-unit.sh, then one closing
# line with the totals and the ops they covered.
set -u
out=$(PISTON_TEST_BACKEND=cuda PISTON_TEST_SMALL=1 SIMT_MEM_BYTES=${SIMT_MEM_BYTES:-2147483648} \
      "$(dirname "$0")/run-unit.sh" "$@"); rc=$?
printf '%s\n' "$out" | sed '$d'
ops=$(printf '%s\n' "$out" | sed -n 's/.*ops covered on cuda: //p' | head -n 1)
echo "cuda-emu ($(dirname "$1")): $(printf '%s\n' "$out" | tail -n 1); ops: ${ops:-none}"
exit $rc
