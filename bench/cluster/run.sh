#!/usr/bin/env bash
# Durable logins of a 3-node cluster against a single node, side by side in
# the same rounds, on this one machine (docs/cluster.md, docs/benchmarks.md):
#   1. builds latchkey (Release, BUILD, default build/perf);
#   2. starts 3 nats-server processes as one JetStream cluster, `latchkey
#      init` once, and copies the data directory to a single node and to 3
#      cluster nodes (access logs off);
#   3. ROUNDS rounds of wrk (CONNECTIONS keep-alive connections, DURATION s,
#      bench/login/login.lua with the admin key) against: the single node,
#      the cluster's writer, and a node that forwards to the writer;
#   4. the failover: logins through a follower every 20 ms while the writer
#      is killed with SIGKILL; the time to the first 200 after the kill;
#   5. prints medians (requests/s, p50, p99) and the ratios to the single
#      node, and checks every node's chain (`latchkey verify`).
# Environment: DURATION (10), ROUNDS (3), CONNECTIONS (32), WRK_THREADS (2),
# LEASE_TTL_MS (2000), BASE_PORT (17100), KEEP=1 keeps the work directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${BUILD:-$root/build/perf}"
duration="${DURATION:-10}"
rounds="${ROUNDS:-3}"
connections="${CONNECTIONS:-32}"
wrk_threads="${WRK_THREADS:-2}"
ttl="${LEASE_TTL_MS:-2000}"
base="${BASE_PORT:-17100}"

"$root/tools/install-deps" bench
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DLATCHKEY_BENCH=ON >/dev/null
fi
cmake --build "$build" --target latchkey >/dev/null
bin="$build/tools/latchkey"

work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-cluster-bench.XXXXXX")
pids=()
nats_pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

urls=""
for i in 0 1 2; do
  cat >"$work/nats-$i.conf" <<EOC
server_name: nats-$i
listen: 127.0.0.1:$((base + i))
http: 127.0.0.1:$((base + 20 + i))
jetstream { store_dir: "$work/nats-$i" }
cluster {
  name: latchkey-bench
  listen: 127.0.0.1:$((base + 10 + i))
  routes: [nats-route://127.0.0.1:$((base + 10)), nats-route://127.0.0.1:$((base + 11)), nats-route://127.0.0.1:$((base + 12))]
}
EOC
  nats-server -c "$work/nats-$i.conf" 2>>"$work/nats-$i.log" &
  pids+=($!)
  nats_pids+=($!)
  urls="$urls${urls:+,}nats://127.0.0.1:$((base + i))"
done

"$bin" init --data "$work/single" >"$work/admin.json" 2>/dev/null
for n in 1 2 3; do cp -a "$work/single" "$work/node-$n"; done
/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["apikey"], j["secretkey"])' \
  "$work/admin.json" >"$work/keys.txt"

declare -A port pid
start() {  # start NAME PORT [cluster]
  local name=$1
  port[$name]=$2
  if [[ "${3:-}" == cluster ]]; then
    LATCHKEY_CLUSTER_NODE="$name" LATCHKEY_CLUSTER_NATS="$urls" LATCHKEY_CLUSTER_LEASE_TTL_MS="$ttl" \
      LATCHKEY_SERVER_PUBLIC_URL="http://localhost:$((base + 30))" \
      "$bin" serve --data "$work/$name" --listen "127.0.0.1:$2" --set server.access_log=off \
      2>>"$work/$name.log" &
  else
    "$bin" serve --data "$work/$name" --listen "127.0.0.1:$2" --set server.access_log=off \
      2>>"$work/$name.log" &
  fi
  pid[$name]=$!
  pids+=($!)
  until curl -sf "http://127.0.0.1:$2/healthz" >/dev/null; do sleep 0.1; done
}
start single $((base + 30))
for n in 1 2 3; do start "node-$n" $((base + 30 + n)) cluster; done
writer=""
until [[ -n "$writer" ]]; do
  for n in 1 2 3; do
    if curl -s "http://127.0.0.1:${port[node-$n]}/metrics" | grep -q '^latchkey_cluster_writer 1'; then
      writer="node-$n"
    fi
  done
  sleep 0.2
done
follower="node-$(( ${writer#node-} % 3 + 1 ))"
echo "writer $writer, follower $follower" >&2

export LATCHKEY_BENCH_KEYS="$work/keys.txt"
script="$root/bench/login/login.lua"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU ticks of several processes together.
sum_ticks() {
  local t=0 p
  for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done
  echo "$t"
}
run() {  # run SIDE NODE SECONDS
  local before after out="$work/wrk-$1-$RANDOM.txt"
  local nodes_before nodes_after nats_before nats_after
  before=$(cpu_ticks "${pid[$2]}")
  nodes_before=$(sum_ticks "${pid[node-1]}" "${pid[node-2]}" "${pid[node-3]}")
  nats_before=$(sum_ticks "${nats_pids[@]}")
  wrk -t"$wrk_threads" -c"$connections" -d"$3"s --timeout 5s -s "$script" \
    "http://127.0.0.1:${port[$2]}/iam/login" >"$out"
  after=$(cpu_ticks "${pid[$2]}")
  nodes_after=$(sum_ticks "${pid[node-1]}" "${pid[node-2]}" "${pid[node-3]}")
  nats_after=$(sum_ticks "${nats_pids[@]}")
  grep '^JSON ' "$out" | sed 's/^JSON //' |
    sed "s/^{/{\"side\":\"$1\",\"server_cpu_ticks\":$((after - before)),\"nodes_cpu_ticks\":$((nodes_after - nodes_before)),\"nats_cpu_ticks\":$((nats_after - nats_before)),/"
}
results="$work/results.ndjson"
: >"$results"
run warmup-single single 3 >>"$results"
run warmup-writer "$writer" 3 >>"$results"
run warmup-follower "$follower" 3 >>"$results"
for r in $(seq 1 "$rounds"); do
  echo "round $r" >&2
  run single single "$duration" >>"$results"
  run writer "$writer" "$duration" >>"$results"
  run follower "$follower" "$duration" >>"$results"
done

# Failover: a follower's logins while the writer dies.
other="node-$(( ${follower#node-} % 3 + 1 ))"
[[ "$other" == "$writer" ]] && other="node-$(( ${other#node-} % 3 + 1 ))"
body=$(/usr/bin/python3 -c 'import json,sys; a,s=open(sys.argv[1]).read().split(); print(json.dumps({"auth_mode":"apikey","apikey":a,"secretkey":s}))' "$work/keys.txt")
kill -9 "${pid[$writer]}"
killed=$(date +%s.%N)
until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
  "http://127.0.0.1:${port[$follower]}/iam/login" -H 'Content-Type: application/json' -d "$body") == 200 ]]; do
  sleep 0.02
done
failover=$(/usr/bin/python3 -c "import sys; print(f'{$(date +%s.%N) - $killed:.2f}')")
start "$writer" "${port[$writer]}" cluster
sleep 2

for n in 1 2 3; do kill -INT "${pid[node-$n]}"; done
kill -INT "${pid[single]}"
wait "${pid[node-1]}" "${pid[node-2]}" "${pid[node-3]}" "${pid[single]}" 2>/dev/null || true
heads=""
for n in 1 2 3; do
  v=$("$bin" verify --data "$work/node-$n" 2>&1 | grep -m1 'hash chain intact' || echo FAILED)
  heads="$heads$n: ${v##*head }"$'\n'
done

/usr/bin/python3 - "$results" "$failover" "$ttl" "$connections" "$rounds" "$duration" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
failover, ttl, conns, rounds, duration = sys.argv[2:7]
tick = os.sysconf("SC_CLK_TCK")
by = lambda side: [r for r in rows if r["side"] == side]
med = lambda rs, k: statistics.median(r[k] for r in rs)
print(f"cluster benchmark: {conns} connections, {rounds} rounds of {duration} s; 3 nats-server, "
      "3 nodes, a single node and wrk on the same cores")
print("| side | logins/s (median) | p50 ms | p99 ms | node CPU per login | "
      "CPU per login of all 3 nodes + 3 NATS servers | rounds (logins/s) |")
print("|---|---|---|---|---|---|---|")
per = lambda rs, k: statistics.median(r[k] / tick / max(r["requests"], 1) * 1e6 for r in rs)
for side in ("single", "writer", "follower"):
    rs = by(side)
    cpu = per(rs, "server_cpu_ticks")
    whole = "" if side == "single" else (
        f"{per(rs, 'nodes_cpu_ticks') + per(rs, 'nats_cpu_ticks'):.0f} µs "
        f"({per(rs, 'nodes_cpu_ticks'):.0f} + {per(rs, 'nats_cpu_ticks'):.0f})")
    each = ", ".join(format(r["rps"], ",.0f") for r in rs)
    print(f"| {side} | {med(rs, 'rps'):,.0f} | {med(rs, 'p50_ms'):.2f} | {med(rs, 'p99_ms'):.2f} | "
          f"{cpu:.0f} µs | {whole} | {each} |")
s = by("single")
for side in ("writer", "follower"):
    ratios = [c["rps"] / b["rps"] for b, c in zip(s, by(side))]
    each = ", ".join(format(x, ".2f") for x in ratios)
    print(f"ratio {side}/single: {statistics.median(ratios):.2f}x (per round {each}); p99 added: "
          f"{med(by(side), 'p99_ms') - med(s, 'p99_ms'):+.2f} ms")
non2xx = sum(r.get("non2xx", 0) for r in rows)
print(f"non-2xx responses in all runs: {non2xx}")
print(f"failover: logins through a follower resumed {failover} s after the writer was killed "
      f"(lease TTL {ttl} ms)")
PY
echo "chain heads after the run (equal on every node):"
printf '%s' "$heads"
