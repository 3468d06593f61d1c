#!/usr/bin/env bash
# The noisy neighbour alone, in rounds, optionally side by side with another
# build (figures in docs/benchmarks.md, "Projects"):
#   1. one server populates PROJECTS projects (200) through the platform API
#      (populate.py: PRINCIPALS users with 2 keys each) and a project "solo"
#      with SOLO_PRINCIPALS (100) users; its data directory is then copied for
#      the second server (BASELINE_BIN), so both serve the same data;
#   2. ROUNDS rounds (5), alternating the builds: wrk floods "solo" at full
#      speed with 32 connections while bench_loadgen (open loop) logs in to
#      one other project at RATE logins/s (100) for DURATION seconds (10);
#   3. per build: the quiet project's p50, p99, p99.9 and max (median over the
#      rounds) and the flood's logins/s.
# LATCHKEY_BIN defaults to build/perf's latchkey.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${BUILD:-$root/build/perf}"
projects="${PROJECTS:-200}"
principals="${PRINCIPALS:-5}"
solo_principals="${SOLO_PRINCIPALS:-100}"
rounds="${ROUNDS:-5}"
duration="${DURATION:-10}"
rate="${RATE:-100}"
py=/usr/bin/python3

"$root/tools/install-deps" bench
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DLATCHKEY_BENCH=ON >/dev/null
fi
cmake --build "$build" --target latchkey bench_loadgen >/dev/null
bins=("${LATCHKEY_BIN:-$build/tools/latchkey}")
names=("candidate")
if [[ -n "${BASELINE_BIN:-}" ]]; then
  bins+=("$BASELINE_BIN")
  names+=("baseline")
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-noisy-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" || true; done
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

start() {  # BIN DATA LOG -> sets started_pid, started_port
  "$1" serve --data "$2" --listen 127.0.0.1:0 --set server.access_log=off >/dev/null 2>"$3" &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 1 600); do
    if grep -q '"msg":"listening"' "$3"; then break; fi
    sleep 0.01
  done
  started_port=$(grep '"msg":"listening"' "$3" | head -1 | grep -o '"address":"[^"]*"' |
    sed 's/.*:\([0-9]*\)"/\1/')
}

"${bins[0]}" init --data "$work/data0" >"$work/init.json" 2>/dev/null
op_key=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["platform"]["apikey"])' "$work/init.json")
op_secret=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["platform"]["secretkey"])' "$work/init.json")
rm "$work/init.json"
start "${bins[0]}" "$work/data0" "$work/populate.log"
base="http://127.0.0.1:$started_port"
"$py" "$root/bench/projects/populate.py" "$base" "$op_key" "$op_secret" "$projects" \
  "$principals" 2 "$work/keys.txt" 4 >/dev/null
"$py" "$root/bench/projects/populate.py" "$base" "$op_key" "$op_secret" 1 \
  "$solo_principals" 2 "$work/solo.txt" 4 solo >/dev/null
kill -TERM "$started_pid"; wait "$started_pid" || true
pids=()
read -r quiet_host quiet_key quiet_secret < <(sed -n 1p "$work/keys.txt")
echo "$quiet_key $quiet_secret" >"$work/quiet.txt"

ports=()
for i in "${!bins[@]}"; do
  [[ $i -gt 0 ]] && cp -a "$work/data0" "$work/data$i"
  start "${bins[$i]}" "$work/data$i" "$work/server$i.log"
  ports+=("$started_port")
done

script="$root/bench/login/login.lua"
for r in $(seq 1 "$rounds"); do
  for i in "${!bins[@]}"; do
    LATCHKEY_BENCH_KEYS="$work/solo.txt" wrk -t2 -c32 -d"$((duration + 3))"s --timeout 5s \
      -s "$script" "http://127.0.0.1:${ports[$i]}/iam/login" >"$work/flood-$i-$r.txt" &
    flood=$!
    sleep 2
    "$build/bench/bench_loadgen" --address "127.0.0.1:${ports[$i]}" --host "$quiet_host" \
      --keys "$work/quiet.txt" --rate "$rate" --duration "$duration" --warmup 1 \
      --connections 4 --quiet --json "$work/quiet-$i-$r.json" >/dev/null
    wait "$flood" || true
  done
done
rm -f "$work/quiet.txt"

"$py" - "$work" "$rounds" "${names[@]}" <<'PY'
import json, statistics, sys
work, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rows = {}
for i, name in enumerate(names):
    q = [json.load(open(f"{work}/quiet-{i}-{r}.json"))["summary"] for r in range(1, rounds + 1)]
    flood = []
    for r in range(1, rounds + 1):
        for line in open(f"{work}/flood-{i}-{r}.txt"):
            if line.startswith("JSON "):
                flood.append(json.loads(line[5:])["rps"])
    med = lambda f: statistics.median(f(s) for s in q)
    rows[name] = {
        "p50": med(lambda s: s["latency"]["p50_ms"]),
        "p99": med(lambda s: s["latency"]["p99_ms"]),
        "p999": med(lambda s: s["latency"]["p99.9_ms"]),
        "lag": med(lambda s: s["lag_p99_ms"]),
        "max": med(lambda s: s["latency"]["max_ms"]),
        "p99s": [round(s["latency"]["p99_ms"], 2) for s in q],
        "errors": sum(s["non2xx"] + s["connection_errors"] + s["timeouts"] for s in q),
        "flood": statistics.median(flood),
    }
    x = rows[name]
    print(f"{name}: quiet p50 {x['p50']:.2f} ms, p99 {x['p99']:.2f} ms (rounds {x['p99s']}), "
          f"p99.9 {x['p999']:.2f} ms, max {x['max']:.2f} ms, {x['errors']} errors "
          f"(generator's own lag p99 {x['lag']:.2f} ms); "
          f"flood {x['flood']:.0f} logins/s (medians of {rounds} rounds)")
if len(names) == 2:
    a, b = rows[names[0]], rows[names[1]]
    print(f"ratio candidate/baseline: quiet p99 {a['p99'] / b['p99']:.2f}, "
          f"flood {a['flood'] / b['flood']:.2f}")
PY
