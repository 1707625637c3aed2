"""Zones through real processes: one node (SIP on 127.0.1.1:5060), a sipp
UAS on 127.0.2.10 that answers OPTIONS as a neighbour, and dnsmasq on
127.0.2.53 serving NAPTR, SRV and A records for a DNS zone, all driven
with the `causeway` CLI.

  - zones add refuses a bad zone with the field and what is allowed;
  - a neighbour zone whose first address is the sipp UAS and whose second
    answers nothing: the first is active, the second failed after the
    5 s OPTIONS timeout, the zone active, zones resolve gives the first
    only; sipp killed: the zone fails and alarm 40010 is raised (alarms
    list); the routing actor restarted and sipp back: active again, the
    alarm (raised by the actor before the restart) cleared; zones remove;
  - a DNS zone with dns.servers at dnsmasq: zones resolve walks NAPTR ->
    SRV -> A and gives the SRV targets in priority order with their
    addresses and ports (the second, the one tried when the first
    refuses, after it); a second resolve comes from the cache (dnsmasq's
    query log does not grow) and says so; a domain without NAPTR or SRV
    falls back to its A record on port 5060; a domain without any record
    is refused with the reason.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from cwtest import HERE, Node

SIPP = shutil.which("sipp")
DNSMASQ = shutil.which("dnsmasq")
ADDRESS = "127.0.1.1"
NEIGHBOUR = "127.0.2.10"
DNS = "127.0.2.53"


def cli_json(node, *args):
    r = node.cli("--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def zone_status(node, name):
    zones = [z for z in cli_json(node, "zones", "status")["zones"] if z["name"] == name]
    return zones[0] if zones else None


def alarms_40010(node):
    return [a for a in cli_json(node, "alarms", "list")["alarms"] if a["id"] == 40010]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(tmp_path_factory.mktemp("zones"), sip={"listen": ["udp:%s:5060" % ADDRESS, "tcp:%s:5060" % ADDRESS]})
    n.start()
    st, body = n.call("routing.status", {})
    if st != "ok" or "listeners" not in body:
        n.cleanup()
        pytest.skip("the SIP core is not in this build")
    # the zones are loaded from the replication actor once it answers
    n.wait_for(lambda: n.cli("zones", "list").returncode == 0, 15, "zones.list never answered")
    yield n
    n.cleanup()


class Sipp:
    def __init__(self, tmp_path):
        self.dir = str(tmp_path)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [SIPP, "-sf", os.path.join(HERE, "sipp", "options_uas.xml"), "-i", NEIGHBOUR, "-p", "5060",
             "-t", "u1", "-nostdin", "-trace_err", "-error_file", os.path.join(self.dir, "sipp.err")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir)
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_bad_zones_are_refused_with_the_field(node):
    cases = [(["--type", "neighbour"], "addresses: 1..16 of IP, IP:PORT or host:port"),
             (["--type", "neighbour", "--address", "127.0.2.10", "--keepalive", "2"], "keepalive_s: 5..3600"),
             (["--type", "neighbour", "--address", "not an address"], "addresses: 'not an address'"),
             (["--type", "dns", "--address", "127.0.2.10"], "addresses: not a field of a DNS zone"),
             (["--type", "neighbour", "--address", "127.0.2.10", "--transport", "any"],
              "transport: udp | tcp | tls")]
    for extra, message in cases:
        r = node.cli("zones", "add", "bad", *extra)
        assert r.returncode == 1 and message in r.stderr, (extra, r.stderr)
    r = node.cli("zones", "add", "local", "--type", "dns")
    assert r.returncode == 1 and "name: any name but 'local'" in r.stderr, r.stderr
    assert "bad" not in node.cli("zones", "list").stdout


@pytest.mark.skipif(not SIPP, reason="sipp (sip-tester) is not installed")
def test_neighbour_keepalive_failover_order_and_alarm(node, tmp_path):
    sipp = Sipp(tmp_path).start()
    try:
        r = node.cli("zones", "add", "nb", "--type", "neighbour", "--address",
                     "%s,127.0.2.11:5062" % NEIGHBOUR, "--keepalive", "5")
        assert r.returncode == 0 and "zone nb added" in r.stdout, r.stderr
        listed = [z for z in cli_json(node, "zones", "list")["zones"] if z["name"] == "nb"]
        assert listed == [{"name": "nb", "type": "neighbour", "addresses": [NEIGHBOUR, "127.0.2.11:5062"],
                           "transport": "udp", "port": 5060, "keepalive_s": 5}], listed

        def settled():
            z = zone_status(node, "nb")
            return z if z and [a["state"] for a in z["addresses"]] == ["active", "failed"] else None
        z = node.wait_for(settled, 12, lambda: "not settled: %s" % zone_status(node, "nb"))
        assert z["state"] == "active" and z["addresses"][0]["last_ok"], z
        assert "no answer to OPTIONS within 5 s" in z["addresses"][1]["error"], z
        assert not alarms_40010(node)
        out = node.cli("zones", "status").stdout
        assert "nb" in out and "127.0.2.11:5062" in out and "failed" in out, out

        resolved = cli_json(node, "zones", "resolve", "nb", "alice@example.com")
        assert [(t["address"], t["transport"]) for t in resolved["targets"]] == [("%s:5060" % NEIGHBOUR, "udp")]

        sipp.kill()
        node.wait_for(lambda: zone_status(node, "nb")["state"] == "failed", 15,
                      lambda: "zone not failed: %s" % zone_status(node, "nb"))
        raised = node.wait_for(lambda: alarms_40010(node), 5, "alarm 40010 not raised")
        assert raised[0]["subject"] == "nb" and "no address answers OPTIONS" in raised[0]["detail"], raised
        r = node.cli("zones", "resolve", "nb", "alice@example.com")
        assert r.returncode == 1 and "zone 'nb' is failed" in r.stderr, r.stderr

        # the routing actor restarted meanwhile: the new one clears the alarm the old one raised
        r = node.cli("actors", "restart", "routing")
        assert r.returncode == 0, r.stderr
        node.wait_for(lambda: zone_status(node, "nb") is not None, 15, "zone nb not loaded after the restart")
        assert alarms_40010(node)
        sipp = Sipp(tmp_path).start()
        node.wait_for(lambda: zone_status(node, "nb")["state"] == "active", 12,
                      lambda: "zone not active again: %s" % zone_status(node, "nb"))
        node.wait_for(lambda: not alarms_40010(node), 5, "alarm 40010 not cleared")
    finally:
        sipp.kill()
    r = node.cli("zones", "remove", "nb")
    assert r.returncode == 0 and "zone nb removed" in r.stdout, r.stderr
    assert zone_status(node, "nb") is None
    r = node.cli("zones", "remove", "nb")
    assert r.returncode == 1 and "no zone 'nb'" in r.stderr


@pytest.fixture
def dnsmasq(tmp_path):
    if not DNSMASQ:
        pytest.skip("dnsmasq is not installed")
    log = tmp_path / "dnsmasq.log"
    args = [DNSMASQ, "--no-daemon", "--port=53", "--listen-address=" + DNS, "--bind-interfaces", "--no-resolv",
            "--no-hosts", "--local=/test/", "--log-queries", "--log-facility=" + str(log), "--local-ttl=60",
            # example.test: NAPTR -> _sip._udp SRV (two priorities) -> A
            "--naptr-record=example.test,10,50,s,SIP+D2U,,_sip._udp.example.test",
            "--naptr-record=example.test,20,50,s,SIP+D2T,,_sip._tcp.example.test",
            "--srv-host=_sip._udp.example.test,sip2.example.test,5072,20,10",
            "--srv-host=_sip._udp.example.test,sip1.example.test,5071,10,10",
            "--srv-host=_sip._tcp.example.test,sip1.example.test,5071,10,10",
            "--host-record=sip1.example.test,127.0.2.11",
            "--host-record=sip2.example.test,127.0.2.12",
            # plain.test: only an A record
            "--host-record=plain.test,127.0.2.13"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 5
    while time.time() < deadline and not (log.exists() and "started" in log.read_text()):
        if proc.poll() is not None:
            pytest.fail("dnsmasq did not start: %s" % proc.stderr.read())
        time.sleep(0.05)
    yield log
    proc.terminate()
    proc.wait(5)


def queries(log):
    return [line for line in log.read_text().splitlines() if "query[" in line]


def test_dns_zone_rfc3263_order_and_cache(node, dnsmasq):
    r = node.cli("config", "set", "dns.servers", DNS)
    assert r.returncode == 0, r.stderr
    r = node.cli("zones", "add", "dnsz", "--type", "dns")
    assert r.returncode == 0, r.stderr
    try:
        # the routing actor has the new dns.servers (config.changed.dns.servers)
        node.wait_for(lambda: zone_status(node, "dnsz")["servers"] == ["%s:53" % DNS], 10,
                      lambda: "servers: %s" % zone_status(node, "dnsz"))
        first = cli_json(node, "zones", "resolve", "dnsz", "bob@example.test")
        assert [(t["address"], t["transport"], t["host"]) for t in first["targets"]] == [
            ("127.0.2.11:5071", "udp", "sip1.example.test"), ("127.0.2.12:5072", "udp", "sip2.example.test")], first
        steps = [(s["query"], s["result"]) for s in first["steps"]]
        assert steps[0][0] == "NAPTR example.test" and "SIP+D2U" in steps[0][1], steps
        assert steps[1][0] == "SRV _sip._udp.example.test", steps
        assert "10 10 5071 sip1.example.test" in steps[1][1] and "20 10 5072 sip2.example.test" in steps[1][1]
        assert [r for q, r in steps if q == "A sip1.example.test"][0].startswith("127.0.2.11 (ttl "), steps
        time.sleep(0.5)      # dnsmasq's log is written as it goes
        asked = len(queries(dnsmasq))
        assert asked >= 6, queries(dnsmasq)      # NAPTR, SRV, A and AAAA of both targets

        again = cli_json(node, "zones", "resolve", "dnsz", "carol@example.test")
        assert again["targets"] == first["targets"]
        assert all("cached" in s["result"] for s in again["steps"]), again["steps"]
        time.sleep(0.5)
        assert len(queries(dnsmasq)) == asked, queries(dnsmasq)[asked:]

        out = node.cli("zones", "resolve", "dnsz", "bob@example.test").stdout
        assert "NAPTR example.test ->" in out and "127.0.2.12:5072" in out, out

        plain = cli_json(node, "zones", "resolve", "dnsz", "dave@plain.test")
        assert [(t["address"], t["host"]) for t in plain["targets"]] == [("127.0.2.13:5060", "plain.test")], plain

        r = node.cli("zones", "resolve", "dnsz", "erin@nothing.test")
        assert r.returncode == 1 and "no DNS record for nothing.test" in r.stderr, r.stderr
        assert zone_status(node, "dnsz")["type"] == "dns"
    finally:
        node.cli("zones", "remove", "dnsz")
        node.cli("config", "unset", "dns.servers")
