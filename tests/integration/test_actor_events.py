"""What causewayd tells its actors about the others and about control
clients, seen from inside a real node.

A tiny actor written here in Python (the "probe", started by causewayd
like any other, from the spec's `path`) speaks the broker's envelope
protocol: it sends READY with its commands, heartbeats, waits as a warm
standby, and keeps every EVENT and STATE it is sent. Its commands:
probe.whoami -> {"from": <the from of the request>}, probe.events ->
{"events": [{"type", "from", "topic", "body"}, ...]}, probe.ask {command,
args} -> the supervisor's answer to COMMAND asked through the broker.

Checked: each control connection is its own client "@control:<id>" (two
connections, two ids; one connection, one id; on the CURVE endpoint as on
the ipc one), control.clients lists the
connected ones (to the control protocol and to an actor alike) and drops
one that disconnects, whose departure every actor hears as
control.client.closed; the alarms actor still keeps control clients to the
operator range; actors.list shows every actor's pid, actor.down and
actor.ready carry the old and the new pid when an actor restarts or is
killed; the replication actor's retained cluster.peers reaches a late
actor and follows system.name; an actor gets the data.changed events of
the namespaces it asked for in READY ("data"), every one when it did not
say.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import zmq

from cwtest import ACTORS, BIN, Node

PROBE = r'''#!/usr/bin/python3
import json, os, signal, socket, sys, time
import zmq

signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
name = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else "probe"
standby = os.environ.pop("CAUSEWAY_STANDBY_FD", None)
if standby is not None:                 # a warm standby: say so, wait for "go"
    waiter = socket.socket(fileno=int(standby))
    try:
        waiter.send(b"w")
    except OSError:
        pass
    if not waiter.recv(1):
        sys.exit(0)                     # dismissed
    waiter.close()
parent = os.getppid()
heartbeat_s = int(os.environ.get("CAUSEWAY_HEARTBEAT_MS", "200")) / 1000.0
ctx = zmq.Context()
sock = ctx.socket(zmq.DEALER)
sock.setsockopt(zmq.LINGER, 0)
sock.setsockopt(zmq.IDENTITY, name.encode())
sock.connect(os.environ["CAUSEWAY_BROKER"])


def send(kind, corr, to, command, body):
    sock.send_multipart([b"CWE1", kind, str(corr).encode(), name.encode(), to.encode(),
                         command.encode(), json.dumps(body).encode()])


commands = [{"name": name + ".whoami", "idempotent": False},
            {"name": name + ".events", "idempotent": True},
            {"name": name + ".ask", "idempotent": False}]
ready = {"pid": os.getpid(), "commands": commands}
if name == "picky":                     # asks for the data.changed of x.* only
    ready["data"] = ["x."]
send(b"READY", 0, "", "", ready)
events, asked, next_corr = [], {}, 1
next_beat = time.monotonic()
while True:
    wait = max(0.0, next_beat - time.monotonic())
    if sock.poll(int(wait * 1000) + 1):
        frames = sock.recv_multipart()
        if len(frames) != 7 or frames[0] != b"CWE1":
            continue
        kind, corr, sender, to, command, body = frames[1:]
        sender, command = sender.decode(), command.decode()
        if kind == b"TERM":
            break
        if kind in (b"EVENT", b"STATE"):
            events.append({"type": kind.decode(), "from": sender, "topic": command,
                           "body": json.loads(body or b"{}")})
        elif kind == b"REQUEST":
            args = json.loads(body or b"{}")
            if command == name + ".whoami":
                send(b"REPLY", int(corr), sender, "ok", {"from": sender})
            elif command == name + ".events":
                send(b"REPLY", int(corr), sender, "ok", {"events": events})
            elif command == name + ".ask":
                asked[next_corr] = (sender, int(corr))
                send(b"REQUEST", next_corr, "", args["command"], args.get("args", {}))
                next_corr += 1
            else:
                send(b"REPLY", int(corr), sender, "error", {"error": "unknown command " + command})
        elif kind == b"REPLY" and int(corr) in asked:
            sender_back, corr_back = asked.pop(int(corr))
            send(b"REPLY", corr_back, sender_back, command, json.loads(body or b"{}"))
    if time.monotonic() >= next_beat:
        if os.getppid() != parent:
            break
        send(b"HEARTBEAT", 0, "", "", {})
        next_beat = time.monotonic() + heartbeat_s
sock.close()
ctx.term()
'''

CLIENT = re.compile(r"^@control:[0-9]+$")


def _free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A node with the probe, and a CURVE control endpoint that lets in the
    client certificate tmp/admin.cert (made by `causeway keygen`)."""
    tmp = tmp_path_factory.mktemp("events")
    probe = tmp / "probe"
    probe.write_text(PROBE)
    probe.chmod(0o755)
    keys = tmp / "authorized"
    keys.mkdir()
    r = subprocess.run([os.path.join(BIN, "causeway"), "keygen", str(tmp / "admin.cert")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    (keys / "admin.cert").write_text((tmp / "admin.cert").read_text())
    specs = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
    specs.append({"name": "probe", "restart": "permanent", "shutdown_timeout_ms": 2000, "path": str(probe)})
    specs.append({"name": "picky", "restart": "permanent", "shutdown_timeout_ms": 2000, "path": str(probe)})
    curve_endpoint = "tcp://127.0.0.1:%d" % _free_tcp_port()
    n = Node(tmp, actors=specs, control={"curve_endpoint": curve_endpoint, "authorized_keys_dir": str(keys)}).start()
    n.admin_cert = str(tmp / "admin.cert_secret")
    n.curve_endpoint = curve_endpoint
    yield n
    n.cleanup()


def _z85_key(path, name):
    return re.search(r'%s = "(.{40})"' % name, open(path).read()).group(1).encode()


class Client:
    """One control connection kept open (a REQ socket), on the ipc endpoint
    or, with CURVE, on the tcp one."""

    def __init__(self, node, curve=False):
        self.sock = node.ctx.socket(zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, 5000)
        if curve:
            self.sock.curve_publickey = _z85_key(node.admin_cert, "public-key")
            self.sock.curve_secretkey = _z85_key(node.admin_cert, "secret-key")
            self.sock.curve_serverkey = _z85_key(os.path.join(node.state_dir, "control-curve.cert"),
                                                 "public-key")
            self.sock.connect(node.curve_endpoint)
        else:
            self.sock.connect(node.endpoint)

    def call(self, command, args=None):
        self.sock.send_multipart([b"CW1", command.encode(), json.dumps(args or {}).encode()])
        frames = self.sock.recv_multipart()
        assert frames[0] == b"CW1", frames
        return frames[1].decode(), json.loads(frames[2])

    def ok(self, command, args=None):
        status, body = self.call(command, args)
        assert status == "ok", (command, body)
        return body

    def close(self):
        self.sock.close()


def events(node, topic=None):
    status, body = node.call("probe.events")
    assert status == "ok", body
    return [e for e in body["events"] if topic is None or e["topic"] == topic]


def clients(node):
    status, body = node.call("control.clients")
    assert status == "ok", body
    return body["clients"]


def test_each_control_connection_is_a_client(node):
    a, b = Client(node), Client(node)
    try:
        me = a.ok("probe.whoami")["from"]
        assert CLIENT.match(me), me
        assert a.ok("probe.whoami")["from"] == me          # one connection, one name
        other = b.ok("probe.whoami")["from"]
        assert CLIENT.match(other) and other != me
        # a connection per call: a new name each time, never one seen before
        fresh = [node.call("probe.whoami")[1]["from"] for _ in range(3)]
        assert len(set(fresh + [me, other])) == 5, fresh
        assert all(CLIENT.match(f) for f in fresh), fresh

        # those are gone (their close is seen by the socket monitor shortly)
        node.wait_for(lambda: not set(fresh) & set(a.ok("control.clients")["clients"]), 5,
                      lambda: "closed clients still listed: %s" % a.ok("control.clients")["clients"])
        listed = a.ok("control.clients")["clients"]
        assert me in listed and other in listed, listed
        assert listed == sorted(listed, key=lambda c: int(c.split(":")[1])), listed
        # an actor asks the same through the broker
        assert me in node.call("probe.ask", {"command": "control.clients"})[1]["clients"]

        b.close()
        node.wait_for(lambda: other not in clients(node), 5, "a closed client is still listed")
        assert me in clients(node)
        closed = node.wait_for(lambda: [e for e in events(node, "control.client.closed")
                                        if e["body"] == {"client": other}], 5,
                               "control.client.closed never reached the actor")
        assert closed[0]["type"] == "EVENT" and closed[0]["from"] == "@supervisor"
        assert not [e for e in events(node, "control.client.closed") if e["body"] == {"client": me}]
    finally:
        a.close()
        b.close()


def test_a_busy_descriptor_number_never_renames_a_live_client(node):
    """Short connections open and close as fast as they can (each one takes
    the descriptor number the one before freed, often before causewayd has
    read that one's close), while two long ones stay: every short one gets a
    name never seen before, the long ones keep theirs, stay listed and never
    hear control.client.closed."""
    keep = [Client(node), Client(node)]
    try:
        names = [k.ok("probe.whoami")["from"] for k in keep]
        seen = set(names)
        for i in range(150):
            name = node.call("probe.whoami")[1]["from"]
            assert CLIENT.match(name) and name not in seen, (i, name, sorted(seen))
            seen.add(name)
            if i % 10 == 0:
                assert [k.ok("probe.whoami")["from"] for k in keep] == names
        listed = clients(node)
        assert all(n in listed for n in names), (names, listed)
        assert not [e for e in events(node, "control.client.closed") if e["body"]["client"] in names]
    finally:
        for k in keep:
            k.close()


def test_curve_clients_are_clients_too(node):
    plain, curve = Client(node), Client(node, curve=True)
    try:
        me = plain.ok("probe.whoami")["from"]
        them = curve.ok("probe.whoami")["from"]
        assert CLIENT.match(them) and them != me, (me, them)
        assert curve.ok("probe.whoami")["from"] == them
        assert them in curve.ok("control.clients")["clients"]
        curve.close()
        node.wait_for(lambda: them not in clients(node), 5, "a closed CURVE client is still listed")
        node.wait_for(lambda: [e for e in events(node, "control.client.closed") if e["body"] == {"client": them}],
                      5, "control.client.closed never came for the CURVE client")
        assert me in clients(node)
    finally:
        plain.close()
        curve.close()


def test_control_clients_keep_to_the_operator_alarm_range(node):
    status, body = node.call("alarms.raise", {"id": 10001, "detail": "not mine"})
    assert status == "error" and "outside the operator range" in body["error"], body
    status, body = node.call("alarms.raise", {"id": 90077, "detail": "probe"})
    assert status == "ok", body
    assert node.call("alarms.clear", {"id": 90077})[0] == "ok"


def _cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def test_actor_pids_and_lifecycle_events(node):
    actors = node.actors()
    for name, actor in actors.items():
        assert actor["pid"] > 0, actor
        assert ("causeway-" + name if name not in ("probe", "picky") else "/probe") in _cmdline(actor["pid"]), name
    # an operator restart: down with the old pid, then ready with the new one
    old = actors["tms"]["pid"]
    assert node.call("actors.restart", {"name": "tms"})[0] == "ok"
    new = node.wait_for(lambda: node.actors()["tms"]["state"] == "running"
                        and node.actors()["tms"]["pid"] != old and node.actors()["tms"]["pid"], 15)

    def seen():
        got = [(e["topic"], e["body"]) for e in events(node) if e["topic"] in ("actor.down", "actor.ready")
               and e["body"].get("name") == "tms" and e["body"].get("pid") in (old, new)]
        return got if len(got) >= 2 else None

    got = node.wait_for(seen, 5, lambda: "probe saw %s" % events(node))
    assert got == [("actor.down", {"name": "tms", "pid": old}),
                   ("actor.ready", {"name": "tms", "pid": new})], got
    # killed: the same, the new pid the one actors.list shows
    os.kill(new, signal.SIGKILL)
    newer = node.wait_for(lambda: node.actors()["tms"]["state"] == "running"
                          and node.actors()["tms"]["pid"] not in (old, new) and node.actors()["tms"]["pid"], 15)
    node.wait_for(lambda: {"name": "tms", "pid": newer} in [e["body"] for e in events(node, "actor.ready")], 5)
    downs = [e for e in events(node, "actor.down") if e["body"].get("name") == "tms"]
    assert [e["body"]["pid"] for e in downs] == [old, new], downs
    assert all(e["from"] == "@supervisor" and e["type"] == "EVENT" for e in downs)


def test_cluster_peers_reaches_a_late_actor(node):
    status = node.call("status")[1]
    peers = [e for e in events(node, "cluster.peers")]
    assert peers, "no cluster.peers replayed to the probe"
    assert peers[-1]["type"] == "STATE" and peers[-1]["from"] == "replication"
    assert peers[-1]["body"] == {"this_peer": 0, "primary": 0, "is_primary": False,
                                 "system_name": status["system_name"], "peers": []}, peers[-1]
    r = node.cli("config", "set", "system.name", "probe-node")
    assert r.returncode == 0, r.stderr
    changed = node.wait_for(lambda: [e for e in events(node, "cluster.peers")
                                     if e["body"]["system_name"] == "probe-node"], 5,
                            "cluster.peers did not follow system.name")
    assert changed[-1]["body"]["peers"] == []
    # published when it changes, not on every tick
    count = len(events(node, "cluster.peers"))
    time.sleep(1.0)
    assert len(events(node, "cluster.peers")) == count


def test_data_changed_only_to_the_actors_that_asked(node):
    for ns in ("x.wanted", "y.unwanted"):
        status, body = node.call("replication.data.put", {"ns": ns, "rows": [["k", ns]]})
        assert status == "ok", body

    def topics(name):
        status, body = node.call(name + ".events")
        assert status == "ok", body
        return [e["topic"] for e in body["events"] if e["topic"].startswith("data.changed.")]

    node.wait_for(lambda: {"data.changed.x.wanted", "data.changed.y.unwanted"} <= set(topics("probe")), 10,
                  lambda: "the probe (no \"data\" in READY) did not get both: %s" % topics("probe"))
    node.wait_for(lambda: "data.changed.x.wanted" in topics("picky"), 10,
                  lambda: "picky did not get x.wanted: %s" % topics("picky"))
    time.sleep(0.5)
    assert "data.changed.y.unwanted" not in topics("picky")
