#!/usr/bin/env bash
# Checks that bench_loadgen measures what it says, against the bare Beast
# floor server (bench/floor_server.cpp) on 127.0.0.1:
#   1. 5 s at 2,000 requests/s: every intended request is sent and answered
#      200, at the intended rate, with sub-millisecond-scale latencies;
#   2. 8 s at 2,000 requests/s with the server stopped (SIGSTOP) for 1 s in
#      the middle: the ~2,000 requests due during the stall must each count
#      their wait, so the maximum is about 1 s, p99 about 0.9 s and p90 about
#      0.2 s (a uniform wait of 0..1 s over an eighth of the requests), while
#      the time from the actual send, which a closed-loop tool reports, shows
#      the stall for the few requests in flight only.
# Prints both runs and one verdict per check; exits non-zero if one fails.
#
# Environment: BUILD (default build/perf), KEEP=1 keeps the work directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${BUILD:-$root/build/perf}"
rate=2000

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  "$root/tools/install-deps" bench
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DLATCHKEY_BENCH=ON >/dev/null
fi
cmake --build "$build" --target floor_server bench_loadgen >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-loadgen-check.XXXXXX")
floor_pid=""
cleanup() {
  if [[ -n "$floor_pid" ]]; then
    kill -CONT "$floor_pid" 2>/dev/null || true
    kill -TERM "$floor_pid" 2>/dev/null || true
  fi
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$build/bench/floor_server" --listen 127.0.0.1:0 2>"$work/floor.log" &
floor_pid=$!
floor=""
for _ in $(seq 1 200); do
  floor=$(grep -o '"address":"[^"]*"' "$work/floor.log" 2>/dev/null |
    sed 's/"address":"\([^"]*\)"/\1/') || true
  [[ -n "$floor" ]] && break
  sleep 0.05
done
[[ -n "$floor" ]] || { echo "floor server did not start" >&2; cat "$work/floor.log" >&2; exit 1; }
echo "floor server on $floor (pid $floor_pid)" >&2

echo "== 1. ${rate}/s for 5 s, GET /" >&2
"$build/bench/bench_loadgen" --address "$floor" --rate "$rate" --duration 5 --warmup 1 \
  --get / --json "$work/steady.json"

echo "== 2. ${rate}/s for 8 s, GET /, the server stopped for 1 s after 3 s" >&2
"$build/bench/bench_loadgen" --address "$floor" --rate "$rate" --duration 8 \
  --get / --json "$work/stall.json" &
gen_pid=$!
sleep 3
kill -STOP "$floor_pid"
sleep 1
kill -CONT "$floor_pid"
wait "$gen_pid"

/usr/bin/python3 - "$work/steady.json" "$work/stall.json" "$rate" <<'EOF'
import json, sys
steady, stall = (json.load(open(p))["summary"] for p in sys.argv[1:3])
rate = int(sys.argv[3])
failed = 0
def check(name, ok, detail):
    global failed
    failed += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

s = steady
check("steady: every request sent and answered 200",
      s["intended"] == rate * 5 == s["sent"] == s["completed"] == s["ok"],
      f"intended {s['intended']}, sent {s['sent']}, completed {s['completed']}, 200 {s['ok']}")
check("steady: no error", s["connection_errors"] + s["timeouts"] + s["non2xx"] == 0,
      f"{s['connection_errors']} connection, {s['timeouts']} timeout, {s['non2xx']} non-2xx")
check("steady: achieved rate within 2% of the target",
      abs(s["achieved_rps"] - rate) <= 0.02 * rate, f"{s['achieved_rps']:.1f}/s")
lat = s["latency"]
check("steady: p50 under 5 ms and max under 250 ms on an idle floor server",
      lat["p50_ms"] < 5 and lat["max_ms"] < 250,
      f"p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms, max {lat['max_ms']:.3f} ms")
check("steady: the percentiles are ordered",
      lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["p99.9_ms"] <= lat["p99.99_ms"]
      <= lat["max_ms"], str(lat))

s = stall
lat = s["latency"]
check("stall: every request answered 200", s["intended"] == rate * 8 == s["ok"],
      f"intended {s['intended']}, 200 {s['ok']}")
check("stall: max latency about the 1 s stall", 900 <= lat["max_ms"] <= 1500,
      f"max {lat['max_ms']:.1f} ms")
check("stall: p99 about 0.9 s (the wait of every request due in the stall counts)",
      750 <= lat["p99_ms"] <= 1400, f"p99 {lat['p99_ms']:.1f} ms")
check("stall: p90 about 0.2 s", 100 <= lat["p90_ms"] <= 600, f"p90 {lat['p90_ms']:.1f} ms")
check("stall: time from the actual send hides it (p99 far below)",
      s["service_p99_ms"] < lat["p99_ms"] / 5,
      f"p99 from the send {s['service_p99_ms']:.1f} ms, max {s['service_max_ms']:.1f} ms")
check("stall: requests queued for a connection during the stall", s["queued"] > 500,
      f"{s['queued']} waited for a free connection")
print(f"{11 - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
