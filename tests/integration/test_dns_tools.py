"""Integration test of `causeway dns check` (tools/cw_dnstool.c) against a
real DNS server.

Starts dnsmasq on 127.0.0.1 and a free port, authoritative for *.test with
--no-resolv --no-hosts, serving three zones built here from the guide's
records, then runs the unit-test executable test_dnstool (built from
tests/unit/test_dnstool.c with tools/cw_dnstool.c) with
CW_DNS_SERVER=127.0.0.1:PORT so its check_* tests query this server:

  good.test  every SRV record of the guide (and _collab-edge._tls) with the
             three peers, the same priority and weight; the three NAPTRs
             -> `dns check` exits 0, for a core and for an edge cluster
  bad.test   no _h323rs._udp, _sip._tcp of peer 2 on port 5070, no
             _collab-edge._tls, no SIP+D2U NAPTR -> exit 1, each named
  odd.test   an extra target, a different priority for peer 3, a wrong
             target in place of peer 3, a NAPTR pointing elsewhere

The peers: peer1.example.test 127.0.1.1, peer2.example.test 127.0.1.2
(given by address mapping in the test's cluster), cw3.example.test
127.0.1.3 (the test's cluster knows peer 3 only by its IP: the check
matches SRV targets to it by address).

The binary: $CW_DNSTOOL_TEST_BIN, else $CAUSEWAY_BIN/../tests/test_dnstool.
"""
import os
import random
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BIN = os.environ.get("CAUSEWAY_BIN") or str(HERE / "../../build/bin")

PEERS = [("peer1.example.test", "127.0.1.1"),
         ("peer2.example.test", "127.0.1.2"),
         ("cw3.example.test", "127.0.1.3")]
ROGUE = ("rogue.example.test", "127.0.9.9")
SERVICES = [("_sips._tcp", 5061), ("_sip._tcp", 5060), ("_sip._udp", 5060),
            ("_h323ls._udp", 1719), ("_h323cs._tcp", 1720), ("_h323rs._udp", 1719),
            ("_collab-edge._tls", 8443)]
NAPTRS = [(10, "SIPS+D2T", "_sips._tcp"), (12, "SIP+D2T", "_sip._tcp"), (14, "SIP+D2U", "_sip._udp")]


def _srv(name, target, port, priority=10, weight=10):
    return f"--srv-host={name},{target},{port},{priority},{weight}"


def _naptr(domain, order, service, replacement):
    return f"--naptr-record={domain},{order},100,s,{service},,{replacement}"


def zone_options():
    opts = []
    # good.test: everything, correct
    for service, port in SERVICES:
        for target, _ in PEERS:
            opts.append(_srv(f"{service}.good.test", target, port))
    for order, service, srv in NAPTRS:
        opts.append(_naptr("good.test", order, service, f"{srv}.good.test"))
    # bad.test: no _h323rs._udp, no collab-edge, _sip._tcp of peer 2 on 5070, no SIP+D2U
    for service, port in SERVICES:
        if service in ("_h323rs._udp", "_collab-edge._tls"):
            continue
        for target, _ in PEERS:
            wrong = service == "_sip._tcp" and target == "peer2.example.test"
            opts.append(_srv(f"{service}.bad.test", target, 5070 if wrong else port))
    for order, service, srv in NAPTRS[:2]:
        opts.append(_naptr("bad.test", order, service, f"{srv}.bad.test"))
    # odd.test
    for service, port in SERVICES[:-1]:
        for target, _ in PEERS:
            if service == "_h323cs._tcp" and target == "cw3.example.test":
                target = ROGUE[0]                      # wrong target in place of peer 3
            priority = 20 if service == "_sip._tcp" and target == "cw3.example.test" else 10
            opts.append(_srv(f"{service}.odd.test", target, port, priority=priority))
    opts.append(_srv("_sips._tcp.odd.test", ROGUE[0], 5061))   # extra target
    opts.append(_naptr("odd.test", 10, "SIPS+D2T", "_sips._tcp.odd.test"))
    opts.append(_naptr("odd.test", 12, "SIP+D2T", "_sip._tcp.elsewhere.test"))
    opts.append(_naptr("odd.test", 14, "SIP+D2U", "_sip._udp.odd.test"))
    for name, ip in PEERS + [ROGUE]:
        opts.append(f"--host-record={name},{ip}")
    return opts


def _dns_query(port, name, qtype, timeout=0.5):
    """One raw UDP query; returns (rcode, answer count) or None on timeout."""
    qid = random.randint(0, 0xFFFF)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        packet += bytes([len(label)]) + label.encode()
    packet += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, ("127.0.0.1", port))
        try:
            reply = sock.recv(4096)
        except socket.timeout:
            return None
    rid, flags, _, ancount, _, _ = struct.unpack(">HHHHHH", reply[:12])
    assert rid == qid
    return flags & 0xF, ancount


def _free_port():
    for _ in range(50):
        port = random.randint(20000, 60000)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                 socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                u.bind(("127.0.0.1", port))
                t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def _dnsmasq_path():
    return shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)


@pytest.fixture
def dns_server(tmp_path):
    dnsmasq = _dnsmasq_path()
    if not dnsmasq:
        pytest.skip("dnsmasq is not installed (tools/setup-deps.sh installs it)")
    port = _free_port()
    log = open(tmp_path / "dnsmasq.log", "w")
    cmd = [dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
           "--no-poll", "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={port}",
           "--pid-file=", "--log-facility=-", "--log-queries", "--local=/test/"] + zone_options()
    if os.geteuid() == 0:
        cmd.append("--user=root")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail("dnsmasq exited: " + (tmp_path / "dnsmasq.log").read_text())
            if _dns_query(port, "peer1.example.test", 1, timeout=0.2):
                break
            if time.monotonic() > deadline:
                pytest.fail("dnsmasq does not answer: " + (tmp_path / "dnsmasq.log").read_text())
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _unit_binary():
    path = os.environ.get("CW_DNSTOOL_TEST_BIN") or os.path.join(BIN, "..", "tests", "test_dnstool")
    path = os.path.normpath(path)
    assert os.access(path, os.X_OK), \
        f"{path} is not built: build the target test_dnstool (tests/unit/test_dnstool.c + tools/cw_dnstool.c)"
    return path


def test_zones_are_what_the_checks_expect(dns_server):
    # The fixture itself: a record that must be there and ones that must not
    assert _dns_query(dns_server, "_h323rs._udp.good.test", 33) == (0, 3)
    assert _dns_query(dns_server, "_collab-edge._tls.good.test", 33) == (0, 3)
    assert _dns_query(dns_server, "_sips._tcp.odd.test", 33) == (0, 4)
    rcode, count = _dns_query(dns_server, "_h323rs._udp.bad.test", 33)
    assert count == 0
    assert _dns_query(dns_server, "good.test", 35) == (0, 3)
    assert _dns_query(dns_server, "bad.test", 35) == (0, 2)


def test_dns_check_against_dnsmasq(dns_server):
    env = dict(os.environ, CW_DNS_SERVER=f"127.0.0.1:{dns_server}")
    result = subprocess.run([_unit_binary()], env=env, capture_output=True, text=True, timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "SKIPPED" not in out, out                 # every check_* test ran against the server
    assert "[  PASSED  ] 14 test(s)" in out, out
    # What a user reads: the complete zone passes, the broken one names its problems
    assert "--- dns check good.test (exit 0)" in out
    assert "all records present and correct" in out
    assert "--- dns check bad.test (exit 1)" in out
    assert "MISSING         SRV    _h323rs._udp.bad.test: no record" in out
    assert "WRONG-PORT      SRV    _sip._tcp.bad.test: peer 2 (peer2.example.test) is on port 5070, want 5060" in out
    assert "EXTRA-TARGET    SRV    _sips._tcp.odd.test: target rogue.example.test" in out


def test_dns_check_unreachable_server():
    # Nobody listens on this port: every query times out, the check fails (exit 1)
    port = _free_port()
    env = dict(os.environ, CW_DNS_SERVER=f"127.0.0.1:{port}")
    result = subprocess.run([_unit_binary()], env=env, capture_output=True, text=True, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "--- dns check good.test (exit 1)" in out, out
    assert "ERROR           SRV    _sips._tcp.good.test: query failed" in out, out
