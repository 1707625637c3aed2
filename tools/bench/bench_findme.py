#!/usr/bin/python3
"""bench_findme.py - the routing actor's FindMe accounts at scale.

Starts one node (127.0.1.1, SIP on udp 5060, the test harness of
tests/integration) and measures, with ACCOUNTS FindMe accounts shaped as
the test manager's rows (tests/tms_manager/dataset.py):
  1. following: the accounts put into tms.findme (replication.data.put,
     2,000 rows per put: a control request is at most 1 MiB) until the routing
     actor has every one (it applies the data.changed events' rows);
  2. loading: the routing actor restarted (`causeway actors restart
     routing`), the time of its load (replication.data.list, 1,000 rows
     per page) as routing.status "findme" "load_ms" says, and until it
     serves them;
  3. memory: the routing actor's resident set (VmRSS) with no account,
     after following them, and after a fresh load;
  4. the same pages read through the control socket by this script (the
     replication actor's share of the load);
  5. the cost of a FindMe lookup: `routing.locate` of an account's alias
     (a walk with the findme step) through the control socket, median.

usage: bench_findme.py [--bin DIR] [--accounts 100000]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))
sys.path.insert(0, os.path.join(ROOT, "tests/tms_manager"))

import dataset  # noqa: E402

DOMAIN = "example.com"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def findme(node):
    status, body = node.call("routing.status", {})
    assert status == "ok", body
    return body.get("findme", {})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, "build/bin"))
    parser.add_argument("--accounts", type=int, default=100_000)
    opts = parser.parse_args()
    os.environ["CAUSEWAY_BIN"] = os.path.abspath(opts.bin)
    from cwcluster import Cluster  # noqa: E402 - after CAUSEWAY_BIN

    work = tempfile.mkdtemp(prefix="cwbench-findme.")
    c = Cluster(os.path.join(work, "cluster"), 1,
                node_sections={1: {"sip": {"listen": ["udp:127.0.1.1:5060"]}}})
    try:
        c.start()
        n = c[1]
        n.wait_for(lambda: findme(n).get("loaded"), 20, "the routing actor never loaded tms.findme")
        pid = n.actor_pids()["routing"]
        rss_empty = rss_kib(pid)

        rows = [dataset.row("findme", i) for i in range(opts.accounts)]
        text = [[r["id"], json.dumps(r, separators=(",", ":"))] for r in rows]
        start = time.monotonic()
        for i in range(0, len(text), 2000):
            status, body = n.call("replication.data.put", {"ns": "tms.findme", "rows": text[i:i + 2000]},
                                  timeout_ms=60000)
            assert status == "ok", body
        put_s = time.monotonic() - start
        n.wait_for(lambda: findme(n).get("accounts") == opts.accounts, 120,
                   lambda: "the routing actor has %s" % findme(n))
        follow_s = time.monotonic() - start
        rss_followed = rss_kib(pid)

        r = n.cli("actors", "restart", "routing")
        assert r.returncode == 0, r.stdout + r.stderr
        start = time.monotonic()
        n.wait_for(lambda: n.actor_pids().get("routing") not in (None, pid), 30, "routing did not restart")
        n.wait_for(lambda: findme(n).get("loaded") and findme(n).get("accounts") == opts.accounts, 120,
                   lambda: "after the restart: %s" % findme(n))
        served_s = time.monotonic() - start
        fm = findme(n)
        pid = n.actor_pids()["routing"]
        rss_loaded = rss_kib(pid)

        # The same pages read through the control socket: the replication
        # actor's share of the load (plus this script's JSON parsing)
        start = time.monotonic()
        after, pages = "", 0
        while True:
            status, body = n.call("replication.data.list", {"ns": "tms.findme", "after": after, "limit": 1000},
                                  timeout_ms=30000)
            assert status == "ok", body
            pages += 1
            if not body["more"]:
                break
            after = body["rows"][-1][0]
        list_s = time.monotonic() - start

        times = []
        for i in range(200):
            alias = dataset.row("findme", (i * 7919) % opts.accounts)["alias"]
            t = time.perf_counter()
            status, body = n.call("routing.locate", {"alias": alias})
            times.append((time.perf_counter() - t) * 1000)
            assert status == "ok" and any(s["step"] == "findme" for s in body["steps"]), body

        print("FindMe accounts                     %d" % opts.accounts)
        print("put into tms.findme (2,000 / put)   %.2f s" % put_s)
        print("followed by routing (events)        %.2f s after the first put" % follow_s)
        print("load after a restart (load_ms)      %d ms (%d pages of 1,000)" % (fm["load_ms"],
                                                                                 (opts.accounts + 999) // 1000))
        print("restart until every account served  %.2f s" % served_s)
        print("the same %d pages read by this script %.2f s" % (pages, list_s))
        print("routing RSS: empty %.1f MiB, followed %.1f MiB, loaded %.1f MiB (%.0f bytes / account)"
              % (rss_empty / 1024, rss_followed / 1024, rss_loaded / 1024,
                 (rss_loaded - rss_empty) * 1024 / opts.accounts))
        print("routing.locate of a FindMe alias    median %.3f ms, p99 %.3f ms (control socket round trip)"
              % (statistics.median(times), sorted(times)[int(len(times) * 0.99) - 1]))
    finally:
        c.cleanup()


if __name__ == "__main__":
    main()
