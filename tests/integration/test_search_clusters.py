"""The search between two Causeway clusters, A (127.0.1.1..3) and B
(127.0.2.1..3), SIP on 5060 of each, neighboured to each other (a
neighbour zone of the other cluster's peer addresses), sipp as the
endpoints:

  - a call from cluster A to an alias registered on cluster B: A's search
    rule sends it to the zone of B; it arrives at B's first peer, which
    hands it to the least loaded B peer not in maintenance mode (B1
    carries a call, B3 is in maintenance: B2), which finds the
    registration: the caller sees 180 and 200; B1's search history says
    it was handed to peer 2, B2's that it was found, B3 saw nothing;
  - a neighbour zone whose address does not answer OPTIONS goes "failed"
    with alarm 40010; it comes back ("active", alarm cleared) once
    something answers there;
  - a loop between the two clusters (each sends loop.example to the
    other) ends with 482 or 483; a new request carrying a search id a peer
    made within the last minute gets 482 with a Warning naming the id;
  - `causeway locate` on A shows the rule that matched and the zone of B
    with its three next hops.
"""
import json
import os
import shutil
import socket
import threading
import time

import pytest

from cwcluster import Cluster, keep_logs
from test_license import Issuer
from test_proxy import Caller, Sipp, call_ok, final, finished_ok, header, ok, routing_status

SIPP = shutil.which("sipp")
SIP_PORT = 5060
A_DOMAIN = "a.example.com"
B_DOMAIN = "b.example.com"
A_ZONE_ALARM = 40010


def net(cluster_net, k):
    return "127.0.%d.%d" % (cluster_net, k)


def sections(issuer, cluster_net):
    return {k: {"licensing": {"issuers": [issuer.pub]},
                "sip": {"listen": ["udp:%s:%d" % (net(cluster_net, k), SIP_PORT),
                                   "tcp:%s:%d" % (net(cluster_net, k), SIP_PORT)]}} for k in (1, 2, 3)}


def rule(name, priority, pattern, target, behaviour="leave"):
    return {"rule": {"name": name, "priority": priority, "source": "any", "mode": "pattern_match",
                     "pattern_type": "regex", "pattern": pattern, "behaviour": behaviour, "on_match": "stop",
                     "target": target, "state": "on"}}


def setup_cluster(c, issuer, own_domain, other_net, other_domain):
    c.start()
    c.form_guide_way()
    for k in (1, 2, 3):
        c[k].wait_for(lambda k=k: all(l["state"] == "listening" for l in routing_status(c[k])["listeners"]),
                      20, "peer %d is not listening" % k)
    c.set(1, "sip.domains", own_domain)
    c.wait_replicated("sip.domains", [own_domain])
    call_ok(c[1], "license.add", {"key": issuer.issue("rich_media_sessions", 20)})
    call_ok(c[1], "license.add", {"key": issuer.issue("desktop_systems", 20)})
    zone = "cluster-" + other_domain[0]
    call_ok(c[1], "zones.add", {"zone": {"name": zone, "type": "neighbour", "transport": "udp", "port": SIP_PORT,
                                         "keepalive_s": 5,
                                         "addresses": [net(other_net, k) for k in (1, 2, 3)]}})
    call_ok(c[1], "search_rules.add", rule("own-users", 10, ".*@" + own_domain.replace(".", "\\."), "local"))
    call_ok(c[1], "search_rules.add", rule("to-" + zone, 20, ".*@" + other_domain.replace(".", "\\."), zone))
    call_ok(c[1], "search_rules.add", rule("loop", 30, ".*@loop\\.example", zone))
    for k in (1, 2, 3):
        c[k].wait_for(lambda k=k: routing_status(c[k]).get("search", {}).get("search_rules") == 3, 20,
                      lambda k=k: "peer %d: %s" % (k, routing_status(c[k]).get("search")))
        c[k].wait_for(lambda k=k: len(routing_status(c[k])["proxy"]["peer_listeners"]) == 2, 20,
                      "peer %d does not know the other peers' listeners" % k)


@pytest.fixture(scope="module")
def clusters(tmp_path_factory, request):
    if not SIPP:
        pytest.skip("sipp (sip-tester) is not installed")
    issuer = Issuer(tmp_path_factory.mktemp("issuer"))
    a = Cluster(tmp_path_factory.mktemp("a"), 3, name="cluster-a.example.com",
                addresses=[net(1, k) for k in (1, 2, 3)], node_sections=sections(issuer, 1))
    b = Cluster(tmp_path_factory.mktemp("b"), 3, name="cluster-b.example.com",
                addresses=[net(2, k) for k in (1, 2, 3)], node_sections=sections(issuer, 2))
    failed_before = request.session.testsfailed
    try:
        setup_cluster(a, issuer, A_DOMAIN, 2, B_DOMAIN)
        setup_cluster(b, issuer, B_DOMAIN, 1, A_DOMAIN)
        for c in (a, b):
            c[1].wait_for(lambda c=c: zone_state(c[1], "cluster-" + ("b" if c is a else "a")) == "active", 20,
                          lambda c=c: "zones: %s" % call_ok(c[1], "zones.status"))
        yield a, b
    finally:
        if request.session.testsfailed > failed_before:
            try:
                print("node logs kept in", keep_logs([a, b], "test_search_clusters"))
            except OSError:
                pass
        a.cleanup()
        b.cleanup()


def zone_state(node, name):
    for z in call_ok(node, "zones.status")["zones"]:
        if z["name"] == name:
            return z["state"]
    return None


class IpSipp(Sipp):
    """sipp bound to IP (its own address in the cluster's network)."""

    def __init__(self, folder, ip):
        super().__init__(folder)
        self.ip = ip

    def _args(self, *a, **kw):
        args = super()._args(*a, **kw)
        args[args.index("-i") + 1] = self.ip
        return args


def history(node, alias):
    return [e for e in call_ok(node, "routing.search_history", {"limit": 50})["searches"]
            if e["alias"] == alias and not e.get("locate")]


def test_call_to_cluster_b_goes_to_the_least_loaded_peer(clusters, tmp_path):
    a, b = clusters
    b.set(3, "maintenance.mode", "on")
    held = IpSipp(tmp_path / "held", net(2, 102))
    caller_b = IpSipp(tmp_path / "caller-b", net(2, 103))
    callee = IpSipp(tmp_path / "bob", net(2, 104))
    caller_a = IpSipp(tmp_path / "caller-a", net(1, 104))
    try:
        b[1].wait_for(lambda: (b.peer(1, 3) or {}).get("maintenance") is True, 15, "B1 does not see B3's maintenance")
        # A call held through B1: B1 carries a load
        ok(held.run("reg_register", 5501, "%s:%d" % (net(2, 1), SIP_PORT), user="carol", expires=600,
                    domain=B_DOMAIN))
        uas_held = held.start("call_uas", 5501, domain=B_DOMAIN)
        uac_held = caller_b.start("call_uac", 5502, "%s:%d" % (net(2, 1), SIP_PORT), user="carol",
                                  pause_ms=8000, domain=B_DOMAIN)
        b[1].wait_for(lambda: (b.peer(1, 1) or {}).get("calls", 0) > 0, 15,
                      lambda: "B1's calls: %s" % b.peer(1, 1))
        time.sleep(1.5)    # the search asks cluster.status every second
        # bob registered on B1; called from A through A3
        ok(callee.run("reg_register", 5503, "%s:%d" % (net(2, 1), SIP_PORT), user="bob", expires=600,
                      domain=B_DOMAIN))
        uas = callee.start("call_uas", 5503, domain=B_DOMAIN)
        uac = caller_a.start("call_uac", 5504, "%s:%d" % (net(1, 3), SIP_PORT), user="bob", pause_ms=500,
                             domain=B_DOMAIN)
        finished_ok(caller_a, uac)
        finished_ok(callee, uas)
        assert "180 Ringing" in uac.messages and "200 OK" in uac.messages
        alias = "bob@" + B_DOMAIN
        on_a = history(a[3], alias)
        assert on_a and on_a[0]["result"].startswith("found by rule to-cluster-b in cluster-b"), on_a
        on_b1 = history(b[1], alias)
        assert on_b1 and on_b1[0]["result"].startswith("handed to peer 2"), (
            json.dumps(on_b1[:1], indent=1), [(p["index"], p["calls"], p["maintenance"], p["state"])
                                              for p in b.status(1)["peers"]])
        on_b2 = history(b[2], alias)
        assert on_b2 and on_b2[0]["result"].startswith("found by rule own-users in local"), on_b2
        assert history(b[3], alias) == []
        finished_ok(caller_b, uac_held)
        finished_ok(held, uas_held)
    finally:
        for s in (held, caller_b, callee, caller_a):
            s.close()
        b.set(3, "maintenance.mode", "off")


def test_loop_between_the_clusters_ends(clusters):
    a, b = clusters
    caller = Caller(5505)
    try:
        caller.invite(2, "someone", domain="loop.example")
        code, text = final(caller.responses(timeout=20))
        caller.ack(text)
        assert code in (482, 483), text
    finally:
        caller.close()
    # The same request coming back is refused by the transaction layer or
    # the search; a new request carrying a search id A2 made: the search
    sid = history(a[2], "someone@loop.example")[0]["id"]
    caller = Caller(5506)
    try:
        caller.peer = (net(1, 2), SIP_PORT)
        caller.branch, caller.tag, caller.call_id = "z9hG4bK-sid1", "sidtag", "sid-call@127.0.1.101"
        caller.ruri, caller.to = "sip:again@loop.example", "<sip:again@loop.example>"
        caller._send("INVITE", 1, caller.to, "Max-Forwards: 70\r\nX-Causeway-Search: %s\r\n"
                     "Contact: <sip:caller@127.0.1.101:5506>\r\n" % sid)
        code, text = final(caller.responses())
        caller.ack(text)
        assert code == 482 and "loop detected" in header(text, "Warning") and sid in text, text
    finally:
        caller.close()
    assert routing_status(a[2])["search"]["loops"] >= 1


def test_locate_through_the_neighbour_zone(clusters):
    a, _ = clusters
    out = a.ok(1, "locate", "bob@" + B_DOMAIN)
    lines = out.splitlines()
    assert any(l.split()[:4] == ["rule", "own-users", "not", "matched"] for l in lines), out
    assert any(l.split()[:3] == ["rule", "to-cluster-b", "matched"] for l in lines), out
    assert any(l.split()[:3] == ["search", "cluster-b", "found"] and "3 next hop(s)" in l for l in lines), out
    assert lines[-1] == "result: found by rule to-cluster-b in cluster-b as bob@b.example.com", out


class OptionsAnswerer(threading.Thread):
    """Answers 200 to whatever SIP request reaches IP:5060 (UDP)."""

    def __init__(self, ip):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, SIP_PORT))
        self.sock.settimeout(0.2)
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                data, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            text = data.decode(errors="replace")
            if text.startswith("SIP/2.0"):
                continue
            keep = [l for l in text.split("\r\n")[1:]
                    if l.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")]
            reply = "SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
            self.sock.sendto(reply.encode(), src)

    def close(self):
        self.stop = True
        self.join(2)
        self.sock.close()


def test_neighbour_zone_down_raises_40010_and_comes_back(clusters):
    a, _ = clusters
    call_ok(a[1], "zones.add", {"zone": {"name": "far", "type": "neighbour", "transport": "udp",
                                         "keepalive_s": 5, "addresses": ["127.0.4.1"]}})
    try:
        a.wait_alarm(1, A_ZONE_ALARM, timeout=25, match=lambda al: "far" in json.dumps(al))
        assert zone_state(a[1], "far") == "failed"
        answerer = OptionsAnswerer("127.0.4.1")
        answerer.start()
        try:
            a[1].wait_for(lambda: zone_state(a[1], "far") == "active", 20,
                          lambda: "zones: %s" % call_ok(a[1], "zones.status"))
            a.wait_alarm(1, A_ZONE_ALARM, present=False, timeout=20, match=lambda al: "far" in json.dumps(al))
        finally:
            answerer.close()
    finally:
        call_ok(a[1], "zones.remove", {"name": "far"})
