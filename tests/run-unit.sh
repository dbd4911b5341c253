#!/usr/bin/env bash
# Runs every C unit test binary given, adds up their "N passed, N failed, N skipped" lines and
# prints one closing line, so that a run that tested nothing (or skipped everything) shows.
set -u
passed=0; failed=0; skipped=0; crashed=0
for t in "$@"; do
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -E 'FAIL|SKIP|passed,|^ops covered' | sed "s|^|$(basename "$t"): |"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  if [ -z "$line" ] || [ $rc -ne 0 ]; then
    [ -z "$line" ] && { printf '%s\n' "$out" | tail -n 20; echo "$(basename "$t"): exited $rc without a summary"; }
    [ $rc -ne 0 ] && crashed=$((crashed+1))
  fi
  p=$(printf '%s' "$line" | awk '{print $1}'); f=$(printf '%s' "$line" | awk '{print $3}')
  s=$(printf '%s' "$line" | sed -n 's/.* \([0-9][0-9]*\) skipped.*/\1/p')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
done
[ $crashed -gt 0 ] && failed=$((failed + crashed))
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
