#!/usr/bin/env bash
# make fuzz: runs each libFuzzer target for SECONDS, one at a time (one process, -jobs
# would take every core of a shared machine), from a working corpus in BUILD/corpus/<name>
# seeded with tests/fuzz/corpus/<name>/ (the committed seeds are only read), with its
# dictionary when there is one. Prints per target the executions, coverage and crashes; a
# crash, leak, timeout or out-of-memory input is saved in BUILD/crashes/<name>/ and fails
# the run. Usage: run.sh SECONDS BUILD NAME...
set -u
secs=$1 build=$2; shift 2
bad=0
summary=()
for name in "$@"; do
  bin=$build/fuzz/fuzz_$name work=$build/corpus/$name crashes=$build/crashes/$name
  mkdir -p "$work" "$crashes"
  seeds=(); [ -d tests/fuzz/corpus/$name ] && seeds+=(tests/fuzz/corpus/$name)
  [ -d tests/fuzz/regress/$name ] && seeds+=(tests/fuzz/regress/$name)
  dict=(); [ -f tests/fuzz/$name.dict ] && dict=(-dict=tests/fuzz/$name.dict)
  log=$build/fuzz-$name.log
  stamp=$crashes/.started; touch "$stamp" # what this run saves is newer; older files are earlier runs
  echo "fuzz $name: ${secs}s, log $log"
  "$bin" -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "${dict[@]}" "$work" "${seeds[@]}" > "$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(printf '%s' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(printf '%s' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  n_crash=$(find "$crashes" -type f -newer "$stamp" \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  line="fuzz $name: ${execs:-?} executions, cov ${cov:-?}, ft ${ft:-?}, corpus $(ls "$work" | wc -l), $n_crash crash file(s), exit $rc"
  if [ $rc -ne 0 ] || [ "$n_crash" -ne 0 ]; then
    bad=1
    grep -E -A12 'ERROR: |runtime error|SUMMARY' "$log" | head -n 40
  fi
  echo "$line"; summary+=("$line")
done
printf '%s\n' "${summary[@]}"
exit $bad
