"""Integration tests of the alarms actor: a real causewayd with the real
causeway-alarms, driven through the `causeway` CLI (as an operator would)
and watched on the alarm PUB socket with a python zmq SUB socket.

What is checked: an operator alarm raised from the CLI shows up on the
PUB socket with the documented topic and fields; a duplicate raise does not
duplicate it; ack and clear; the operator range is enforced; a late
subscriber is sent the active alarms; heartbeats; the table survives kill -9
of the alarms actor and of the whole node; no raise is lost while the alarms
actor restarts; the system name is the alarms' peer; the README's monitor
script works.
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest
import zmq

from cwtest import BIN, HERE, Node, recv_alarm, wait_gone

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FIELDS = {"id", "uuid", "state", "severity", "title", "detail", "action", "peer",
          "raised_at", "changed_at", "subject"}
MONITOR = os.path.normpath(os.path.join(HERE, "../../tools/alarm-monitor.py"))

ALARMS_ONLY = [{"name": "alarms", "restart": "permanent", "shutdown_timeout_ms": 2000}]


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path, actors=ALARMS_ONLY).start()
    yield n
    n.cleanup()


def connected_subscriber(node, topic=b""):
    """A SUB socket on the alarm endpoint, returned once it is known to be
    connected (it has received a heartbeat, sent every second here)."""
    sub = node.subscriber(topic)
    sub.setsockopt(zmq.SUBSCRIBE, b"heartbeat")
    recv_alarm(sub, "heartbeat", 5000)
    return sub


def cli_json(node, *args):
    r = node.cli("--json", *args)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def listed(node, all=False):
    return cli_json(node, "alarms", "list", *(["--all"] if all else []))["alarms"]


def alarms_pid(node):
    return node.actors()["alarms"]["pid"]


def wait_restarted(node, old_pid):
    def running():
        a = node.actors()["alarms"]
        return a["state"] == "running" and a["pid"] != old_pid and a["pid"]
    return node.wait_for(running, 10, "the alarms actor did not come back")


def test_operator_alarm_lifecycle(node):
    sub = connected_subscriber(node, b"alarm.")
    r = node.cli("alarms", "raise", "90001", "disk check")
    assert r.returncode == 0, r.stderr

    topic, alarm = recv_alarm(sub, "alarm.raised.90001")
    assert topic == "alarm.raised.90001"
    assert set(alarm) == FIELDS | {"seq"}
    assert alarm["id"] == 90001
    assert UUID_RE.match(alarm["uuid"])
    assert alarm["state"] == "raised"
    assert alarm["severity"] == "warning"
    assert alarm["title"] == "Operator alarm"
    assert alarm["detail"] == "disk check"
    assert alarm["action"]
    assert alarm["peer"] == "peer1"
    assert alarm["subject"] == ""
    assert TIME_RE.match(alarm["raised_at"]) and TIME_RE.match(alarm["changed_at"])
    uuid = alarm["uuid"]

    # Raising it again updates it, it does not duplicate it
    r = node.cli("alarms", "raise", "90001", "disk check, again")
    assert r.returncode == 0, r.stderr
    topic, again = recv_alarm(sub, "alarm.")
    assert (topic, again["uuid"], again["detail"]) == ("alarm.raised.90001", uuid, "disk check, again")
    active = listed(node)
    assert [(a["id"], a["uuid"]) for a in active] == [(90001, uuid)]

    # The human-readable list shows it too
    r = node.cli("alarms", "list")
    assert r.returncode == 0 and "90001" in r.stdout

    # Acknowledge
    r = node.cli("alarms", "ack", uuid)
    assert r.returncode == 0, r.stderr
    topic, acked = recv_alarm(sub, "alarm.")
    assert (topic, acked["uuid"], acked["state"]) == ("alarm.acknowledged.90001", uuid, "acknowledged")
    assert listed(node)[0]["state"] == "acknowledged"

    # Clear
    r = node.cli("alarms", "clear", "90001")
    assert r.returncode == 0, r.stderr
    topic, cleared = recv_alarm(sub, "alarm.")
    assert (topic, cleared["uuid"], cleared["state"]) == ("alarm.cleared.90001", uuid, "cleared")
    assert listed(node) == []
    history = listed(node, all=True)
    assert [(a["uuid"], a["state"]) for a in history] == [(uuid, "cleared")]

    # Raised again after the clear: a new occurrence
    assert node.cli("alarms", "raise", "90001", "disk check").returncode == 0
    topic, fresh = recv_alarm(sub, "alarm.")
    assert topic == "alarm.raised.90001" and fresh["uuid"] != uuid
    assert len(listed(node, all=True)) == 2

    # An ack of a cleared occurrence fails with a message
    r = node.cli("alarms", "ack", uuid)
    assert r.returncode == 1 and "cleared" in r.stderr


def test_operator_range_is_enforced(node):
    r = node.cli("alarms", "raise", "12", "not mine")
    assert r.returncode != 0
    assert "90000-99999" in r.stderr
    # The daemon refuses it too, whatever the client checks
    status, body = node.call("alarms.raise", {"id": 12, "detail": "not mine"})
    assert (status, body) == ("error", {"error": "alarm id 12 is outside the operator range 90000-99999"})
    status, body = node.call("alarms.raise", {"id": 10001, "detail": "x"})
    assert status == "error" and "operator range" in body["error"]
    status, body = node.call("alarms.clear", {"id": 10001})
    assert status == "error" and "operator range" in body["error"]
    assert listed(node, all=True) == []


def test_bad_requests_are_errors(node):
    pid = alarms_pid(node)
    cases = [("alarms.raise", {"detail": "x"}, "'id'"),
             ("alarms.raise", {"id": "abc", "detail": "x"}, "'id'"),
             ("alarms.raise", {"id": 90001}, "'detail'"),
             ("alarms.raise", {"id": 90001, "detail": ["x"]}, "'detail'"),
             ("alarms.clear", {"id": None}, "'id'"),
             ("alarms.ack", {}, "'uuid'"),
             ("alarms.ack", {"uuid": "no-such-uuid"}, "no alarm with uuid"),
             ("alarms.list", {"all": "yes"}, "'all'"),
             ("alarms.nonsense", {}, "unknown command")]
    for command, args, expected in cases:
        status, body = node.call(command, args)
        assert status == "error", (command, args, body)
        assert expected in body["error"], (command, args, body)
    assert alarms_pid(node) == pid
    assert node.call("alarms.list", {})[0] == "ok"


def test_late_subscriber_gets_the_present(node):
    for alarm_id, detail in (("90002", "first"), ("90003", "second"), ("90004", "gone")):
        assert node.cli("alarms", "raise", alarm_id, detail).returncode == 0
    assert node.cli("alarms", "clear", "90004").returncode == 0
    uuid3 = [a for a in listed(node) if a["id"] == 90003][0]["uuid"]
    assert node.cli("alarms", "ack", uuid3).returncode == 0

    sub = node.subscriber(b"alarm.")
    seen = {}
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(seen) < 2:
        if sub.poll(200):
            topic, body = sub.recv_multipart()
            seen[topic.decode()] = json.loads(body)
    assert set(seen) == {"alarm.raised.90002", "alarm.acknowledged.90003"}
    assert seen["alarm.raised.90002"]["detail"] == "first"
    # and nothing about the cleared one
    while sub.poll(300):
        topic, _ = sub.recv_multipart()
        assert topic != b"alarm.cleared.90004" and topic != b"alarm.raised.90004"


def test_heartbeat(node):
    assert node.cli("alarms", "raise", "90005", "x").returncode == 0
    sub = node.subscriber(b"heartbeat")
    _, first = recv_alarm(sub, "heartbeat", 5000)
    topic, beat = recv_alarm(sub, "heartbeat", 5000)
    assert topic == "heartbeat"
    assert set(beat) == {"peer", "active", "at", "seq"}
    assert beat["peer"] == "peer1" and beat["active"] == 1
    assert TIME_RE.match(beat["at"]) and beat["at"] > first["at"]


def test_table_survives_kill9_of_alarms_actor(node):
    assert node.cli("alarms", "raise", "90006", "kept").returncode == 0
    before = listed(node)
    pid = alarms_pid(node)
    os.kill(pid, signal.SIGKILL)
    wait_restarted(node, pid)
    assert listed(node) == before
    # The restarted actor publishes again (and replays the present)
    sub = node.subscriber(b"alarm.")
    topic, alarm = recv_alarm(sub, "alarm.raised.90006")
    assert alarm["uuid"] == before[0]["uuid"]


def test_table_survives_node_crash(node):
    assert node.cli("alarms", "raise", "90007", "crash").returncode == 0
    assert node.cli("alarms", "raise", "90008", "acked").returncode == 0
    uuid8 = [a for a in listed(node) if a["id"] == 90008][0]["uuid"]
    assert node.cli("alarms", "ack", uuid8).returncode == 0
    assert node.cli("alarms", "raise", "90009", "cleared").returncode == 0
    assert node.cli("alarms", "clear", "90009").returncode == 0
    before = listed(node, all=True)
    assert len(before) == 3

    node.kill9()
    node.start()
    assert listed(node, all=True) == before
    states = {a["id"]: a["state"] for a in listed(node)}
    assert states == {90007: "raised", 90008: "acknowledged"}
    # Raising an active alarm after the crash still updates the same occurrence
    assert node.cli("alarms", "raise", "90007", "crash").returncode == 0
    assert len(listed(node, all=True)) == 3


def test_no_raise_lost_while_alarms_restarts(node):
    expected = set()
    for i in range(3):
        pid = alarms_pid(node)
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)
        # The actor is down: the request waits in the broker until the
        # restarted actor is ready, and is answered after the commit.
        r = node.cli("alarms", "raise", str(90200 + i), "cli %d" % i)
        assert r.returncode == 0, r.stderr
        expected.add(90200 + i)
        wait_restarted(node, pid)
    assert {a["id"] for a in listed(node)} == expected


def test_raise_racing_a_kill_is_never_silently_lost(node):
    """A request sent the same instant the actor is killed may reach the
    dying process: then the client must get an error naming the actor, never
    an "ok" for an alarm that is not stored."""
    expected = set()
    for i in range(3):
        pid = alarms_pid(node)
        os.kill(pid, signal.SIGKILL)
        status, body = node.call("alarms.raise", {"id": 90100 + i, "detail": "direct %d" % i})
        if status == "ok":
            expected.add(90100 + i)
        else:
            assert "alarms" in body["error"], body
        wait_restarted(node, pid)
    assert expected <= {a["id"] for a in listed(node)}


def test_monitor_script(node):
    assert node.cli("alarms", "raise", "90011", "before the monitor").returncode == 0
    mon = subprocess.Popen(["/usr/bin/python3", MONITOR, node.alarm_endpoint],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = mon.stdout.readline()        # the replay of the active alarm
        assert line.startswith("alarm.raised.90011 ") and "before the monitor" in line, line
        assert node.cli("alarms", "clear", "90011").returncode == 0
        line = mon.stdout.readline()
        assert line.startswith("alarm.cleared.90011 ") and "Operator alarm" in line, line
    finally:
        mon.kill()
        mon.wait()


@pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "causeway-replication")),
                    reason="needs causeway-replication")
def test_peer_is_the_system_name(tmp_path):
    n = Node(tmp_path, actors=ALARMS_ONLY + [
        {"name": "replication", "restart": "permanent", "shutdown_timeout_ms": 2000}]).start()
    try:
        r = n.cli("config", "set", "system.name", "expressway-a")
        assert r.returncode == 0, r.stderr

        def peer_of_new_raise():
            status, body = n.call("alarms.raise", {"id": 90012, "detail": "x"})
            assert status == "ok", body
            return body["alarm"]["peer"] == "expressway-a"
        n.wait_for(peer_of_new_raise, 5, "system.name never became the alarms' peer")
        # and it is kept by a restarted alarms actor (the STATE is replayed)
        pid = alarms_pid(n)
        os.kill(pid, signal.SIGKILL)
        wait_restarted(n, pid)
        n.wait_for(peer_of_new_raise, 5, "a restarted alarms actor lost the system name")
    finally:
        n.cleanup()
