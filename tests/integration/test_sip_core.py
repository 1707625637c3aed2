"""test_sip_core - the routing actor's SIP core, with a real node and sipp.

A node with SIP listeners on 127.0.1.1 (UDP and TCP on 5060, TLS on 5061
with a certificate of make_certs.sh): sipp's OPTIONS gets 200 over UDP and
TCP, a method nobody handles 501, Max-Forwards: 0 483, and in maintenance
mode a REGISTER 503 with Retry-After. A corpus of broken messages sent raw
over UDP and TCP never kills the actor and routing.status counts what it
refused; kill -9 of the routing actor: it comes back and serves again. A
listener whose port is taken raises alarm 40001, says why in
routing.status, and binds once the port is free; a bad sip section is
refused by `causewayd --check-config` naming file, line and key.
"""
import json
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest

from cwtest import BIN, HERE, Node

ADDRESS = "127.0.1.1"
PORT = 5060
TLS_PORT = 5061
SIPP = os.path.join(HERE, "sipp")
MAKE_CERTS = os.path.join(HERE, "make_certs.sh")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sipp(tmp_path, scenario, transport="u1", port=PORT):
    """Run one call of SCENARIO (tests/integration/sipp/) against the node;
    returns the CompletedProcess (returncode 0: the call succeeded)."""
    name = scenario.split(".")[0] + "-" + transport
    return subprocess.run(
        ["sipp", "-sf", os.path.join(SIPP, scenario), "-m", "1", "-t", transport,
         "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin",
         "-timeout", "10s", "-timeout_error",
         "-trace_msg", "-message_file", str(tmp_path / (name + ".msg")),
         "-trace_err", "-error_file", str(tmp_path / (name + ".err")),
         "%s:%d" % (ADDRESS, port)],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=40)


def sipp_ok(tmp_path, scenario, transport="u1"):
    r = sipp(tmp_path, scenario, transport)
    if r.returncode != 0:
        name = scenario.split(".")[0] + "-" + transport
        trace = ""
        for ext in (".msg", ".err"):
            path = tmp_path / (name + ext)
            if path.exists():
                trace += path.read_text(errors="replace")[-3000:]
        raise AssertionError("sipp %s over %s failed (%d):\n%s\n%s" % (scenario, transport, r.returncode,
                                                                        r.stdout[-2000:], trace))


def status(node):
    st, body = node.call("routing.status")
    assert st == "ok", body
    return body


def routing_pid(node):
    return node.actors()["routing"]["pid"]


def message(method="OPTIONS", headers=None, body=b"", via=True, call_id=True, cseq=None, clen=True,
            max_forwards="70", port=40000):
    """A SIP request as bytes; each argument breaks one thing."""
    lines = ["%s sip:%s:%d SIP/2.0" % (method, ADDRESS, PORT)]
    if via:
        lines.append("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%d" % (port, time.monotonic_ns()))
    lines += ["From: <sip:tester@example.com>;tag=t1", "To: <sip:%s>" % ADDRESS]
    if call_id:
        lines.append("Call-ID: c%d@test" % time.monotonic_ns())
    lines.append("CSeq: %s" % (cseq or "1 " + method))
    if max_forwards is not None:
        lines.append("Max-Forwards: %s" % max_forwards)
    lines += headers or []
    if clen is True:
        lines.append("Content-Length: %d" % len(body))
    elif clen is not None:
        lines.append("Content-Length: %s" % clen)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


GARBAGE = bytes((i * 37 + 11) % 256 for i in range(10000))

# name -> (the message for a client on PORT, what UDP counts, what TCP
# counts): "malformed", "oversized" or None (not counted: on TCP libre
# waits for the rest of it, or it is a valid message there). On TCP each
# one follows a good OPTIONS on the same connection, so a message that
# makes libre close the connection is counted through its flow.
CORPUS = {
    "truncated_headers": (lambda port: b"INVITE sip:bob@127.0.1.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;"
                          b"branch=z9hG4bKtr\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b" % port, "malformed", None),
    "truncated_body": (lambda port: message("MESSAGE", body=b"only twenty bytes...", clen="200", port=port,
                                            headers=["Content-Type: text/plain"]), "malformed", None),
    "binary_garbage": (lambda port: GARBAGE, "malformed", "malformed"),
    "huge_headers": (lambda port: message(headers=["X-Padding: " + "a" * 40000], port=port),
                     "oversized", "oversized"),
    "oversized_body": (lambda port: message("MESSAGE", body=b"b" * 40000, port=port,
                                            headers=["Content-Type: text/plain"]), "oversized", "oversized"),
    "missing_via": (lambda port: message(via=False, port=port), "malformed", "malformed"),
    "missing_call_id": (lambda port: message(call_id=False, port=port), "malformed", "malformed"),
    "bad_cseq_number": (lambda port: message(cseq="99999999999 OPTIONS", port=port), "malformed", "malformed"),
    "cseq_method_mismatch": (lambda port: message("INVITE", cseq="1 REGISTER", port=port),
                             "malformed", "malformed"),
    "bad_cseq_text": (lambda port: message(cseq="one OPTIONS", port=port), "malformed", "malformed"),
    "bad_max_forwards": (lambda port: message(max_forwards="lots", port=port), "malformed", "malformed"),
    "no_content_length_on_tcp": (lambda port: message(clen=None, port=port), None, "malformed"),
}


def counters(node):
    body = status(node)
    return body["malformed"], body["oversized"]


def delta(before, after):
    """What one message added: "malformed", "oversized", None, or a list
    when it was more than one."""
    changed = []
    if after[0] != before[0]:
        changed += ["malformed"] * (after[0] - before[0])
    if after[1] != before[1]:
        changed += ["oversized"] * (after[1] - before[1])
    return changed[0] if len(changed) == 1 else (changed or None)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    out = tmp_path_factory.mktemp("certs")
    r = subprocess.run(["sh", MAKE_CERTS, str(out), "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def node(tmp_path_factory, certs):
    listen = ["udp:%s:%d" % (ADDRESS, PORT), "tcp:%s:%d" % (ADDRESS, PORT), "tls:%s:%d" % (ADDRESS, TLS_PORT)]
    n = Node(tmp_path_factory.mktemp("sip"), sip={"listen": listen, "certificate": str(certs / "peer1.crt"),
                                                   "private_key": str(certs / "peer1.key")})
    n.start()
    yield n
    n.cleanup()


def test_status_lists_the_listeners(node):
    body = status(node)
    assert body["actor"] == "routing" and body["pid"] == routing_pid(node)
    assert [(l["transport"], l["address"], l["port"], l["state"]) for l in body["listeners"]] == [
        ("udp", ADDRESS, PORT, "listening"), ("tcp", ADDRESS, PORT, "listening"),
        ("tls", ADDRESS, TLS_PORT, "listening")]
    assert body["this_peer"] == 1 and body["maintenance"] is False
    out = node.cli("routing", "status").stdout
    assert "udp:127.0.1.1:5060" in out and "listening" in out, out


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_options_answered_200(node, tmp_path, transport):
    before = status(node)["requests"].get("OPTIONS", 0)
    sipp_ok(tmp_path, "options.xml", transport)
    assert status(node)["requests"]["OPTIONS"] >= before + 1


def test_options_over_tls(node, certs):
    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    context.check_hostname = False
    with socket.create_connection((ADDRESS, TLS_PORT), timeout=5) as raw:
        with context.wrap_socket(raw) as tls:
            tls.sendall(message(port=tls.getsockname()[1]))
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = tls.recv(4096)
                assert chunk, reply
                reply += chunk
    assert reply.startswith(b"SIP/2.0 200 OK\r\n"), reply


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_unknown_method_answered_501(node, tmp_path, transport):
    sipp_ok(tmp_path, "unknown_method.xml", transport)


def test_max_forwards_zero_answered_483(node, tmp_path):
    sipp_ok(tmp_path, "max_forwards_zero.xml")


def test_maintenance_mode_answers_503_with_retry_after(node, tmp_path):
    # before: a REGISTER is not refused for maintenance (no 503)
    r = sipp(tmp_path, "register_maintenance.xml")
    assert r.returncode != 0
    assert node.cli("config", "set", "maintenance.mode", "on").returncode == 0
    try:
        node.wait_for(lambda: status(node)["maintenance"], 5, "routing did not see maintenance.mode on")
        sipp_ok(tmp_path, "register_maintenance.xml", "u1")
        sipp_ok(tmp_path, "register_maintenance.xml", "t1")
    finally:
        assert node.cli("config", "set", "maintenance.mode", "off").returncode == 0
    node.wait_for(lambda: not status(node)["maintenance"], 5, "routing did not see maintenance.mode off")
    sipp_ok(tmp_path, "options.xml")


def _udp_exchange(s, data):
    """DATA, then a good OPTIONS from the same socket: when its 200 is back,
    DATA has been handled. Returns the first line of an answer to DATA."""
    port = s.getsockname()[1]
    s.sendto(data, (ADDRESS, PORT))
    probe = message(port=port)
    call_id = [l for l in probe.split(b"\r\n") if l.startswith(b"Call-ID:")][0]
    s.sendto(probe, (ADDRESS, PORT))
    answer = None
    while True:
        reply = s.recv(65535)
        if call_id in reply:
            return answer
        answer = reply.split(b"\r\n", 1)[0]


def test_malformed_udp_never_kills_the_actor(node, tmp_path):
    pid = routing_pid(node)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    seen, answers = {}, {}
    for name, (make, _, _) in CORPUS.items():
        before = counters(node)
        answers[name] = _udp_exchange(s, make(s.getsockname()[1]))
        seen[name] = delta(before, counters(node))
    s.close()
    assert seen == {name: value[1] for name, value in CORPUS.items()}, answers
    assert answers["huge_headers"] == b"SIP/2.0 513 Message Too Large", answers
    assert answers["oversized_body"] == b"SIP/2.0 513 Message Too Large", answers
    assert answers["bad_max_forwards"] == b"SIP/2.0 400 Bad Max-Forwards", answers
    assert answers["truncated_body"] == b"SIP/2.0 400 Content-Length larger than the body", answers
    assert answers["missing_via"] is None, answers       # no Via: nowhere to answer
    assert routing_pid(node) == pid
    sipp_ok(tmp_path, "options.xml")


def _tcp_exchange(make):
    """A good OPTIONS, then MAKE(port), on one new connection; returns the
    first line of what came back after the OPTIONS' 200 (b"" when the
    connection was closed or 1 s passed without an answer)."""
    with socket.create_connection((ADDRESS, PORT), timeout=5) as c:
        port = c.getsockname()[1]
        c.sendall(message(port=port))
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = c.recv(4096)
            assert chunk, reply
            reply += chunk
        assert reply.startswith(b"SIP/2.0 200 OK"), reply
        c.sendall(make(port))
        c.settimeout(1)
        rest = b""
        try:
            while b"\r\n" not in rest:
                chunk = c.recv(65535)
                if not chunk:
                    break
                rest += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return rest.split(b"\r\n", 1)[0]


def test_malformed_tcp_never_kills_the_actor(node, tmp_path):
    pid = routing_pid(node)
    corpus = dict(CORPUS)
    # more than libre's 64 KiB for one message: it closes the connection
    corpus["beyond_64k"] = (lambda port: message(headers=["X-Padding: " + "a" * 70000], port=port),
                            None, "oversized")
    seen, answers = {}, {}
    for name, (make, _, want) in corpus.items():
        before = counters(node)
        answers[name] = _tcp_exchange(make)
        if want:
            node.wait_for(lambda: counters(node) != before, 3, lambda: "%s not counted" % name)
        seen[name] = delta(before, counters(node))
    assert seen == {name: value[2] for name, value in corpus.items()}, answers
    assert answers["oversized_body"] == b"SIP/2.0 513 Message Too Large", answers
    assert answers["cseq_method_mismatch"] == b"SIP/2.0 400 CSeq method does not match the request", answers
    assert routing_pid(node) == pid
    sipp_ok(tmp_path, "options.xml", "t1")


def test_kill9_of_routing_comes_back_and_serves(node, tmp_path):
    pid = routing_pid(node)
    os.kill(pid, signal.SIGKILL)

    def back():
        a = node.actors().get("routing", {})
        return a.get("state") == "running" and a.get("pid") not in (None, 0, pid)
    node.wait_for(back, 15, lambda: "routing did not come back; log:\n%s" % node.read_log())
    assert all(l["state"] == "listening" for l in status(node)["listeners"]), status(node)
    sipp_ok(tmp_path, "options.xml", "u1")
    sipp_ok(tmp_path, "options.xml", "t1")


def test_listener_that_cannot_bind_is_retried_and_alarmed(tmp_path):
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind((ADDRESS, PORT + 2))
    n = Node(tmp_path, sip={"listen": ["udp:%s:%d" % (ADDRESS, PORT + 2), "tcp:%s:%d" % (ADDRESS, PORT + 2)]})
    try:
        n.start()
        pid = routing_pid(n)
        listeners = status(n)["listeners"]
        assert listeners[0]["state"] == "failed: Address already in use", listeners
        assert listeners[1]["state"] == "listening", listeners

        def alarm():
            return alarms_of(n, 40001)
        raised = n.wait_for(alarm, 5, "alarm 40001 not raised")
        assert raised[0]["subject"] == "udp:127.0.1.1:5062", raised
        assert "Address already in use" in raised[0]["detail"], raised
        taken.close()
        n.wait_for(lambda: status(n)["listeners"][0]["state"] == "listening", 15, "listener not bound again")
        n.wait_for(lambda: not alarm(), 5, "alarm 40001 not cleared")
        assert routing_pid(n) == pid      # never restarted for it
    finally:
        taken.close()
        n.cleanup()


def alarms_of(node, alarm_id):
    st, body = node.call("alarms.list")
    assert st == "ok", body
    return [a for a in body.get("alarms", []) if a["id"] == alarm_id]


def test_tls_certificate_problem_is_alarmed_and_retried(tmp_path, certs):
    key = tmp_path / "sip.key"
    key.write_bytes((certs / "wrong-san.key").read_bytes())      # not the certificate's key
    n = Node(tmp_path, sip={"listen": ["tls:%s:%d" % (ADDRESS, TLS_PORT + 2)],
                            "certificate": str(certs / "peer1.crt"), "private_key": str(key)})
    try:
        n.start()
        pid = routing_pid(n)
        state = status(n)["listeners"][0]["state"]
        assert state.startswith("failed: sip.private_key") and "does not belong" in state, state
        raised = n.wait_for(lambda: alarms_of(n, 40002), 5, "alarm 40002 not raised")
        assert "does not belong to sip.certificate" in raised[0]["detail"], raised
        assert not alarms_of(n, 40001)     # the certificate's alarm, not the listener's
        key.write_bytes((certs / "peer1.key").read_bytes())      # the operator installs the right key
        n.wait_for(lambda: status(n)["listeners"][0]["state"] == "listening", 15, "TLS listener not bound")
        n.wait_for(lambda: not alarms_of(n, 40002), 5, "alarm 40002 not cleared")
        assert routing_pid(n) == pid
    finally:
        n.cleanup()


def test_credentials_password_never_from_the_command_line(tmp_path):
    n = Node(tmp_path, actors=[])      # never started: the CLI refuses before any request
    n.cleanup()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    r = subprocess.run([os.path.join(BIN, "causeway"), "--config", n.conf, "credentials", "add", "alice",
                        "--password-file", str(empty)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "the password is empty" in r.stderr, r.stderr
    r = subprocess.run([os.path.join(BIN, "causeway"), "--config", n.conf, "credentials", "add", "alice"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "no password read from the terminal" in r.stderr, r.stderr
    r = subprocess.run([os.path.join(BIN, "causeway"), "--config", n.conf, "credentials", "add", "alice",
                        "secret"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r.stderr      # a password word on the command line is refused


def test_no_sip_section_listens_nowhere(tmp_path):
    n = Node(tmp_path)
    try:
        n.start()
        body = status(n)
        assert body["listeners"] == [] and "no SIP listener" in body["note"], body
    finally:
        n.cleanup()


@pytest.mark.parametrize("listen,what", [
    ('[ "sctp:127.0.1.1:5060" ]', "transport must be udp, tcp or tls"),
    ('[ "udp:sip.example.com:5060" ]', "IPv4 or IPv6 literal"),
    ('[ "tcp:127.0.1.1:0" ]', "port must be 1..65535"),
    ('[ "tls:127.0.1.1:5061" ]', "must name a PEM file"),
])
def test_bad_sip_section_refused_by_check_config(tmp_path, listen, what):
    path = tmp_path / "bad.conf"
    path.write_text('node: { runtime_dir = "run"; state_dir = "st"; };\nsip: {\n  listen = %s;\n};\n' % listen)
    r = subprocess.run([os.path.join(BIN, "causewayd"), "--check-config", str(path)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1, (r.stdout, r.stderr)
    key = "sip.certificate" if "PEM" in what else "sip.listen"
    line = 2 if "PEM" in what else 3
    assert r.stderr.startswith("%s:%d: key '%s': " % (path, line, key)), r.stderr
    assert what in r.stderr, r.stderr
