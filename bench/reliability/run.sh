#!/usr/bin/env bash
# The long forms of the reliability tests (docs/reliability.md). CI runs the
# short forms through tools/test; this runs them at length and prints the
# figures that docs/reliability.md records.
#
# Usage: bench/reliability/run.sh [crash|powerloss|storage|hostile|fuzz|all]   (default: all)
# Environment:
#   BUILD            build directory (default build/reliability, RelWithDebInfo
#                    with AddressSanitizer and UBSan, as tools/test builds)
#   KILLS            crash test: SIGKILLs (default 60)
#   CUTS             power-loss test: power cuts (default 30; needs root and /dev/fuse)
#   STORAGE_CYCLES   storage faults: fill-and-free cycles of the disk (default 10)
#   HOSTILE_ROUNDS   hostile input catalogue: rounds (default 5)
#   FUZZ_SECONDS     fuzzing: seconds per target (default 300), through tools/fuzz
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
what="${1:-all}"
build="${BUILD:-$root/build/reliability}"
kills="${KILLS:-60}"
cuts="${CUTS:-30}"
cycles="${STORAGE_CYCLES:-10}"
hostile_rounds="${HOSTILE_ROUNDS:-5}"
fuzz_seconds="${FUZZ_SECONDS:-300}"

tools/install-deps test
if [[ "$what" != fuzz ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLATCHKEY_SANITIZE=address,undefined "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
    -DLATCHKEY_BENCH=OFF >/dev/null
  cmake --build "$build" --target latchkey test_reliability crash_test power_loss_test >/dev/null
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
step() { echo "== $* ($(date -u +%H:%M:%S))"; }

if [[ "$what" == crash || "$what" == all ]]; then
  step "crash test: $kills kills"
  "$build/tests/reliability/crash_test" --kills "$kills" --min-ms 200 --max-ms 3000 || status=1
fi
if [[ "$what" == powerloss || "$what" == all ]]; then
  step "power-loss test: $cuts cuts"
  "$build/tests/reliability/power_loss_test" --cuts "$cuts" || status=1
  for m in eatmydata eatmydata-server; do
    step "power-loss test, fsync a no-op (libeatmydata, $m): must lose acknowledged events"
    "$build/tests/reliability/power_loss_test" --cuts 1 --mutation "$m" --expect-loss || status=1
  done
fi
if [[ "$what" == storage || "$what" == all ]]; then
  step "storage faults: $cycles cycles"
  run=("$build/tests/reliability/test_reliability" --run_test=storage_faults --log_level=message)
  if [[ $(id -u) == 0 ]]; then
    LATCHKEY_STORAGE_CYCLES="$cycles" "${run[@]}" || status=1
  else
    LATCHKEY_STORAGE_CYCLES="$cycles" unshare -rm "${run[@]}" || status=1
  fi
fi
if [[ "$what" == hostile || "$what" == all ]]; then
  step "hostile input and brute force: $hostile_rounds rounds"
  for r in $(seq 1 "$hostile_rounds"); do
    "$build/tests/reliability/test_reliability" --run_test=hostile_input,brute_force,brute_force_http,token_attacks \
      --log_level=message || status=1
  done
fi
if [[ "$what" == fuzz || "$what" == all ]]; then
  step "fuzzing: $fuzz_seconds s per target"
  tools/fuzz "$fuzz_seconds" || status=1
fi
step "done, status $status"
exit $status
