"""The SIP proxy and the calls through real processes: a 3-peer cluster on
127.0.1.1..3 (SIP on 5060 of each), sipp (Debian's sip-tester) as the
endpoints that register and answer, sipp or a small UDP client of this
file as the caller; calls read back with `causeway calls list --json` and
routing.status, licenses with license.status.

  - without a rich_media_sessions license an INVITE gets 503 with a Warning
    naming the reason; with one, a sipp UAS registered on peer 2 is called
    from a sipp UAC through peer 3: the UAC sees 180 and 200, the call is
    listed (peer 3, connected) on every peer while it is up, takes one
    license and gives it back after the BYE;
  - an AOR nobody registered: 480; a domain outside sip.domains: 404;
  - Max-Forwards 1 through two peers: 483; a request looping through one
    peer: 482;
  - two contacts on two peers: both ring, one answers, the other gets the
    CANCEL;
  - a CANCEL from the caller: 200 for the CANCEL, 487 for the INVITE, the
    callee sees the CANCEL, the license goes back;
  - nobody answers within call_routing.ringing_timeout_s: the callee is
    cancelled, the caller gets 408, the license goes back;
  - an endpoint registered with SIP outbound over TCP on peer 2 (its
    Contact unreachable on purpose) is called through peer 3: the INVITE,
    the ACK and the BYE all reach it over its own connection;
  - call_routing.signaling_optimization on: a call between UDP endpoints
    is not record-routed (the ACK and BYE go end to end) and ends for the
    cluster, with its license, when it is answered;
  - the routing actor of peer 3 killed (-9) during a call: the licensing
    actor frees its license, and the call's BYE still passes peer 3 once
    the actor is back;
  - maintenance mode on peer 3: a new INVITE gets 503 with Retry-After
    while the call already up on it still ends with its BYE.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from cwcluster import Cluster, keep_logs
from cwtest import HERE
from test_license import Issuer

SIPP = shutil.which("sipp")
SCENARIOS = os.path.join(HERE, "sipp")
DOMAIN = "example.com"
SIP_PORT = 5060
UA_IP = "127.0.1.101"


def sip_section(k):
    return {"listen": ["udp:127.0.1.%d:%d" % (k, SIP_PORT), "tcp:127.0.1.%d:%d" % (k, SIP_PORT)]}


def peer_addr(k):
    return "127.0.1.%d:%d" % (k, SIP_PORT)


# -- the cluster, formed once for the file ------------------------------------

def sip_cluster(tmp_path_factory, request, name):
    """A formed 3-peer cluster with SIP on every peer, desktop licenses on
    peers 1 and 2, every peer knowing the others' SIP listeners (a
    generator for a module fixture; NAME for its folders and kept logs)."""
    issuer = Issuer(tmp_path_factory.mktemp("issuer"))
    sections = {k: {"licensing": {"issuers": [issuer.pub]}, "sip": sip_section(k)} for k in (1, 2, 3)}
    c = Cluster(tmp_path_factory.mktemp(name), 3, node_sections=sections)
    c.issuer = issuer
    failed_before = request.session.testsfailed
    try:
        c.start()
        status, body = c[1].call("routing.status", {})
        if status != "ok" or "listeners" not in body:
            pytest.skip("the SIP core is not in this build")
        if not SIPP:
            pytest.skip("sipp (sip-tester) is not installed")
        c.form_guide_way()
        for k in (1, 2, 3):
            c[k].wait_for(lambda k=k: all(l["state"] == "listening" for l in routing_status(c[k])["listeners"]),
                          20, "peer %d is not listening" % k)
        c.set(1, "sip.domains", DOMAIN)
        c.wait_replicated("sip.domains", [DOMAIN])
        for k in (1, 2):
            call_ok(c[k], "license.add", {"key": issuer.issue("desktop_systems", 20)})
        # Every peer knows every other peer's SIP listeners
        for k in (1, 2, 3):
            c[k].wait_for(lambda k=k: len(routing_status(c[k])["proxy"]["peer_listeners"]) == 2, 20,
                          lambda k=k: "peer %d: %s" % (k, routing_status(c[k]).get("proxy")))
        yield c
    finally:
        if request.session.testsfailed > failed_before:
            try:
                print("node logs kept in", keep_logs([c], "test_" + name))
            except OSError:
                pass
        c.cleanup()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, request):
    yield from sip_cluster(tmp_path_factory, request, "proxy")


def call_ok(node, command, args=None):
    status, body = node.call(command, args or {})
    assert status == "ok", "%s: %s" % (command, body)
    return body


def routing_status(node):
    return call_ok(node, "routing.status")


def rms_used(node):
    types = call_ok(node, "license.status")["types"]
    return types.get("rich_media_sessions", {}).get("used", 0)


def calls(node):
    r = node.cli("--json", "calls", "list")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["calls"]


def ensure_rms(c, count=10):
    """Install rich_media_sessions keys once (peer 1), wait until peer 3 may
    grant from the pool."""
    if getattr(c, "rms", False):
        return
    call_ok(c[1], "license.add", {"key": c.issuer.issue("rich_media_sessions", count)})
    c[3].wait_for(lambda: call_ok(c[3], "license.status")["types"].get("rich_media_sessions", {}).get("pool")
                  == count, 20, "the pool did not reach peer 3")
    c.rms = True


# -- sipp ---------------------------------------------------------------------

class Sipp:
    """sipp processes of one test: run() to completion, start() in the
    background (a UAS waiting for its call), wait() for those."""

    def __init__(self, folder):
        self.dir = str(folder)
        os.makedirs(self.dir, exist_ok=True)
        self.procs = []

    def _args(self, scenario, port, target=None, user="service", pause_ms=0, **keys):
        self.base = os.path.join(self.dir, "%s-%d" % (scenario, port))
        args = [SIPP] + ([target] if target else []) + [
            "-sf", os.path.join(SCENARIOS, scenario + ".xml"), "-m", "1", "-i", UA_IP, "-p", str(port),
            "-t", "u1", "-s", user, "-nostdin", "-timeout", "25s", "-timeout_error", "-recv_timeout", "12000",
            "-d", str(pause_ms), "-trace_err", "-error_file", self.base + ".err",
            "-trace_msg", "-message_file", self.base + ".msg"]
        keys.setdefault("domain", DOMAIN)
        for k, v in keys.items():
            args += ["-key", k, str(v)]
        return args

    @staticmethod
    def _messages(base):
        text = ""
        for suffix in (".msg", ".err"):
            try:
                with open(base + suffix, errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text

    def run(self, scenario, port, target=None, **kw):
        args = self._args(scenario, port, target, **kw)
        r = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=self.dir)
        r.messages = self._messages(self.base)
        return r

    def start(self, scenario, port, target=None, **kw):
        args = self._args(scenario, port, target, **kw)
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.dir)
        p.base = self.base
        self.procs.append(p)
        time.sleep(0.3)    # listening
        return p

    def wait(self, p, timeout=40):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        p.messages = self._messages(p.base)
        p.stderr_text = err
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.fixture
def sipp(tmp_path):
    s = Sipp(tmp_path / "sipp")
    yield s
    s.close()


def ok(r):
    assert r.returncode == 0, "sipp failed (%d):\n%s\n%s" % (r.returncode, (r.stderr or "")[-2000:],
                                                              r.messages[-5000:])
    return r


def finished_ok(sipp, p, timeout=40):
    sipp.wait(p, timeout)
    assert p.returncode == 0, "sipp failed (%d):\n%s\n%s" % (p.returncode, p.stderr_text[-2000:],
                                                              p.messages[-5000:])


def register(sipp, peer, user, port, expires=600):
    ok(sipp.run("reg_register", port, peer_addr(peer), user=user, expires=expires))


def registered_everywhere(c, aor, count):
    for k in (1, 2, 3):
        c[k].wait_for(lambda k=k: len(call_ok(c[k], "registrations.list", {"aor": aor})["registrations"]) == count,
                      10, "peer %d does not list %s" % (k, aor))
        # A peer's contacts are tried only while that peer is alive in this
        # peer's view: right after the cluster (re)starts, wait for it
        c[k].wait_for(lambda k=k: others_active(c, k), 10,
                      lambda k=k: "peer %d does not see every peer active: %s" % (k, call_ok(c[k], "cluster.status")))


def others_active(c, k):
    return all(p["state"] == "active" for p in call_ok(c[k], "cluster.status")["peers"]
               if p["state"] != "this-system")


# -- a small UDP caller --------------------------------------------------------

class Caller:
    """One UDP socket on UA_IP that sends an INVITE and reads what comes
    back: enough to check final answers and their headers."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((UA_IP, port))
        self.port = port

    def close(self):
        self.sock.close()

    def invite(self, peer, user, domain=DOMAIN, max_forwards=70):
        self.peer = ("127.0.1.%d" % peer, SIP_PORT)
        self.branch = "z9hG4bK-%x" % random.getrandbits(48)
        self.tag = "%x" % random.getrandbits(32)
        self.call_id = "%x@%s" % (random.getrandbits(64), UA_IP)
        self.ruri = "sip:%s@%s" % (user, domain)
        self.to = "<sip:%s@%s>" % (user, domain)
        self._send("INVITE", 1, self.to, "Max-Forwards: %d\r\nContact: <sip:caller@%s:%d>\r\n"
                   % (max_forwards, UA_IP, self.port))

    def _send(self, method, cseq, to, extra="", ruri=None, dest=None, branch=None):
        msg = ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
               "From: <sip:caller@%s>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n%s"
               "Content-Length: 0\r\n\r\n" % (method, ruri or self.ruri, UA_IP, self.port, branch or self.branch,
                                              DOMAIN, self.tag, to, self.call_id, cseq, method, extra))
        self.sock.sendto(msg.encode(), dest or self.peer)

    def in_dialog(self, method, cseq, to, ruri, dest):
        """A request of the dialog sent straight to DEST (no Route)."""
        self._send(method, cseq, to, "Max-Forwards: 70\r\n", ruri=ruri, dest=dest,
                   branch="z9hG4bK-%x" % random.getrandbits(48))

    def cancel(self):
        self._send("CANCEL", 1, self.to, "Max-Forwards: 70\r\n")

    def responses(self, timeout=10, until=None):
        """Responses until a final one to the INVITE (or UNTIL(code, text) is
        true): [(code, cseq method, text)]."""
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                break
            text = data.decode(errors="replace")
            if not text.startswith("SIP/2.0 "):
                continue
            code = int(text.split()[1])
            method = header(text, "CSeq").split()[-1]
            got.append((code, method, text))
            if (until and until(code, text)) or (not until and method == "INVITE" and code >= 200):
                break
        return got

    def ack(self, final_text):
        """The ACK of a final answer other than 2xx (same branch)."""
        self._send("ACK", 1, header(final_text, "To"), "Max-Forwards: 70\r\n")


class FlowCallee(threading.Thread):
    """An endpoint on one TCP connection to a peer: it registers with SIP
    outbound (a Contact nobody can reach: 192.0.2.1 is TEST-NET), then
    answers one call on the same connection: INVITE -> 180, 200; ACK; BYE
    -> 200. What it received is in .got (request methods), failures in
    .error."""

    def __init__(self, peer, user):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.1.%d" % peer, SIP_PORT), timeout=10, source_address=(UA_IP, 0))
        self.port = self.sock.getsockname()[1]
        self.user = user
        self.buf = b""
        self.got = []
        self.error = None

    def read(self, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if sep:
                length = int(header(head.decode() + "\r\n", "Content-Length") or 0)
                if len(rest) >= length:
                    self.buf = rest[length:]
                    return head.decode() + "\r\n\r\n"
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("the peer closed the connection")
            self.buf += data.lstrip(b"\r\n") if not self.buf else data

    def register(self):
        self.sock.sendall((
            "REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP %s:%d;branch=z9hG4bK-%x;rport\r\n"
            "From: <sip:%s@%s>;tag=%x\r\nTo: <sip:%s@%s>\r\nCall-ID: flow-%x\r\nCSeq: 1 REGISTER\r\n"
            "Contact: <sip:%s@192.0.2.1:5999;transport=tcp;ob>;+sip.instance=\"<urn:uuid:%s>\";reg-id=1\r\n"
            "Supported: outbound, path\r\nExpires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            % (DOMAIN, UA_IP, self.port, random.getrandbits(48), self.user, DOMAIN, random.getrandbits(32),
               self.user, DOMAIN, random.getrandbits(48), self.user,
               "7a5c%04x-0000-4000-8000-00000000%04x" % (self.port, self.port))).encode())
        text = self.read()
        assert text.startswith("SIP/2.0 200"), text

    def reply(self, request, status, tag):
        lines = [l for l in request.split("\r\n")[1:] if l.lower().startswith(("via:", "record-route:"))]
        to = header(request, "To")
        if ";tag=" not in to:
            to += ";tag=" + tag
        self.sock.sendall(("SIP/2.0 %s\r\n%s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n"
                           "Contact: <sip:%s@192.0.2.1:5999;transport=tcp;ob>\r\nContent-Length: 0\r\n\r\n"
                           % (status, "\r\n".join(lines), header(request, "From"), to, header(request, "Call-ID"),
                              header(request, "CSeq"), self.user)).encode())

    def run(self):
        try:
            tag = "%x" % random.getrandbits(32)
            invite = self.read(20)
            self.got.append(invite.split()[0])
            self.reply(invite, "180 Ringing", tag)
            time.sleep(0.2)
            self.reply(invite, "200 OK", tag)
            for _ in range(2):
                request = self.read(20)
                self.got.append(request.split()[0])
                if request.startswith("BYE "):
                    self.reply(request, "200 OK", tag)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = repr(e)

    def close(self):
        self.sock.close()


def header(text, name):
    for line in text.split("\r\n")[1:]:
        if not line:
            break
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def final(got):
    finals = [(code, text) for code, method, text in got if method == "INVITE" and code >= 200]
    assert finals, "no final answer to the INVITE: %s" % [(c, m) for c, m, _ in got]
    return finals[0]


# -- tests ----------------------------------------------------------------------

def test_call_through_two_peers_takes_one_license(cluster, sipp):
    c = cluster
    register(sipp, 2, "bob", 5301)
    registered_everywhere(c, "sip:bob@example.com", 1)

    # No rich_media_sessions license anywhere: 503 with the reason
    caller = Caller(5390)
    try:
        if not getattr(c, "rms", False):
            caller.invite(3, "bob")
            code, text = final(caller.responses())
            caller.ack(text)
            assert code == 503, text
            assert "rich_media_sessions" in header(text, "Warning"), text
            assert calls(c[3]) == []
    finally:
        caller.close()
    ensure_rms(c)
    before = rms_used(c[3])

    uas = sipp.start("call_uas", 5301)
    uac = sipp.start("call_uac", 5302, peer_addr(3), user="bob", pause_ms=3000)

    def listed():
        rows = [r for r in calls(c[1]) if r["to"] == "sip:bob@example.com"]
        return rows if rows and rows[0]["state"] == "connected" else None
    rows = c[1].wait_for(listed, 10, lambda: "calls on peer 1: %s" % calls(c[1]))
    assert set(rows[0]) == {"id", "from", "to", "peer", "state", "started_at"}, rows
    assert rows[0]["peer"] == 3 and rows[0]["from"] == "sip:caller@example.com", rows
    assert [r["id"] for r in calls(c[3])] == [rows[0]["id"]]
    status = routing_status(c[3])
    assert status["calls"]["this_peer"] == 1 and status["calls"]["per_peer"]["3"] == 1, status["calls"]
    c[3].wait_for(lambda: rms_used(c[3]) == before + 1, 10, lambda: "used: %d" % rms_used(c[3]))
    # The CLI's table
    table = c.ok(2, "calls", "list")
    assert "sip:bob@example.com" in table and "connected" in table, table

    finished_ok(sipp, uac)
    finished_ok(sipp, uas)
    assert "180 Ringing" in uac.messages and "200 OK" in uac.messages
    c[3].wait_for(lambda: calls(c[3]) == [], 5, lambda: "calls: %s" % calls(c[3]))
    c[3].wait_for(lambda: rms_used(c[3]) == before, 10, lambda: "used: %d" % rms_used(c[3]))
    c[1].wait_for(lambda: calls(c[1]) == [], 10, lambda: "calls on peer 1: %s" % calls(c[1]))


def test_nobody_registered_480_other_domain_404(cluster):
    c = cluster
    caller = Caller(5391)
    try:
        caller.invite(3, "nobody")
        code, text = final(caller.responses())
        caller.ack(text)
        assert code == 480, text
        caller.invite(1, "bob", domain="elsewhere.example.org")
        code, text = final(caller.responses())
        caller.ack(text)
        assert code == 404 and "sip.domains" in header(text, "Warning"), text
    finally:
        caller.close()
    assert calls(c[3]) == []


def test_max_forwards_and_loop(cluster, sipp):
    c = cluster
    ensure_rms(c)
    before = rms_used(c[3])
    register(sipp, 2, "carol", 5311)
    registered_everywhere(c, "sip:carol@example.com", 1)
    caller = Caller(5392)
    try:
        # Peer 3 forwards with Max-Forwards 0: peer 2 answers 483
        caller.invite(3, "carol", max_forwards=1)
        code, text = final(caller.responses())
        caller.ack(text)
        assert code == 483, text
        # A contact that leads back to peer 3 itself: the request comes back
        # the same and is refused as a loop
        r = subprocess.run([SIPP, peer_addr(3), "-sf", os.path.join(SCENARIOS, "reg_contact.xml"), "-m", "1",
                            "-i", UA_IP, "-p", "5312", "-t", "u1", "-s", "loop", "-nostdin", "-timeout", "10s",
                            "-timeout_error", "-key", "domain", DOMAIN, "-key", "contact",
                            "sip:loop@%s;maddr=127.0.1.3" % DOMAIN], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        caller.invite(3, "loop")
        code, text = final(caller.responses())
        caller.ack(text)
        assert code == 482, text
    finally:
        caller.close()
    c[3].wait_for(lambda: rms_used(c[3]) == before, 10, lambda: "used: %d" % rms_used(c[3]))
    assert calls(c[3]) == []


def test_fork_to_two_peers_one_answers(cluster, sipp):
    c = cluster
    ensure_rms(c)
    register(sipp, 1, "dave", 5321)
    register(sipp, 2, "dave", 5322)
    registered_everywhere(c, "sip:dave@example.com", 2)
    answers = sipp.start("call_uas", 5321)
    rings = sipp.start("call_uas_cancel", 5322)
    uac = sipp.start("call_uac", 5323, peer_addr(3), user="dave", pause_ms=500)
    finished_ok(sipp, uac)
    finished_ok(sipp, answers)
    finished_ok(sipp, rings)
    assert "CANCEL" in rings.messages
    c[3].wait_for(lambda: calls(c[3]) == [], 5, lambda: "calls: %s" % calls(c[3]))


def test_cancel_from_the_caller(cluster, sipp):
    c = cluster
    ensure_rms(c)
    before = rms_used(c[3])
    register(sipp, 2, "erin", 5331)
    registered_everywhere(c, "sip:erin@example.com", 1)
    rings = sipp.start("call_uas_cancel", 5331)
    caller = Caller(5393)
    try:
        caller.invite(3, "erin")
        got = caller.responses(until=lambda code, text: code == 180)
        assert any(code == 180 for code, _, _ in got), [(code, m) for code, m, _ in got]
        assert [r["state"] for r in calls(c[3])] == ["ringing"]
        caller.cancel()
        got = caller.responses()
        code, text = final(got)
        caller.ack(text)
        assert code == 487, text
        assert any(code == 200 and method == "CANCEL" for code, method, _ in got), \
            [(code, m) for code, m, _ in got]
    finally:
        caller.close()
    finished_ok(sipp, rings)
    c[3].wait_for(lambda: calls(c[3]) == [], 5, lambda: "calls: %s" % calls(c[3]))
    c[3].wait_for(lambda: rms_used(c[3]) == before, 10, lambda: "used: %d" % rms_used(c[3]))


def test_ringing_timeout_408(cluster, sipp):
    c = cluster
    ensure_rms(c)
    before = rms_used(c[3])
    c.set(1, "call_routing.ringing_timeout_s", 5)
    try:
        c.wait_replicated("call_routing.ringing_timeout_s", 5)
        register(sipp, 2, "grace", 5351)
        registered_everywhere(c, "sip:grace@example.com", 1)
        rings = sipp.start("call_uas_cancel", 5351)
        caller = Caller(5395)
        try:
            started = time.monotonic()
            caller.invite(3, "grace")
            code, text = final(caller.responses(timeout=15))
            caller.ack(text)
            assert code == 408, text
            assert 4 <= time.monotonic() - started <= 10
        finally:
            caller.close()
        finished_ok(sipp, rings)
        assert "CANCEL" in rings.messages
    finally:
        c.set(1, "call_routing.ringing_timeout_s", 120)
    c[3].wait_for(lambda: calls(c[3]) == [], 5, lambda: "calls: %s" % calls(c[3]))
    c[3].wait_for(lambda: rms_used(c[3]) == before, 10, lambda: "used: %d" % rms_used(c[3]))


def test_call_reaches_an_outbound_flow_on_another_peer(cluster, sipp):
    c = cluster
    ensure_rms(c)
    callee = FlowCallee(2, "heidi")
    try:
        callee.register()
        rows = call_ok(c[2], "registrations.list", {"aor": "sip:heidi@example.com"})["registrations"]
        assert rows and rows[0]["transport"] == "tcp" and rows[0]["reg_id"] == 1, rows
        registered_everywhere(c, "sip:heidi@example.com", 1)
        callee.start()
        uac = sipp.start("call_uac", 5361, peer_addr(3), user="heidi", pause_ms=500)
        finished_ok(sipp, uac)
        callee.join(10)
        assert callee.error is None, callee.error
        assert callee.got == ["INVITE", "ACK", "BYE"], callee.got
    finally:
        callee.close()
    c[3].wait_for(lambda: calls(c[3]) == [], 5, lambda: "calls: %s" % calls(c[3]))


def test_signaling_optimization_leaves_the_path(cluster, sipp):
    c = cluster
    ensure_rms(c)
    before = rms_used(c[3])
    register(sipp, 2, "judy", 5381)
    registered_everywhere(c, "sip:judy@example.com", 1)
    c.set(1, "call_routing.signaling_optimization", "on")
    caller = Caller(5396)
    try:
        c.wait_replicated("call_routing.signaling_optimization", "on")
        uas = sipp.start("call_uas", 5381)
        caller.invite(3, "judy")
        code, text = final(caller.responses())
        assert code == 200 and not header(text, "Record-Route"), text
        # Answered: the call is over for the cluster while the dialog goes
        # on; its ACK and BYE go straight to the callee's Contact
        c[3].wait_for(lambda: calls(c[3]) == [], 5, lambda: "calls: %s" % calls(c[3]))
        c[3].wait_for(lambda: rms_used(c[3]) == before, 10, lambda: "used: %d" % rms_used(c[3]))
        contact = header(text, "Contact").strip("<>").split(";")[0]
        callee = (contact.split("@")[1].split(":")[0], int(contact.split(":")[-1]))
        routed = [routing_status(c[k])["proxy"]["loose_routed"] for k in (2, 3)]
        caller.in_dialog("ACK", 1, header(text, "To"), contact, callee)
        caller.in_dialog("BYE", 2, header(text, "To"), contact, callee)
        # (sipp's UAS answers the BYE toward where its INVITE came from)
        finished_ok(sipp, uas)
        assert [routing_status(c[k])["proxy"]["loose_routed"] for k in (2, 3)] == routed
    finally:
        caller.close()
        c.set(1, "call_routing.signaling_optimization", "off")
        c.wait_replicated("call_routing.signaling_optimization", "off")


def test_routing_killed_during_a_call_frees_its_license(cluster, sipp):
    c = cluster
    ensure_rms(c)
    before = rms_used(c[3])
    register(sipp, 2, "ivan", 5371)
    registered_everywhere(c, "sip:ivan@example.com", 1)
    uas = sipp.start("call_uas", 5371)
    uac = sipp.start("call_uac", 5372, peer_addr(3), user="ivan", pause_ms=8000)
    c[3].wait_for(lambda: [r["state"] for r in calls(c[3])] == ["connected"], 10,
                  lambda: "calls: %s" % calls(c[3]))
    c[3].wait_for(lambda: rms_used(c[3]) == before + 1, 10, lambda: "used: %d" % rms_used(c[3]))
    pid = routing_status(c[3])["pid"]
    os.kill(pid, signal.SIGKILL)

    def back():
        status, body = c[3].call("routing.status", {})
        return status == "ok" and body["pid"] != pid and all(l["state"] == "listening" for l in body["listeners"])
    c[3].wait_for(back, 20, "peer 3's routing actor did not come back")
    c[3].wait_for(lambda: rms_used(c[3]) == before, 10, lambda: "used: %d" % rms_used(c[3]))
    # The dialog outlives the proxy's state: the BYE follows its route
    finished_ok(sipp, uac)
    finished_ok(sipp, uas)
    assert rms_used(c[3]) == before


def test_maintenance_new_calls_refused_dialogs_continue(cluster, sipp):
    c = cluster
    ensure_rms(c)
    register(sipp, 2, "frank", 5341)
    registered_everywhere(c, "sip:frank@example.com", 1)
    uas = sipp.start("call_uas", 5341)
    uac = sipp.start("call_uac", 5342, peer_addr(3), user="frank", pause_ms=6000)
    c[3].wait_for(lambda: [r["state"] for r in calls(c[3])] == ["connected"], 10,
                  lambda: "calls: %s" % calls(c[3]))
    c.set(3, "maintenance.mode", "on")
    try:
        c[3].wait_for(lambda: routing_status(c[3])["maintenance"], 5, "peer 3 did not see maintenance.mode")
        assert uac.poll() is None, "the call ended before maintenance mode was on"
        routed = routing_status(c[3])["proxy"]["loose_routed"]
        caller = Caller(5394)
        try:
            caller.invite(3, "frank")
            code, text = final(caller.responses())
            caller.ack(text)
            assert code == 503 and header(text, "Retry-After"), text
        finally:
            caller.close()
        # The call that was up ends with its BYE through peer 3
        finished_ok(sipp, uac)
        finished_ok(sipp, uas)
        assert routing_status(c[3])["proxy"]["loose_routed"] > routed
        c[3].wait_for(lambda: calls(c[3]) == [], 5, lambda: "calls: %s" % calls(c[3]))
    finally:
        c.set(3, "maintenance.mode", "off")
