"""The guide's procedures exactly as the guide has them, with no restart it
does not ask for, and a `cluster status` that agrees with what the node
does:

    removing a dead peer by hand     the remaining peers save the list
                                     without it and are active again, live
    a peer that announced a restart  `restarting` in cluster status while
    and died                         changes are refused naming it
    a partition                      the cut-off subordinate raises 20016,
                                     says `primary unreachable` and fails
                                     cluster-wide writes at once

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_guide_exact.py
"""
import os
import shutil
import signal
import subprocess
import time

import pytest
import zmq

from cwcluster import (A_INCONSISTENT, A_PRIMARY_UNREACHABLE, A_RESTART_REQUIRED,  # noqa: F401
                       address, make_cluster, norm)
from cwtest import recv_alarm


def connected_subscriber(node, topic):
    """A SUB socket on NODE's alarm socket for TOPIC, returned once it is
    connected (it has received a heartbeat)."""
    sub = node.subscriber(topic)
    sub.setsockopt(zmq.SUBSCRIBE, b"heartbeat")
    recv_alarm(sub, "heartbeat", 10000)
    return sub


def raised(sub, alarm_id, wait_ms):
    """Every alarm.raised.ALARM_ID that arrived on SUB (within WAIT_MS)."""
    topic = "alarm.raised.%d" % alarm_id
    found = []
    deadline = time.monotonic() + wait_ms / 1000.0
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        try:
            found.append(recv_alarm(sub, topic, max(left, 1))[1])
        except AssertionError:
            return found


def test_remove_a_dead_peer_the_guides_way_without_a_restart(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    before = {k: (c[k].proc.pid, c[k].actor_pids()) for k in (1, 3)}
    assert all(before[k][1].get("replication") for k in (1, 3)), before
    c.kill9(2)
    for k in (1, 3):
        c.wait_state(k, address(2), "failed")
    sub = connected_subscriber(c[3], b"alarm.raised.%d" % A_RESTART_REQUIRED)
    try:
        # the guide: on the primary delete its address, close the gap, fix
        # the primary index, Save; then the same on the remaining subordinate
        remaining = [address(1), address(3)]
        started = time.monotonic()
        for k in (1, 3):
            c.set(k, "cluster.peers", remaining)
            c.set(k, "cluster.primary", 1)
        c.wait_formed([1, 3], timeout=20)
        took = time.monotonic() - started
        print("remaining peers active again %.1f s after the first Save" % took)
        # no restart: the same causewayd and the same actor processes
        for k in (1, 3):
            assert c[k].proc.pid == before[k][0], "causewayd of node %d changed" % k
            assert c[k].actor_pids() == before[k][1], "node %d restarted actors: %s -> %s" % (
                k, before[k][1], c[k].actor_pids())
        # ... and no restart asked for
        for k in (1, 3):
            st = c.status(k)
            assert st["restart_required"] is False, st
            assert A_RESTART_REQUIRED not in c.alarm_ids(k)
        assert not raised(sub, A_RESTART_REQUIRED, 1000), "20007 was raised on node 3"
    finally:
        sub.close()
    # node 3 is peer 2 now, and the cluster works on the new numbering
    st = c.status(3)
    assert st["this_peer"] == 2 and [p["address"] for p in st["peers"]] == remaining, st
    for k in (1, 3):
        c.wait_alarm(k, A_INCONSISTENT, present=False)
    c.set(3, "h323.ttl_s", 600)                          # forwarded to the primary
    c.wait_replicated("h323.ttl_s", 600, nodes=[1, 3])
    c.set(1, "sip.mode", "off")
    c.wait_replicated("sip.mode", "off", nodes=[1, 3])


def test_a_peer_that_announced_a_restart_then_died_shows_restarting(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    node = c[3]
    replication = node.actor_pids()["replication"]
    # causewayd frozen (it restarts nothing), the replication actor stopped
    # in good order (it announces the restart to its peers), then the node
    # is killed: a peer that announced a restart and never came back
    os.kill(node.proc.pid, signal.SIGSTOP)
    try:
        os.kill(replication, signal.SIGTERM)
        for k in (1, 2):
            c.wait_state(k, address(3), "restarting", timeout=15)
    finally:
        c.kill9(3)
    time.sleep(2.5)                                      # past the dead interval
    for k in (1, 2):
        p = c.peer(k, address(3))
        assert p["state"] == "restarting", p
    # the refusal names the same state, on the primary and forwarded
    for k in (1, 2):
        r = c.cli(k, "config", "set", "h323.ttl_s", "3600")
        assert r.returncode == 1, r
        assert "peer 3 (%s) is restarting" % address(3) in r.stderr and "--force" in r.stderr, r.stderr
    assert c.get(1, "h323.ttl_s") == 1800
    c.ok(1, "config", "set", "h323.ttl_s", "3600", "--force")
    c.wait_replicated("h323.ttl_s", 3600, nodes=[1, 2])
    # it comes back: active, and changes go through again
    c.start(3)
    c.wait_formed()
    c.set(1, "h323.ttl_s", 60)
    c.wait_replicated("h323.ttl_s", 60)


class Partition:
    """nftables rules that drop every packet between two addresses, in both
    directions (an inet table of its own, removed by heal())."""

    def __init__(self, a, b):
        self.table = "cwguide%d" % os.getpid()
        self.a, self.b = a, b
        self.made = False

    @staticmethod
    def unavailable():
        if os.geteuid() != 0:
            return "nftables rules need root"
        if not shutil.which("nft"):
            return "nft(8) is not installed"
        return None

    def _nft(self, *args):
        r = subprocess.run(["nft"] + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nft %s -> %d: %s" % (" ".join(args), r.returncode, r.stderr))

    def cut(self):
        self._nft("add", "table", "inet", self.table)
        self.made = True
        self._nft("add", "chain", "inet", self.table, "input",
                  "{ type filter hook input priority -5 ; policy accept ; }")
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            self._nft("add", "rule", "inet", self.table, "input", "ip", "saddr", src, "ip", "daddr", dst, "drop")

    def heal(self):
        if self.made:
            subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True)
            self.made = False


def test_a_partition_makes_the_subordinate_say_primary_unreachable(make_cluster):
    reason = Partition.unavailable()
    if reason:
        pytest.skip(reason)
    c = make_cluster(2)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    c.wait_alarm(2, A_PRIMARY_UNREACHABLE, present=False)     # raised while it joined
    net = Partition(address(1), address(2))
    try:
        net.cut()
        c.wait_alarm(2, A_PRIMARY_UNREACHABLE, match=c.about(1), timeout=15)
        st = c.status(2)
        assert st["database"] == "primary unreachable", st
        assert c.peer(2, address(1))["state"] == "failed"
        # a cluster-wide write fails at once, naming the primary
        started = time.monotonic()
        status, body = c[2].call("config.set", {"key": "h323.ttl_s", "value": 60}, timeout_ms=15000)
        took = time.monotonic() - started
        assert status != "ok", body
        assert took < 1.0, "the refusal took %.1f s: %s" % (took, body)
        r = c.cli(2, "config", "set", "h323.ttl_s", "60")
        assert r.returncode == 1, r
        assert "unreachable" in r.stderr and "peer 1 (%s)" % address(1) in r.stderr, r.stderr
        assert c.get(2, "h323.ttl_s") == 3600
        # the subordinate keeps serving: peer-scope keys are set locally
        c.set(2, "maintenance.mode", "on")
        assert norm(c.get(2, "maintenance.mode")) == "on"
    finally:
        net.heal()
    c.wait_alarm(2, A_PRIMARY_UNREACHABLE, present=False, timeout=60)
    c.wait_formed(timeout=60)
    c.set(2, "h323.ttl_s", 90)                           # forwarded again
    c.wait_replicated("h323.ttl_s", 90)
