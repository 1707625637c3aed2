"""Integration tests of the tms actor's external manager connection: a real
causewayd (alarms, replication, tms) configured with the `causeway` CLI,
talking HTTPS to the test manager of tests/tms_manager/manager.py (the test
CA of make_certs.sh), which records what it received.

What is checked: the registration arrives with this peer's facts and the
credentials; an alarm raised becomes a feedback event; the manager down
gives state failed and alarm 50001, back gives active and the alarm cleared;
every alarm raised during the outage arrives after it exactly once, also
across a kill -9 of the tms actor; 500s, truncated replies and a
certificate of an unknown CA (verify on) and a manager that does not
answer within 10 s give failed with the reason;
verify off accepts that certificate.
"""
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from cwtest import HERE, Node, wait_gone

MANAGER = os.path.normpath(os.path.join(HERE, "../tms_manager/manager.py"))
MAKE_CERTS = os.path.join(HERE, "make_certs.sh")
IP = "127.0.8.1"
PORT = 8443
CONTROL = 8444
ACTORS = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000}
          for a in ("alarms", "replication", "tms")]


class Manager:
    def __init__(self, tmp_path, certs):
        self.certs = certs
        self.record = os.path.join(str(tmp_path), "manager-record.jsonl")
        self.password_file = os.path.join(str(tmp_path), "manager-password")
        with open(self.password_file, "w") as f:
            f.write("s3cret-manager-pw\n")
        self.log = os.path.join(str(tmp_path), "manager.log")
        self.proc = None

    def start(self, fault="none"):
        c = self.certs
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", MANAGER, "--listen", "%s:%d" % (IP, PORT), "--control", "%s:%d" % (IP, CONTROL),
             "--cert", c + "/peer1.crt", "--key", c + "/peer1.key",
             "--wrong-cert", c + "/peer1-untrusted.crt", "--wrong-key", c + "/peer1-untrusted.key",
             "--user", "tms-user", "--password-file", self.password_file, "--record", self.record,
             "--fault", fault,
             # provisioning is tested by test_tms_provisioning: a small feed here
             "--users", "100", "--entries", "1000"],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        Node.wait_for(self._up, 10, "the test manager did not start")
        return self

    def _up(self):
        try:
            self.control("GET", "/control/fault")
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://%s:%d%s" % (IP, CONTROL, path), data=data, method=method)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def fault(self, mode):
        self.control("POST", "/control/fault", {"mode": mode})

    def received(self, operation=None):
        requests = self.control("GET", "/control/received")["requests"]
        return [r for r in requests if operation is None or r["operation"] == operation]

    def events(self, type_=None):
        out = []
        for r in self.received("PostEvents"):
            out.extend(e for e in r["body"]["events"] if type_ is None or e["type"] == type_)
        return out


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    subprocess.run(["sh", MAKE_CERTS, d, "1", "127.0.8."], check=True)
    return d


@pytest.fixture
def manager(tmp_path, certs):
    m = Manager(tmp_path, certs)
    yield m
    m.stop()


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path, actors=ACTORS).start()
    yield n
    n.cleanup()


def cli_ok(node, *args):
    r = node.cli(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def status(node):
    return json.loads(cli_ok(node, "--json", "tms", "status"))


def wait_state(node, state, timeout=15):
    return Node.wait_for(lambda: (lambda s: s if s["state"] == state else None)(status(node)), timeout,
                         lambda: "tms state is not %s: %s" % (state, status(node)))


def active_alarm_ids(node):
    body = json.loads(cli_ok(node, "--json", "alarms", "list"))
    return {a["id"] for a in body["alarms"]}


def configure(node, manager, certs, verify="on"):
    cli_ok(node, "tms", "credentials", "tms-user", "--password-file", manager.password_file)
    cli_ok(node, "config", "set", "tms.ca_file", certs + "/ca.crt")
    cli_ok(node, "config", "set", "tms.heartbeat_s", "1")
    cli_ok(node, "config", "set", "tms.verify_certificate", verify)
    cli_ok(node, "config", "set", "tms.address", "%s:%d" % (IP, PORT))


def test_registration_and_feedback_events(node, manager, certs):
    s = status(node)
    assert s["state"] == "initialising" and "tms.address" in s["reason"], s
    manager.start()
    configure(node, manager, certs)
    s = wait_state(node, "active")
    assert s["manager"] == "https://%s:%d/tms/public/external/management/SystemManagementService.asmx" % (IP, PORT)
    text = cli_ok(node, "tms", "status")
    assert "active" in text and "tms-user" in text
    assert "s3cret" not in text and "s3cret" not in node.read_log()

    reg = Node.wait_for(lambda: manager.received("Register"), 5, "no registration")[-1]
    assert reg["user"] == "tms-user"
    assert reg["body"]["node_id"] == "peer1" and reg["body"]["system_name"] == "peer1"
    assert reg["body"]["version"] and "peers" in reg["body"]

    cli_ok(node, "alarms", "raise", "90001", "disk check")
    Node.wait_for(lambda: [e for e in manager.events("alarm") if e["data"]["id"] == 90001], 10,
                  "the raised alarm did not reach the manager")
    boot = manager.events("boot")
    assert len(boot) == 1 and boot[0]["data"]["node_id"] == "peer1", boot
    Node.wait_for(lambda: manager.received("Heartbeat"), 5, "no heartbeat")
    assert status(node)["queue"]["length"] == 0


def test_outage_failed_alarm_and_no_event_lost_or_doubled(node, manager, certs):
    manager.start()
    configure(node, manager, certs)
    wait_state(node, "active")

    manager.stop()
    s = wait_state(node, "failed")
    assert s["reason"], s
    Node.wait_for(lambda: 50001 in active_alarm_ids(node), 10, "no alarm 50001 while failed")

    for i in range(2, 6):
        cli_ok(node, "alarms", "raise", str(90000 + i), "during the outage")
    Node.wait_for(lambda: status(node)["queue"]["length"] >= 4, 10, "the events were not queued")
    pid = node.actors()["tms"]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    for i in range(6, 9):
        cli_ok(node, "alarms", "raise", str(90000 + i), "during the outage, tms restarting")
    Node.wait_for(lambda: node.actors()["tms"]["state"] == "running" and node.actors()["tms"]["pid"] != pid, 10,
                  "the tms actor did not come back")
    # the restarted actor has its alarm subscription when the alarms raised
    # while it was down have come through the replay
    Node.wait_for(lambda: status(node)["queue"]["length"] >= 7, 10, "the replayed alarms were not queued")
    cli_ok(node, "alarms", "clear", "90003")
    wait_state(node, "failed")
    assert status(node)["queue"]["length"] >= 8

    manager.start()
    wait_state(node, "active", timeout=20)
    Node.wait_for(lambda: 50001 not in active_alarm_ids(node), 10, "alarm 50001 not cleared when active again")
    Node.wait_for(lambda: status(node)["queue"]["length"] == 0, 10, "the queue did not drain")

    events = manager.events("alarm")
    seen = [(e["data"]["id"], e["data"]["state"]) for e in events]
    for i in range(2, 9):
        assert seen.count((90000 + i, "raised")) == 1, (i, seen)
    assert seen.count((90003, "cleared")) == 1, seen
    ids = [e["id"] for e in manager.events()]
    assert len(ids) == len(set(ids)), "an event arrived twice"
    assert (50001, "raised") in seen


@pytest.mark.parametrize("fault,words", [("500", "HTTP 500"), ("truncate", "remaining"), ("cert", "certificate"),
                                         ("timeout", "timed out")])
def test_faults_give_failed_with_the_reason(node, manager, certs, fault, words):
    manager.start()
    configure(node, manager, certs)
    wait_state(node, "active")
    manager.fault(fault)
    s = wait_state(node, "failed", timeout=20)
    assert words.lower() in s["reason"].lower(), s
    assert s["reason"], s
    Node.wait_for(lambda: 50001 in active_alarm_ids(node), 10, "no alarm 50001")
    manager.fault("none")
    wait_state(node, "active")


def test_verify_off_accepts_an_unknown_ca(node, manager, certs):
    manager.start(fault="cert")
    configure(node, manager, certs, verify="off")
    wait_state(node, "active")
    cli_ok(node, "config", "set", "tms.verify_certificate", "on")
    s = wait_state(node, "failed")
    assert "certificate" in s["reason"].lower(), s
