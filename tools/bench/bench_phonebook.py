#!/usr/bin/python3
"""bench_phonebook.py - phone book search over 2,000,000 entries.

Starts one Causeway node (state under a temporary folder), puts ENTRIES
phone book entries (tests/tms_manager/dataset.py's rows, the cluster-wide
namespace tms.phonebooks, as the primary's tms actor writes them) with
replication.data.put in pages of PAGE rows, and waits until the tms
actor's read model (tms.directory.status) serves all of them. Prints how
long the puts took, how long until every entry was served, the CPU
seconds the tms actor (causeway-tms) spent on it and its resident
memory. Then restarts the tms actor and times its rebuild of the phone
book from the cluster data (replication.data.list) until ready.

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


def tms_pid(node):
    """The pid of the node's tms actor (a child of its causewayd)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if comm.startswith("causeway-tms") and ppid == node.proc.pid:
            return int(pid)
    raise SystemExit("no causeway-tms process under causewayd %d" % node.proc.pid)


def cpu_s(pid):
    """User + system CPU seconds of process PID."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


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
        pid = tms_pid(node)
        cpu0 = cpu_s(pid)
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
        if tms_pid(node) != pid:
            raise SystemExit("the tms actor was restarted during the load (see the node's log)")
        print("put %d entries in %.1f s (%.0f rows/s); all served %.1f s after the first put; "
              "causeway-tms: %.1f s CPU, RSS %.0f MB" % (opts.entries, put_s, opts.entries / put_s, served_s,
                                                        cpu_s(pid) - cpu0, rss_mb(pid)), flush=True)

        # A restart: the phone book is made again from replication.data.list
        status, body = call("actors.stop", {"name": "tms"})
        if status != "ok":
            raise SystemExit("actors.stop: %s" % body)
        start = time.monotonic()
        status, body = call("actors.start", {"name": "tms"})
        if status != "ok":
            raise SystemExit("actors.start: %s" % body)
        while True:
            status, body = call("tms.directory.status", {})
            pb = body.get("services", {}).get("phonebooks", {}) if status == "ok" else {}
            if pb.get("ready") and pb.get("rows", 0) >= opts.entries:
                break
            time.sleep(0.05)
        rebuilt_s = time.monotonic() - start
        pid = tms_pid(node)
        print("restarted tms: phone book rebuilt from the cluster data and ready in %.1f s; "
              "causeway-tms: %.1f s CPU, RSS %.0f MB" % (rebuilt_s, cpu_s(pid), rss_mb(pid)), flush=True)

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
