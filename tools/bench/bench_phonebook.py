#!/usr/bin/python3
"""bench_phonebook.py - phone book search over 2,000,000 entries.

Starts one Causeway node (state under a temporary folder), puts ENTRIES
phone book entries (tests/tms_manager/dataset.py's rows, the cluster-wide
namespace tms.phonebooks, as the primary's tms actor writes them) with
replication.data.put in pages of PAGE rows, and waits until the tms
actor's read model (tms.directory.status) serves all of them. Prints how
long the puts took and how long until every entry was served.

Then SEARCHES searches of varied queries through the control socket
(tms.phonebook.search, limit 20, one REQ socket, one request at a time):
first-name prefixes (1..5 letters), surname prefixes (with and without
their digits), whole names, number prefixes (4..12 digits, some written
+44 ...), URI prefixes and queries that match nothing. Prints the
median, p99 and max time per request as the client sees it (the control
round trip through causewayd included), overall and per kind.
Target: p99 <= 5 ms.

usage: bench_phonebook.py [--bin DIR] [--entries 2000000] [--page 4000] [--searches 10000]
"""
import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../tests/integration"))
sys.path.insert(0, os.path.join(HERE, "../../tests/tms_manager"))

import zmq  # noqa: E402

import dataset  # noqa: E402


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def queries(n, entries, rng):
    """N (kind, query) pairs of varied kinds."""
    out = []
    kinds = ("first", "surname", "surname_digits", "name", "number", "number_spaced", "uri", "none")
    for i in range(n):
        kind = kinds[i % len(kinds)]
        first, last = dataset.person(rng.randrange(min(entries, 1_000_003)) * 7919 % 1_000_003)
        k = rng.randrange(entries)
        if kind == "first":
            q = first[:rng.randint(1, 5)]
        elif kind == "surname":
            q = last.rstrip("0123456789")[:rng.randint(1, 8)].lower()
        elif kind == "surname_digits":
            q = last[:len(last) - rng.randint(0, 2)]
        elif kind == "name":
            q = "%s %s" % (first, last[:rng.randint(1, len(last))])
        elif kind == "number":
            q = ("+44%09d" % k)[:rng.randint(4, 12)]
        elif kind == "number_spaced":
            digits = "%09d" % k
            q = "+44 %s %s" % (digits[:3], digits[3:rng.randint(4, 9)])
        elif kind == "uri":
            q = ("sip:pb%07d@" % k)[:rng.randint(6, 14)]
        else:
            q = rng.choice(("Qwzx", "zzzz", "+99", "nobody"))
        out.append((kind, q))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.normpath(os.path.join(HERE, "../../build/bin")))
    ap.add_argument("--entries", type=int, default=2_000_000)
    ap.add_argument("--page", type=int, default=4000)
    ap.add_argument("--searches", type=int, default=10_000)
    ap.add_argument("--keep", action="store_true", help="keep the node's folder")
    opts = ap.parse_args()
    os.environ["CAUSEWAY_BIN"] = os.path.abspath(opts.bin)
    from cwtest import Node

    tmp = tempfile.mkdtemp(prefix="cw-bench-pb-")
    node = Node(tmp, supervisor={"request_timeout_ms": 30000})
    node.start()
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 60000)
    sock.connect(node.endpoint)

    def call(command, args):
        sock.send_multipart([b"CW1", command.encode(), json.dumps(args).encode()])
        frames = sock.recv_multipart()
        return frames[1].decode(), json.loads(frames[2])

    try:
        print("loading %d phone book entries in pages of %d ..." % (opts.entries, opts.page), flush=True)
        start = time.monotonic()
        for first in range(0, opts.entries, opts.page):
            rows = []
            for n in range(first, min(opts.entries, first + opts.page)):
                row = dataset.row("phonebooks", n)
                rows.append([row["id"], json.dumps(row, separators=(",", ":"))])
            status, body = call("replication.data.put", {"ns": "tms.phonebooks", "rows": rows})
            if status != "ok":
                raise SystemExit("replication.data.put: %s" % body)
        put_s = time.monotonic() - start
        while True:
            status, body = call("tms.directory.status", {})
            if status == "ok" and body["services"]["phonebooks"]["rows"] >= opts.entries:
                break
            time.sleep(0.1)
        served_s = time.monotonic() - start
        size = os.path.getsize(os.path.join(node.state_dir, "tms_directory.db"))
        print("put %d entries in %.1f s (%.0f rows/s); all served %.1f s after the first put; "
              "tms_directory.db %.0f MB" % (opts.entries, put_s, opts.entries / put_s, served_s, size / 1e6))

        rng = random.Random(12)
        plan = queries(opts.searches, opts.entries, rng)
        for kind, q in plan[:200]:    # warm up
            call("tms.phonebook.search", {"query": q, "limit": 20})
        times = {}
        found = 0
        for kind, q in plan:
            t0 = time.perf_counter()
            status, body = call("tms.phonebook.search", {"query": q, "limit": 20})
            elapsed = (time.perf_counter() - t0) * 1000
            if status != "ok":
                raise SystemExit("search %r: %s" % (q, body))
            found += bool(body["entries"])
            times.setdefault(kind, []).append(elapsed)
        every = [t for ts in times.values() for t in ts]
        print("%d searches (%d found something), limit 20, through the control socket:" % (len(every), found))
        print("  %-16s %8s %8s %8s %8s" % ("kind", "n", "median", "p99", "max"))
        for kind, ts in list(times.items()) + [("all", every)]:
            print("  %-16s %8d %7.2fms %7.2fms %7.2fms" % (kind, len(ts), statistics.median(ts),
                                                          percentile(ts, 0.99), max(ts)))
        print("target p99 <= 5 ms: %s" % ("met" if percentile(every, 0.99) <= 5 else "NOT met"))
    finally:
        sock.close()
        node.stop()
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(node.run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
