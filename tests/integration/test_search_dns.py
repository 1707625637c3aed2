"""The search through real processes, one Causeway node (SIP on
127.0.1.1:5060), dnsmasq serving a DNS zone's records (NAPTR, SRV, A) on
127.0.3.53:53, and sipp as the "third party" reached through it:

  - a prefix transform (9...) and a regex search rule with replace
    (ext-NNNN@third.example -> NNNN@third.example) send a call to the DNS
    zone; the first SRV target (priority 10, TCP, nobody listening) is
    down, so the call fails over to the second (priority 20), which
    answers: the caller sees 180 and 200, the callee the replaced
    Request-URI;
  - `causeway locate` prints every step (transform matched, the alias
    after it, the rules matched or not, the zone queried, the result), and
    --json gives the same steps; `causeway search-history` lists the call;
  - no rule matched: 404 with a Warning saying so; a rule matched but the
    alias is not registered: 404 with a Warning naming the rule.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from cwcluster import Cluster, keep_logs
from test_license import Issuer
from test_proxy import Caller, Sipp, call_ok, final, finished_ok, header, routing_status

SIPP = shutil.which("sipp")
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
DNS_IP = "127.0.3.53"
DNS_PORT = 53
T1 = "127.0.3.1"
T2 = "127.0.3.2"
T_PORT = 5070
DOMAIN = "example.com"
THIRD = "third.example"


def start_dnsmasq(folder):
    args = [DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
            "--listen-address=%s" % DNS_IP, "--port=%d" % DNS_PORT, "--local-ttl=2",
            "--pid-file=%s" % os.path.join(folder, "dnsmasq.pid"),
            "--naptr-record=%s,10,10,S,SIP+D2T,,_sip._tcp.%s" % (THIRD, THIRD),
            "--srv-host=_sip._tcp.%s,t1.%s,%d,10,10" % (THIRD, THIRD, T_PORT),
            "--srv-host=_sip._tcp.%s,t2.%s,%d,20,10" % (THIRD, THIRD, T_PORT),
            "--host-record=t1.%s,%s" % (THIRD, T1), "--host-record=t2.%s,%s" % (THIRD, T2)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)
    if p.poll() is not None:
        pytest.fail("dnsmasq did not start: %s" % p.stdout.read())
    return p


@pytest.fixture(scope="module")
def node(tmp_path_factory, request):
    if not SIPP or not os.path.exists(DNSMASQ):
        pytest.skip("sipp and dnsmasq are needed")
    issuer = Issuer(tmp_path_factory.mktemp("issuer"))
    sections = {1: {"licensing": {"issuers": [issuer.pub]},
                    "sip": {"listen": ["udp:127.0.1.1:5060", "tcp:127.0.1.1:5060"]}}}
    folder = tmp_path_factory.mktemp("search-dns")
    c = Cluster(folder, 1, node_sections=sections)
    dns = start_dnsmasq(str(folder))
    failed_before = request.session.testsfailed
    try:
        c.start()
        n = c[1]
        n.wait_for(lambda: all(l["state"] == "listening" for l in routing_status(n)["listeners"]), 20,
                   "not listening")
        c.set(1, "sip.domains", DOMAIN)
        c.set(1, "dns.servers", DNS_IP)
        call_ok(n, "license.add", {"key": issuer.issue("rich_media_sessions", 10)})
        call_ok(n, "zones.add", {"zone": {"name": "third", "type": "dns", "transport": "any"}})
        call_ok(n, "transforms.add", {"rule": {"name": "dial-out", "priority": 10, "pattern_type": "prefix",
                                                "pattern": "9", "replace": "", "state": "on"}})
        call_ok(n, "search_rules.add", {"rule": {
            "name": "local-users", "priority": 10, "source": "any", "mode": "pattern_match",
            "pattern_type": "regex", "pattern": ".*@example\\.com", "behaviour": "leave",
            "on_match": "stop", "target": "local", "state": "on"}})
        call_ok(n, "search_rules.add", {"rule": {
            "name": "third-party", "priority": 20, "source": "any", "mode": "pattern_match",
            "pattern_type": "regex", "pattern": "ext-([0-9]+)@third\\.example", "behaviour": "replace",
            "replace": "\\1@third.example", "on_match": "stop", "target": "third", "state": "on"}})
        n.wait_for(lambda: routing_status(n).get("search", {}).get("search_rules") == 2, 10,
                   lambda: "search rules not loaded: %s" % routing_status(n).get("search"))
        yield c
    finally:
        if request.session.testsfailed > failed_before:
            try:
                print("node logs kept in", keep_logs([c], "test_search_dns"))
            except OSError:
                pass
        c.cleanup()
        dns.terminate()
        dns.wait(5)


class TcpSipp(Sipp):
    """sipp on its own address over TCP (the SRV targets)."""

    def __init__(self, folder, ip, transport="t1"):
        super().__init__(folder)
        self.ip = ip
        self.transport = transport

    def _args(self, *a, **kw):
        args = super()._args(*a, **kw)
        args[args.index("-i") + 1] = self.ip
        args[args.index("-t") + 1] = self.transport
        return args


def test_transform_replace_and_srv_failover(node, tmp_path):
    c = node
    uas = TcpSipp(tmp_path / "t2", T2)
    caller_sipp = Sipp(tmp_path / "uac")
    try:
        # Nobody on t1 (127.0.3.1:5070): the first SRV target is down
        p = uas.start("call_uas", T_PORT)
        uac = caller_sipp.start("call_uac", 5401, "127.0.1.1:5060", user="9ext-1234", pause_ms=500,
                                domain=THIRD)
        finished_ok(caller_sipp, uac)
        finished_ok(uas, p)
        assert "180 Ringing" in uac.messages and "200 OK" in uac.messages
        assert "INVITE sip:1234@third.example SIP/2.0" in p.messages, p.messages[:2000]
        assert "X-Causeway-Search:" in p.messages
    finally:
        uas.close()
        caller_sipp.close()
    history = json.loads(c.ok(1, "--json", "search-history", "--limit", "5"))["searches"]
    entry = next(e for e in history if e["alias"] == "9ext-1234@third.example" and not e.get("locate"))
    assert entry["transformed"] == "ext-1234@third.example", entry
    assert entry["result"].startswith("found by rule third-party"), entry
    zone_steps = [s for s in entry["steps"] if s["step"] == "zone"]
    assert zone_steps, entry["steps"]


def test_locate_prints_every_step(node):
    c = node
    out = c.ok(1, "locate", "9ext-77@third.example")
    lines = out.splitlines()
    assert lines[0] == "alias: 9ext-77@third.example", out
    assert lines[1] == "transformed: ext-77@third.example", out
    assert any(l.split()[:3] == ["transform", "dial-out", "matched"] and l.endswith("ext-77@third.example")
               for l in lines), out
    assert any(l.split()[:4] == ["rule", "local-users", "not", "matched"] for l in lines), out
    rule = next(l for l in lines if l.split()[:3] == ["rule", "third-party", "matched"])
    assert "alias 77@third.example" in rule and "target third" in rule, out
    assert any(l.split()[:2] == ["zone", "third"] for l in lines), out
    assert any(l.split()[:3] == ["search", "third", "found"] for l in lines), out
    assert lines[-1] == "result: found by rule third-party in third as 77@third.example", out
    body = json.loads(c.ok(1, "--json", "locate", "9ext-77@third.example"))
    kinds = [s["step"] for s in body["steps"]]
    assert kinds[0] == "transform" and kinds[-1] == "result" and "zone" in kinds, kinds
    routes = body["routes"]
    assert routes[0]["target"] == "third" and routes[0]["next_hops"] == [
        "TCP:%s:%d" % (T1, T_PORT), "TCP:%s:%d" % (T2, T_PORT)], routes
    # A source that is no zone is refused with what is allowed
    r = c.cli(1, "locate", "x@example.com", "--source", "zone:nowhere")
    assert r.returncode != 0 and "zone:NAME" in (r.stderr + r.stdout), r


def test_no_rule_or_not_found_404_with_warning(node):
    caller = Caller(5402)
    try:
        caller.invite(1, "someone", domain="nowhere.example")
        code, text = final(caller.responses())
        caller.ack(text)
        assert code == 404 and "no search rule matched" in header(text, "Warning"), text
        caller.invite(1, "nobody", domain=DOMAIN)
        code, text = final(caller.responses())
        caller.ack(text)
        assert code == 404 and "not found by rule local-users" in header(text, "Warning"), text
    finally:
        caller.close()
