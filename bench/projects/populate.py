#!/usr/bin/python3
"""Creates projects through the platform API of a running latchkey, each with
principals and keys, and writes the keys for wrk (bench/login/login.lua):
one line "HOST apikey secretkey" per key.

Usage: populate.py BASE_URL PLATFORM_APIKEY PLATFORM_SECRETKEY PROJECTS
       PRINCIPALS KEYS_PER_PRINCIPAL OUT_KEYS [THREADS] [PREFIX]
Prints one JSON line: {"projects":..,"create_seconds":..,"projects_per_second":..,
"populate_seconds":..,"principals":..,"keys":..}. Needs Debian's python3-requests.
"""
import json
import sys
import threading
import time
from urllib.parse import urlparse

import requests


def main():
    base, op_key, op_secret = sys.argv[1], sys.argv[2], sys.argv[3]
    projects, principals, keys_per = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    out_path = sys.argv[7]
    threads = int(sys.argv[8]) if len(sys.argv) > 8 else 4
    prefix = sys.argv[9] if len(sys.argv) > 9 else "p"
    port = urlparse(base).port
    session = requests.Session()
    r = session.post(base + "/platform/login",
                     json={"auth_mode": "apikey", "apikey": op_key, "secretkey": op_secret})
    r.raise_for_status()
    op = {"Authorization": "Bearer " + r.json()["access_token"]}

    ids = [f"{prefix}{i:05d}" for i in range(projects)]
    admins = {}
    lock = threading.Lock()

    def create(chunk):
        s = requests.Session()
        for pid in chunk:
            r = s.post(base + "/platform/projects", json={"id": pid, "name": pid}, headers=op)
            if r.status_code != 201:
                raise SystemExit(f"create {pid}: {r.status_code} {r.text}")
            with lock:
                admins[pid] = r.json()["admin"]

    def run(fn, items):
        chunks = [items[i::threads] for i in range(threads)]
        ts = [threading.Thread(target=fn, args=(c,)) for c in chunks]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    t0 = time.monotonic()
    run(create, ids)
    create_seconds = time.monotonic() - t0

    lines = []

    def populate(chunk):
        s = requests.Session()
        for pid in chunk:
            host = f"{pid}.localhost:{port}"
            a = admins[pid]
            r = s.post(base + "/iam/login", headers={"Host": host},
                       json={"auth_mode": "apikey", "apikey": a["apikey"], "secretkey": a["secretkey"]})
            r.raise_for_status()
            h = {"Host": host, "Authorization": "Bearer " + r.json()["access_token"]}
            mine = []
            for n in range(principals):
                r = s.post(base + "/iam/users", headers=h,
                           json={"name": f"user {n}", "email": f"u{n}@{pid}.test"})
                r.raise_for_status()
                uid = r.json()["id"]
                for _ in range(keys_per):
                    r = s.post(base + f"/iam/users/{uid}/keys", headers=h, json={})
                    r.raise_for_status()
                    k = r.json()
                    mine.append(f"{host} {k['apikey']} {k['secretkey']}")
            with lock:
                lines.extend(mine)

    t1 = time.monotonic()
    run(populate, ids)
    populate_seconds = time.monotonic() - t1
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(json.dumps({"projects": projects, "create_seconds": round(create_seconds, 2),
                      "projects_per_second": round(projects / create_seconds, 1),
                      "populate_seconds": round(populate_seconds, 2),
                      "principals": projects * principals, "keys": len(lines)}))


if __name__ == "__main__":
    main()
