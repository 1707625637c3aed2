"""kill -9 under write load: no acknowledged write is ever lost, and no
actor outlives its causewayd.

A writer thread sends, as fast as the node answers, `config.set
h323.ttl_s` (a new value each time) and `replication.data.put` (a new row
each time), and records every write the node acknowledged ("ok"). A killer
meanwhile runs CW_SOAK_ROUNDS rounds (default 30, well under a minute
here); each round it lets the writer run a moment, then sends SIGKILL to
one actor (causewayd restarts it), to causewayd alone (each of its
actors and standbys must be gone within 2 s; the node is then started
again), or to the node's whole process group (then started again): in
each block of four rounds two actors, causewayd once and the group once,
in random order. At the
end every acknowledged row reads back with its value, and h323.ttl_s holds
the last acknowledged value or one sent after it.

The same with a cluster of two: the writer writes rows on the primary
while actors of both peers and whole peers are killed; at the end every
acknowledged row is on both.

The long soak is the same test with more rounds:
    CW_SOAK_ROUNDS=440 CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_soak.py
"""
import json
import os
import random
import signal
import subprocess
import threading
import time

import zmq

from cwcluster import children_of, make_cluster  # noqa: F401 - make_cluster is a fixture
from cwtest import ACTORS, BIN, Node, pid_alive

ROUNDS = int(os.environ.get("CW_SOAK_ROUNDS", "30"))
ORPHAN_LIMIT_S = 2.0
NS = "soak"


class SoakNode(Node):
    """A node whose causewayd leads its own process group, so that the
    whole group can be killed without killing the test."""

    def start(self, wait=True, timeout=30):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([os.path.join(BIN, "causewayd"), "--config", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            names = [a["name"] for a in self.actor_specs]
            self.wait_for(lambda: self._all_running(names), timeout,
                          lambda: "node %s did not start again; log:\n%s" % (self.name, self.read_log()))
        return self

    def forget(self):
        """The killed causewayd is reaped; the node is down."""
        self.proc.wait()
        self.proc = None
        self.log.close()


def request(ctx, endpoint, command, args, timeout_ms):
    """One control request; (status, body), or (None, reason) when no
    answer came within TIMEOUT_MS."""
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    s.setsockopt(zmq.SNDTIMEO, timeout_ms)
    try:
        s.connect(endpoint)
        s.send_multipart([b"CW1", command.encode(), json.dumps(args).encode()])
        frames = s.recv_multipart()
        return frames[1].decode(), json.loads(frames[2])
    except zmq.Again:
        return None, "no answer within %d ms" % timeout_ms
    finally:
        s.close()


class Writer(threading.Thread):
    """Writes as fast as the node at ENDPOINT answers, one request at a time,
    until stop(); remembers what was acknowledged and what was only sent."""

    def __init__(self, endpoint, config=True):
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.config = config
        self.ctx = zmq.Context()
        self.done = threading.Event()
        self.rows = {}            # key -> value, acknowledged
        self.rows_sent = 0
        self.ttl_acked = None     # last acknowledged h323.ttl_s
        self.ttl_after = []       # values sent since it (any may have been applied)
        self.errors = {}          # error text -> count (refusals while the node restarts)
        self.unanswered = 0

    def run(self):
        n = 0
        while not self.done.is_set():
            n += 1
            if self.config and n % 2:
                ttl = 60 + n % 65000
                self.ttl_after.append(ttl)
                status, body = request(self.ctx, self.endpoint, "config.set",
                                       {"key": "h323.ttl_s", "value": ttl}, 3000)
                if status == "ok":
                    self.ttl_acked, self.ttl_after = ttl, []
            else:
                key, value = "k%07d" % n, "v%d-%08x" % (n, random.getrandbits(32))
                self.rows_sent += 1
                status, body = request(self.ctx, self.endpoint, "replication.data.put",
                                       {"ns": NS, "rows": [[key, value]]}, 3000)
                if status == "ok":
                    self.rows[key] = value
            if status is None:
                self.unanswered += 1
                time.sleep(0.05)
            elif status != "ok":
                text = str(body.get("error", body))[:80]
                self.errors[text] = self.errors.get(text, 0) + 1
                time.sleep(0.02)

    def stop(self):
        self.done.set()
        self.join(30)
        assert not self.is_alive(), "the writer did not stop"
        self.ctx.destroy(linger=0)

    def summary(self):
        return "acknowledged rows %d of %d sent, %d unanswered, refusals %s" % (
            len(self.rows), self.rows_sent, self.unanswered, self.errors)


def lost_rows(node, rows):
    """The acknowledged rows NODE does not return with their value."""
    lost = {}
    for key, value in rows.items():
        status, body = node.call("replication.data.get", {"ns": NS, "key": key}, 5000)
        if status != "ok" or body.get("value") != value:
            lost[key] = (value, status, body.get("value", body))
    return lost


def kill_actor(node, rng):
    name = rng.choice(ACTORS)
    pid = node.actors()[name]["pid"]
    os.kill(pid, signal.SIGKILL)

    def restarted():
        try:
            actors = node.actors(timeout_ms=1000)
        except Exception:  # noqa: BLE001 - still restarting
            return False
        return all(actors[a]["state"] == "running" for a in ACTORS) and actors[name]["pid"] != pid
    node.wait_for(restarted, 30, lambda: "actor %s was not restarted; log:\n%s" % (name, node.read_log()))
    return "actor " + name


def kill_daemon(node, orphans):
    """SIGKILL causewayd alone: its children (actors and standbys) must
    exit by themselves within ORPHAN_LIMIT_S."""
    kids = children_of(node.proc.pid)
    assert kids, "causewayd has no children"
    os.kill(node.proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    node.forget()
    while any(pid_alive(p) for p in kids) and time.monotonic() - killed < ORPHAN_LIMIT_S + 3:
        time.sleep(0.01)
    gone_after = time.monotonic() - killed
    left = [p for p in kids if pid_alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    orphans.append(gone_after)
    assert not left and gone_after <= ORPHAN_LIMIT_S, \
        "actors %s of the killed causewayd still alive after %.2f s" % (left, gone_after)
    node.start(timeout=60)
    return "causewayd"


def kill_group(node):
    pgid = node.proc.pid
    kids = children_of(pgid)
    os.killpg(pgid, signal.SIGKILL)
    node.forget()
    for p in kids:
        Node.wait_for(lambda: not pid_alive(p), 5, "pid %d survived SIGKILL of its group" % p)
    node.start(timeout=60)
    return "process group"


def test_kill9_under_write_load_loses_no_acknowledged_write(tmp_path):
    rng = random.Random(os.environ.get("CW_SOAK_SEED") or time.time_ns())
    node = SoakNode(tmp_path).start()
    writer = Writer(node.endpoint)
    kills, orphans = {}, []
    try:
        writer.start()
        plan = []
        while len(plan) < ROUNDS:
            block = ["actor", "actor", "causewayd", "group"]
            rng.shuffle(block)
            plan += block
        for what in plan[:ROUNDS]:
            time.sleep(rng.uniform(0.2, 0.8))
            if what == "actor":
                done = kill_actor(node, rng)
            elif what == "causewayd":
                done = kill_daemon(node, orphans)
            else:
                done = kill_group(node)
            kills[done] = kills.get(done, 0) + 1
        time.sleep(0.5)
    finally:
        writer.stop()
    try:
        print("soak: %d rounds %s; %s; orphans gone after max %.3f s" % (
            ROUNDS, kills, writer.summary(), max(orphans or [0])))
        assert len(writer.rows) > ROUNDS, "too few writes acknowledged: %s" % writer.summary()
        lost = lost_rows(node, writer.rows)
        assert not lost, "%d acknowledged writes lost (of %d), e.g. %s" % (
            len(lost), len(writer.rows), list(lost.items())[:5])
        status, body = node.call("replication.data.count", {"ns": NS})
        assert status == "ok" and len(writer.rows) <= body["rows"] <= writer.rows_sent, body
        status, body = node.call("config.get", {"key": "h323.ttl_s"})
        assert status == "ok", body
        assert writer.ttl_acked is not None, writer.summary()
        assert body["value"] in [writer.ttl_acked] + writer.ttl_after, (
            "h323.ttl_s is %s; last acknowledged %s, sent after it %s" % (
                body["value"], writer.ttl_acked, writer.ttl_after))
    finally:
        node.cleanup()


def test_cluster_of_two_kill9_under_write_load(make_cluster):
    rng = random.Random(os.environ.get("CW_SOAK_SEED") or time.time_ns())
    c = make_cluster(2)
    c.form_guide_way()
    writer = Writer(c[1].endpoint, config=False)
    rounds = max(2, ROUNDS // 2)
    kills = {}
    try:
        writer.start()
        for _ in range(rounds):
            time.sleep(rng.uniform(0.3, 1.0))
            k = rng.choice((1, 2))
            if rng.random() < 0.6:
                name = rng.choice(("replication", "alarms", "tms"))
                pid = c[k].actor_pids()[name]
                os.kill(pid, signal.SIGKILL)
                c[k].wait_running(60, not_pids=[pid])
                done = "peer%d %s" % (k, name)
            else:
                c.kill9(k)
                c.start(k, timeout=60)
                done = "peer%d node" % k
            kills[done] = kills.get(done, 0) + 1
        time.sleep(0.5)
    finally:
        writer.stop()
    print("soak cluster: %d rounds %s; %s" % (rounds, kills, writer.summary()))
    assert writer.rows, "no write acknowledged: %s" % writer.summary()
    c.wait_formed(timeout=120)
    # the subordinate has caught up with everything the primary acknowledged
    for k in (1, 2):
        Node.wait_for(lambda: not lost_rows(c[k], writer.rows), 60,
                      lambda: "peer%d lost %d acknowledged writes (of %d), e.g. %s\n%s" % (
                          k, len(lost_rows(c[k], writer.rows)), len(writer.rows),
                          list(lost_rows(c[k], writer.rows).items())[:5], c.report()))
