#!/usr/bin/env python3
"""bench/timeline.py DIR [PG_URL SCHEMA]: the phases of a fan-out kept by
`KEEP=1 bench/fanout-once.sh N` (with PG_URL and SCHEMA: a run on PostgreSQL, `PG=… KEEP=1`).

Reads DIR/.team/team.db (the events table: `created_at_ms`, and `latency_ms` in each
`provider.call` payload, so a call started at its event time minus its latency) and
DIR/clock_ms (the process's spawn and exit, Unix ms, written by fanout-once.sh), and the
scripted server's summary in DIR/llm.out (when requests arrived). Prints each phase in ms
after the spawn.
"""
import json
import sqlite3
import statistics
import sys

d = sys.argv[1]
spawn, exit_ = (int(x) for x in open(f"{d}/clock_ms").read().split())
if len(sys.argv) > 3:
    import subprocess

    out = subprocess.run(
        ["psql", sys.argv[2], "-AtX", "-F", "\t", "-c",
         f"SELECT kind, member, payload, created_at_ms FROM {sys.argv[3]}.events ORDER BY id"],
        check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        k, m, p, t = line.split("\t")
        rows.append((k, m, p, int(t)))
else:
    db = sqlite3.connect(f"{d}/.team/team.db")
    rows = db.execute("SELECT kind, member, payload, created_at_ms FROM events ORDER BY id").fetchall()


def at(kind, pick=min):
    ts = [t for k, _, _, t in rows if k == kind]
    return pick(ts) - spawn if ts else None


def span(ts):
    ts = sorted(t - spawn for t in ts)
    if not ts:
        return "-"
    return f"{ts[0]} / {int(statistics.median(ts))} / {ts[-1]}"


calls = []
for kind, member, payload, t in rows:
    if kind == "provider.call":
        p = json.loads(payload)
        calls.append((member, t - p.get("latency_ms", 0), t, p.get("latency_ms", 0)))
lead = [c for c in calls if c[0] and "lead" in c[0]]
workers = [c for c in calls if c not in lead]
ended = [t for k, m, _, t in rows if k in ("member.completed", "member.idle") and not (m and "lead" in m)]
print(f"team.created              {at('team.created')}")
print(f"members running (first / median / last)   {span([t for k, _, _, t in rows if k == 'member.running'])}")
print(f"worker calls start (f/m/l) {span([c[1] for c in workers])}")
print(f"worker calls end (f/m/l)   {span([c[2] for c in workers])}")
if workers:
    print(f"worker call latency p50 / max  {statistics.median(c[3] for c in workers)} / {max(c[3] for c in workers)} ms")
print(f"member ends (f/m/l)        {span(ended)}")
if ended:
    e = sorted(t - spawn for t in ended)
    print(f"member end deciles         {' '.join(str(e[(len(e) - 1) * q // 10]) for q in range(11))}")
try:
    summary = json.loads(open(f"{d}/llm.out").read().strip().splitlines()[-1])
    arr = summary["arrivals_unix_ms"]
    print(f"server arrivals (f/m/l)    {arr[0] - spawn} / {arr[1] - spawn} / {arr[2] - spawn}")
    dec = summary.get("arrival_deciles_unix_ms")
    if dec:
        print(f"server arrival deciles     {' '.join(str(t - spawn) for t in dec)}")
except (OSError, ValueError, KeyError, IndexError):
    pass
for c in lead:
    print(f"lead call                  {c[1] - spawn} -> {c[2] - spawn} ({c[3]} ms)")
print(f"team.completed            {at('team.completed', max)}")
print(f"process exit              {exit_ - spawn}")
