#!/usr/bin/env bash
# Projects at scale, start to finish (figures in docs/benchmarks.md):
#   1. builds latchkey (Release, BUILD, default build/perf);
#   2. `latchkey init` on a new temporary directory, `latchkey serve` (access
#      log off) on a port chosen at run time;
#   3. populate.py creates PROJECTS projects (10,000) through the platform API,
#      each with PRINCIPALS users (5) and KEYS keys in all (10), and one
#      project "solo" holding as many keys as the first SPREAD projects
#      together; prints projects/s;
#   4. the server's resident memory before and after (every project loaded),
#      per key and per project;
#   5. a restart: time from start to "listening", then the first login of
#      every project (each project's views are loaded on its first request):
#      the growth of resident memory from there is what the loaded projects
#      and their keys cost (the memtables the restart refilled from the WAL
#      are in both figures);
#   6. logins, wrk with 32 connections, alternating ROUNDS rounds of DURATION
#      seconds: spread over the SPREAD projects' keys (Host per request) and all
#      to "solo"; medians and their ratio;
#   7. a noisy neighbour: wrk floods "solo" at full speed while
#      bench_loadgen (open loop) logs in to one other project at 100/s; its
#      p50/p99 from each login's intended send time.
# Environment: PROJECTS, PRINCIPALS, KEYS, SPREAD (1000), DURATION (10),
# ROUNDS (3), THREADS (populate's clients, 4), KEEP=1 keeps the work directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${BUILD:-$root/build/perf}"
projects="${PROJECTS:-10000}"
principals="${PRINCIPALS:-5}"
keys="${KEYS:-10}"
spread="${SPREAD:-1000}"
duration="${DURATION:-10}"
rounds="${ROUNDS:-3}"
threads="${THREADS:-4}"
(( spread <= projects )) || spread=$projects
py=/usr/bin/python3

"$root/tools/install-deps" bench
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DLATCHKEY_BENCH=ON >/dev/null
fi
cmake --build "$build" --target latchkey bench_loadgen >/dev/null
bin="${LATCHKEY_BIN:-$build/tools/latchkey}"
work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-projects-bench.XXXXXX")
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" || true
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$bin" init --data "$work/data" >"$work/init.json" 2>/dev/null
op_key=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["platform"]["apikey"])' "$work/init.json")
op_secret=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["platform"]["secretkey"])' "$work/init.json")
rm "$work/init.json"  # no secret stays behind

start_server() {
  : >"$work/server.log"
  local t0
  t0=$(date +%s.%N)
  "$bin" serve --data "$work/data" --listen 127.0.0.1:${port:-0} --set server.access_log=off \
    --set server.metrics_public=true >/dev/null 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 1 600); do
    if grep -q '"msg":"listening"' "$work/server.log"; then break; fi
    sleep 0.01
  done
  started_seconds=$("$py" -c "print($(date +%s.%N) - $t0)")
  port=$(grep '"msg":"listening"' "$work/server.log" | head -1 | grep -o '"address":"[^"]*"' |
    sed 's/.*:\([0-9]*\)"/\1/')
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }
# RocksDB's block cache and memtables (bytes, from /metrics): shared by all
# projects and bounded by their configured sizes, so reported apart.
rocks_bytes() {
  curl -s "http://127.0.0.1:$port/metrics" |
    awk '/^latchkey_rocksdb_(block_cache|memtable)_bytes / {s += $2} END {printf "%d", s}'
}

start_server
base="http://127.0.0.1:$port"
rss_empty=$(rss_kib)
echo "latchkey on $base (pid $server_pid), resident ${rss_empty} KiB" >&2
per_principal=$(( (keys + principals - 1) / principals ))
"$py" "$root/bench/projects/populate.py" "$base" "$op_key" "$op_secret" "$projects" \
  "$principals" "$per_principal" "$work/keys.txt" "$threads" | tee "$work/populate.json"
# "solo": one project with as many keys as the SPREAD projects together.
solo_principals=$(( spread * principals ))
"$py" "$root/bench/projects/populate.py" "$base" "$op_key" "$op_secret" 1 \
  "$solo_principals" "$per_principal" "$work/solo.txt" "$threads" solo >/dev/null
rss_full=$(rss_kib)
total_keys=$(wc -l <"$work/keys.txt")

kill -TERM "$server_pid"; wait "$server_pid" || true
start_server
startup=$started_seconds
rss_restarted=$(rss_kib)
rocks_restarted=$(rocks_bytes)
head -n $(( spread * principals * per_principal )) "$work/keys.txt" >"$work/spread.txt"
# First login of every project (loads its views), timed.
t0=$(date +%s.%N)
"$py" - "$base" "$work/keys.txt" <<'PY'
import sys, requests
base, path = sys.argv[1], sys.argv[2]
seen = set()
s = requests.Session()
for line in open(path):
    host, k, sec = line.split()
    if host in seen: continue
    seen.add(host)
    r = s.post(base + "/iam/login", headers={"Host": host},
               json={"auth_mode": "apikey", "apikey": k, "secretkey": sec})
    r.raise_for_status()
PY
first_logins=$("$py" -c "print($(date +%s.%N) - $t0)")
rss_loaded=$(rss_kib)
rocks_loaded=$(rocks_bytes)

script="$root/bench/login/login.lua"
wrk_run() {  # KEYS_FILE SECONDS -> requests/s
  LATCHKEY_BENCH_KEYS="$1" wrk -t2 -c32 -d"$2"s --timeout 5s -s "$script" "$base/iam/login" |
    grep '^JSON ' | sed 's/^JSON //' | "$py" -c 'import json,sys; print(json.load(sys.stdin)["rps"])'
}
wrk_run "$work/spread.txt" 3 >/dev/null
wrk_run "$work/solo.txt" 3 >/dev/null
spread_rps=()
solo_rps=()
for _ in $(seq 1 "$rounds"); do
  spread_rps+=("$(wrk_run "$work/spread.txt" "$duration")")
  solo_rps+=("$(wrk_run "$work/solo.txt" "$duration")")
done

# Noisy neighbour: solo flooded, the quiet project at 100 logins/s, measured
# by the open-loop generator (latency from each login's intended send time).
read -r quiet_host quiet_key quiet_secret < <(sed -n 1p "$work/keys.txt")
echo "$quiet_key $quiet_secret" >"$work/quiet.txt"
LATCHKEY_BENCH_KEYS="$work/solo.txt" wrk -t2 -c32 -d"$((duration + 5))"s --timeout 5s -s "$script" \
  "$base/iam/login" >"$work/flood.txt" &
flood_pid=$!
sleep 2
"$build/bench/bench_loadgen" --address "127.0.0.1:$port" --host "$quiet_host" \
  --keys "$work/quiet.txt" --rate 100 --duration "$duration" --warmup 1 --connections 4 \
  --quiet --json "$work/quiet.json" >/dev/null
rm -f "$work/quiet.txt"
quiet_json=$("$py" -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; l=s["latency"]
print(json.dumps({"rate": 100, "p50_ms": round(l["p50_ms"], 2), "p99_ms": round(l["p99_ms"], 2),
                  "max_ms": round(l["max_ms"], 2),
                  "errors": s["non2xx"] + s["connection_errors"] + s["timeouts"]}))' "$work/quiet.json")
wait "$flood_pid" || true
flood_rps=$(grep '^JSON ' "$work/flood.txt" | sed 's/^JSON //' |
  "$py" -c 'import json,sys; print(json.load(sys.stdin)["rps"])')

"$py" - <<PY
import json, statistics
pop = json.load(open("$work/populate.json"))
spread = [float(x) for x in "${spread_rps[*]}".split()]
solo = [float(x) for x in "${solo_rps[*]}".split()]
quiet = json.loads('$quiet_json')
projects = pop["projects"] + 1
keys = pop["keys"] + $solo_principals * $per_principal
grown = ($rss_full - $rss_empty) * 1024
loaded = ($rss_loaded - $rss_restarted) * 1024
print(f"projects: {pop['projects']} created in {pop['create_seconds']} s "
      f"({pop['projects_per_second']} projects/s), then {pop['principals']} principals and "
      f"{pop['keys']} keys in {pop['populate_seconds']} s")
print(f"resident memory: empty {$rss_empty} KiB, after creating them all {$rss_full} KiB "
      f"(memtables included)")
print(f"restart: listening after {$startup:.3f} s, resident {$rss_restarted} KiB; first login of "
      f"each of {pop['projects']} projects {float('$first_logins'):.2f} s, then resident "
      f"{$rss_loaded} KiB: {loaded / pop['keys']:.0f} B per key if all of it were keys, "
      f"{(loaded - 400 * pop['keys']) / pop['projects'] / 1024:.1f} KiB per project beyond "
      f"400 B per key")
rocks = $rocks_loaded - $rocks_restarted
print(f"  of which RocksDB's block cache and memtables grew {rocks / 1048576:.1f} MiB (bounded by "
      f"their configured sizes); without them {(loaded - rocks - 400 * pop['keys']) / pop['projects'] / 1024:.1f} "
      f"KiB per project beyond 400 B per key")
print(f"logins/s, 32 connections, median of {len(spread)}: spread over $spread projects "
      f"{statistics.median(spread):.0f}, one project {statistics.median(solo):.0f}, ratio "
      f"{statistics.median(spread) / statistics.median(solo):.2f}  (rounds {spread} / {solo})")
print(f"noisy neighbour: flood {float('$flood_rps'):.0f} logins/s on one project; the quiet "
      f"project at {quiet['rate']}/s: p50 {quiet['p50_ms']} ms, p99 {quiet['p99_ms']} ms, "
      f"max {quiet['max_ms']} ms, {quiet['errors']} errors")
PY
