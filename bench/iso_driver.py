#!/usr/bin/env python3
"""bench/isolation's driver for one scenario: a noisy tenant's burst and a
quiet tenant sending one webhook every 100 ms; then the quiet tenant's dwell
(created -> sent) and every notification of both accounted for.

Usage: iso_driver.py SCENARIO API_URL QUIET_KEY NOISY_KEY NOISY_URL QUIET_URL WHAT
Environment: ISO_QUIET_S (30), ISO_NOISY (3000), ISO_BOUND_S (90), ISO_PSQL (a
psql command line), ISO_NOISY_PRIORITY and ISO_QUIET_PRIORITY (normal);
for the backlog scenarios (a) and (d), queued before the worker starts:
  ISO_PHASE=queue  only submit the noisy tenant's notifications, write their ids
                   to ISO_IDS and exit (the worker is not running yet);
  ISO_IDS=FILE     (other phases) the noisy ids come from FILE, nothing is
                   submitted for the noisy tenant;
  ISO_DRAIN=1      after the quiet tenant, wait (at most ISO_DRAIN_BOUND_S, 900)
                   until every noisy notification is sent, and report the noisy
                   tenant's throughput (sent per second, its first to its last).
ISO_QUIET_S=0: no quiet tenant (the backlog alone). Prints one line of JSON,
then the scenario's row of the results table (WHAT names the scenario there)."""

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.request

scenario, api, quiet_key, noisy_key, noisy_url, quiet_url, what = sys.argv[1:8]
QUIET_S = float(os.environ.get("ISO_QUIET_S", "30"))
NOISY = int(os.environ.get("ISO_NOISY", "3000"))
BOUND_S = float(os.environ.get("ISO_BOUND_S", "90"))
PSQL = shlex.split(os.environ["ISO_PSQL"])
NOISY_PRIO = os.environ.get("ISO_NOISY_PRIORITY", "normal")
QUIET_PRIO = os.environ.get("ISO_QUIET_PRIORITY", "normal")
PHASE = os.environ.get("ISO_PHASE", "run")
IDS_FILE = os.environ.get("ISO_IDS", "")
DRAIN = os.environ.get("ISO_DRAIN", "0") == "1"
DRAIN_BOUND_S = float(os.environ.get("ISO_DRAIN_BOUND_S", "900"))


def post(path, key, body):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + key,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def sql(q):
    # on stdin: a backlog's id list is longer than a command line may be
    return subprocess.run(PSQL, input=q, check=True, capture_output=True,
                          text=True).stdout.strip()


def uuid_array(id_list):
    """id_list as an SQL uuid[] literal."""
    return "'{" + ",".join(id_list) + "}'::uuid[]"


def wait_all_sent(arr, bound_s, every_s):
    """Polls every every_s seconds, at most bound_s, until each row of arr
    (a uuid_array) is sent."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if int(sql(f"SELECT count(*) FROM notifications WHERE id = ANY({arr})"
                   " AND status <> 'sent'")) == 0:
            return
        time.sleep(every_s)


# the noisy tenant's burst, in batches of 500 (or queued already: ISO_IDS)
noisy_ids = []
QUEUED = PHASE != "queue" and bool(IDS_FILE)
if QUEUED:
    with open(IDS_FILE) as f:
        noisy_ids = json.load(f)
while len(noisy_ids) < NOISY and not QUEUED:
    n = min(500, NOISY - len(noisy_ids))
    r = post("/v1/notifications/batch", noisy_key, {"notifications": [
        {"channel": "webhook", "recipient": noisy_url, "body": "noisy", "priority": NOISY_PRIO}
        for _ in range(n)]})
    noisy_ids += [x["id"] for x in r["data"]]

if PHASE == "queue":
    with open(IDS_FILE, "w") as f:
        json.dump(noisy_ids, f)
    sys.exit(0)

# the quiet tenant: one every 100 ms
quiet_ids = []
t0 = time.monotonic()
k = 0
while time.monotonic() - t0 < QUIET_S:
    r = post("/v1/notifications", quiet_key,
             {"channel": "webhook", "recipient": quiet_url, "body": "quiet",
              "priority": QUIET_PRIO})
    quiet_ids.append(r["id"])
    k += 1
    time.sleep(max(0.0, t0 + k * 0.1 - time.monotonic()))

# wait (bounded) until the quiet ones are all sent
ids = uuid_array(quiet_ids)
if quiet_ids:
    wait_all_sent(ids, BOUND_S, 0.5)

row = sql("SELECT count(*) FILTER (WHERE status = 'sent'),"
          " coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY"
          "  extract(epoch FROM sent_at - created_at)), -1),"
          " coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY"
          "  extract(epoch FROM sent_at - created_at)), -1),"
          " coalesce(max(extract(epoch FROM sent_at - created_at)), -1)"
          f" FROM notifications WHERE id = ANY({ids})").split("|")
sent, p50, p99, mx = int(row[0]), float(row[1]), float(row[2]), float(row[3])
# the same p99 without the quiet tenant's first 2 s (they wait behind the burst in the stream)
late = float(sql("SELECT coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY"
                 "  extract(epoch FROM sent_at - created_at)), -1)"
                 f" FROM notifications WHERE id = ANY({ids}) AND created_at >"
                 f" (SELECT min(created_at) FROM notifications WHERE id = ANY({ids}))"
                 " + interval '2 seconds'"))
unsent = len(quiet_ids) - sent


def by_status(id_list):
    arr = uuid_array(id_list)
    out = {}
    for line in sql(f"SELECT status, count(*) FROM notifications WHERE id = ANY({arr})"
                    " GROUP BY status").splitlines():
        s, n = line.split("|")
        out[s] = int(n)
    return out


# the backlog's throughput: wait (bounded) until every noisy one is sent
backlog = {}
if DRAIN:
    nids = uuid_array(noisy_ids)
    wait_all_sent(nids, DRAIN_BOUND_S, 2.0)
    row = sql("SELECT count(*) FILTER (WHERE status = 'sent'),"
              " coalesce(extract(epoch FROM max(sent_at) - min(sent_at)), 0)"
              f" FROM notifications WHERE id = ANY({nids})").split("|")
    n_sent, span = int(row[0]), float(row[1])
    backlog = {"backlog_sent": n_sent, "backlog_span_s": round(span, 3),
               "backlog_per_s": round(n_sent / span, 1) if span > 0 else -1}

q_status, n_status = by_status(quiet_ids), by_status(noisy_ids)
d = {
    "scenario": scenario, "quiet": len(quiet_ids), "quiet_sent": sent, "quiet_unsent": unsent,
    "dwell_p50_s": p50, "dwell_p99_s": p99, "dwell_max_s": mx, "dwell_p99_after_2s_s": late,
    "quiet_status": q_status, "noisy": len(noisy_ids), "noisy_status": n_status,
    "accounted": sum(q_status.values()) == len(quiet_ids)
    and sum(n_status.values()) == len(noisy_ids)}
d.update(backlog)
print(json.dumps(d))


def st(m):
    return ", ".join(f"{k} {v}" for k, v in sorted(m.items()))


def sec(v):
    return "–" if v < 0 else f"{v:.3f}"


print(f"| ({scenario}) {what} | {len(quiet_ids)} | {sec(p50)} | {sec(p99)} | {sec(mx)} | "
      f"{sec(late)} | {unsent} | "
      f"{st(q_status)} | {st(n_status)} | {'yes' if d['accounted'] else 'NO'} |")
