#!/usr/bin/env bash
# Native failure rates of the flaky tests: runs each test RUNS times (default 300), one process
# per run, and prints failures/runs. Usage: [LOAD=N] examples/flaky/measure.sh [RUNS] [TEST...]
# LOAD=N keeps N busy loops running meanwhile, like a busy CI machine (rates depend a lot on load).
# global_state_a/_b fail only when libtest runs them in parallel, so they are run together
# (filter `global_state`, default test threads); every other test runs alone
# (`--exact NAME --test-threads=1`).
set -euo pipefail
export RUST_BACKTRACE=0
cd "$(dirname "$0")/../.."
runs=${1:-300}
shift || true
bin=$(cargo test -p flaky --test flaky --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "could not build the flaky test binary" >&2; exit 1; }
echo "binary: $bin  load: ${LOAD:-0} busy loops, $(nproc) CPUs, $(cut -d' ' -f1-3 /proc/loadavg) loadavg"
hogs=()
for ((i = 0; i < ${LOAD:-0}; i++)); do
  (while :; do :; done) &
  hogs+=($!)
done
trap '[ ${#hogs[@]} -eq 0 ] || kill "${hogs[@]}" 2>/dev/null' EXIT
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(lost_update check_then_act sleep_as_sync channel_order condvar_without_predicate
    global_state worker_panic async_race wall_clock_boundary rare_lost_update)
fi
for t in "${tests[@]}"; do
  if [ "$t" = global_state ]; then args=(global_state); else args=(--exact "$t" --test-threads=1); fi
  fails=0
  start=$(date +%s.%N)
  for ((i = 0; i < runs; i++)); do
    "$bin" "${args[@]}" >/dev/null 2>&1 || fails=$((fails + 1))
  done
  end=$(date +%s.%N)
  printf '%-28s %5d/%d failed  (%.1f%%, %.1f ms/run)\n' "$t" "$fails" "$runs" \
    "$(echo "100 * $fails / $runs" | bc -l)" "$(echo "1000 * ($end - $start) / $runs" | bc -l)"
done
