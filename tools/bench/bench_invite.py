#!/usr/bin/python3
"""bench_invite.py - INVITE -> 180 through the SIP proxy of a real cluster.

Starts a 3-peer cluster on 127.0.1.1..3 (SIP on udp 5060 of each, the test
harness of tests/integration), forms it, installs test license keys, and
registers one callee on peer 2. The callee (a UDP socket of this script on
127.0.1.101) answers every INVITE with 180 at once and then 486, so each
call ends at once and gives its license back. The caller (another socket)
sends CALLS INVITEs one after the other and measures the time from sending
the INVITE to receiving the 180:
  1. through two peers: sent to peer 3, which forwards to peer 2, which
     delivers (the callee is registered on peer 2);
  2. through one peer: sent to peer 2 itself.
Prints the median, p99 and max in ms of each (the times include this
script's own Python work on both ends, about 0.05 ms per message).

usage: bench_invite.py [--bin DIR] [--calls 1000]
"""
import argparse
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
sys.path.insert(0, os.path.join(ROOT, "tests/integration"))

DOMAIN = "example.com"
UA_IP = "127.0.1.101"


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def header(text, name):
    for line in text.split("\r\n")[1:]:
        if not line:
            break
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def all_headers(text, name):
    out = []
    for line in text.split("\r\n")[1:]:
        if not line:
            break
        if line.lower().startswith(name.lower() + ":"):
            out.append(line)
    return out


class Callee(threading.Thread):
    """Answers each INVITE 180 then 486; absorbs the ACKs."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((UA_IP, port))
        self.sock.settimeout(0.2)
        self.port = port
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


def register(sock, peer, user, contact_port):
    msg = ("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%x;rport\r\n"
           "From: <sip:%s@%s>;tag=%x\r\nTo: <sip:%s@%s>\r\nCall-ID: reg-%x\r\nCSeq: 1 REGISTER\r\n"
           "Contact: <sip:%s@%s:%d>\r\nExpires: 3600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
           % (DOMAIN, UA_IP, sock.getsockname()[1], random.getrandbits(48), user, DOMAIN, random.getrandbits(32),
              user, DOMAIN, random.getrandbits(48), user, UA_IP, contact_port))
    sock.sendto(msg.encode(), ("127.0.1.%d" % peer, 5060))
    sock.settimeout(5)
    data, _ = sock.recvfrom(65536)
    code = int(data.split()[1])
    if code != 200:
        raise RuntimeError("REGISTER on peer %d: %d" % (peer, code))


def calls_to(sock, peer, user, n):
    """N INVITEs to USER through PEER: ms from the INVITE to its 180."""
    times = []
    port = sock.getsockname()[1]
    sock.settimeout(5)
    for i in range(n):
        branch = "z9hG4bK-%x" % random.getrandbits(48)
        tag = "%x" % random.getrandbits(32)
        call_id = "bench-%x-%d" % (random.getrandbits(48), i)
        base = ("Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\nFrom: <sip:caller@%s>;tag=%s\r\n"
                "Call-ID: %s\r\n" % (UA_IP, port, branch, DOMAIN, tag, call_id))
        invite = ("INVITE sip:%s@%s SIP/2.0\r\n%sTo: <sip:%s@%s>\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                  "Contact: <sip:caller@%s:%d>\r\nContent-Length: 0\r\n\r\n"
                  % (user, DOMAIN, base, user, DOMAIN, UA_IP, port)).encode()
        start = time.perf_counter()
        sock.sendto(invite, ("127.0.1.%d" % peer, 5060))
        rang = None
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
                       "Content-Length: 0\r\n\r\n" % (user, DOMAIN, base, header(text, "To")))
                sock.sendto(ack.encode(), ("127.0.1.%d" % peer, 5060))
                break
        if rang is None:
            raise RuntimeError("call %d through peer %d: no 180 (final %d)" % (i, peer, code))
        times.append(rang)
    return times


def report(name, times):
    print("%-34s calls %5d  median %.3f ms  p99 %.3f ms  max %.3f ms"
          % (name, len(times), statistics.median(times), percentile(times, 99), max(times)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, "build/bin"))
    parser.add_argument("--calls", type=int, default=1000)
    opts = parser.parse_args()
    os.environ["CAUSEWAY_BIN"] = os.path.abspath(opts.bin)
    from cwcluster import Cluster  # noqa: E402 - after CAUSEWAY_BIN
    from test_license import Issuer  # noqa: E402

    work = tempfile.mkdtemp(prefix="cwbench-invite.")
    issuer = Issuer(os.path.join(work, "issuer"))
    sections = {k: {"licensing": {"issuers": [issuer.pub]},
                    "sip": {"listen": ["udp:127.0.1.%d:5060" % k]}} for k in (1, 2, 3)}
    c = Cluster(os.path.join(work, "cluster"), 3, node_sections=sections)
    callee = Callee(5481)
    try:
        c.start()
        c.form_guide_way()
        c.set(1, "sip.domains", DOMAIN)
        c.wait_replicated("sip.domains", [DOMAIN])
        for key in (issuer.issue("desktop_systems", 10), issuer.issue("rich_media_sessions", 100)):
            status, body = c[1].call("license.add", {"key": key})
            assert status == "ok", body

        def ready():
            for k in (2, 3):
                status, body = c[k].call("routing.status", {})
                if status != "ok" or len(body.get("proxy", {}).get("peer_listeners", {})) != 2:
                    return False
            status, body = c[3].call("license.status", {})
            return status == "ok" and body["types"].get("rich_media_sessions", {}).get("pool") == 100
        c[3].wait_for(ready, 30, "the cluster did not get ready")
        caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        caller.bind((UA_IP, 5480))
        register(caller, 2, "callee", callee.port)
        c[3].wait_for(lambda: c[3].call("registrations.list", {"aor": "sip:callee@%s" % DOMAIN})[1]
                      .get("registrations"), 10, "peer 3 does not see the registration")
        callee.start()
        calls_to(caller, 3, "callee", 20)    # warm up
        report("INVITE -> 180 through two peers", calls_to(caller, 3, "callee", opts.calls))
        report("INVITE -> 180 through one peer", calls_to(caller, 2, "callee", opts.calls))
    finally:
        callee.stop = True
        c.cleanup()


if __name__ == "__main__":
    main()
