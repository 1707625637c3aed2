"""Licensing through the real binaries: keys issued by causeway-license and
installed with `causeway license add`, leases over the control protocol and
from another actor, and the pool across a cluster of three real nodes.

One node:
  - keys issued by the tool are accepted and listed decoded; an altered,
    forged (another issuer), expired or wrongly bound key is refused with
    the reason, and nothing changes;
  - an acknowledged add survives kill -9 of the licensing actor and of the
    whole node;
  - acquire until refused takes exactly the pool; release frees; a control
    client's leases are freed when it disconnects; an actor killed while
    holding leases gets them freed (the actor is bench_license in its hold
    mode, declared in the bootstrap's actor list).
Three nodes:
  - keys on two peers are pooled and every peer shows the pool;
  - many concurrent clients on all three peers acquiring until refused
    never exceed the pool and together use all of it; release frees;
  - a feature key on one peer only raises 30023 (naming the peers and the
    key) and installing it everywhere clears it;
  - a killed peer's licenses stay in the pool for the (shortened) grace
    period with 30012 counting down, then leave with 30013.
"""
import json
import os
import signal
import subprocess
import threading


import pytest
import zmq

from cwcluster import make_cluster  # noqa: F401 - fixture
from cwtest import ACTORS, BIN, Node, wait_gone

RMS = "rich_media_sessions"


# -- keys ----------------------------------------------------------------------

class Issuer:
    """An issuer made with `causeway-license keygen`; issue() prints keys."""

    def __init__(self, folder):
        self.dir = str(folder)
        r = subprocess.run([os.path.join(BIN, "causeway-license"), "keygen", self.dir],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        self.pub = os.path.join(self.dir, "issuer.pub")
        self.key = os.path.join(self.dir, "issuer.key")

    def issue(self, kind, count=1, system=None, expires=None):
        args = [os.path.join(BIN, "causeway-license"), "issue", "--key", self.key,
                "--kind", kind, "--count", str(count)]
        if system:
            args += ["--system", system]
        if expires:
            args += ["--expires", expires]
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()


@pytest.fixture
def issuer(tmp_path):
    return Issuer(tmp_path / "issuer")


def altered(key):
    """KEY with one character of its payload changed (still valid base64url)."""
    prefix, payload, signature = key.split(".")
    i = len(payload) // 2
    c = "A" if payload[i] != "A" else "B"
    return ".".join([prefix, payload[:i] + c + payload[i + 1:], signature])


def call_ok(node, command, args=None):
    status, body = node.call(command, args or {})
    assert status == "ok", "%s: %s" % (command, body)
    return body


def pool(node, kind=RMS):
    return call_ok(node, "license.status")["types"][kind]


class Client:
    """A persistent control client (its own connection, so its own leases)."""

    def __init__(self, endpoint):
        self.socket = zmq.Context.instance().socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVTIMEO, 20000)
        self.socket.connect(endpoint)

    def call(self, command, args=None):
        self.socket.send_multipart([b"CW1", command.encode(), json.dumps(args or {}).encode()])
        frames = self.socket.recv_multipart()
        return frames[1].decode(), json.loads(frames[2])

    def acquire(self, kind=RMS):
        status, body = self.call("license.acquire", {"kind": kind})
        assert status == "ok", body
        return body

    def close(self):
        self.socket.close()


# -- one node --------------------------------------------------------------------

def licensed_node(tmp_path, issuer, grace=259200, extra_actors=(), name="peer1"):
    actors = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
    actors += list(extra_actors)
    node = Node(tmp_path, name=name, actors=actors,
                licensing={"issuers": [issuer.pub], "lost_peer_grace_s": grace})
    return node


@pytest.fixture
def node(tmp_path, issuer):
    n = licensed_node(tmp_path, issuer)
    n.start()
    yield n
    n.cleanup()


def test_keys_accepted_and_refused_with_the_reason(node, issuer, tmp_path):
    key = issuer.issue(RMS, 50)
    r = node.cli("license", "add", key)
    assert r.returncode == 0, r.stderr
    bound = issuer.issue("room_systems", 10, system="peer1", expires="2099-12-31")
    assert node.cli("license", "add", bound).returncode == 0
    listed = call_ok(node, "license.list")["keys"]
    assert [(k["kind"], k["count"], k["state"]) for k in listed] == [(RMS, 50, "active"), ("room_systems", 10, "active")]
    assert listed[1]["system"] == "peer1" and listed[1]["expires"] == "2099-12-31"
    assert all("signature" not in json.dumps(k).lower() for k in listed)
    assert pool(node)["pool"] == 50 and pool(node, "room_systems")["pool"] == 10

    other = Issuer(tmp_path / "other")
    refused = {
        "altered": altered(issuer.issue(RMS, 5)),
        "forged": other.issue(RMS, 1000),
        "expired": issuer.issue(RMS, 5, expires="2020-01-31"),
        "bound to": issuer.issue(RMS, 5, system="some-other-system"),
    }
    for word, bad in refused.items():
        r = node.cli("license", "add", bad)
        assert r.returncode != 0, (word, r.stdout)
        assert word in (r.stderr + r.stdout), (word, r.stderr)
    r = node.cli("license", "add", key)            # twice
    assert r.returncode != 0 and "already installed" in r.stderr
    r = node.cli("license", "add", "CWL1.garbage")
    assert r.returncode != 0 and "malformed" in r.stderr
    # nothing changed
    assert len(call_ok(node, "license.list")["keys"]) == 2
    assert pool(node)["pool"] == 50

    # remove by serial
    serial = listed[0]["serial"]
    assert node.cli("license", "remove", serial).returncode == 0
    assert pool(node)["pool"] == 0
    r = node.cli("license", "remove", serial)
    assert r.returncode != 0 and "no installed key" in r.stderr


def test_acknowledged_add_survives_kill9(node, issuer):
    pid = node.actors()["licensing"]["pid"]
    call_ok(node, "license.add", {"key": issuer.issue(RMS, 7)})
    os.kill(pid, signal.SIGKILL)
    node.wait_for(lambda: node.actors()["licensing"].get("pid") not in (0, pid)
                  and node.actors()["licensing"]["state"] == "running", 20)
    assert pool(node)["pool"] == 7
    call_ok(node, "license.add", {"key": issuer.issue(RMS, 3)})
    node.kill9()
    node.start()
    assert pool(node)["pool"] == 10
    assert [k["count"] for k in call_ok(node, "license.list")["keys"]] == [7, 3]


def test_leases_pool_release_and_disconnect(node, issuer):
    call_ok(node, "license.add", {"key": issuer.issue(RMS, 20)})
    a, b = Client(node.endpoint), Client(node.endpoint)
    leases = []
    for i in range(20):
        body = (a if i % 2 else b).acquire()
        assert body["granted"] is True, body
        leases.append(body["lease"])
    assert len(set(leases)) == 20
    refused = a.acquire()
    assert refused["granted"] is False and "used up" in refused["reason"], refused
    status = pool(node)
    assert (status["pool"], status["used"], status["free"]) == (20, 20, 0)
    # alarm 30021: used up
    node.wait_for(lambda: any(x["id"] == 30021 for x in call_ok(node, "alarms.list")["alarms"]), 10)
    # release frees one
    st, body = a.call("license.release", {"lease": leases[1]})
    assert st == "ok" and body["released"] is True
    assert a.acquire()["granted"] is True
    st, body = a.call("license.release", {"lease": "nonsense"})
    assert st == "error" and "no lease" in body["error"]
    # b disconnects: its 10 leases come back
    b.close()
    node.wait_for(lambda: pool(node)["used"] == 10, 10, lambda: "used: %s" % pool(node))
    assert a.acquire()["granted"] is True
    # kill -9 of the licensing actor keeps a's leases (the table is in a mapped file)
    pid = node.actors()["licensing"]["pid"]
    os.kill(pid, signal.SIGKILL)
    node.wait_for(lambda: node.actors()["licensing"].get("pid") not in (0, pid)
                  and node.actors()["licensing"]["state"] == "running", 20)
    node.wait_for(lambda: pool(node)["used"] == 11, 10, lambda: "used: %s" % pool(node))
    a.close()
    node.wait_for(lambda: pool(node)["used"] == 0, 10, lambda: "used: %s" % pool(node))
    # several at once: all or none, and released together
    c = Client(node.endpoint)
    st, body = c.call("license.acquire", {"kind": RMS, "count": 21})
    assert st == "ok" and body["granted"] is False, body
    assert pool(node)["used"] == 0
    st, body = c.call("license.acquire", {"kind": RMS, "count": 20})
    assert st == "ok" and body["granted"] is True and len(set(body["leases"])) == 20, body
    assert c.acquire()["granted"] is False
    st, gone = c.call("license.release", {"leases": body["leases"][:5] + ["nonsense"]})
    assert st == "ok" and gone["count"] == 5 and gone["not_held"] == ["nonsense"], gone
    assert pool(node)["used"] == 15
    st, body = c.call("license.acquire", {"kind": RMS, "count": 0})
    assert st == "error" and "count" in body["error"]
    c.close()
    node.wait_for(lambda: pool(node)["used"] == 0, 10, lambda: "used: %s" % pool(node))
    # bad arguments
    st, body = node.call("license.acquire", {"kind": "feature:traversal"})
    assert st == "error" and "capacity kind" in body["error"]


def test_cli_acquire_hold(node, issuer):
    call_ok(node, "license.add", {"key": issuer.issue(RMS, 2)})
    hold = subprocess.Popen([os.path.join(BIN, "causeway"), "--config", node.conf, "license", "acquire", RMS,
                             "--hold"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    node.wait_for(lambda: pool(node)["used"] == 1, 10)
    hold.send_signal(signal.SIGINT)
    out, err = hold.communicate(timeout=10)
    assert hold.returncode == 0, err
    assert "granted" in out
    node.wait_for(lambda: pool(node)["used"] == 0, 10)


def test_actor_killed_while_holding_leases(tmp_path, issuer):
    holder = {"name": "licbench", "path": os.path.join(BIN, "bench_license"), "restart": "temporary",
              "shutdown_timeout_ms": 2000}
    n = licensed_node(tmp_path, issuer, extra_actors=[holder])
    os.environ["BENCH_LICENSE_MODE"] = "hold:%s:5" % RMS
    try:
        n.start()
    finally:
        del os.environ["BENCH_LICENSE_MODE"]
    try:
        call_ok(n, "license.add", {"key": issuer.issue(RMS, 8)})
        n.wait_for(lambda: pool(n)["used"] == 5, 20, lambda: "used: %s" % pool(n))
        pid = n.actors()["licbench"]["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)
        n.wait_for(lambda: pool(n)["used"] == 0, 10, lambda: "used: %s" % pool(n))
    finally:
        n.cleanup()


# -- three nodes -----------------------------------------------------------------

def licensed_cluster(make_cluster, issuer, n=3, grace=259200):  # noqa: F811
    sections = {k: {"licensing": {"issuers": [issuer.pub], "lost_peer_grace_s": grace}} for k in range(1, n + 1)}
    c = make_cluster(n, node_sections=sections)
    c.form_guide_way()
    return c


def wait_pool(c, nodes, expected, kind=RMS, timeout=20):
    for k in nodes:
        c[k].wait_for(lambda: pool(c[k], kind)["pool"] == expected, timeout,
                      lambda: "node %d: %s" % (k, pool(c[k], kind)))


def test_pool_across_three_peers(make_cluster, issuer):  # noqa: F811
    c = licensed_cluster(make_cluster, issuer)
    call_ok(c[1], "license.add", {"key": issuer.issue(RMS, 40)})
    call_ok(c[2], "license.add", {"key": issuer.issue(RMS, 20)})
    wait_pool(c, (1, 2, 3), 60)
    by_peer = pool(c[3])["by_peer"]
    assert by_peer["peer1"]["installed"] == 40 and by_peer["peer2"]["installed"] == 20
    assert by_peer["peer3"]["installed"] == 0 and by_peer["peer3"]["state"] == "this"
    # peer 3 has no rms key while the cluster has: 30022 (info)
    c.wait_alarm(3, 30022)

    # many clients on all three peers, acquiring until refused
    clients = {k: [Client(c[k].endpoint) for _ in range(6)] for k in (1, 2, 3)}
    granted = {k: [] for k in (1, 2, 3)}
    reasons = []
    lock = threading.Lock()

    def run(k, client):
        while True:
            body = client.acquire()
            if not body["granted"]:
                with lock:
                    reasons.append(body["reason"])
                return
            with lock:
                granted[k].append(body["lease"])

    threads = [threading.Thread(target=run, args=(k, cl)) for k in clients for cl in clients[k]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    total = sum(len(v) for v in granted.values())
    assert total == 60, (total, {k: len(v) for k, v in granted.items()}, reasons[:3])
    assert all("used up" in r for r in reasons), reasons
    for k in (1, 2, 3):
        c[k].wait_for(lambda: pool(c[k])["used"] == 60, 10, lambda: "node %d: %s" % (k, pool(c[k])))
    # release frees: a license released on peer 3 can be taken on peer 1
    st, body = clients[3][0].call("license.release", {"lease": granted[3][0]})
    assert st == "ok", body
    body = clients[1][0].acquire()
    assert body["granted"] is True, body
    for k in clients:
        for cl in clients[k]:
            cl.close()
    for k in (1, 2, 3):
        c[k].wait_for(lambda: pool(c[k])["used"] == 0, 15, lambda: "node %d: %s" % (k, pool(c[k])))

    # feature keys: on peer 1 only -> 30023 naming the key and the peers
    call_ok(c[1], "license.add", {"key": issuer.issue("feature:traversal")})
    alarm = c.wait_alarm(2, 30023)
    assert "feature:traversal" in alarm["detail"] and "peer1" in alarm["detail"] and "peer2" in alarm["detail"]
    call_ok(c[2], "license.add", {"key": issuer.issue("feature:traversal")})
    call_ok(c[3], "license.add", {"key": issuer.issue("feature:traversal")})
    for k in (1, 2, 3):
        c.wait_alarm(k, 30023, present=False)
    assert call_ok(c[3], "license.status")["feature_mismatch"] is False


def test_lost_peer_licenses_leave_after_grace(make_cluster, issuer):  # noqa: F811
    c = licensed_cluster(make_cluster, issuer, grace=12)
    call_ok(c[1], "license.add", {"key": issuer.issue(RMS, 10)})
    call_ok(c[3], "license.add", {"key": issuer.issue(RMS, 5)})
    wait_pool(c, (1, 2, 3), 15)
    c.kill9(3)
    alarm = c.wait_alarm(1, 30012, timeout=20, match=lambda a: "127.0.1.3" in a["detail"])
    assert "rich_media_sessions 5" in alarm["detail"] and "left)" in alarm["detail"]
    st = pool(c[1])
    assert st["pool"] == 15 and st["lost"] and st["lost"][0]["licenses"] == 5
    # after the grace: out of the pool, another alarm
    c.wait_alarm(1, 30013, timeout=40)
    c.wait_alarm(1, 30012, present=False, timeout=5)
    wait_pool(c, (1, 2), 10)
    # back: in the pool again, alarms cleared
    c.start(3)
    wait_pool(c, (1, 2, 3), 15, timeout=60)
    c.wait_alarm(1, 30013, present=False, timeout=30)


def test_damaged_licensing_db_is_replaced_and_said(node, issuer):
    call_ok(node, "license.add", {"key": issuer.issue(RMS, 5)})
    node.stop()
    path = os.path.join(node.state_dir, "licensing.db")
    with open(path, "r+b") as f:
        f.write(b"this is not an SQLite database, " * 64)
    node.start()
    alarm = node.wait_for(lambda: [a for a in call_ok(node, "alarms.list")["alarms"]
                                   if a["id"] == 10002 and a["subject"] == "licensing.db"], 10)[0]
    assert "moved aside to" in alarm["detail"] and "causeway license add" in alarm["detail"], alarm
    assert call_ok(node, "license.list")["keys"] == []
    assert [f for f in os.listdir(node.state_dir) if f.startswith("licensing.db.damaged-")]
    # the next start finds it sound: the alarm clears
    node.stop()
    node.start()
    node.wait_for(lambda: not [a for a in call_ok(node, "alarms.list")["alarms"]
                               if a["id"] == 10002 and a["subject"] == "licensing.db"], 10)
