#!/usr/bin/env bash
# Open-loop login load (docs/benchmarks.md, "Open-loop load"), start to finish:
#   1. builds (Release) latchkey, the key generator and the load generator;
#   2. `latchkey init` on a new temporary data directory, then 10,000 keys
#      (2,000 users x 5) written into its log by bench_login_keys, as run.sh;
#   3. starts `latchkey serve` (access log on, to a file) on 127.0.0.1, port
#      chosen at run time;
#   4. unless --rate is given, measures the peak with wrk (closed loop, 32
#      connections, login.lua, a 3 s warm-up then --peak-seconds) and takes
#      --fraction (80%) of it;
#   5. runs bench_loadgen at that constant rate for --duration seconds after a
#      --warmup, latency measured from each request's intended send time,
#      while the server's resident memory (VmRSS) is sampled every --sample s;
#   6. kills the server with SIGKILL, then starts it twice on that data
#      directory and times each start-up, from exec to /healthz 200 (the
#      first recovers RocksDB's write-ahead log; the second follows a clean
#      stop);
#   7. counts the token.issued events in the log and checks that every 200
#      received (wrk's and the generator's) is one of them; runs `latchkey
#      verify`;
#   8. prints the generator's summary, the memory growth per million logins,
#      the durability verdict and the two start-up times. Exits non-zero if a
#      200 is missing from the log, verify fails, or the generator saw errors.
#
# Usage: bench/login/open_loop.sh [--duration 60] [--rate R | --fraction 0.8]
#          [--warmup 5] [--connections 64] [--peak-seconds 10] [--sample 5]
#          [--json FILE]
# The project's target run: bench/login/open_loop.sh --duration 600
# Environment as run.sh: BUILD (default build/perf), LATCHKEY_BIN, KEEP=1
# keeps the work directory, TMPDIR places it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${BUILD:-$root/build/perf}"
duration=60
rate=""
fraction=0.8
warmup=5
connections=64
peak_seconds=10
sample=5
json_out=""
users=2000
keys_per_user=5

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --fraction) fraction="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --peak-seconds) peak_seconds="$2"; shift 2 ;;
    --sample) sample="$2"; shift 2 ;;
    --json) json_out="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "open_loop.sh: unknown argument $1" >&2; usage ;;
  esac
done

"$root/tools/install-deps" bench
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DLATCHKEY_BENCH=ON >/dev/null
fi
cmake --build "$build" --target latchkey bench_login_keys bench_loadgen >/dev/null
bin="${LATCHKEY_BIN:-$build/tools/latchkey}"

work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-open-loop.XXXXXX")
server_pid=""
sampler_pid=""
cleanup() {
  [[ -n "$sampler_pid" ]] && kill "$sampler_pid" 2>/dev/null || true
  [[ -n "$server_pid" ]] && kill -KILL "$server_pid" 2>/dev/null || true
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$bin" init --data "$work/data" >/dev/null 2>&1
"$build/bench/bench_login_keys" --data "$work/data" --out "$work/keys.txt" \
  --users "$users" --keys-per-user "$keys_per_user"

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
server=$(address_in "$work/server.log")
echo "latchkey serve on $server (pid $server_pid), work directory $work" >&2

# The peak, closed loop: what the server serves when every connection sends
# its next request as soon as it has an answer.
wrk_ok=0
if [[ -z "$rate" ]]; then
  export LATCHKEY_BENCH_KEYS="$work/keys.txt"
  script="$root/bench/login/login.lua"
  echo "peak: wrk, 32 connections, 3 s warm-up then ${peak_seconds} s" >&2
  wrk -t2 -c32 -d3s --timeout 5s -s "$script" "http://$server/iam/login" >"$work/wrk-warmup.txt"
  wrk -t2 -c32 -d"${peak_seconds}"s --timeout 5s -s "$script" "http://$server/iam/login" \
    >"$work/wrk-peak.txt"
  read -r peak wrk_ok < <(cat "$work/wrk-warmup.txt" "$work/wrk-peak.txt" | grep '^JSON ' |
    sed 's/^JSON //' | /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
print(round(rows[-1]["rps"]), sum(r["requests"] - r["non2xx"] for r in rows))')
  rate=$(/usr/bin/python3 -c "print(max(1, int($peak * $fraction)))")
  echo "peak: $peak logins/s (closed loop); open-loop rate: $rate/s ($fraction of it)" >&2
else
  peak=""
fi

# VmRSS of the server every $sample s, as "seconds_since_start kB" lines.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
(
  start=$(date +%s.%N)
  while kill -0 "$server_pid" 2>/dev/null; do
    awk -v now="$(date +%s.%N)" -v start="$start" -v kb="$(rss_kb "$server_pid")" \
      'BEGIN { if (kb != "") printf "%.2f %s\n", now - start, kb }'
    sleep "$sample"
  done
) >"$work/rss.txt" &
sampler_pid=$!

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_before=$(cpu_ticks "$server_pid")
set +e
"$build/bench/bench_loadgen" --address "$server" --rate "$rate" --duration "$duration" \
  --warmup "$warmup" --connections "$connections" --keys "$work/keys.txt" \
  --json "$work/loadgen.json" | tee "$work/loadgen.txt"
gen_status=${PIPESTATUS[0]}
set -e
cpu_after=$(cpu_ticks "$server_pid")
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
[[ -n "$json_out" ]] && cp "$work/loadgen.json" "$json_out"
if [[ "$gen_status" -ne 0 ]]; then
  echo "open_loop.sh: bench_loadgen failed ($gen_status)" >&2
  exit 1
fi

# Durability: SIGKILL, no shutdown path; every 200 must be in the log.
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""

# Start-up after the run: from exec to /healthz 200, on the data the killed
# server left (the first restart also recovers RocksDB's write-ahead log),
# then once more after a clean stop.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
startup_seconds() {
  local port t0 t1
  port=$(free_port)
  t0=$(date +%s.%N)
  "$bin" serve --data "$work/data" --listen "127.0.0.1:$port" --set server.access_log=off \
    >/dev/null 2>>"$work/restart.log" &
  server_pid=$!
  local up=""
  for _ in $(seq 1 3000); do
    if curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"; then up=1; break; fi
    sleep 0.005
  done
  t1=$(date +%s.%N)
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  if [[ -n "$up" ]]; then
    /usr/bin/python3 -c "print(f'{$t1 - $t0:.3f} s')"
  else
    echo "no /healthz 200 within 15 s (see restart.log)"
  fi
}
startup_first=$(startup_seconds)
startup_second=$(startup_seconds)
issued=$("$bin" audit --data "$work/data" --type token.issued --format ndjson | wc -l)
verify=$("$bin" verify --data "$work/data" 2>&1) && verified=ok || verified="FAILED: $verify"

set +e
/usr/bin/python3 - "$work/loadgen.json" "$work/rss.txt" "$issued" "$verified" "$wrk_ok" \
  "${peak:-}" "$warmup" "$((cpu_after - cpu_before))" <<'EOF'
import json, os, sys
path, rss_path, issued, verified, wrk_ok, peak, warmup, cpu_ticks = sys.argv[1:9]
issued, wrk_ok, warmup = int(issued), int(wrk_ok), float(warmup)
g = json.load(open(path))
c, s = g["config"], g["summary"]
rss = [tuple(map(float, l.split())) for l in open(rss_path) if len(l.split()) == 2]

print()
print(f"open-loop login: {c['rate']}/s" + (f" ({c['rate'] / float(peak) * 100:.0f}% of a "
      f"closed-loop peak of {float(peak):.0f}/s)" if peak else "") +
      f" over {c['connections']} connections, {c['duration_s']} s after {c['warmup_s']} s of warm-up")
lat = s["latency"]
print("| achieved /s | p50 ms | p90 ms | p99 ms | p99.9 ms | p99.99 ms | max ms | errors | waited for a connection |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
errors = s["non2xx"] + s["connection_errors"] + s["timeouts"]
print(f"| {s['achieved_rps']:.0f} | {lat['p50_ms']:.2f} | {lat['p90_ms']:.2f} | {lat['p99_ms']:.2f} | "
      f"{lat['p99.9_ms']:.2f} | {lat['p99.99_ms']:.2f} | {lat['max_ms']:.2f} | {errors} | {s['queued']} |")
tick = os.sysconf("SC_CLK_TCK")
if s["sent_total"]:
    print(f"server CPU per login: {int(cpu_ticks) / tick / s['sent_total'] * 1e6:.0f} µs; "
          f"generator: {s['cpu_s'] / s['sent_total'] * 1e6:.1f} µs per request")

# Memory: the generator's clock starts about when the sampler does; requests
# are sent at a constant rate, so logins so far = rate x (t - start) while the
# server keeps up. The slope of a least-squares line through the samples of
# the measured window gives the growth per login, free of the start-up jump.
def slope(points):
    n = len(points)
    if n < 2: return None
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    d = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / d if d else None
if rss:
    window = [p for p in rss if warmup <= p[0] <= warmup + c["duration_s"]]
    first, last = rss[0], rss[-1]
    ok = s["ok_total"]
    print(f"server VmRSS: {first[1] / 1024:.1f} MiB before the generator, {last[1] / 1024:.1f} MiB "
          f"at its end, max {max(p[1] for p in rss) / 1024:.1f} MiB ({len(rss)} samples)")
    if ok:
        print(f"  growth per million logins, end minus start: "
              f"{(last[1] - first[1]) / 1024 / ok * 1e6:.1f} MiB ({ok} logins)")
    k = slope(window)
    if k is not None and s["achieved_rps"] > 0:
        print(f"  growth per million logins, fitted over the measured window: "
              f"{k / 1024 / s['achieved_rps'] * 1e6:.1f} MiB ({len(window)} samples)")
ok_all = s["ok_total"] + wrk_ok
print(f"durability: {ok_all} responses 200 received ({wrk_ok} by wrk, {s['ok_total']} by the "
      f"generator, warm-ups included); {issued} token.issued events in the log after SIGKILL; "
      + ("every 200 is logged" if issued >= ok_all else "MISSING EVENTS")
      + f" ({issued - ok_all} more events than 200s: requests answered after their timeout, or "
      "in flight at the end)")
print(f"latchkey verify: {verified}")
if s["generator_behind"]:
    print("the generator fell behind its schedule: see its WARNING above")
sys.exit(0 if issued >= ok_all and verified == "ok" and errors == 0 else 1)
EOF
summary_status=$?
set -e
echo "start-up after the run (exec to /healthz 200): ${startup_first} after the SIGKILL, then ${startup_second}"
exit "$summary_status"
