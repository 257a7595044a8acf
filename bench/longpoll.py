#!/usr/bin/env python3
"""bench/longpoll.py: N long polls of GET /v1/events on one herald-api; see bench/longpoll."""
import argparse
import asyncio
import os
import subprocess
import time
import json


def sql(*qs):
    argv = ["psql", os.environ["HERALD_DATABASE_URL"], "-XAqt"]
    for q in qs:
        argv += ["-c", q]  # each -c its own transaction, in one session
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


async def poll(port, key, after, answered):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    q = "/v1/events?wait=30" + ("&after=" + after if after else "")
    w.write(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (q, key)).encode())
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    t = time.time()
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await r.readexactly(length)
    answered.append((t, head.split(b" ")[1], body))
    w.close()


def gauge(port):
    out = subprocess.run(["curl", "-fs", "http://127.0.0.1:%d/metrics" % port],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("herald_events_waiting "):
            return float(line.split()[1])
    return -1


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def round_(a, after):
    answered = []
    tasks = [asyncio.create_task(poll(a.port, a.key, after, answered)) for _ in range(a.clients)]
    end = time.monotonic() + 60
    while gauge(a.port) < a.clients and time.monotonic() < end:
        await asyncio.sleep(0.1)
    held = gauge(a.port)
    rss = rss_kb(a.api_pid)
    conns = sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                " AND datname = current_database()")
    nid = sql("INSERT INTO notifications (id, tenant_id, channel, recipient, body, created_at,"
              " updated_at, due_at, in_stream) SELECT gen_random_uuid(), id, 'webhook',"
              " 'https://example.com/', 'x', now(), now(), now() + interval '1 hour', false"
              " FROM tenants WHERE name = 'longpoll' RETURNING id").splitlines()[0]
    t0 = time.time()
    # the database's clock just after the commit (the same machine's clock as ours)
    committed = float(sql("UPDATE notifications SET status = 'cancelled' WHERE id = '%s'" % nid,
                          "SELECT extract(epoch FROM clock_timestamp())"))
    t1 = time.time()
    await asyncio.gather(*tasks)
    lat = sorted((t - committed) * 1000 for t, _, _ in answered)
    bad = sum(1 for _, st, body in answered if st != b"200" or b'"data":[]' in body)
    last = json.loads(answered[-1][2])["next_after"]
    return held, rss, conns, lat, bad, (t1 - t0) * 1000, last


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--api-pid", type=int, required=True)
    a = p.parse_args()
    after = sql("SELECT id FROM events ORDER BY id DESC LIMIT 1") or None
    lats, helds, rsss, connss, bads, psqls = [], [], [], [], 0, []
    for _ in range(a.rounds):
        held, rss, conns, lat, bad, commit_ms, after = await round_(a, after)
        psqls.append(commit_ms)
        lats += lat
        helds.append(held)
        rsss.append(rss)
        connss.append(conns)
        bads += bad
    lats.sort()

    def pct(q):
        return lats[min(len(lats) - 1, int(q * len(lats)))]
    print("N=%d: waiting held %s; herald-api RSS %s MiB; PostgreSQL client connections %s; "
          "answer after the commit (psql: %s ms to run it and exit) p50 %.1f ms, "
          "p99 %.1f ms, max %.1f ms over %d answers; %d answers without the event" % (
              a.clients, "/".join("%d" % h for h in helds),
              "/".join("%.0f" % (r / 1024) for r in rsss), "/".join(connss),
              "/".join("%.0f" % x for x in psqls), pct(0.5), pct(0.99), lats[-1], len(lats), bads))


asyncio.run(main())
