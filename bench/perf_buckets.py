#!/usr/bin/env python3
"""Buckets the samples of `perf script` output (recorded with --call-graph dwarf) of a `team`
process by what they were doing: the outermost `team_store::Store::*` call, the HTTP client,
JSON, tokio, start-up. Used for the findings in BENCHMARKS.md.

    perf record -F 2000 --call-graph dwarf,32768 -o p.data -- team run fanout ...
    perf script -i p.data > p.txt && bench/perf_buckets.py p.txt
"""
import collections
import re
import sys


def frames(sample):
    lines = sample.strip().split("\n")
    return lines[0], [
        re.sub(r"\+0x[0-9a-f]+ \(.*", "", l.strip().split(" ", 1)[1])
        for l in lines[1:]
        if " " in l.strip()
    ]


def main(path):
    total = 0
    buckets = collections.Counter()
    store = collections.Counter()
    compile_all = recompile = 0
    for sample in open(path).read().split("\n\n"):
        if not sample.strip() or "\n" not in sample.strip():
            continue
        head, syms = frames(sample)
        comm = head.split()[0]
        if not (comm.startswith("team") or comm.startswith("tokio")):
            continue
        total += 1
        j = "\n".join(syms)
        ops = [x for x in syms if x.startswith("team_store::Store::")]
        if ops:
            store[ops[-1].replace("team_store::Store::", "")] += 1
        if "sqlite3RunParser" in j or "sqlite3LockAndPrepare" in j:
            compile_all += 1
            if "sqlite3Reprepare" in j:
                recompile += 1
        if "ld-linux" in head or "_dl_relocate" in j:
            k = "start-up: dynamic loader"
        elif "load_native_certs" in j or "Verifier::new" in j:
            k = "start-up: system root certificates (reqwest client)"
        elif ops:
            k = "store calls (Diesel + SQLite)"
        elif "Session::new" in j or "WorkspaceTools" in j or "team_tools::specs" in j:
            k = "llm Session::new"
        elif "hyper" in j or "reqwest" in j or "HttpCore" in j:
            k = "HTTP client (reqwest/hyper)"
        elif "serde_json" in j:
            k = "JSON"
        elif "tokio::runtime" in j:
            k = "tokio (scheduler, timers, blocking pool)"
        else:
            k = "other"
        buckets[k] += 1
    if not total:
        print("no samples of a team process")
        return
    print(f"{total} samples")
    for k, v in buckets.most_common():
        print(f"{100 * v / total:5.1f} %  {k}")
    print("store calls by operation (outermost Store:: frame):")
    for k, v in store.most_common(15):
        print(f"{100 * v / total:5.1f} %  {k}")
    print(f"SQL compile: {100 * compile_all / total:.1f} % of samples, "
          f"of which re-prepare of cached statements: {100 * recompile / total:.1f} %")


if __name__ == "__main__":
    main(sys.argv[1])
