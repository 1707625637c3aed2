"""Integration tests of the provisioning services: a 3-peer cluster (alarms,
replication, tms on each) and the test manager of tests/tms_manager
(HTTPS with the test CA, small generated data), driven with the
`causeway` CLI and the control socket.

What is checked, in order on one cluster: the primary pulls every service
and every peer holds the rows (replication.data.count equals the
manager's); only the primary asked the manager (its User-Agent names the
node); an edit and a removal reach every peer; `tms refresh` on a
subordinate names the primary, on the primary it pulls again from
revision 0 with the same counts; the manager answering 500 makes the
service failed with the reason, then idle again with the change made
meanwhile, and so do a truncated body and a certificate of an unknown CA; the primary's tms actor killed with SIGKILL in the middle of a
full pull resumes from the cursor (not from 0) and the counts are exact;
`causeway cluster disband` stops provisioning first.

Run: CAUSEWAY_BIN=build/bin PYTHONPATH=tests/integration \\
     /usr/bin/python3 -m pytest -q tests/integration/test_tms_provisioning.py
"""
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from cwcluster import Cluster
from cwtest import HERE, Node

MANAGER = os.path.normpath(os.path.join(HERE, "../tms_manager/manager.py"))
MAKE_CERTS = os.path.join(HERE, "make_certs.sh")
IP = "127.0.8.1"
PORT = 8453
CONTROL = 8454
USERS = 2000
ENTRIES = 100000
SERVICES = ("users", "findme", "phonebooks", "templates")
ACTORS = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000}
          for a in ("alarms", "replication", "tms")]


class Manager:
    def __init__(self, d, certs):
        self.password_file = os.path.join(d, "manager-password")
        with open(self.password_file, "w") as f:
            f.write("prov-manager-pw\n")
        self.log = open(os.path.join(d, "manager.log"), "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", MANAGER, "--listen", "%s:%d" % (IP, PORT), "--control", "%s:%d" % (IP, CONTROL),
             "--cert", certs + "/peer1.crt", "--key", certs + "/peer1.key",
             "--wrong-cert", certs + "/peer1-untrusted.crt", "--wrong-key", certs + "/peer1-untrusted.key",
             "--user", "tms-user", "--password-file", self.password_file,
             "--users", str(USERS), "--entries", str(ENTRIES)],
            stdout=self.log, stderr=subprocess.STDOUT)
        Node.wait_for(self._up, 10, "the test manager did not start")

    def _up(self):
        try:
            self.control("GET", "/control/fault")
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://%s:%d%s" % (IP, CONTROL, path), data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def counts(self):
        return {s: v["rows"] for s, v in self.control("GET", "/control/provisioning").items()}

    def pulls(self):
        return [r for r in self.control("GET", "/control/received")["requests"]
                if r["operation"] == "Provisioning"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("prov"))
    certs = os.path.join(d, "certs")
    os.makedirs(certs)
    subprocess.run(["sh", MAKE_CERTS, certs, "1", "127.0.8."], check=True, capture_output=True)
    manager = Manager(d, certs)
    c = Cluster(os.path.join(d, "cluster"), 3, node_sections={k: {"actors": ACTORS} for k in (1, 2, 3)})
    try:
        c.start()
        c.form_guide_way()
        c.ok(1, "tms", "credentials", "tms-user", "--password-file", manager.password_file)
        c.ok(1, "config", "set", "tms.ca_file", certs + "/ca.crt")
        c.set(1, "tms.address", "%s:%d" % (IP, PORT))
        yield c, manager
    finally:
        try:
            c.cleanup()
        finally:
            manager.stop()


def status(c, k):
    return c.json(k, "tms", "status")["provisioning"]


def count(c, k, service):
    st, body = c[k].call("replication.data.count", {"ns": "tms." + service})
    assert st == "ok", body
    return body["rows"]


def value(c, k, service, key):
    st, body = c[k].call("replication.data.get", {"ns": "tms." + service, "key": key})
    assert st == "ok", body
    return json.loads(body["value"]) if body["value"] is not None else None


def wait_idle(c, timeout=60):
    def idle():
        p = status(c, 1)
        return p if all(s["state"] == "idle" for s in p["services"].values()) else None
    return Node.wait_for(idle, timeout, lambda: "provisioning not idle on the primary: %s" % status(c, 1))


def wait_served(c, manager, timeout=60):
    want = manager.counts()

    def served():
        return all(count(c, k, s) == want[s] for k in (1, 2, 3) for s in SERVICES)
    Node.wait_for(served, timeout, lambda: "counts differ: manager %s, peers %s" % (
        want, {k: {s: count(c, k, s) for s in SERVICES} for k in (1, 2, 3)}))
    return want


def test_primary_pulls_every_peer_serves(env):
    c, manager = env
    p = wait_idle(c)
    assert p["role"] == "primary"
    want = wait_served(c, manager)
    assert want == {"users": USERS, "findme": USERS, "phonebooks": ENTRIES, "templates": 50}
    for s in SERVICES:
        svc = p["services"][s]
        assert svc["rows"] == want[s] and svc["revision"] == want[s] and svc["errors"] == 0, svc
        assert isinstance(svc["last_sync"], int) and abs(svc["last_sync"] - time.time()) < 120
    # the row as the manager sent it, on a subordinate
    row = value(c, 3, "findme", "f000042")
    assert row["alias"] == "user000042.findme@example.com" and row["active_location"] == "Office"
    assert row["locations"][0]["devices"] == ["user000042.desk@example.com", "user000042.room@example.com"]
    # the cursor, cluster-wide
    cur = json.loads(c[2].call("replication.data.get", {"ns": "tms.provisioning", "key": "phonebooks"})[1]["value"])
    assert cur["revision"] == ENTRIES and cur["rows"] == ENTRIES and cur["full"] is False
    # only the primary pulls
    sub = status(c, 2)
    assert sub["role"] == "subordinate" and {s["state"] for s in sub["services"].values()} == {"standby"}
    agents = {r["agent"] for r in manager.pulls()}
    assert agents and all("(node peer1)" in a for a in agents), agents
    text = c.ok(1, "tms", "status")
    assert "provisioning:  primary" in text and "phonebooks" in text and "idle" in text, text


def test_change_and_removal_reach_every_peer(env):
    c, manager = env
    changed = manager.control("POST", "/control/provisioning/change", {"service": "users", "count": 5, "first": 100})
    removed = manager.control("POST", "/control/provisioning/delete", {"service": "phonebooks", "count": 3,
                                                                        "first": 7})

    def arrived():
        return all(value(c, k, "users", i)["display_name"].endswith(" v%d" % (USERS + 1 + n))
                   and all(value(c, k, "phonebooks", e) is None for e in removed["ids"])
                   for k in (1, 2, 3) for n, i in enumerate(changed["ids"]))
    Node.wait_for(arrived, 20, "the change did not reach every peer")
    wait_served(c, manager)
    assert count(c, 2, "phonebooks") == ENTRIES - 3


def test_refresh(env):
    c, manager = env
    r = c.cli(2, "tms", "refresh")
    assert r.returncode != 0 and "primary" in r.stderr and "127.0.1.1" in r.stderr, (r.stdout, r.stderr)
    r = c.cli(1, "tms", "refresh", "nosuch")
    assert r.returncode != 0 and "no such provisioning service" in r.stderr, r.stderr
    before = len(manager.pulls())
    out = c.ok(1, "tms", "refresh", "users")
    assert "full pull started: users" in out, out
    wait_idle(c)
    after = manager.pulls()[before:]
    assert any(r["body"]["service"] == "users" and r["body"]["since"] == "0" for r in after), after
    assert not any(r["body"]["service"] == "phonebooks" and r["body"]["since"] == "0" for r in after)
    wait_served(c, manager)


def test_manager_500_then_back(env):
    c, manager = env
    wait_idle(c)
    manager.control("POST", "/control/fault", {"mode": "500"})
    try:
        # the long poll in flight answers this change; the next request gets the 500
        manager.control("POST", "/control/provisioning/change", {"service": "templates", "count": 1, "first": 3})
        failed = Node.wait_for(lambda: (lambda s: s if s["state"] == "failed" else None)(
            status(c, 1)["services"]["templates"]), 20, lambda: "templates not failed: %s" % status(c, 1))
        assert "HTTP 500" in failed["last_error"] and failed["errors"] >= 1, failed
        assert "HTTP 500" in c.ok(1, "tms", "status")
        manager.control("POST", "/control/provisioning/change", {"service": "templates", "count": 1, "first": 4})
    finally:
        manager.control("POST", "/control/fault", {"mode": "none"})
    wait_idle(c, 60)
    Node.wait_for(lambda: all("<rev>" in value(c, k, "templates", "t0004")["body"] for k in (1, 2, 3)), 20,
                  "the change made during the outage did not arrive")
    wait_served(c, manager)


@pytest.mark.parametrize("fault,reason", [("truncate", "transfer closed"), ("cert", "certificate")])
def test_truncated_body_and_wrong_certificate(env, fault, reason):
    c, manager = env
    wait_idle(c)
    manager.control("POST", "/control/fault", {"mode": fault})
    try:
        manager.control("POST", "/control/provisioning/change", {"service": "templates", "count": 1, "first": 5})
        failed = Node.wait_for(lambda: (lambda s: s if s["state"] == "failed" else None)(
            status(c, 1)["services"]["templates"]), 20, lambda: "templates not failed: %s" % status(c, 1))
        assert reason in failed["last_error"], failed
    finally:
        manager.control("POST", "/control/fault", {"mode": "none"})
    wait_idle(c, 60)
    wait_served(c, manager)


def test_primary_killed_mid_pull_resumes(env):
    c, manager = env
    wait_idle(c)
    before = len(manager.pulls())
    c.ok(1, "tms", "refresh", "phonebooks")
    # in the middle: some pages of the full pull acknowledged (the cursor moved)
    def middle():
        st, body = c[1].call("tms.status", {})
        rev = body["provisioning"]["services"]["phonebooks"]["revision"] if st == "ok" else -1
        return 0 < rev < ENTRIES * 6 // 10
    Node.wait_for(middle, 30, lambda: "no cursor in the middle of the pull: %s" % status(c, 1))
    pid = c[1].actors()["tms"]["pid"]
    os.kill(pid, signal.SIGKILL)
    Node.wait_for(lambda: c[1].actors().get("tms", {}).get("pid") not in (None, pid)
                  and c[1].actors()["tms"].get("state") == "running", 30, "the tms actor did not come back")
    wait_idle(c, 60)
    want = wait_served(c, manager)
    pulls = [r["body"] for r in manager.pulls()[before:] if r["body"]["service"] == "phonebooks"]
    zeros = [p for p in pulls if p["since"] == "0"]
    assert len(zeros) == 1, "the full pull started again from 0 after the kill: %s" % pulls
    # the restarted actor went on from its cursor: some request after the kill has since > 0
    # before any further since=0 (checked above), and every row is there once
    assert max(int(p["since"]) for p in pulls) >= ENTRIES
    assert count(c, 3, "phonebooks") == want["phonebooks"]


def test_disband_stops_provisioning(env):
    c, manager = env
    body = c.json(1, "cluster", "disband", timeout=60)
    assert body.get("provisioning") == "stopped", body
    p = status(c, 1)
    assert p["role"] == "stopped" and {s["state"] for s in p["services"].values()} == {"stopped"}, p
    # kept across a restart of the actor
    pid = c[1].actors()["tms"]["pid"]
    os.kill(pid, signal.SIGKILL)
    Node.wait_for(lambda: c[1].actors().get("tms", {}).get("pid") not in (None, pid)
                  and c[1].actors()["tms"].get("state") == "running", 30, "the tms actor did not come back")
    assert status(c, 1)["role"] == "stopped"
    r = c.cli(1, "tms", "refresh")
    assert r.returncode != 0 and "stopped" in r.stderr
    # the subordinates were reset: let them come back standalone before the teardown stops them
    for k in (2, 3):
        Node.wait_for(lambda: standalone(c, k), 90, lambda: "node %d still clustered: %s" % (k, c.status(k)))
        c[k].wait_running(60)


def standalone(c, k):
    st = c.status(k)
    try:
        return st is not None and not st.get("peers") and c.get(k, "cluster.peers") == []
    except Exception:  # noqa: BLE001 - restarting: retry
        return False
