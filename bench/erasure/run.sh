#!/usr/bin/env bash
# Erasure of a principal with many events (docs/data-lifecycle.md):
#   1. builds (Release) latchkey; `latchkey init` on a new temporary data
#      directory; starts `latchkey serve` on a free loopback port;
#   2. creates a user (name, email) with one key, and logs in with that key
#      until the user has EVENTS events (default 100,000), with wrk;
#   3. times POST /iam/users/{id}/erase (the event, the snapshots rewritten
#      and compacted, the data key destroyed), then a repeat of it;
#   4. checks that the user's events read "[erased]" and that no file of the
#      data directory holds the name or the email in clear, and runs
#      `latchkey verify`.
# Environment: BUILD (default build/perf), EVENTS (100000), KEEP=1 keeps the
# work directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${BUILD:-$root/build/perf}"
events="${EVENTS:-100000}"

"$root/tools/install-deps" bench
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DLATCHKEY_BENCH=ON >/dev/null
fi
cmake --build "$build" --target latchkey >/dev/null
bin="$build/tools/latchkey"
py=/usr/bin/python3

work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-erasure-bench.XXXXXX")
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  if [[ "${KEEP:-0}" == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

json() { "$py" -c "import json,sys; print(json.load(sys.stdin)$1)"; }

"$bin" init --data "$work/data" >"$work/init.json" 2>/dev/null
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data "$work/data" --listen "127.0.0.1:$port" --set server.access_log=off \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

login() {
  curl -fs "$base/iam/login" -H 'content-type: application/json' \
    -d "{\"auth_mode\":\"apikey\",\"apikey\":\"$1\",\"secretkey\":\"$2\"}" | json "['access_token']"
}
admin=$(login "$(json "['apikey']" <"$work/init.json")" "$(json "['secretkey']" <"$work/init.json")")
auth=(-H "authorization: Bearer $admin" -H 'content-type: application/json')
name="Erasure Benchmark $$"
email="erasure.benchmark.$$@example.org"
user=$(curl -fs "$base/iam/users" "${auth[@]}" -d "{\"name\":\"$name\",\"email\":\"$email\"}" | json "['id']")
key=$(curl -fs "$base/iam/users/$user/keys" "${auth[@]}" -d '{"description":"laptop of '"$name"'"}')
echo "$(json "['apikey']" <<<"$key") $(json "['secretkey']" <<<"$key")" >"$work/keys.txt"

echo "logging in until $user has $events events..."
done_n=0
while ((done_n < events)); do
  LATCHKEY_BENCH_KEYS="$work/keys.txt" wrk -t2 -c16 -d5s -s "$root/bench/login/login.lua" \
    "$base/iam/login" >"$work/wrk.txt"
  n=$(grep -o '"requests":[0-9]*' "$work/wrk.txt" | cut -d: -f2)
  done_n=$((done_n + n))
done
seq_before=$(curl -fs "$base/readyz" | json "['seq']")
log_bytes=$(du -sb "$work/data/log" | cut -f1)
echo "$done_n logins; log head $seq_before; log directory $log_bytes bytes"
clear_before=$(grep -rlaF "$name" "$work/data" | wc -l || true)

t=$(curl -s -o "$work/erase.json" -w '%{time_total}' -X POST "$base/iam/users/$user/erase" "${auth[@]}")
t2=$(curl -s -o /dev/null -w '%{time_total}' -X POST "$base/iam/users/$user/erase" "${auth[@]}")
grep -q '"erased":true' "$work/erase.json" || { echo "erase failed: $(cat "$work/erase.json")" >&2; exit 1; }
erased=$(curl -fs "$base/iam/audit?principal_id=$user&type=token.issued&limit=1" "${auth[@]}" | json "['events'][0]['source_ip']")
clear_after=$(grep -rlaF -e "$name" -e "$email" "$work/data" | wc -l || true)
kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""
"$bin" verify --data "$work/data" >/dev/null

echo
echo "| principal's events | POST .../erase | repeated | source_ip of its logins after | files with the name or email in clear (before, after) |"
echo "|---|---|---|---|---|"
echo "| $done_n logins (head $seq_before) | ${t} s | ${t2} s | $erased | $clear_before, $clear_after |"
[[ "$clear_after" == 0 ]] || { echo "personal data left in clear" >&2; exit 1; }
