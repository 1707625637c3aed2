"""Integration tests of what a monitor of the alarm socket relies on: the
sequence numbers ("seq") and the snapshot that ends every replay, and
tools/alarm-monitor.py, which follows the README's recovery rule.

A real causewayd with the real causeway-alarms, driven through the
`causeway` CLI and the control socket, watched with python zmq SUB sockets.
What is checked: seq increases by one per raise, update, ack and clear, and
keeps increasing across a kill -9 of the alarms actor, a node restart and a
node crash; a late subscriber gets the replay and then exactly one
alarm.snapshot whose uuids are the active alarms of `causeway alarms list`;
a monitor that was away while an alarm was cleared learns it from the
snapshot; a subscriber that stops reading and overflows the socket's queue
sees a gap in seq; alarm-monitor.py, stopped (SIGSTOP) through such an
overflow, notices the gap, resubscribes and ends with the right active set.
"""
import json
import os
import select
import signal
import subprocess
import time

import pytest
import zmq

from cwtest import HERE, Node, recv_alarm

MONITOR = os.path.normpath(os.path.join(HERE, "../../tools/alarm-monitor.py"))
ALARMS_ONLY = [{"name": "alarms", "restart": "permanent", "shutdown_timeout_ms": 2000}]
SNDHWM = 100000        # the actor's per-subscriber queue (ALARMS_SNDHWM)


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path, actors=ALARMS_ONLY).start()
    yield n
    n.cleanup()


def cli_json(node, *args):
    r = node.cli("--json", *args)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def active_uuids(node):
    return {a["uuid"] for a in cli_json(node, "alarms", "list")["alarms"]}


def alarms_pid(node):
    return node.actors()["alarms"]["pid"]


def wait_restarted(node, old_pid):
    def running():
        a = node.actors()["alarms"]
        return a["state"] == "running" and a["pid"] != old_pid and a["pid"]
    return node.wait_for(running, 10, "the alarms actor did not come back")


def subscribe(node, *topics, rcvhwm=None):
    s = node.ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    if rcvhwm is not None:
        s.setsockopt(zmq.RCVHWM, rcvhwm)
    for t in topics:
        s.setsockopt(zmq.SUBSCRIBE, t)
    s.connect(node.alarm_endpoint)
    return s


def drain(sock, quiet_ms=500, limit_s=10):
    """Every message that arrives until SOCK is quiet for QUIET_MS."""
    out = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and sock.poll(quiet_ms):
        topic, body = sock.recv_multipart()
        out.append((topic.decode(), json.loads(body)))
    return out


def pipelined(node, requests, window=200):
    """Send (command, args) REQUESTS over one DEALER, WINDOW in flight;
    every one must succeed."""
    s = node.ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 20000)
    s.connect(node.endpoint)
    try:
        sent = answered = 0
        while answered < len(requests):
            while sent < len(requests) and sent - answered < window:
                command, args = requests[sent]
                s.send_multipart([b"CW1", command.encode(), json.dumps(args).encode()])
                sent += 1
            frames = s.recv_multipart()
            assert frames[1] == b"ok", frames
            answered += 1
    finally:
        s.close()


def raise_many(node, count, first=91000):
    pipelined(node, [("alarms.raise", {"id": first + i, "detail": "monitor test %d with some words" % i})
                     for i in range(count)])


def flood(node, rounds):
    """Make the actor replay every active alarm ROUNDS times, one replay per
    round (a subscription it sees, then the snapshot that ends its replay):
    the replays go to every subscriber of "alarm." on the endpoint."""
    trigger = subscribe(node, b"alarm.snapshot")
    try:
        for i in range(rounds):
            if i:
                trigger.setsockopt(zmq.UNSUBSCRIBE, b"alarm.snapshot")
                trigger.setsockopt(zmq.SUBSCRIBE, b"alarm.snapshot")
            recv_alarm(trigger, "alarm.snapshot", 10000)
    finally:
        trigger.close()


def test_seq_increases_over_changes_and_restarts(node):
    sub = subscribe(node, b"alarm.", b"heartbeat")
    _, snap = recv_alarm(sub, "alarm.snapshot")
    last = snap["seq"]
    assert snap["uuids"] == [] and snap["peer"] == "peer1"

    def next_change(topic):
        nonlocal last
        t, body = recv_alarm(sub, "alarm.")
        while t == "alarm.snapshot":       # the replay for the second subscription
            assert body["seq"] == last, body
            t, body = recv_alarm(sub, "alarm.")
        assert t == topic, (t, body)
        assert body["seq"] == last + 1, (topic, body["seq"], last)
        last = body["seq"]
        return body

    assert node.cli("alarms", "raise", "90001", "one").returncode == 0
    uuid = next_change("alarm.raised.90001")["uuid"]
    assert node.cli("alarms", "raise", "90001", "one, updated").returncode == 0
    assert next_change("alarm.raised.90001")["detail"] == "one, updated"
    assert node.cli("alarms", "ack", uuid).returncode == 0
    next_change("alarm.acknowledged.90001")
    assert node.cli("alarms", "clear", "90001").returncode == 0
    next_change("alarm.cleared.90001")
    assert node.cli("alarms", "raise", "90002", "two").returncode == 0
    next_change("alarm.raised.90002")
    _, beat = recv_alarm(sub, "heartbeat")
    assert beat["seq"] == last      # a heartbeat takes no number
    sub.close()

    def numbering_goes_on(what):
        nonlocal last
        s = subscribe(node, b"alarm.")
        try:
            _, snap = recv_alarm(s, "alarm.snapshot")
            assert snap["seq"] == last, (what, snap, last)
            assert node.cli("alarms", "raise", "90003", what).returncode == 0
            t, body = recv_alarm(s, "alarm.raised.90003")
            assert body["seq"] == last + 1, (what, body, last)
            last = body["seq"]
        finally:
            s.close()

    pid = alarms_pid(node)
    os.kill(pid, signal.SIGKILL)
    wait_restarted(node, pid)
    numbering_goes_on("after kill -9 of the alarms actor")
    node.stop()
    node.start()
    numbering_goes_on("after a node restart")
    node.kill9()
    node.start()
    numbering_goes_on("after a node crash")


def test_late_subscriber_gets_replay_then_one_snapshot(node):
    for i in range(5):
        assert node.cli("alarms", "raise", str(90010 + i), "alarm %d" % i).returncode == 0
    assert node.cli("alarms", "clear", "90011").returncode == 0
    uuid = [a for a in cli_json(node, "alarms", "list")["alarms"] if a["id"] == 90012][0]["uuid"]
    assert node.cli("alarms", "ack", uuid).returncode == 0
    expected = active_uuids(node)
    assert len(expected) == 4

    sub = subscribe(node, b"alarm.")
    messages = drain(sub, quiet_ms=1500)
    topics = [t for t, _ in messages]
    assert topics.count("alarm.snapshot") == 1, topics
    assert topics[-1] == "alarm.snapshot", topics
    replay, snap = messages[:-1], messages[-1][1]
    assert {b["uuid"] for _, b in replay} == expected
    assert all(t.split(".")[1] in ("raised", "acknowledged") for t, _ in replay), topics
    assert set(snap) == {"peer", "seq", "uuids"}
    assert snap["peer"] == "peer1"
    assert sorted(snap["uuids"]) == sorted(expected) and len(snap["uuids"]) == 4
    # 5 raises, 1 clear, 1 ack; a replayed alarm carries the seq of its last change
    assert snap["seq"] == 7
    assert all(b["seq"] <= snap["seq"] for _, b in replay)
    assert {b["uuid"]: b["seq"] for _, b in replay}[uuid] == 7


def test_monitor_away_during_a_clear_learns_it_from_the_snapshot(node):
    for i in range(3):
        assert node.cli("alarms", "raise", str(90020 + i), "x").returncode == 0
    sub = subscribe(node, b"alarm.", b"heartbeat")
    replay = {}
    while True:
        topic, body = recv_alarm(sub, "alarm.")
        if topic == "alarm.snapshot":
            break
        replay[body["uuid"]] = body
    known = {u: replay[u] for u in body["uuids"]}
    last = body["seq"]
    gone = [u for u, a in known.items() if a["id"] == 90021][0]
    sub.close()                                    # the monitor goes away ...

    assert node.cli("alarms", "clear", "90021").returncode == 0    # ... and misses this

    sub = subscribe(node, b"alarm.", b"heartbeat")    # back: the replay, then the snapshot
    messages = []
    while True:
        topic, body = recv_alarm(sub, "alarm.")
        messages.append((topic, body))
        if topic == "alarm.snapshot":
            break
    snap = messages[-1][1]
    assert snap["seq"] == last + 1                 # one change happened meanwhile
    assert gone not in snap["uuids"]               # the clear, learned from the snapshot
    assert set(snap["uuids"]) == set(known) - {gone} == active_uuids(node)
    assert gone not in {b["uuid"] for _, b in messages[:-1]}


def test_slow_subscriber_that_overflows_sees_a_gap(node):
    raise_many(node, 1000)
    slow = subscribe(node, b"alarm.", b"heartbeat", rcvhwm=1)
    _, snap = recv_alarm(slow, "alarm.snapshot", 10000)
    last = snap["seq"]
    # The slow subscriber stops reading; more than SNDHWM messages queue
    # up for it (each flood round is a replay of the 1000 active alarms) ...
    flood(node, SNDHWM // 1000 + 30)
    # ... so these changes find its queue full and are dropped for it
    pipelined(node, [("alarms.clear", {"id": 91000 + i}) for i in range(5)])
    status, body = node.call("alarms.list", {})
    assert status == "ok" and len(body["alarms"]) == 995

    received = 0
    gap = None
    deadline = time.monotonic() + 120
    while gap is None and time.monotonic() < deadline:
        if not slow.poll(3000):
            break
        topic, body = slow.recv_multipart()
        topic, body = topic.decode(), json.loads(body)
        received += 1
        seq = body["seq"]
        if topic in ("heartbeat", "alarm.snapshot"):
            if seq != last:
                gap = (topic, last, seq)
        elif seq > last + 1:
            gap = (topic, last, seq)
        elif seq == last + 1:
            last = seq
    slow.close()
    assert gap is not None, "no gap seen after %d messages (last seq %d)" % (received, last)
    assert gap[2] >= last + 2, gap                     # at least one change was never seen


class MonitorProcess:
    """tools/alarm-monitor.py --json as a subprocess, its stdout read with a timeout."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(["/usr/bin/python3", MONITOR, "--json"] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""
        self.events = []

    def until(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                event = json.loads(line)
                self.events.append(event)
                if predicate(event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the monitor did not print the expected event; it printed %s"
                                     % [e["event"] for e in self.events][-20:])
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise AssertionError("the monitor exited: %s" % self.proc.stderr.read().decode())
                self.buf += chunk

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def test_monitor_tool_converges_after_a_gap(node):
    raise_many(node, 1000)
    mon = MonitorProcess("--config", node.conf)
    try:
        synced = mon.until(lambda e: e["event"] == "synced")
        assert set(synced["active"]) == active_uuids(node)
        first = synced["seq"]
        before = active_uuids(node)

        os.kill(mon.proc.pid, signal.SIGSTOP)     # a monitor too slow to keep up
        try:
            flood(node, SNDHWM // 1000 + 30)
            # Changes it cannot hear: clears, a raise, an ack
            pipelined(node, [("alarms.clear", {"id": 91000 + i}) for i in range(10)])
            status, body = node.call("alarms.raise", {"id": 90050, "detail": "raised while the monitor was stuck"})
            assert status == "ok", body
            fresh = body["alarm"]["uuid"]
            assert node.call("alarms.ack", {"uuid": fresh})[0] == "ok"
        finally:
            os.kill(mon.proc.pid, signal.SIGCONT)
        expected = active_uuids(node)
        assert fresh in expected and len(expected) == 991

        gap = mon.until(lambda e: e["event"] == "gap", timeout=120)
        assert gap["seq"] > first
        synced = mon.until(lambda e: e["event"] == "synced", timeout=60)
        assert set(synced["active"]) == expected
        assert synced["seq"] == first + 12       # 10 clears, a raise, an ack
        cleared = {e["alarm"]["uuid"] for e in mon.events if e["event"] == "cleared"}
        assert cleared == before - expected and len(cleared) == 10
        assert all(e["missed"] for e in mon.events if e["event"] == "cleared")
        assert any(e["event"] == "acknowledged" and e["alarm"]["uuid"] == fresh for e in mon.events)

        # Back in step: a change is heard as it happens
        assert node.cli("alarms", "clear", "90050").returncode == 0
        e = mon.until(lambda e: e["event"] == "cleared" and e["alarm"]["id"] == 90050)
        assert e["missed"] is False and e["alarm"]["seq"] == synced["seq"] + 1

        mon.proc.send_signal(signal.SIGINT)
        assert mon.proc.wait(10) == 0
    finally:
        mon.stop()
