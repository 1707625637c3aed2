"""Registrations survive a kill -9 of the routing actor alone, with no
license leak; the cluster's capacity figure in routing status.

One node (SIP on 127.0.1.1:5060, UDP and TCP; the clients on 127.0.1.101):
  - sipp registers N endpoints over UDP (one AOR each), and a small UA of
    this test registers one more with SIP outbound over TCP and keeps its
    connection open: N + 1 desktop_systems licenses in use;
  - kill -9 of the routing actor's process (its pid from `causeway actors
    list --json`); causewayd starts it again;
  - `causeway registrations list --json` lists the N UDP endpoints again,
    with their expiry counting on from before the kill; the TCP outbound
    binding is gone (its connection died with the process);
  - `causeway license status --json` shows exactly N desktop_systems in
    use, and still N a moment later (no lease of the dead process left,
    none taken twice);
  - `causeway routing status --json` says what was restored and dropped,
    and shows the capacity figure of one peer (the key's default 500 calls per
    peer, one peer counted);
  - the endpoints refresh their registrations (200, no new license), an
    OPTIONS is answered, an unregister frees its (re-acquired) license;
  - a restart of the whole node (causewayd) starts with no registrations
    and no license in use: registrations belong to one start of the node,
    like the licensing leases.
Three peers (127.0.1.1..3): sipp registers N endpoints on peer 2, peers 1
and 3 list them; kill -9 of peer 2's routing actor: peer 2 lists them
again with N licenses in use, and its changes after the restart (an
unregister, a new device) reach peers 1 and 3; routing status on peer 3
counts three live peers in the capacity figure.
"""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from cwcluster import make_cluster  # noqa: F401 - fixture
from cwtest import ACTORS, Node, wait_gone
from test_license import Issuer
from test_registrar import (CLIENT_IP, DOMAIN, SCENARIOS, SIP_PORT, SIPP, configure, ok, require_core,
                            sip_section, wait_listening)

N = 40

REGISTER_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register one user of the list">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[field1] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:[field0]@[field1]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[field1]>
      Call-ID: [call_id]
      CSeq: [field2] REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Expires: [field3]
      User-Agent: sipp-restart-test
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


def cli_json(node, *args):
    r = node.cli("--json", *args)
    assert r.returncode == 0, "causeway %s: %s %s" % (" ".join(args), r.stdout, r.stderr)
    return json.loads(r.stdout)


def listed(node):
    body = cli_json(node, "registrations", "list")
    return body.get("registrations", body) if isinstance(body, dict) else body


def desktop_used(node):
    return cli_json(node, "license", "status")["types"]["desktop_systems"]["used"]


def routing_pid(node):
    actors = cli_json(node, "actors", "list")
    actors = actors.get("actors", actors) if isinstance(actors, dict) else actors
    for a in actors:
        if a["name"] == "routing":
            return a.get("pid") if a.get("state") == "running" else None
    return None


def register_all(tmp_path, target, expires, cseq, port=5301):
    """One sipp run: a REGISTER for each of the N users, over UDP."""
    folder = tmp_path / "sipp"
    os.makedirs(folder, exist_ok=True)
    scenario = folder / "reg_list.xml"
    scenario.write_text(REGISTER_XML)
    users = folder / ("users-%d.csv" % cseq)
    users.write_text("SEQUENTIAL\n" + "".join("user%d;%s;%d;%d;\n" % (i, DOMAIN, cseq, expires)
                                              for i in range(N)))
    base = str(folder / ("reg-%d" % cseq))
    r = subprocess.run([SIPP, target, "-sf", str(scenario), "-inf", str(users), "-m", str(N), "-r", "200",
                        "-l", "20", "-i", CLIENT_IP, "-p", str(port), "-t", "u1", "-nostdin", "-timeout", "30s",
                        "-timeout_error", "-recv_timeout", "8000", "-trace_err", "-error_file", base + ".err"],
                       capture_output=True, text=True, timeout=60, cwd=str(folder))
    r.messages = ""
    if os.path.exists(base + ".err"):
        with open(base + ".err", errors="replace") as f:
            r.messages = f.read()
    return r


def register_outbound_tcp():
    """REGISTER with SIP outbound over a TCP connection that stays open
    (from a port the kernel picks: a fixed one could meet the TIME_WAIT of
    an earlier run)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((CLIENT_IP, 0))
    port = s.getsockname()[1]
    s.settimeout(5)
    s.connect(("127.0.1.1", SIP_PORT))
    request = ("REGISTER sip:%(d)s SIP/2.0\r\n"
               "Via: SIP/2.0/TCP %(ip)s:%(p)d;branch=z9hG4bK-restart-tcp-1\r\n"
               "Max-Forwards: 70\r\n"
               "From: <sip:flowuser@%(d)s>;tag=restart1\r\n"
               "To: <sip:flowuser@%(d)s>\r\n"
               "Call-ID: restart-tcp-outbound-1\r\n"
               "CSeq: 1 REGISTER\r\n"
               "Supported: outbound, path\r\n"
               "Contact: <sip:flowuser@%(ip)s:%(p)d;transport=tcp>"
               ";+sip.instance=\"<urn:uuid:7e0ab1c6-0000-4000-8000-00000000c0de>\";reg-id=1\r\n"
               "Expires: 600\r\n"
               "Content-Length: 0\r\n\r\n") % {"d": DOMAIN, "ip": CLIENT_IP, "p": port}
    s.sendall(request.encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = s.recv(4096)
        assert chunk, "the connection closed before the answer: %r" % answer
        answer += chunk
    assert answer.startswith(b"SIP/2.0 200"), answer
    assert b"Require: outbound" in answer, answer
    return s


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


def test_registrations_survive_kill9_of_routing(node, issuer, tmp_path):
    require_core(node)
    wait_listening(node)
    configure(node, **{"sip.domains": DOMAIN})
    assert node.cli("license", "add", issuer.issue("desktop_systems", N + 10)).returncode == 0
    target = "127.0.1.1:%d" % SIP_PORT
    aors = {"sip:user%d@%s" % (i, DOMAIN) for i in range(N)}

    ok(register_all(tmp_path, target, expires=600, cseq=1))
    flow = register_outbound_tcp()
    try:
        rows = listed(node)
        assert {r["aor"] for r in rows} == aors | {"sip:flowuser@" + DOMAIN}, rows
        assert desktop_used(node) == N + 1

        # The routing actor alone is killed; causewayd starts it again
        old = routing_pid(node)
        assert old
        killed_at = time.monotonic()
        os.kill(old, signal.SIGKILL)
        wait_gone(old)
        node.wait_for(lambda: routing_pid(node) not in (None, old), 20,
                      lambda: "routing not running again: %s" % cli_json(node, "actors", "list"))

        # Every UDP registration is back, expiry counting on; the TCP flow's
        # binding is not (its connection died with the process)
        rows = node.wait_for(lambda: (lambda r: r if {x["aor"] for x in r} == aors else None)(listed(node)), 10,
                             lambda: "after the restart: %s" % listed(node))
        elapsed = time.monotonic() - killed_at
        for r in rows:
            assert r["peer"] == 1 and r["transport"] == "udp", r
            assert r["contact"].startswith("sip:%s@%s:5301" % (r["aor"][4:].split("@")[0], CLIENT_IP)), r
            assert 600 - elapsed - 30 <= r["expires"] <= 600, (r, elapsed)
    finally:
        flow.close()

    # Exactly N licenses: the dead process's leases freed, one new one each
    node.wait_for(lambda: desktop_used(node) == N, 10, lambda: "in use: %s" % desktop_used(node))
    time.sleep(1.0)
    assert desktop_used(node) == N

    status = cli_json(node, "routing", "status")
    store = status["registrar"]["store"]
    assert store["state"] == "ok" and store["path"].endswith("routing.bindings"), store
    assert store["restored"] == N, store
    assert store["dropped_lost_connections"] == 1, store
    assert store["licenses_reacquired"] == N and store["awaiting_license"] == 0, store
    capacity = status["capacity"]
    assert capacity["calls_per_peer"] == 500, capacity
    assert capacity["source"] == "call_routing.calls_per_peer", capacity
    assert capacity["peers_live"] == 1 and capacity["peers_counted"] == 1, capacity
    assert capacity["cluster_calls"] == 500, capacity
    # The operator's own per-peer figure
    r = node.cli("config", "set", "call_routing.calls_per_peer", "300")
    assert r.returncode == 0, r.stdout + r.stderr
    node.wait_for(lambda: cli_json(node, "routing", "status")["capacity"]["cluster_calls"] == 300, 5,
                  lambda: "capacity: %s" % cli_json(node, "routing", "status")["capacity"])

    # The endpoints refresh: 200, no new license, the new expiry
    ok(register_all(tmp_path, target, expires=900, cseq=2))
    rows = listed(node)
    assert {r["aor"] for r in rows} == aors and all(r["expires"] > 600 for r in rows), rows
    assert desktop_used(node) == N
    r = subprocess.run([SIPP, target, "-sf", os.path.join(SCENARIOS, "options.xml"), "-m", "1", "-i", CLIENT_IP,
                        "-p", "5303", "-t", "u1", "-nostdin", "-timeout", "10s", "-timeout_error"],
                       capture_output=True, text=True, timeout=30, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]

    # Unregistering a restored binding gives its re-acquired license back
    ok(register_all(tmp_path, target, expires=0, cseq=3))
    node.wait_for(lambda: listed(node) == [] and desktop_used(node) == 0, 10,
                  lambda: "after unregister: %s, in use %s" % (listed(node), desktop_used(node)))

    # A node restart: nothing of the previous start (like the leases)
    ok(register_all(tmp_path, target, expires=600, cseq=4))
    assert len(listed(node)) == N
    node.stop()
    node.start()
    wait_listening(node)
    assert listed(node) == []
    assert desktop_used(node) == 0


def test_three_peers_follow_the_restarted_actor(make_cluster, issuer, tmp_path):  # noqa: F811
    """Peer 2's routing actor killed: peers 3 and 1 keep listing its
    registrations; after the restart (a new epoch) they follow its changes
    again; the licenses in use stay one per device; the capacity figure
    counts the three live peers."""
    sections = {k: {"licensing": {"issuers": [issuer.pub]}, "sip": sip_section(k)} for k in (1, 2, 3)}
    c = make_cluster(3, node_sections=sections)
    require_core(c[1])
    c.form_guide_way()
    for k in (1, 2, 3):
        wait_listening(c[k])
    c.set(1, "sip.domains", DOMAIN)
    c.wait_replicated("sip.domains", [DOMAIN])
    assert c[2].call("license.add", {"key": issuer.issue("desktop_systems", N + 10)})[0] == "ok"
    target = "127.0.1.2:%d" % SIP_PORT
    aors = {"sip:user%d@%s" % (i, DOMAIN) for i in range(N)}
    ok(register_all(tmp_path, target, expires=600, cseq=1))

    def owned_by_2(node, expected):
        rows = [r for r in listed(node) if r["peer"] == 2 and r.get("usable", True)]
        return rows if {r["aor"] for r in rows} == expected else None
    for k in (1, 3):
        c[k].wait_for(lambda: owned_by_2(c[k], aors), 10, lambda: "peer %d lists: %s" % (k, listed(c[k])))
    c[2].wait_for(lambda: desktop_used(c[2]) == N, 10, lambda: "in use: %s" % desktop_used(c[2]))

    old = routing_pid(c[2])
    os.kill(old, signal.SIGKILL)
    wait_gone(old)
    c[2].wait_for(lambda: routing_pid(c[2]) not in (None, old), 20, "routing on peer 2 not running again")
    c[2].wait_for(lambda: owned_by_2(c[2], aors), 10, lambda: "peer 2 lists: %s" % listed(c[2]))
    c[2].wait_for(lambda: desktop_used(c[2]) == N, 10, lambda: "in use: %s" % desktop_used(c[2]))

    # Changes of the new epoch reach the other peers: one device leaves,
    # another arrives
    ok(subprocess_register(tmp_path, target, "user0", 0))
    ok(subprocess_register(tmp_path, target, "newcomer", 600))
    after = (aors - {"sip:user0@" + DOMAIN}) | {"sip:newcomer@" + DOMAIN}
    for k in (1, 3):
        c[k].wait_for(lambda: owned_by_2(c[k], after), 10, lambda: "peer %d lists: %s" % (k, listed(c[k])))
    c[2].wait_for(lambda: desktop_used(c[2]) == N, 10, lambda: "in use: %s" % desktop_used(c[2]))

    capacity = cli_json(c[3], "routing", "status")["capacity"]
    assert capacity["peers_live"] == 3 and capacity["peers_counted"] == 3, capacity
    assert capacity["cluster_calls"] == 3 * capacity["calls_per_peer"], capacity


def subprocess_register(tmp_path, target, user, expires):
    """One REGISTER of USER from the port the list registered from."""
    folder = tmp_path / "sipp"
    users = folder / ("one-%s-%d.csv" % (user, expires))
    users.write_text("SEQUENTIAL\n%s;%s;%d;%d;\n" % (user, DOMAIN, 10, expires))
    r = subprocess.run([SIPP, target, "-sf", str(folder / "reg_list.xml"), "-inf", str(users), "-m", "1",
                        "-i", CLIENT_IP, "-p", "5301", "-t", "u1", "-nostdin", "-timeout", "20s",
                        "-timeout_error", "-recv_timeout", "8000"],
                       capture_output=True, text=True, timeout=60, cwd=str(folder))
    r.messages = r.stderr
    return r
