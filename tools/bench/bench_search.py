#!/usr/bin/python3
"""bench_search.py - the search's cost and calls through zones.

Starts two one-peer Causeway clusters, A (SIP on 127.0.1.1:5060) and B
(127.0.2.1:5060), neighboured to each other, and dnsmasq on
127.0.3.53:53 serving a DNS zone (NAPTR -> SRV -> A for dns.example,
target 127.0.3.2:5070). A's dial plan has 100 transforms (none matches
the calls below, so every one is looked at) and 1,000 search rules: 997
regex rules that do not match, then the rule of A's own users (local),
the rule of B's users (the neighbour zone) and the rule of dns.example
(the DNS zone), so a call searches through the whole list.

The callees are UDP sockets of this script that answer every INVITE 180
then 486 (each call ends at once and gives its license back).
  1. search latency: CALLS calls to a user registered on A; the routing
     actor times each search from the moment the proxy hands it the
     INVITE until the search's answer (transforms, rules, lookups) and
     keeps the last 1,000 times: routing.status "search" "time" gives
     their median and p99 (microseconds);
  2. INVITE -> 180 through the neighbour cluster (A -> B -> callee);
  3. INVITE -> 180 through the DNS zone (A -> 127.0.3.2:5070), the
     records cached after the first call.
Times 2 and 3 are measured by this script from sending the INVITE to
receiving the 180 (they include its own Python work).

usage: bench_search.py [--bin DIR] [--calls 1000]
"""
import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))
sys.path.insert(0, HERE)

from bench_invite import all_headers, header, percentile  # noqa: E402

A_IP, B_IP = "127.0.1.1", "127.0.2.1"
DNS_IP, DNS_PORT = "127.0.3.53", 53
A_DOMAIN, B_DOMAIN, DNS_DOMAIN = "a.example.com", "b.example.com", "dns.example"


class Callee(threading.Thread):
    """Answers each INVITE at IP:PORT 180 then 486; absorbs the ACKs."""

    def __init__(self, ip, port):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.sock.settimeout(0.2)
        self.ip, self.port = ip, port
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                data, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            text = data.decode(errors="replace")
            if not text.startswith("INVITE "):
                continue
            tag = "%x" % random.getrandbits(32)
            common = "".join(line + "\r\n" for line in all_headers(text, "Via"))
            common += "From: %s\r\nTo: %s;tag=%s\r\nCall-ID: %s\r\nCSeq: %s\r\n" % (
                header(text, "From"), header(text, "To"), tag, header(text, "Call-ID"), header(text, "CSeq"))
            for status in ("180 Ringing", "486 Busy Here"):
                self.sock.sendto(("SIP/2.0 %s\r\n%sContent-Length: 0\r\n\r\n" % (status, common)).encode(), src)


def register(proxy_ip, domain, user, callee):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((callee.ip, 0))
    msg = ("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%x;rport\r\n"
           "From: <sip:%s@%s>;tag=%x\r\nTo: <sip:%s@%s>\r\nCall-ID: reg-%x\r\nCSeq: 1 REGISTER\r\n"
           "Contact: <sip:%s@%s:%d>\r\nExpires: 3600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
           % (domain, callee.ip, sock.getsockname()[1], random.getrandbits(48), user, domain,
              random.getrandbits(32), user, domain, random.getrandbits(48), user, callee.ip, callee.port))
    sock.sendto(msg.encode(), (proxy_ip, 5060))
    sock.settimeout(5)
    data, _ = sock.recvfrom(65536)
    sock.close()
    if int(data.split()[1]) != 200:
        raise RuntimeError("REGISTER %s@%s: %s" % (user, domain, data[:200]))


def calls_to(sock, proxy_ip, user, domain, n):
    """N INVITEs to USER@DOMAIN through PROXY_IP: ms from the INVITE to its 180."""
    times = []
    ip, port = sock.getsockname()
    sock.settimeout(5)
    for i in range(n):
        branch = "z9hG4bK-%x" % random.getrandbits(48)
        tag = "%x" % random.getrandbits(32)
        call_id = "bench-%x-%d" % (random.getrandbits(48), i)
        base = ("Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\nFrom: <sip:caller@%s>;tag=%s\r\n"
                "Call-ID: %s\r\n" % (ip, port, branch, A_DOMAIN, tag, call_id))
        invite = ("INVITE sip:%s@%s SIP/2.0\r\n%sTo: <sip:%s@%s>\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                  "Contact: <sip:caller@%s:%d>\r\nContent-Length: 0\r\n\r\n"
                  % (user, domain, base, user, domain, ip, port)).encode()
        start = time.perf_counter()
        sock.sendto(invite, (proxy_ip, 5060))
        rang = None
        code = 0
        while True:
            data, _ = sock.recvfrom(65536)
            text = data.decode(errors="replace")
            if header(text, "Call-ID") != call_id:
                continue
            code = int(text.split()[1])
            if code == 180 and rang is None:
                rang = (time.perf_counter() - start) * 1000
            if code >= 200:
                ack = ("ACK sip:%s@%s SIP/2.0\r\n%sTo: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
                       "Content-Length: 0\r\n\r\n" % (user, domain, base, header(text, "To")))
                sock.sendto(ack.encode(), (proxy_ip, 5060))
                break
        if rang is None:
            raise RuntimeError("call %d to %s@%s: no 180 (final %d)" % (i, user, domain, code))
        times.append(rang)
    return times


def report(name, times):
    print("%-44s calls %5d  median %.3f ms  p99 %.3f ms  max %.3f ms"
          % (name, len(times), statistics.median(times), percentile(times, 99), max(times)))


def ok(node, command, args):
    status, body = node.call(command, args, timeout_ms=10000)
    if status != "ok":
        raise RuntimeError("%s: %s" % (command, body))
    return body


def rule(name, priority, pattern, target):
    return {"rule": {"name": name, "priority": priority, "source": "any", "mode": "pattern_match",
                     "pattern_type": "regex", "pattern": pattern, "behaviour": "leave", "on_match": "stop",
                     "target": target, "state": "on"}}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, "build/bin"))
    parser.add_argument("--calls", type=int, default=1000)
    opts = parser.parse_args()
    os.environ["CAUSEWAY_BIN"] = os.path.abspath(opts.bin)
    from cwcluster import Cluster  # noqa: E402 - after CAUSEWAY_BIN
    from test_license import Issuer  # noqa: E402

    work = tempfile.mkdtemp(prefix="cwbench-search.")
    issuer = Issuer(os.path.join(work, "issuer"))

    def sections(ip):
        return {1: {"licensing": {"issuers": [issuer.pub]}, "sip": {"listen": ["udp:%s:5060" % ip]}}}
    a = Cluster(os.path.join(work, "a"), 1, name="a.example.com", addresses=[A_IP], node_sections=sections(A_IP))
    b = Cluster(os.path.join(work, "b"), 1, name="b.example.com", addresses=[B_IP], node_sections=sections(B_IP))
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    dns = subprocess.Popen([dnsmasq, "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
                            "--listen-address=%s" % DNS_IP, "--port=%d" % DNS_PORT, "--local-ttl=3600",
                            "--pid-file=%s" % os.path.join(work, "dnsmasq.pid"),
                            "--naptr-record=%s,10,10,S,SIP+D2U,,_sip._udp.%s" % (DNS_DOMAIN, DNS_DOMAIN),
                            "--srv-host=_sip._udp.%s,t.%s,5070,10,10" % (DNS_DOMAIN, DNS_DOMAIN),
                            "--host-record=t.%s,127.0.3.2" % DNS_DOMAIN],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    local_callee = Callee("127.0.1.101", 5581)
    b_callee = Callee("127.0.2.101", 5582)
    dns_callee = Callee("127.0.3.2", 5070)
    try:
        for c, domain, other, zone in ((a, A_DOMAIN, B_IP, "cluster-b"), (b, B_DOMAIN, A_IP, "cluster-a")):
            c.start()
            c.set(1, "sip.domains", domain)
            ok(c[1], "license.add", {"key": issuer.issue("rich_media_sessions", 100)})
            ok(c[1], "license.add", {"key": issuer.issue("desktop_systems", 10)})
            ok(c[1], "zones.add", {"zone": {"name": zone, "type": "neighbour", "transport": "udp",
                                            "addresses": [other]}})
        c = a
        c.set(1, "dns.servers", DNS_IP)
        ok(a[1], "zones.add", {"zone": {"name": "dns", "type": "dns", "transport": "any"}})
        started = time.monotonic()
        for i in range(100):
            ok(a[1], "transforms.add", {"rule": {"name": "t%03d" % i, "priority": 100 + i, "pattern_type": "prefix",
                                                  "pattern": "x%03d-" % i, "replace": "", "state": "on"}})
        for i in range(997):
            ok(a[1], "search_rules.add", rule("r%03d" % i, 100 + i, "nomatch%d-[0-9]+@other\\.example" % i, "local"))
        ok(a[1], "search_rules.add", rule("own-users", 2000, ".*@a\\.example\\.com", "local"))
        ok(a[1], "search_rules.add", rule("to-b", 2001, ".*@b\\.example\\.com", "cluster-b"))
        ok(a[1], "search_rules.add", rule("to-dns", 2002, ".*@dns\\.example", "dns"))
        ok(b[1], "search_rules.add", rule("own-users", 10, ".*@b\\.example\\.com", "local"))
        a[1].wait_for(lambda: ok(a[1], "routing.status", {}).get("search", {}).get("search_rules") == 1000
                      and ok(a[1], "routing.status", {})["search"]["transforms"] == 100, 60,
                      "A did not load its dial plan")
        b[1].wait_for(lambda: ok(b[1], "routing.status", {}).get("search", {}).get("search_rules") == 1, 20,
                      "B did not load its dial plan")
        print("dial plan of A: 100 transforms, 1000 search rules, written in %.1f s" % (time.monotonic() - started))
        for callee in (local_callee, b_callee, dns_callee):
            callee.start()
        register(A_IP, A_DOMAIN, "alice", local_callee)
        register(B_IP, B_DOMAIN, "bob", b_callee)
        a[1].wait_for(lambda: all(z["state"] == "active" for z in ok(a[1], "zones.status", {})["zones"]
                                  if z["type"] == "neighbour"), 30, "the neighbour zone is not active")
        caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        caller.bind(("127.0.1.102", 5580))
        calls_to(caller, A_IP, "alice", A_DOMAIN, 20)    # warm up
        times = calls_to(caller, A_IP, "alice", A_DOMAIN, opts.calls)
        search = ok(a[1], "routing.status", {})["search"]["time"]
        print("search with 100 transforms and 1000 rules (in the actor): searches %d  median %.3f ms  "
              "p99 %.3f ms  max %.3f ms" % (search["count"], search["median_us"] / 1000.0,
                                            search["p99_us"] / 1000.0, search["max_us"] / 1000.0))
        report("INVITE -> 180 local, same dial plan", times)
        calls_to(caller, A_IP, "bob", B_DOMAIN, 20)
        report("INVITE -> 180 through the neighbour cluster", calls_to(caller, A_IP, "bob", B_DOMAIN, opts.calls))
        calls_to(caller, A_IP, "carol", DNS_DOMAIN, 20)
        report("INVITE -> 180 through the DNS zone", calls_to(caller, A_IP, "carol", DNS_DOMAIN, opts.calls))
    finally:
        for callee in (local_callee, b_callee, dns_callee):
            callee.stop = True
        a.cleanup()
        b.cleanup()
        dns.terminate()
        dns.wait(5)


if __name__ == "__main__":
    main()
