#!/usr/bin/env bash
# The login benchmark of issue 4, start to finish:
#   1. builds (Release) latchkey, the floor server and the key generator;
#   2. `latchkey init` on a new temporary data directory, then 10,000 keys
#      (2,000 users x 5) written straight into its log by bench_login_keys;
#   3. starts `latchkey serve` (access log on, to a file) and the bare Beast
#      floor server, both on 127.0.0.1 with ports chosen at run time;
#   4. wrk, 32 keep-alive connections, POST /iam/login with a JSON body cycling
#      through the keys: a warm-up on each, then ROUNDS rounds of DURATION
#      seconds alternating latchkey and the floor;
#   5. kills the server with SIGKILL, then counts the token.issued events in the
#      log (`latchkey audit --type token.issued --format ndjson | wc -l`) and
#      compares them with the 2xx responses wrk received; runs `latchkey verify`;
#   6. prints medians (requests/s, p50, p99) and the ratio to the floor.
#
# Environment: BUILD (build directory, default build/perf), DURATION (s, 10),
# ROUNDS (3), CONNECTIONS (32), WRK_THREADS (2), LATCHKEY_BIN (the latchkey binary to
# measure, default BUILD/tools/latchkey), KEEP=1 keeps the work directory.
# BASELINE_BIN=path: a second latchkey binary (e.g. an older commit's build)
# measured in the same rounds on a copy of the same data, for a side-by-side
# ratio; only LATCHKEY_BIN's log is checked for durability.
# BASELINE_KEYS_BIN=path: the baseline gets data and keys of its own, made by
# this bench_login_keys (an older build's, when the baseline cannot read the
# newer log; or this build's, to compare keys without limits).
# ALLOWED_CIDRS=N: the measured side's keys are each limited to N networks
# (the loopback one last, so every login looks through all N).
# PEER=oidc: also measures, in the same rounds, the oidc-provider server of
# PEER_SRC (default ../shared/peers/oidc beside the project), set up in the
# work directory (npm install from the npm registry, its genkeys.mjs) and run
# as its README says (NODE_ENV=production, TOKEN_FORMAT=jwt-eddsa).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${BUILD:-$root/build/perf}"
duration="${DURATION:-10}"
rounds="${ROUNDS:-3}"
connections="${CONNECTIONS:-32}"
wrk_threads="${WRK_THREADS:-2}"
users=2000
keys_per_user=5

"$root/tools/install-deps" bench
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DLATCHKEY_BENCH=ON >/dev/null
fi
cmake --build "$build" --target latchkey floor_server bench_login_keys >/dev/null
bin="${LATCHKEY_BIN:-$build/tools/latchkey}"

work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-login-bench.XXXXXX")
server_pid=""
floor_pid=""
baseline_pid=""
peer_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill -KILL "$server_pid" 2>/dev/null || true
  [[ -n "$peer_pid" ]] && kill -TERM "$peer_pid" 2>/dev/null || true
  [[ -n "$baseline_pid" ]] && kill -KILL "$baseline_pid" 2>/dev/null || true
  [[ -n "$floor_pid" ]] && kill -TERM "$floor_pid" 2>/dev/null || true
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The admin's secret goes nowhere: the benchmark does not need it.
"$bin" init --data "$work/data" >/dev/null 2>&1
"$build/bench/bench_login_keys" --data "$work/data" --out "$work/keys.txt" \
  --users "$users" --keys-per-user "$keys_per_user" --allowed-cidrs "${ALLOWED_CIDRS:-0}"
baseline_bin="${BASELINE_BIN:-}"
baseline_keys="$work/keys.txt"
if [[ -n "$baseline_bin" && -n "${BASELINE_KEYS_BIN:-}" ]]; then
  "$baseline_bin" init --data "$work/data-baseline" >/dev/null 2>&1
  "$BASELINE_KEYS_BIN" --data "$work/data-baseline" --out "$work/keys-baseline.txt" \
    --users "$users" --keys-per-user "$keys_per_user"
  baseline_keys="$work/keys-baseline.txt"
elif [[ -n "$baseline_bin" ]]; then
  cp -r "$work/data" "$work/data-baseline"
fi

# Waits for a {"msg":"listening","address":"HOST:PORT"} line in $1 and prints HOST:PORT.
address_in() {
  for _ in $(seq 1 200); do
    local a
    a=$(grep '"msg":"listening"' "$1" 2>/dev/null | head -1 |
      grep -o '"address":"[^"]*"' | sed 's/"address":"\([^"]*\)"/\1/') || true
    if [[ -n "$a" ]]; then echo "$a"; return 0; fi
    sleep 0.05
  done
  echo "no listening line in $1:" >&2
  cat "$1" >&2
  return 1
}

"$bin" serve --data "$work/data" --listen 127.0.0.1:0 >"$work/access.log" 2>"$work/server.log" &
server_pid=$!
"$build/bench/floor_server" --listen 127.0.0.1:0 2>"$work/floor.log" &
floor_pid=$!
server=$(address_in "$work/server.log")
floor=$(address_in "$work/floor.log")
echo "latchkey serve on $server (pid $server_pid), floor server on $floor (pid $floor_pid)" >&2
if [[ -n "$baseline_bin" ]]; then
  "$baseline_bin" serve --data "$work/data-baseline" --listen 127.0.0.1:0 \
    >"$work/access-baseline.log" 2>"$work/baseline.log" &
  baseline_pid=$!
  baseline=$(address_in "$work/baseline.log")
  echo "baseline $baseline_bin on $baseline (pid $baseline_pid)" >&2
fi

if [[ "${PEER:-}" == oidc ]]; then
  peer_src="${PEER_SRC:-$root/../shared/peers/oidc}"
  cp -r "$peer_src/." "$work/peer"
  (cd "$work/peer" && npm install --no-audit --no-fund --loglevel=error >/dev/null &&
    node genkeys.mjs >/dev/null)
  peer_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (cd "$work/peer" && NODE_ENV=production TOKEN_FORMAT=jwt-eddsa PORT="$peer_port" \
    exec node server.mjs >"$work/peer.log" 2>&1) &
  peer_pid=$!
  for _ in $(seq 1 200); do
    grep -q "on :$peer_port" "$work/peer.log" 2>/dev/null && break
    sleep 0.05
  done
  peer="127.0.0.1:$peer_port"
  echo "peer oidc-provider on $peer (pid $peer_pid)" >&2
fi

export LATCHKEY_BENCH_KEYS="$work/keys.txt"
script="$root/bench/login/login.lua"
# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# run NAME ADDRESS PID SECONDS OUT: one wrk run, as one JSON line with the
# server's CPU time per request added (a figure that other tenants of a
# shared machine do not distort as much as requests/s).
run() {
  local before after
  before=$(cpu_ticks "$3")
  local keys="$work/keys.txt"
  [[ "$1" == baseline* ]] && keys="$baseline_keys"
  local oidc=""
  [[ "$1" == peer* ]] && oidc=1
  LATCHKEY_BENCH_OIDC="$oidc" LATCHKEY_BENCH_KEYS="$keys" wrk -t"$wrk_threads" -c"$connections" -d"$4"s --timeout 5s -s "$script" "http://$2/iam/login" >"$5"
  after=$(cpu_ticks "$3")
  grep '^JSON ' "$5" | sed 's/^JSON //' |
    sed "s/^{/{\"side\":\"$1\",\"server_cpu_ticks\":$((after - before)),/"
}
results="$work/results.ndjson"
: >"$results"
echo "warm-up: 3 s each" >&2
run latchkey-warmup "$server" "$server_pid" 3 "$work/wrk-warmup-latchkey.txt" >>"$results"
run floor-warmup "$floor" "$floor_pid" 3 "$work/wrk-warmup-floor.txt" >>"$results"
sides=(latchkey floor)
if [[ -n "$baseline_bin" ]]; then
  run baseline-warmup "$baseline" "$baseline_pid" 3 "$work/wrk-warmup-baseline.txt" >>"$results"
  sides+=(baseline)
fi
if [[ -n "$peer_pid" ]]; then
  run peer-warmup "$peer" "$peer_pid" 3 "$work/wrk-warmup-peer.txt" >>"$results"
  sides+=(peer)
fi
run_side() {
  case "$1" in
    latchkey) run latchkey "$server" "$server_pid" "$duration" "$work/wrk-latchkey-$2.txt" ;;
    floor) run floor "$floor" "$floor_pid" "$duration" "$work/wrk-floor-$2.txt" ;;
    baseline) run baseline "$baseline" "$baseline_pid" "$duration" "$work/wrk-baseline-$2.txt" ;;
    peer) run peer "$peer" "$peer_pid" "$duration" "$work/wrk-peer-$2.txt" ;;
  esac
}
for r in $(seq 1 "$rounds"); do
  echo "round $r of $rounds: ${duration} s each" >&2
  # Each round starts with the next side, so no side always runs first.
  n=${#sides[@]}
  for i in $(seq 0 $((n - 1))); do
    run_side "${sides[$(((r - 1 + i) % n))]}" "$r" >>"$results"
  done
done

# Durability: SIGKILL, no shutdown path; every 200 must be in the log.
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
kill -TERM "$floor_pid"
wait "$floor_pid" 2>/dev/null || true
floor_pid=""
if [[ -n "$baseline_pid" ]]; then
  kill -TERM "$baseline_pid"
  wait "$baseline_pid" 2>/dev/null || true
  baseline_pid=""
fi
if [[ -n "$peer_pid" ]]; then
  kill -TERM "$peer_pid"
  wait "$peer_pid" 2>/dev/null || true
  peer_pid=""
fi
issued=$("$bin" audit --data "$work/data" --type token.issued --format ndjson | wc -l)
verify=$("$bin" verify --data "$work/data" 2>&1) && verified=ok || verified="FAILED: $verify"

/usr/bin/python3 - "$results" "$issued" "$verified" "$connections" "$duration" "$rounds" <<'EOF'
import json, os, statistics, sys
path, issued, verified, conns, duration, rounds = sys.argv[1:7]
rows = [json.loads(l) for l in open(path) if l.strip()]
def side(name): return [r for r in rows if r["side"] == name]
lk, fl, bl, pe = side("latchkey"), side("floor"), side("baseline"), side("peer")
ok_latchkey = sum(r["requests"] - r["non2xx"] for r in rows if r["side"].startswith("latchkey"))
bad = sum(r["non2xx"] + r["timeouts"] + r["read_errors"] + r["connect_errors"]
          for r in rows if r["side"].startswith(("latchkey", "baseline")))
med = lambda rs, k: statistics.median(r[k] for r in rs)
ratios = [a["rps"] / b["rps"] for a, b in zip(lk, fl)]
print(f"login benchmark: {conns} connections, {rounds} rounds of {duration} s, wrk sharing the 2 cores")
print("| server | requests/s (median) | p50 ms | p99 ms | server CPU per request | rounds (requests/s) |")
print("|---|---|---|---|---|---|")
tick = os.sysconf("SC_CLK_TCK")
cpu_us = lambda rs: statistics.median(r["server_cpu_ticks"] / tick / r["requests"] * 1e6 for r in rs)
table = [("latchkey serve, POST /iam/login", lk), ("floor (bare Beast, fixed JSON)", fl)]
if bl:
    table.append(("baseline latchkey (BASELINE_BIN), POST /iam/login", bl))
if pe:
    table.append(("peer: oidc-provider (Node), client credentials, EdDSA JWT, in memory", pe))
for name, rs in table:
    print(f"| {name} | {med(rs, 'rps'):.0f} | {med(rs, 'p50_ms'):.2f} | {med(rs, 'p99_ms'):.2f} | "
          f"{cpu_us(rs):.0f} µs | " + ", ".join(f"{r['rps']:.0f}" for r in rs) + " |")
print(f"ratio latchkey/floor: {statistics.median(ratios) * 100:.0f}% (median of per-round ratios "
      + ", ".join(f"{x * 100:.0f}%" for x in ratios) + ")")
if bl:
    vs = [a["rps"] / b["rps"] for a, b in zip(lk, bl)]
    print(f"ratio latchkey/baseline: {statistics.median(vs) * 100:.0f}% (median of per-round ratios "
          + ", ".join(f"{x * 100:.0f}%" for x in vs) + ")")
if pe:
    vs = [a["rps"] / b["rps"] for a, b in zip(lk, pe)]
    peer_bad = sum(r["non2xx"] + r["timeouts"] + r["read_errors"] + r["connect_errors"] for r in pe)
    print(f"ratio latchkey/peer: {statistics.median(vs):.2f}x (median of per-round ratios "
          + ", ".join(f"{x:.2f}" for x in vs) + f"); peer responses other than 200 or errors: {peer_bad}")
print(f"latchkey responses other than 200 or errors: {bad}")
print(f"durability: {ok_latchkey} responses 200 received by wrk (warm-up included); "
      f"{issued} token.issued events in the log after SIGKILL; "
      + ("every 200 is logged" if int(issued) >= ok_latchkey else "MISSING EVENTS")
      + f" ({int(issued) - ok_latchkey} more events than 200s received: requests in flight when "
      "wrk stopped)")
print(f"latchkey verify: {verified}")
sys.exit(0 if int(issued) >= ok_latchkey and verified == "ok" else 1)
EOF
