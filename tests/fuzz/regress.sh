#!/usr/bin/env bash
# Runs each fuzz target built with tests/fuzz/driver.c over its committed seeds
# (tests/fuzz/corpus/<name>/) and the inputs that once crashed it (tests/fuzz/regress/<name>/),
# one pass or failure per input, and prints one closing "N passed, N failed, N skipped".
# A target whose initialisation skips (exit 77: no model) counts its inputs as skipped.
set -u
passed=0; failed=0; skipped=0
for bin in "$@"; do
  name=$(basename "$bin"); name=${name#fuzz_}
  dirs=()
  for d in tests/fuzz/corpus/$name tests/fuzz/regress/$name; do [ -d "$d" ] && dirs+=("$d"); done
  if [ ${#dirs[@]} -eq 0 ]; then
    echo "fuzz $name: SKIP no corpus (tests/fuzz/corpus/$name)"; skipped=$((skipped+1)); continue
  fi
  n_in=$(find "${dirs[@]}" -maxdepth 1 -type f ! -name '.*' | wc -l)
  out=$("$bin" "${dirs[@]}" 2>&1); rc=$?
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  if [ $rc -eq 77 ]; then
    printf '%s\n' "$out" | grep SKIP | sed "s|^|fuzz $name: |"
    skipped=$((skipped + n_in)); continue
  fi
  if [ -z "$line" ]; then
    printf '%s\n' "$out" | tail -n 30
    echo "fuzz $name: exited $rc without a summary"; failed=$((failed + n_in)); continue
  fi
  [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -v '^[0-9]* passed' | tail -n 60
  echo "fuzz $name: $line"
  p=$(printf '%s' "$line" | awk '{print $1}'); f=$(printf '%s' "$line" | awk '{print $3}')
  passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
