#!/usr/bin/python3
"""bench_license.py - licensing benchmarks on real nodes.

1. One node whose actor list has an extra actor, bench_license in its
   `pairs` mode (an actor like any other: its requests go through the
   broker): the acquire round trip one at a time (median, p99) and
   acquire+release pairs per second with --window requests in flight.
2. The same over the control socket: `bench_license --control`.
3. A cluster of --nodes peers (127.0.1.1..N): a capacity key added on one
   peer until every peer's license.status shows the new pool, --changes
   times (median, p99, max).

usage: bench_license.py [--bin DIR] [--seconds 5] [--window 64] [--nodes 6]
                        [--changes 10] [--skip-cluster]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))

import zmq  # noqa: E402

ACTORS = ["alarms", "replication", "licensing", "tms", "routing", "webadmin"]
RMS = "rich_media_sessions"


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def call(endpoint, command, args=None, timeout_ms=10000):
    s = zmq.Context.instance().socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    s.connect(endpoint)
    try:
        s.send_multipart([b"CW1", command.encode(), json.dumps(args or {}).encode()])
        frames = s.recv_multipart()
    finally:
        s.close()
    body = json.loads(frames[2])
    if frames[1] != b"ok":
        raise RuntimeError("%s: %s" % (command, body.get("error")))
    return body


def keygen(bin_dir, folder):
    subprocess.run([os.path.join(bin_dir, "causeway-license"), "keygen", folder], check=True,
                   capture_output=True)
    return os.path.join(folder, "issuer.pub"), os.path.join(folder, "issuer.key")


def issue(bin_dir, secret, kind, count):
    r = subprocess.run([os.path.join(bin_dir, "causeway-license"), "issue", "--key", secret, "--kind", kind,
                        "--count", str(count)], check=True, capture_output=True, text=True)
    return r.stdout.strip()


def one_node(args, work):
    pub, secret = keygen(args.bin, os.path.join(work, "issuer"))
    run_dir = tempfile.mkdtemp(prefix="cwlb", dir="/tmp")
    out = os.path.join(work, "pairs.json")
    conf = os.path.join(work, "bench.conf")
    actors = ["{ name = \"%s\"; restart = \"permanent\"; }" % a for a in ACTORS]
    actors.append("{ name = \"licbench\"; path = \"%s\"; restart = \"temporary\"; }"
                  % os.path.join(args.bin, "bench_license"))
    with open(conf, "w") as f:
        f.write("node: { name = \"bench\"; runtime_dir = \"%s\"; state_dir = \"%s/state\"; log_level = \"warn\"; };\n"
                % (run_dir, work))
        f.write("licensing: { issuers = [ \"%s\" ]; };\n" % pub)
        f.write("actors = ( %s );\n" % ", ".join(actors))
    env = dict(os.environ, BENCH_LICENSE_MODE="pairs:%s:%d:%s" % (args.seconds, args.window, out))
    log = open(os.path.join(work, "causewayd.log"), "wb")
    proc = subprocess.Popen([os.path.join(args.bin, "causewayd"), "--config", conf], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    endpoint = "ipc://%s/control" % run_dir
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                call(endpoint, "license.add", {"key": issue(args.bin, secret, RMS, 1000000)}, 1000)
                break
            except Exception:  # noqa: BLE001 - still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        deadline = time.monotonic() + 60 + 3 * args.seconds
        while not os.path.exists(out) and time.monotonic() < deadline:
            time.sleep(0.2)
        with open(out) as f:
            result = json.load(f)
        print("actor -> broker -> licensing: license.acquire round trip (one at a time): n=%d median=%.3f ms "
              "p99=%.3f ms max=%.3f ms" % (result["samples"], result["acquire_median_ms"], result["acquire_p99_ms"],
                                           result["acquire_max_ms"]))
        print("actor -> broker -> licensing: acquire+release pairs, one license per request: %d in %.2f s = "
              "%.0f pairs/s (window %d)" % (result["pairs"], result["seconds"], result["pairs_per_s"], result["window"]))
        print("actor -> broker -> licensing: acquire+release pairs, %d licenses per request: %d in %.2f s = "
              "%.0f pairs/s (window %d)" % (result["batch"], result["batched_pairs"], result["batched_seconds"],
                                           result["batched_pairs_per_s"], result["window"]))
        sys.stdout.flush()
        subprocess.run([os.path.join(args.bin, "bench_license"), "--control", "--config", conf, "--seconds",
                        str(args.seconds), "--window", str(args.window)], check=True)
        sys.stdout.flush()
    finally:
        try:
            call(endpoint, "shutdown", {}, 2000)
        except Exception:  # noqa: BLE001
            pass
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def cluster(args, work):
    os.environ["CAUSEWAY_BIN"] = os.path.abspath(args.bin)
    import cwcluster  # noqa: E402 - needs CAUSEWAY_BIN first
    pub, secret = keygen(args.bin, os.path.join(work, "cluster-issuer"))
    sections = {k: {"licensing": {"issuers": [pub]}} for k in range(1, args.nodes + 1)}
    c = cwcluster.Cluster(os.path.join(work, "cluster"), args.nodes, node_sections=sections)
    try:
        c.start()
        c.form_guide_way()
        endpoints = [c[k].endpoint for k in range(1, args.nodes + 1)]
        expected = 0
        times = []
        for i in range(args.changes):
            k = 1 + i % args.nodes
            key = issue(args.bin, secret, RMS, 10)
            expected += 10
            start = time.monotonic()
            call(endpoints[k - 1], "license.add", {"key": key})
            pending = set(range(args.nodes))
            while pending:
                for j in list(pending):
                    if call(endpoints[j], "license.status")["types"][RMS]["pool"] == expected:
                        pending.discard(j)
                if time.monotonic() - start > 30:
                    raise RuntimeError("pool change not seen on peers %s" % sorted(pending))
            times.append((time.monotonic() - start) * 1000.0)
        print("key added on one peer until all %d peers show the new pool: n=%d median=%.1f ms p99=%.1f ms "
              "max=%.1f ms" % (args.nodes, len(times), statistics.median(times), percentile(times, 99), max(times)))
    finally:
        c.cleanup()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, "build/bin"))
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--skip-cluster", action="store_true")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    work = tempfile.mkdtemp(prefix="cwbench-license.")
    try:
        one_node(args, work)
        if not args.skip_cluster:
            cluster(args, work)
    except Exception:
        log = os.path.join(work, "causewayd.log")
        if os.path.exists(log):
            sys.stderr.write(open(log, errors="replace").read()[-4000:])
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
