#!/usr/bin/python3
"""bench_cluster.py - clustering benchmarks on a real cluster of N nodes.

Starts N Causeway nodes on 127.0.1.1..N (TLS peer links, test certificates
from tests/integration/make_certs.sh), forms the cluster the guide's way,
then prints:
  1. replication latency of one change to every subordinate: `config.set`
     of a cluster-scope key on the primary with wait=true, which answers only
     when every live subordinate has applied (committed) it;
  2. ROWS cluster-scope rows changed on the primary (replication.data.put in
     batches of 10,000 rows, one transaction each) until applied on all;
  3. full sync of a peer holding nothing (ForceConfigUpdate on the last
     subordinate) with a SNAPSHOT_MB configuration database;
  4. time to detect a dead peer (SIGKILL of the last node's processes until
     the primary's `cluster status` shows it failed).

usage: bench_cluster.py [--bin DIR] [--nodes 6] [--changes 200] [--rows 100000]
                        [--snapshot-mb 100] [--port 14390]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))

import zmq  # noqa: E402


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


class Client:
    """A persistent control-protocol client (REQ)."""

    def __init__(self, endpoint):
        self.socket = zmq.Context.instance().socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVTIMEO, 120000)
        self.socket.connect(endpoint)

    def call(self, command, args=None):
        self.socket.send_multipart([b"CW1", command.encode(), json.dumps(args or {}).encode()])
        frames = self.socket.recv_multipart()
        body = json.loads(frames[2])
        if frames[1] != b"ok":
            raise RuntimeError("%s failed: %s" % (command, body.get("error")))
        return body


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build/bin"))
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--snapshot-mb", type=int, default=100)
    parser.add_argument("--port", type=int, default=14390)
    opts = parser.parse_args()
    os.environ["CAUSEWAY_BIN"] = opts.bin
    from cwtest import Node  # noqa: E402  (reads CAUSEWAY_BIN at import)

    work = tempfile.mkdtemp(prefix="cwbench")
    certs = os.path.join(work, "certs")
    subprocess.run(["sh", os.path.join(ROOT, "tests/integration/make_certs.sh"), certs, str(opts.nodes)],
                   check=True, capture_output=True)
    nodes = []
    try:
        peers = ",".join("127.0.1.%d" % i for i in range(1, opts.nodes + 1))
        for i in range(1, opts.nodes + 1):
            node = Node(work, name="peer%d" % i, supervisor={"heartbeat_ms": 1000, "request_timeout_ms": 30000},
                        peering={"address": "127.0.1.%d" % i, "port": opts.port,
                                 "certificate": "%s/peer%d.crt" % (certs, i),
                                 "private_key": "%s/peer%d.key" % (certs, i),
                                 "ca_file": "%s/ca.crt" % certs})
            nodes.append(node.start())
        for node in nodes:                      # the guide's way: settings on each, restart
            for key, value in (("cluster.name", "bench.example.com"), ("cluster.primary", "1"),
                               ("cluster.peers", peers)):
                status, body = node.call("config.set", {"key": key, "value": value})
                assert status == "ok", body
        for node in nodes:
            node.call("restart")
        time.sleep(1)
        for node in nodes:
            Node.wait_for(lambda n=node: n._all_running(["alarms", "replication"]), 30, "node restart")
        primary = Client(nodes[0].endpoint)

        clients = [Client(n.endpoint) for n in nodes]

        def all_active():
            for client in clients:
                status = client.call("cluster.status")
                if status["database"] != "active" or \
                        not all(p["state"] in ("active", "this-system") for p in status["peers"]):
                    return False
            return True
        t0 = time.monotonic()
        Node.wait_for(all_active, 60, "cluster did not form")
        print("cluster of %d formed (all peers active) %.2f s after the restarts" %
              (opts.nodes, time.monotonic() - t0))

        # 1. replication latency of one change
        samples = []
        for i in range(opts.changes):
            start = time.perf_counter()
            primary.call("config.set", {"key": "h323.ttl_s", "value": 600 + i, "wait": True})
            samples.append((time.perf_counter() - start) * 1000)
        print("replication of one change to %d subordinates (commit + apply on all, n=%d): "
              "median %.2f ms, p99 %.2f ms, max %.2f ms" %
              (opts.nodes - 1, len(samples), statistics.median(samples), percentile(samples, 99),
               max(samples)))

        # 2. ROWS rows changed on the primary until applied on all
        batch = 10000
        start = time.perf_counter()
        for base in range(0, opts.rows, batch):
            rows = [["user%07d" % k, "sip:user%07d@example.com" % k] for k in range(base, min(opts.rows, base + batch))]
            primary.call("replication.data.put", {"ns": "bench", "rows": rows,
                                                  "wait": base + batch >= opts.rows})
        elapsed = time.perf_counter() - start
        last = Client(nodes[-1].endpoint)
        count = last.call("replication.data.count", {"ns": "bench"})["rows"]
        assert count == opts.rows, count
        print("%d cluster-scope rows changed on the primary until applied on all %d subordinates: %.2f s"
              % (opts.rows, opts.nodes - 1, elapsed))

        # 3. full sync of a peer with a SNAPSHOT_MB configuration database
        blob = "x" * 1000
        per_call = 1000
        target_rows = opts.snapshot_mb * 1000
        for base in range(0, target_rows, per_call):
            rows = [["big%07d" % k, blob] for k in range(base, base + per_call)]
            primary.call("replication.data.put", {"ns": "big", "rows": rows,
                                                  "wait": base + per_call >= target_rows})
        size = os.path.getsize(os.path.join(nodes[0].state_dir, "cluster.db"))
        primary_seq = primary.call("replication.status")["applied_seq"]
        start = time.perf_counter()
        last.call("cluster.force_config_update")
        while True:
            status = last.call("replication.status")
            if status["in_sync"] and status["applied_seq"] == primary_seq:
                break
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        count = last.call("replication.data.count", {"ns": "big"})["rows"]
        assert count == target_rows, count
        print("full sync of a peer with a %.1f MB configuration database (ForceConfigUpdate -> in sync): %.2f s"
              % (size / 1e6, elapsed))

        # 4. time to detect a dead peer
        victim = nodes[-1]
        pids = [a["pid"] for a in victim.actors().values() if a.get("pid")]
        start = time.perf_counter()
        os.kill(victim.proc.pid, signal.SIGKILL)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while primary.call("cluster.status")["peers"][-1]["state"] == "active":
            time.sleep(0.005)
        print("dead peer detected by the primary %.2f s after SIGKILL" % (time.perf_counter() - start))
        victim.proc.wait()
        victim.proc = None
    finally:
        for node in nodes:
            try:
                node.cleanup()
            except Exception:
                pass
        if not os.environ.get("CW_BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept", work)


if __name__ == "__main__":
    main()
