#!/usr/bin/env bash
# make test-cuda-emu's last step: do the emulated tests catch real bugs? Each line of
# tests/cuda_mutants.txt plants one in a kernel (a sed edit), rebuilds the op harness for the
# emulator in a scratch copy of the tree (the copied build-emu/ keeps it to that kernel and
# the link), and runs the op families the bug touches: the harness must fail. A mutant that
# survives (every check passes with the bug in) fails this step, and so does an edit that no
# longer changes its file (the kernel moved on: update the line). One pass per mutant killed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-emu}
cd "$root"
[ -x "$build/tests/test_backend_ops" ] || { echo "run-cuda-mutants: $build/tests/test_backend_ops is not built"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the sources (mtimes kept, so that make sees only the planted edit as new) and the build
tar -cf - --exclude='./build*' --exclude=./bin --exclude=./.git . | tar -xf - -C "$tmp"
cp -a "$build" "$tmp/$build"
killed=0 failed=0
while IFS=$'\t' read -r file edit families what; do
    [ -z "$file" ] || [ "${file:0:1}" = "#" ] && continue
    cp "$root/$file" "$tmp/$file"
    sed -i -e "$edit" "$tmp/$file"
    if cmp -s "$root/$file" "$tmp/$file"; then
        echo "FAIL mutant '$what': the edit no longer changes $file"
        failed=$((failed + 1))
        continue
    fi
    if ! (cd "$tmp" && make --no-print-directory BUILD="$build" CUDA=emu "$build/tests/test_backend_ops" >"$tmp/build.log" 2>&1); then
        echo "FAIL mutant '$what': $file does not build with the edit"
        tail -5 "$tmp/build.log"
        failed=$((failed + 1))
    else
        out=$(cd "$tmp" && PISTON_TEST_BACKEND=cuda PISTON_TEST_SMALL=1 PISTON_TEST_OPS="$families" \
              SIMT_MEM_BYTES=${SIMT_MEM_BYTES:-2147483648} timeout 900 "$build/tests/test_backend_ops" 2>&1)
        if [ $? -ne 0 ]; then
            killed=$((killed + 1))
            why=$(printf '%s\n' "$out" | grep -m1 -E '^FAIL|ERROR|error' || printf '%s\n' "$out" | tail -n 1)
            echo "killed: $what ($file; ${why:0:150})"
        else
            failed=$((failed + 1))
            echo "FAIL mutant '$what' ($file) survived: the $families tests passed with it"
        fi
    fi
    cp "$root/$file" "$tmp/$file" # restored with a new mtime: the next build compiles it again
done < tests/cuda_mutants.txt
echo "cuda mutants: $killed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
