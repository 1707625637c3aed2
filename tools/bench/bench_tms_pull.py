#!/usr/bin/python3
"""bench_tms_pull.py - the provisioning pull on a real 3-peer cluster.

Starts 3 Causeway nodes on 127.0.1.1..3 (alarms, replication, tms), forms
the cluster the guide's way, starts the test manager
(tests/tms_manager/manager.py, plain HTTP on 127.0.8.1) with the full data
(100,000 users and FindMe accounts, 2,000,000 phone book entries, 50
templates by default), then prints:

  1. full pull: from setting tms.address until every peer SERVES every
     row: its tms actor's directory (tms.directory.status) holds as many
     rows of every service as the manager, ready (target <= 60 s); also
     the time the primary's provisioning reached each service's count,
     the manager's own time making the pages, and afterwards a check that
     every peer's cluster data (replication.data.count) holds every row;
  2. incremental: 1,000 phone book rows edited on the manager until every
     peer serves the new values (tms.phonebook.search of the last changed
     entry's number shows its new name; then a sample of the others)
     (target <= 1 s);
  3. `tms refresh` of every service (a second full pull over rows already
     there) until every peer's cursor shows it done.

usage: bench_tms_pull.py [--bin DIR] [--users 100000] [--entries 2000000] [--keep]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))

MANAGER = os.path.join(ROOT, "tests/tms_manager/manager.py")
IP = "127.0.8.1"
PORT = 8463
CONTROL = 8464
SERVICES = ("users", "findme", "phonebooks", "templates")


def control(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s:%d%s" % (IP, CONTROL, path), data=data, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def cpu_seconds(node, extra=None):
    """{actor: CPU seconds (user + system)} of NODE's actors (and
    causewayd, and EXTRA {name: pid})."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    pids = dict(node.actor_pids())
    pids["causewayd"] = node.proc.pid
    pids.update(extra or {})
    for name, pid in pids.items():
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.path.join(ROOT, "build/bin"))
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--entries", type=int, default=2_000_000)
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--keep", action="store_true", help="keep the node logs and state (the directory is printed)")
    args = p.parse_args()
    os.environ["CAUSEWAY_BIN"] = os.path.abspath(args.bin)
    import cwtest
    cwtest.BIN = os.environ["CAUSEWAY_BIN"]
    import cwcluster
    cwcluster.BIN = cwtest.BIN
    from cwcluster import Cluster

    tmp = tempfile.mkdtemp(prefix="bench-tms-")
    log = open(os.path.join(tmp, "manager.log"), "ab")
    manager = subprocess.Popen(["/usr/bin/python3", MANAGER, "--listen", "%s:%d" % (IP, PORT), "--control",
                                "%s:%d" % (IP, CONTROL), "--users", str(args.users), "--entries",
                                str(args.entries)], stdout=log, stderr=subprocess.STDOUT)
    actors = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 5000}
              for a in ("alarms", "replication", "tms")]
    c = Cluster(os.path.join(tmp, "cluster"), 3, node_sections={k: {"actors": actors} for k in (1, 2, 3)})
    try:
        c.start()
        c.form_guide_way()
        want = {s: v["rows"] for s, v in control("GET", "/control/provisioning").items()}
        total = sum(want.values())
        print("manager: %s rows (%s)" % (format(total, ","), ", ".join("%s %s" % (s, format(want[s], ","))
                                                                    for s in SERVICES)))

        def counts(k):
            out = {}
            for s in SERVICES:
                st, body = c[k].call("replication.data.count", {"ns": "tms." + s}, timeout_ms=30000)
                out[s] = body.get("rows", -1) if st == "ok" else -1
            return out

        def served(k):
            st, body = c[k].call("tms.directory.status", timeout_ms=30000)
            services = body.get("services", {}) if st == "ok" else {}
            return {s: services.get(s, {}).get("rows", -1) if services.get(s, {}).get("ready") else -1
                    for s in SERVICES}

        c.set(1, "tms.protocol", "http")
        cpu0 = {k: cpu_seconds(c[k], {"manager": manager.pid} if k == 1 else None) for k in (1, 2, 3)}
        t0 = time.monotonic()
        c.set(1, "tms.address", "%s:%d" % (IP, PORT))
        done = {}
        service_done = {}
        #  Only cheap questions while it runs (tms.status, tms.directory.status
        #  answer from memory): counting 2M rows in SQLite on every peer five
        #  times a second cost the replication actors more CPU than the pull
        while len(done) < 3 and time.monotonic() - t0 < args.timeout:
            st, body = c[1].call("tms.status", timeout_ms=30000)
            svcs = body.get("provisioning", {}).get("services", {}) if st == "ok" else {}
            for s in SERVICES:
                one = svcs.get(s, {})
                if s not in service_done and one.get("rows") == want[s] and not one.get("full"):
                    service_done[s] = time.monotonic() - t0
            for k in (1, 2, 3):
                if k not in done and served(k) == want:
                    done[k] = time.monotonic() - t0
            time.sleep(0.2)
        stats = control("GET", "/control/provisioning/stats")
        if len(done) < 3:
            print("full pull: NOT DONE after %d s: stored %s, served %s" % (
                args.timeout, {k: counts(k) for k in (1, 2, 3)}, {k: served(k) for k in (1, 2, 3)}))
            return 1
        full = max(done.values())
        print("full pull: %.1f s until every peer serves every row (%.0f rows/s); primary alone %.1f s; "
              "peers %s" % (full, total / full, done[1], ", ".join("%d: %.1f s" % (k, done[k]) for k in done)))
        stored = {k: counts(k) for k in (1, 2, 3)}
        print("  cluster data (replication.data.count) afterwards: %s" % (
            "every peer holds every row" if all(stored[k] == want for k in stored) else "DIFFERS: %s" % stored))
        print("  per service on the primary: %s" % ", ".join("%s %s" % (s, "%.1f s" % service_done[s] if s in service_done else "?")
                                                             for s in SERVICES))
        print("  manager: %d pages, %s rows, %.1f s making them (%.1f ms a page)" % (
            stats["pages"], format(stats["rows"], ","), stats["seconds"],
            1000 * stats["seconds"] / max(stats["pages"], 1)))
        print("  target <= 60 s: %s" % ("met" if full <= 60 else "MISSED"))
        for k in (1, 2, 3):
            cpu = cpu_seconds(c[k], {"manager": manager.pid} if k == 1 else None)
            print("  CPU seconds on peer %d during the pull: %s" % (k, ", ".join(
                "%s %.1f" % (a, cpu[a] - cpu0[k].get(a, 0)) for a in sorted(cpu))))

        # 2. incremental change of 1,000 rows, from a settled cluster: after
        # the full pull each peer sorts 2M new entries into its phone book
        # index; the first search waits for that
        for k in (1, 2, 3):
            t1 = time.monotonic()
            c[k].call("tms.phonebook.search", {"query": "a", "limit": 1}, timeout_ms=120000)
            print("  peer %d: the first search after the pull answered in %.1f s (sorting the new entries in)" %
                  (k, time.monotonic() - t1))
        time.sleep(1)
        t0 = time.monotonic()
        changed = control("POST", "/control/provisioning/change", {"service": "phonebooks", "count": 1000,
                                                                   "first": 5000})
        last = changed["ids"][-1]
        mark = " v%d" % changed["revision"]
        number = "+44%09d" % int(last[1:])    # dataset.py: entry eN has number +44 and N on 9 digits
        reached = {}
        while len(reached) < 3 and time.monotonic() - t0 < 60:
            for k in (1, 2, 3):
                if k in reached:
                    continue
                st, body = c[k].call("tms.phonebook.search", {"query": number, "limit": 1})
                if st == "ok" and body["entries"] and body["entries"][0]["name"].endswith(mark):
                    reached[k] = time.monotonic() - t0
            time.sleep(0.005)
        inc = max(reached.values()) if len(reached) == 3 else None
        bad = 0
        for k in (1, 2, 3):
            for ident in changed["ids"][::50]:
                st, body = c[k].call("replication.data.get", {"ns": "tms.phonebooks", "key": ident})
                if not (body["value"] and " v" in json.loads(body["value"])["name"]):
                    bad += 1
        if inc is None:
            print("incremental 1,000 rows: NOT DONE in 60 s")
        else:
            print("incremental 1,000 rows: %.3f s until every peer serves them (peers %s)%s; target <= 1 s: %s" % (
                inc, ", ".join("%d: %.3f s" % (k, reached[k]) for k in sorted(reached)),
                "" if not bad else " (%d sampled rows missing!)" % bad, "met" if inc <= 1 else "MISSED"))

        # 3. tms refresh of every service
        before = {k: c[k].call("replication.data.get", {"ns": "tms.provisioning", "key": "phonebooks"})[1]["value"]
                  for k in (1, 2, 3)}
        t0 = time.monotonic()
        c.ok(1, "tms", "refresh")
        refreshed = {}
        while len(refreshed) < 3 and time.monotonic() - t0 < args.timeout:
            for k in (1, 2, 3):
                if k in refreshed:
                    continue
                ok = True
                for s in SERVICES:
                    st, body = c[k].call("replication.data.get", {"ns": "tms.provisioning", "key": s})
                    cur = json.loads(body["value"]) if st == "ok" and body["value"] else {}
                    if cur.get("full") is not False or (s == "phonebooks" and body["value"] == before[k]):
                        ok = False
                if ok:
                    refreshed[k] = time.monotonic() - t0
            time.sleep(0.2)
        if len(refreshed) == 3:
            print("tms refresh (full pull over existing rows): %.1f s until every peer has the cursor" %
                  max(refreshed.values()))
        else:
            print("tms refresh: NOT DONE")
        return 0
    finally:
        c.cleanup()
        manager.send_signal(signal.SIGTERM)
        try:
            manager.wait(5)
        except subprocess.TimeoutExpired:
            manager.kill()
        if args.keep:
            print("kept: node logs and state in", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
