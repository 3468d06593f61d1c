#!/usr/bin/env bash
# Archiving (docs/data-lifecycle.md), side by side in one run:
#   1. builds (Release) latchkey; `latchkey init`; `latchkey serve` with no
#      archiving; logs in at full speed (wrk, 32 connections) for SECONDS
#      (default 40); stops it (a clean close flushes the memtables);
#   2. the live log's bytes per event before archiving (DATA/log);
#   3. restarts with data.archive_after_days set so that every event of step
#      1 is due, the first pass CHECK seconds (default 5) after the start, and
#      meanwhile logs in at a constant RATE (default 6000/s, open loop:
#      bench/loadgen, latency from each request's intended send time) for 30
#      s: the login tail while archiving, and the archiving rate (events/s,
#      from the server's "events archived" line: the snapshot, the segments,
#      the cut, the live copies removed and compacted);
#   4. restarted without archiving, the same load for 30 s: the tail beside it;
#   5. a restart with archiving on and nothing due, for one pass (it sheds
#      what the last cuts left in table files flushed after them); after a
#      stop: the live log's bytes (its files but the text LOG; and what the events younger than
#      the cut would take at step 2's bytes per event) and the archive's
#      bytes per event; `latchkey verify`.
# Environment: BUILD (default build/perf), SECONDS_LOAD (40), CHECK (5), RATE (6000),
# SETTINGS (server settings for every start, e.g.
# "data.write_buffer_bytes=16777216"), KEEP=1 keeps the work directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${BUILD:-$root/build/perf}"
load_seconds="${SECONDS_LOAD:-40}"
check="${CHECK:-5}"
rate="${RATE:-6000}"

"$root/tools/install-deps" bench
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DLATCHKEY_BENCH=ON >/dev/null
fi
cmake --build "$build" --target latchkey bench_loadgen >/dev/null
bin="$build/tools/latchkey"
py=/usr/bin/python3
script="$root/bench/login/login.lua"

work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-archive-bench.XXXXXX")
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

json() { "$py" -c "import json,sys; print(json.load(sys.stdin)$1)"; }
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
settings=()
for s in ${SETTINGS:-}; do settings+=(--set "$s"); done
start_server() {  # extra --set arguments
  "$bin" serve --data "$work/data" --listen "127.0.0.1:$port" --set server.access_log=off \
    --set server.metrics_public=true "${settings[@]}" "$@" >>"$work/server.out" 2>>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 200); do curl -fs "$base/healthz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "the server did not start" >&2; exit 1
}
stop_server() { kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""; }
metric() { curl -fs "$base/metrics" | awk -v n="$1" '$1 == n {print $2}'; }
open_loop() {  # JSON_FILE: RATE logins/s for 30 s
  "$build/bench/bench_loadgen" --address "127.0.0.1:$port" --rate "$rate" --duration 30 \
    --connections 32 --keys "$work/keys.txt" --json "$1" --quiet >/dev/null
}
wrk_run() {  # SECONDS -> the JSON summary line of login.lua
  LATCHKEY_BENCH_KEYS="$work/keys.txt" wrk -t2 -c32 -d"$1"s --timeout 5s --latency -s "$script" \
    "$base/iam/login" | grep '^JSON ' | sed 's/^JSON //'
}

"$bin" init --data "$work/data" >"$work/init.json" 2>/dev/null
start_server
admin=$(curl -fs "$base/iam/login" -H 'content-type: application/json' \
  -d "{\"auth_mode\":\"apikey\",\"apikey\":\"$(json "['apikey']" <"$work/init.json")\",\"secretkey\":\"$(json "['secretkey']" <"$work/init.json")\"}" |
  json "['access_token']")
auth=(-H "authorization: Bearer $admin" -H 'content-type: application/json')
: >"$work/keys.txt"
for i in $(seq 8); do
  user=$(curl -fs "$base/iam/users" "${auth[@]}" -d "{\"name\":\"Archive Bench $i\",\"email\":\"ab$i@example.org\"}" | json "['id']")
  key=$(curl -fs "$base/iam/users/$user/keys" "${auth[@]}" -d '{}')
  echo "$(json "['apikey']" <<<"$key") $(json "['secretkey']" <<<"$key")" >>"$work/keys.txt"
done

echo "step 1: logins at full speed for $load_seconds s..." >&2
wrk_run "$load_seconds" >"$work/load.json"
events_before=$(curl -fs "$base/readyz" | json "['seq']")
stop_server
t_end=$("$py" -c 'import time; print(time.time())')
# The live log's files: RocksDB's tables, write-ahead log and manifest, not
# its text LOG (diagnostics, bounded).
live_bytes() { find "$work/data/log" -type f ! -name 'LOG*' -printf '%s\n' | awk '{s += $1} END {print s}'; }
live_before=$(live_bytes)

echo "step 3: archiving $events_before events while logging in..." >&2
# Everything up to now is older than the cut CHECK seconds from now; what
# step 3 writes is not (it is younger than archive_after_days by then).
sleep 1
after_days=$("$py" -c "print(1.0 / 86400)")
start_server --set "data.archive_after_days=$after_days" --set "data.archive_check_seconds=$check" \
  --set data.archive_min_events=1
open_loop "$work/during.json"
for _ in $(seq 600); do
  due=$(metric latchkey_archive_due_events || echo x)
  passes=$(metric latchkey_archive_passes_total || echo 0)
  [[ "$due" == 0 && "${passes%.*}" -ge 1 ]] && break
  sleep 0.5
done
echo "step 4: the same load with nothing to archive..." >&2
stop_server
start_server
open_loop "$work/beside.json"
events_after=$(curl -fs "$base/readyz" | json "['seq']")
stop_server
# What the last cuts left in table files flushed after them goes at the
# archiver's next pass (data-lifecycle.md): one pass with nothing due.
start_server --set data.archive_after_days=1 --set "data.archive_check_seconds=$check"
for _ in $(seq 200); do
  [[ "$(metric latchkey_archive_passes_total || echo 0)" != 0 ]] && break
  sleep 0.1
done
stop_server
live_after=$(live_bytes)
archive_bytes=$(du -sb "$work/data/archive" | cut -f1)
"$bin" verify --data "$work/data" --quiet --format json >"$work/verify.json"

"$py" - "$work" "$events_before" "$events_after" "$live_before" "$live_after" "$archive_bytes" <<'PY'
import json, sys, re
work, before, after, live_before, live_after, archive_bytes = sys.argv[1], *map(int, sys.argv[2:])
load = json.load(open(f"{work}/load.json"))
during = json.load(open(f"{work}/during.json"))
beside = json.load(open(f"{work}/beside.json"))
def tail(run):
    s = run["summary"]
    lat = s["latency"]
    worst = max(run["seconds"], key=lambda r: r["p99_ms"])
    return (f"p50 {lat['p50_ms']:.2f}, p99 {lat['p99_ms']:.2f}, p99.9 {lat['p99.9_ms']:.2f}, "
            f"max {lat['max_ms']:.1f} ms at {s['achieved_rps']:.0f}/s, errors "
            f"{s['non2xx'] + s['connection_errors'] + s['timeouts']}; worst second's p99 "
            f"{worst['p99_ms']:.1f} ms (second {worst['second']})")
verify = json.load(open(f"{work}/verify.json"))
cuts = [json.loads(l) for l in open(f"{work}/server.err") if '"events archived"' in l]
default_cuts = [c for c in cuts if c.get("project") == "default"]
archived = verify["archived_events"]
biggest = max(default_cuts, key=lambda c: c["events"])
per_event_before = live_before / before
live_events = after - archived
print(f"step 1: {load['rps']:.0f} logins/s for the load; {before} events, live log {live_before} B "
      f"= {per_event_before:.0f} B/event")
print(f"archiving: {biggest['events']} events in {biggest['seconds']:.2f} s = "
      f"{biggest['events'] / biggest['seconds']:.0f} events/s (the largest cut of the default project)")
print(f"  its steps: snapshot {biggest['snapshot_seconds']:.2f} s, segments "
      f"{biggest['write_seconds']:.2f} s, cut and live copies removed {biggest['cut_seconds']:.2f} s")
print(f"logins while archiving: {tail(during)}")
print(f"logins beside it, nothing archiving: {tail(beside)}")
print(f"after: {archived} events archived, {live_events} live; live log {live_after} B, "
      f"{live_after / (live_events * per_event_before):.2f}x what {live_events} events took before; "
      f"archive {archive_bytes} B = {archive_bytes / archived:.0f} B/event, "
      f"{archive_bytes / archived / per_event_before:.0%} of the live log's bytes per event")
print(f"verify: ok={verify['ok']}, {verify['events']} events, {verify['archived_events']} from archives")
PY
