-- wrk script of bench/login: POST /iam/login with the JSON body of the
-- contract, cycling through the keys in the file named by
-- $LATCHKEY_BENCH_KEYS ("apikey secretkey" per line, or "host apikey
-- secretkey" to send each login with that Host: a project), each wrk thread
-- starting at a different key. At the end prints one line
--   JSON {"requests":..,"non2xx":..,"rps":..,"p50_ms":..,"p99_ms":..,...}
-- that bench/login/run.sh collects. Also works against the floor server,
-- which answers every request alike. With LATCHKEY_BENCH_OIDC set, sends the
-- client-credentials grant of the peer server in ../shared/peers/oidc
-- instead (POST /token, one client).

local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  local oidc = os.getenv("LATCHKEY_BENCH_OIDC")
  if oidc and oidc ~= "" then
    requests = { wrk.format("POST", "/token",
      { ["Content-Type"] = "application/x-www-form-urlencoded" },
      "grant_type=client_credentials&client_id=bench-client" ..
      "&client_secret=bench-secret-0123456789abcdef") }
    next_request = 0
    return
  end
  local path = os.getenv("LATCHKEY_BENCH_KEYS")
  if not path then
    error("set LATCHKEY_BENCH_KEYS to the file of apikey/secretkey pairs")
  end
  requests = {}
  for line in io.lines(path) do
    local headers = { ["Content-Type"] = "application/json" }
    local host, apikey, secret = line:match("^(%S+) (%S+) (%S+)$")
    if host then
      headers["Host"] = host
    else
      apikey, secret = line:match("^(%S+) (%S+)$")
    end
    if apikey then
      local body = '{"auth_mode":"apikey","apikey":"' .. apikey .. '","secretkey":"' .. secret .. '"}'
      requests[#requests + 1] = wrk.format("POST", "/iam/login", headers, body)
    end
  end
  if #requests == 0 then
    error("no keys in " .. path)
  end
  next_request = ((id or 0) * 7919) % #requests
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"non2xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_ms":%.3f,"p90_ms":%.3f,' ..
    '"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, seconds, summary.requests / seconds, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
