"""The SIP registrar through real processes: sipp (Debian's sip-tester)
sends REGISTERs to a real node's SIP listeners; the registrations are read
back with `causeway registrations list --json` and the control command
registrations.list, the licenses with license.status.

One node (SIP on 127.0.1.1:5060, UDP and TCP; sipp on 127.0.1.101):
  - REGISTER over UDP and over TCP: 200 listing the contact with its
    expires, the binding listed with peer, transport and source, one
    desktop_systems license per device;
  - 423 Interval Too Brief with Min-Expires below sip.registration.min_expires;
  - a domain outside sip.domains gets 404 and nothing is registered;
  - Contact: * with Expires: 0 removes every binding and frees the licenses;
  - a short registration expires by itself and frees its license;
  - SIP outbound over TCP: Require: outbound and Flow-Timer in the 200, the
    binding removed (and its license freed) as soon as the connection
    closes; without outbound the binding outlives the connection;
  - without a license key: 403 and nothing registered.
Three nodes (127.0.1.1..3, SIP on 5060 of each):
  - a REGISTER on peer 2 is listed on peer 3 (owner peer 2) within a short
    wait, and again after peer 3's routing actor restarted (it pulls peer
    2's table);
  - peer 2 killed: after the dead-peer time its bindings are listed on
    peer 3 as not usable.

These need the SIP core (the routing actor's listeners). Without it,
routing.status has no "listeners" and every test here is skipped, saying so.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from cwcluster import make_cluster  # noqa: F401 - fixture
from cwtest import ACTORS, HERE, Node
from test_license import Issuer

SIPP = shutil.which("sipp")
SCENARIOS = os.path.join(HERE, "sipp")
DOMAIN = "example.com"
SIP_PORT = 5060
CLIENT_IP = "127.0.1.101"


def sip_section(k):
    return {"listen": ["udp:127.0.1.%d:%d" % (k, SIP_PORT), "tcp:127.0.1.%d:%d" % (k, SIP_PORT)]}


def require_core(node):
    status, body = node.call("routing.status", {})
    if status != "ok" or "listeners" not in body:
        pytest.skip("the SIP core is not in this build (routing.status has no 'listeners'): "
                    "the registrar cannot be reached over SIP")
    if not SIPP:
        pytest.skip("sipp (sip-tester) is not installed")
    return body


def wait_listening(node, timeout=20):
    def bound():
        status, body = node.call("routing.status", {})
        return status == "ok" and body.get("listeners") and all(
            l.get("state") in ("listening", "bound", "up") for l in body["listeners"])
    node.wait_for(bound, timeout, lambda: "listeners: %s" % (node.call("routing.status", {}),))


class Sipp:
    """Runs one sipp scenario of tests/integration/sipp to completion."""

    def __init__(self, folder):
        self.dir = str(folder)
        os.makedirs(self.dir, exist_ok=True)
        self.port = 5170

    def run(self, scenario, target, user, transport="u1", local_ip=CLIENT_IP, port=None, **keys):
        port = port or self.port
        self.port += 1
        base = os.path.join(self.dir, "%s-%s-%d" % (scenario, user, port))
        args = [SIPP, target, "-sf", os.path.join(SCENARIOS, scenario + ".xml"), "-m", "1",
                "-i", local_ip, "-p", str(port), "-t", transport, "-s", user, "-nostdin",
                "-timeout", "20s", "-timeout_error", "-recv_timeout", "8000",
                "-trace_err", "-error_file", base + ".err", "-trace_msg", "-message_file", base + ".msg"]
        keys.setdefault("domain", DOMAIN)
        for k, v in keys.items():
            args += ["-key", k, str(v)]
        r = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=self.dir)
        r.messages = ""
        for suffix in (".msg", ".err"):
            try:
                with open(base + suffix, errors="replace") as f:
                    r.messages += f.read()
            except OSError:
                pass
        return r


def ok(r):
    assert r.returncode == 0, "sipp failed (%d):\n%s\n%s" % (r.returncode, r.stderr[-2000:], r.messages[-4000:])
    return r


def registrations(node, **args):
    status, body = node.call("registrations.list", args)
    assert status == "ok", body
    return body["registrations"]


def call_ok(node, command, args=None):
    status, body = node.call(command, args or {})
    assert status == "ok", "%s: %s" % (command, body)
    return body


def used(node, kind="desktop_systems"):
    return call_ok(node, "license.status")["types"][kind]["used"]


@pytest.fixture
def issuer(tmp_path):
    return Issuer(tmp_path / "issuer")


@pytest.fixture
def node(tmp_path, issuer):
    actors = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
    n = Node(tmp_path, name="peer1", actors=actors, licensing={"issuers": [issuer.pub]}, sip=sip_section(1))
    n.start()
    yield n
    n.cleanup()


def configure(node, **keys):
    for key, value in keys.items():
        r = node.cli("config", "set", key, value)
        assert r.returncode == 0, r.stderr


def test_register_list_unregister(node, issuer, tmp_path):
    require_core(node)
    wait_listening(node)
    configure(node, **{"sip.domains": DOMAIN})
    assert node.cli("license", "add", issuer.issue("desktop_systems", 5)).returncode == 0
    sipp = Sipp(tmp_path / "sipp")
    target = "127.0.1.1:%d" % SIP_PORT

    ok(sipp.run("reg_register", target, "alice", port=5171, expires=600))
    ok(sipp.run("reg_register", target, "bob", transport="t1", port=5172, expires=300))
    rows = registrations(node)
    by_aor = {r["aor"]: r for r in rows}
    assert set(by_aor) == {"sip:alice@example.com", "sip:bob@example.com"}, rows
    alice = by_aor["sip:alice@example.com"]
    for field in ("aor", "contact", "peer", "expires", "instance", "reg_id", "transport", "source"):
        assert field in alice, alice
    assert alice["contact"] == "sip:alice@%s:5171;transport=UDP" % CLIENT_IP or \
        alice["contact"].lower() == ("sip:alice@%s:5171;transport=udp" % CLIENT_IP), alice
    assert alice["peer"] == 1 and alice["transport"] == "udp" and alice["source"] == "%s:5171" % CLIENT_IP
    assert 590 <= alice["expires"] <= 600
    assert by_aor["sip:bob@example.com"]["transport"] == "tcp"
    assert used(node) == 2

    # The CLI shows the same, when it has the command
    r = node.cli("--json", "registrations", "list", "--aor", "sip:alice@example.com")
    if r.returncode == 0:
        listed = json.loads(r.stdout)
        listed = listed.get("registrations", listed)
        assert [x["aor"] for x in listed] == ["sip:alice@example.com"], r.stdout

    # A refresh takes no second license
    ok(sipp.run("reg_register", target, "alice", port=5171, expires=900))
    assert used(node) == 2
    assert registrations(node, aor="sip:alice@example.com")[0]["expires"] > 600

    # Below the minimum: 423 with Min-Expires, nothing changes
    r = ok(sipp.run("reg_brief", target, "carol", port=5173, expires=30))
    assert "Min-Expires: 60" in r.messages, r.messages[-2000:]
    assert [r["aor"] for r in registrations(node)] == ["sip:alice@example.com", "sip:bob@example.com"]

    # Another domain: refused, nothing registered
    r = sipp.run("reg_register", target, "dave", port=5174, expires=600, domain="other.example.org")
    assert r.returncode != 0 and "404" in r.messages, r.messages[-2000:]
    assert len(registrations(node)) == 2

    # Contact: * removes alice's bindings and frees her license
    ok(sipp.run("reg_unregister", target, "alice", port=5175))
    assert [r["aor"] for r in registrations(node)] == ["sip:bob@example.com"]
    node.wait_for(lambda: used(node) == 1, 10, lambda: "used: %s" % used(node))


def test_expiry_frees_the_license(node, issuer, tmp_path):
    require_core(node)
    wait_listening(node)
    configure(node, **{"sip.domains": DOMAIN, "sip.registration.min_expires": 10})
    assert node.cli("license", "add", issuer.issue("desktop_systems", 5)).returncode == 0
    sipp = Sipp(tmp_path / "sipp")
    ok(sipp.run("reg_register", "127.0.1.1:%d" % SIP_PORT, "erin", port=5181, expires=10))
    assert [r["aor"] for r in registrations(node)] == ["sip:erin@example.com"]
    assert used(node) == 1
    node.wait_for(lambda: registrations(node) == [] and used(node) == 0, 30,
                  lambda: "after expiry: %s, used %s" % (registrations(node), used(node)))


def test_outbound_flow_lost(node, issuer, tmp_path):
    require_core(node)
    wait_listening(node)
    configure(node, **{"sip.domains": DOMAIN})
    assert node.cli("license", "add", issuer.issue("desktop_systems", 5)).returncode == 0
    sipp = Sipp(tmp_path / "sipp")
    # Over TCP with outbound: the 200 has Require: outbound, Flow-Timer and
    # the binding's reg-id (it was in the table when the 200 was made)
    ok(sipp.run("reg_outbound", "127.0.1.1:%d" % SIP_PORT, "henry", transport="t1", port=5185, expires=600))
    # sipp has exited: its connection closed, the binding goes at once (not
    # after its 600 s) and so does its license
    node.wait_for(lambda: registrations(node) == [] and used(node) == 0, 5,
                  lambda: "after the flow closed: %s, used %s" % (registrations(node), used(node)))

    # Without Supported: outbound, the same parameters make no flow: the
    # binding outlives the connection
    ok(sipp.run("reg_register", "127.0.1.1:%d" % SIP_PORT, "ivan", transport="t1", port=5186, expires=600))
    time.sleep(1)
    rows = registrations(node)
    assert [(r["aor"], r["transport"], r["reg_id"]) for r in rows] == [("sip:ivan@example.com", "tcp", 0)], rows


def test_no_license_no_registration(node, tmp_path):
    require_core(node)
    wait_listening(node)
    configure(node, **{"sip.domains": DOMAIN})
    sipp = Sipp(tmp_path / "sipp")
    r = sipp.run("reg_register", "127.0.1.1:%d" % SIP_PORT, "frank", port=5191, expires=600)
    assert r.returncode != 0 and "403" in r.messages and "desktop_systems" in r.messages, r.messages[-2000:]
    assert registrations(node) == []


def test_cluster_wide_location(make_cluster, issuer, tmp_path):  # noqa: F811
    sections = {k: {"licensing": {"issuers": [issuer.pub]}, "sip": sip_section(k)} for k in (1, 2, 3)}
    c = make_cluster(3, node_sections=sections)
    require_core(c[1])
    c.form_guide_way()
    for k in (1, 2, 3):
        wait_listening(c[k])
    c.set(1, "sip.domains", DOMAIN)
    c.wait_replicated("sip.domains", [DOMAIN])
    call_ok(c[2], "license.add", {"key": issuer.issue("desktop_systems", 10)})
    sipp = Sipp(tmp_path / "sipp")

    ok(sipp.run("reg_register", "127.0.1.2:%d" % SIP_PORT, "grace", port=5201, expires=600))

    def on_peer3():
        rows = registrations(c[3], aor="sip:grace@example.com")
        return rows if rows and rows[0]["peer"] == 2 and rows[0].get("usable", True) else None
    rows = c[3].wait_for(on_peer3, 10, lambda: "peer 3 lists: %s" % registrations(c[3]))
    assert rows[0]["contact"].startswith("sip:grace@%s:5201" % CLIENT_IP)
    assert registrations(c[3], peer=2) == rows
    assert registrations(c[3], peer=3) == []

    # Peer 3's routing actor restarts with an empty table: it pulls peer 2's
    call_ok(c[3], "actors.restart", {"name": "routing"})
    c[3].wait_for(lambda: c[3].actors().get("routing", {}).get("state") == "running", 20)
    rows = c[3].wait_for(on_peer3, 15, lambda: "peer 3 after its restart: %s" % registrations(c[3]))
    assert rows[0]["contact"].startswith("sip:grace@%s:5201" % CLIENT_IP)

    # Peer 2 dies: after the dead-peer time its binding is not usable on peer 3
    c.kill9(2)

    def unusable():
        rows = registrations(c[3], aor="sip:grace@example.com")
        return rows == [] or (rows and rows[0].get("usable") is False)
    c[3].wait_for(unusable, 15, lambda: "peer 3 still lists: %s" % registrations(c[3]))
