#!/usr/bin/python3
"""Logs in to one project at a steady rate and reports the latency of each
login from its intended send time (so a stalled server is not hidden).

Usage: quiet_client.py BASE_URL HOST APIKEY SECRETKEY RATE SECONDS
Prints one JSON line {"rate","sent","errors","p50_ms","p99_ms","max_ms"}.
"""
import json
import sys
import time

import requests


def main():
    base, host, apikey, secret = sys.argv[1:5]
    rate, seconds = float(sys.argv[5]), float(sys.argv[6])
    s = requests.Session()
    body = {"auth_mode": "apikey", "apikey": apikey, "secretkey": secret}
    latencies, errors = [], 0
    start = time.monotonic()
    n = int(rate * seconds)
    for i in range(n):
        intended = start + i / rate
        now = time.monotonic()
        if now < intended:
            time.sleep(intended - now)
        r = s.post(base + "/iam/login", headers={"Host": host}, json=body)
        latencies.append((time.monotonic() - intended) * 1000)
        if r.status_code != 200:
            errors += 1
    latencies.sort()
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)
    print(json.dumps({"rate": rate, "sent": n, "errors": errors, "p50_ms": pick(0.5),
                      "p99_ms": pick(0.99), "max_ms": round(latencies[-1], 2)}))


if __name__ == "__main__":
    main()
