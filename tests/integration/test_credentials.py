"""SIP credentials as cluster-wide data, seen from outside real nodes.

The storage (runs today): a 2-peer cluster where each peer also runs the
probe actor of test_actor_events.py, which keeps every EVENT it is sent.
Rows of the namespace sip.credentials written on the subordinate
(forwarded to the primary) reach the actors of both peers as the EVENT
data.changed.sip.credentials with the rows written, a deletion as a null
value, a large batch as "rows": null (read it again), another namespace
under its own topic; replication.data.list pages through what is stored.

The credentials commands and digest REGISTERs (need the routing actor's
SIP core: skipped, saying why, while routing.status has no "listeners"):
`causeway credentials add alice --password-file F` on peer 1, `credentials
list` on both peers shows alice and her realm and never a hash or the
password; sipp REGISTERs alice on peer 2 with digest (401, then 200), with
the wrong password (401, then 403); a REGISTER answered with SHA-256
computed here is accepted; after `credentials remove` it is refused.
"""
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from cwcluster import make_cluster  # noqa: F401 - the fixture
from cwtest import ACTORS
from test_actor_events import PROBE
from test_license import Issuer

NS = "sip.credentials"
TOPIC = "data.changed." + NS
SIPP = shutil.which("sipp")
HERE = os.path.dirname(os.path.abspath(__file__))


def _specs(tmp_path):
    probe = tmp_path / "probe"
    probe.write_text(PROBE)
    probe.chmod(0o755)
    specs = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
    specs.append({"name": "probe", "restart": "permanent", "shutdown_timeout_ms": 2000, "path": str(probe)})
    return specs


def _events(node, topic):
    status, body = node.call("probe.events")
    assert status == "ok", body
    return [e for e in body["events"] if e["topic"] == topic]


def _wait_event(node, topic, match, what):
    return node.wait_for(lambda: [e for e in _events(node, topic) if match(e["body"])], 15,
                         lambda: "%s: %s never came; the probe has %s" % (node.name, what, _events(node, topic)))


def _value(realm, password, user):
    sha = hashlib.sha256(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()
    md5 = hashlib.md5(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()
    return json.dumps({"realm": realm, "ha1_sha256": sha, "ha1_md5": md5}, sort_keys=True,
                      separators=(",", ":"))


def test_credentials_data_reaches_every_peer(make_cluster, tmp_path):
    specs = _specs(tmp_path)
    c = make_cluster(2, start=False, node_sections={1: {"actors": specs}, 2: {"actors": specs}})
    c.start()
    c.form_guide_way()
    value = _value("example.com", "secret", "alice")

    status, body = c[2].call("replication.data.put", {"ns": NS, "rows": [["alice", value]], "wait": True},
                             timeout_ms=15000)
    assert status == "ok", body
    seq = body.get("seq")
    for k in (1, 2):
        got = _wait_event(c[k], TOPIC, lambda b: b.get("rows") == [["alice", value]], "alice's row")
        assert got[-1]["body"]["ns"] == NS and got[-1]["body"]["seq"] >= (seq or 1), got[-1]
        status, body = c[k].call("replication.data.list", {"ns": NS})
        assert status == "ok" and body["rows"] == [["alice", value]] and body["more"] is False, body

    # a deletion is a null value; an unrelated namespace has its own topic
    status, body = c[1].call("replication.data.put", {"ns": NS, "rows": [["alice", None]], "wait": True},
                             timeout_ms=15000)
    assert status == "ok", body
    status, body = c[1].call("replication.data.put", {"ns": "other.ns", "rows": [["k", "v"]], "wait": True},
                             timeout_ms=15000)
    assert status == "ok", body
    for k in (1, 2):
        _wait_event(c[k], TOPIC, lambda b: b.get("rows") == [["alice", None]], "alice's deletion")
        _wait_event(c[k], "data.changed.other.ns", lambda b: b.get("rows") == [["k", "v"]], "the other namespace")
        assert not [e for e in _events(c[k], TOPIC) if "k" in [r[0] for r in e["body"]["rows"] or []]]

    # many rows: every one is listed by the events (at most 5,000 per event)
    rows = [["user%04d" % i, _value("example.com", "pw%d" % i, "user%04d" % i)] for i in range(1500)]
    status, body = c[2].call("replication.data.put", {"ns": NS, "rows": rows, "wait": True}, timeout_ms=20000)
    assert status == "ok", body

    def listed_by_events(node):
        seen = {}
        for e in _events(node, TOPIC):
            for key, value in e["body"]["rows"] or []:
                seen[key] = value
                assert len(e["body"]["rows"]) <= 5000
        return all(seen.get(key) == value for key, value in rows)

    for k in (1, 2):
        c[k].wait_for(lambda: listed_by_events(c[k]), 15, "%s: not every row was in an event" % c[k].name)
    # a value too long to list: null rows, and the data is listed by pages
    status, body = c[2].call("replication.data.put", {"ns": "big.ns", "rows": [["big", "x" * 70000]], "wait": True},
                             timeout_ms=20000)
    assert status == "ok", body
    for k in (1, 2):
        _wait_event(c[k], "data.changed.big.ns", lambda b: b.get("rows") is None, "an event with null rows")
        listed, after = [], ""
        while True:
            status, body = c[k].call("replication.data.list", {"ns": NS, "after": after, "limit": 1000})
            assert status == "ok", body
            listed += body["rows"]
            if not body["more"]:
                break
            after = body["rows"][-1][0]
        assert listed == rows, (k, len(listed))
    status, body = c[1].call("replication.data.list", {"ns": NS, "limit": 0})
    assert status == "error" and "limit" in body["error"], body


# ---------------------------------------------------------------------------
#  Through the routing actor (needs its SIP core)

SIP = {1: "127.0.1.1", 2: "127.0.1.2"}
SIP_PORT = 5060


def _core_missing(node):
    status, body = node.call("routing.status")
    if status != "ok" or "listeners" not in body:
        return "the routing actor has no SIP core yet (routing.status has no \"listeners\": %s)" % body
    r = node.cli("credentials", "list")
    if r.returncode == 2:
        return "the CLI has no `credentials` command yet: %s" % r.stderr.strip()
    return None


def _sipp(k, scenario, user, password, tmp_path, name):
    """Run sipp SCENARIO as USER against node K's SIP listener; returns
    (exit status, the messages it traced)."""
    trace = tmp_path / ("%s.msg" % name)
    r = subprocess.run([SIPP, "-sf", os.path.join(HERE, "sipp", scenario), "-i", "127.0.2.%d" % (10 + k),
                        "-p", str(5070 + k), "-s", user, "-au", user, "-ap", password, "-m", "1",
                        # sipp's digest uri is the remote address unless told: ours checks it
                        # against the Request-URI (RFC 3261 22.4)
                        "-auth_uri", "example.com",
                        "-timeout", "15", "-timeout_error", "-trace_msg", "-message_file", str(trace),
                        "-nostdin", "%s:%d" % (SIP[k], SIP_PORT)],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, trace.read_text() if trace.exists() else ""


def _udp_register(k, user, auth=None, cseq=1, call_id="sha-test-1"):
    """One REGISTER from a socket of ours to node K; the response text."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.2.%d" % (20 + k), 0))
    s.settimeout(5)
    host, port = s.getsockname()
    msg = ("REGISTER sip:example.com SIP/2.0\r\n"
           "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%s-%d;rport\r\n"
           "From: <sip:%s@example.com>;tag=t1\r\nTo: <sip:%s@example.com>\r\n"
           "Call-ID: %s\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@%s:%d>\r\n"
           "Max-Forwards: 70\r\nExpires: 60\r\n%sContent-Length: 0\r\n\r\n"
           % (host, port, call_id, cseq, user, user, call_id, cseq, user, host, port,
              "Authorization: %s\r\n" % auth if auth else ""))
    try:
        s.sendto(msg.encode(), (SIP[k], SIP_PORT))
        while True:
            data = s.recv(65535).decode()
            if not re.match(r"SIP/2.0 1\d\d", data):
                return data
    finally:
        s.close()


def _challenges(response):
    return re.findall(r"^WWW-Authenticate: *(.*)$", response, re.M | re.I)


def _param(challenge, name):
    m = re.search(r'%s="?([^",]+)"?' % name, challenge)
    return m.group(1) if m else None


def _sha256_answer(challenge, user, password):
    realm, nonce = _param(challenge, "realm"), _param(challenge, "nonce")
    h = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    ha1, ha2 = h("%s:%s:%s" % (user, realm, password)), h("REGISTER:sip:example.com")
    response = h("%s:%s:00000001:c0ffee:auth:%s" % (ha1, nonce, ha2))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="sip:example.com", algorithm=SHA-256, '
            'qop=auth, nc=00000001, cnonce="c0ffee", response="%s"' % (user, realm, nonce, response))


def test_credentials_and_digest_register(make_cluster, tmp_path):
    issuer = Issuer(tmp_path / "issuer")
    sections = {k: {"sip": {"listen": ["udp:%s:%d" % (SIP[k], SIP_PORT)]},
                    "licensing": {"issuers": [issuer.pub]}} for k in (1, 2)}
    c = make_cluster(2, start=False, node_sections=sections)
    c.start()
    missing = _core_missing(c[1])
    if missing:
        pytest.skip(missing)
    assert SIPP, "sipp is not installed (tools/setup-deps.sh installs sip-tester)"
    c.form_guide_way()
    for k in (1, 2):    # every registered device takes a desktop_systems license
        c.ok(k, "license", "add", issuer.issue("desktop_systems", 5))
    c.set(1, "sip.domains", "example.com")
    c.set(1, "sip.auth.realm", "example.com")
    c.set(1, "sip.auth.required", "on")

    password = tmp_path / "alice.pw"
    password.write_text("correct horse battery\n")
    password.chmod(0o600)
    out = c.ok(1, "credentials", "add", "alice", "--password-file", str(password))
    assert "alice" in out and "correct horse" not in out, out
    sha = hashlib.sha256(b"alice:example.com:correct horse battery").hexdigest()
    md5 = hashlib.md5(b"alice:example.com:correct horse battery").hexdigest()
    for k in (1, 2):
        listed = c[k].wait_for(lambda: "alice" in c.ok(k, "credentials", "list") and c.ok(k, "credentials", "list"),
                               10, "alice never listed on peer %d" % k)
        assert "example.com" in listed, listed
        js = c.json(k, "credentials", "list")
        assert {"name": "alice", "realm": "example.com"} in js["credentials"], js
        text = json.dumps(js) + listed
        assert sha not in text and md5 not in text and "correct horse" not in text, text
    for log in (c[1].log_path, c[2].log_path):
        content = open(log, errors="replace").read()
        assert "correct horse" not in content and sha not in content and md5 not in content

    # sipp answers only MD5, and only the first challenge: offer MD5 alone for it
    c.set(1, "sip.auth.algorithms", "md5")
    time.sleep(0.5)
    rc, trace = _sipp(2, "auth_register.xml", "alice", "correct horse battery", tmp_path, "good")
    assert rc == 0, trace[-3000:]
    assert re.search(r"SIP/2.0 401", trace) and re.search(r"SIP/2.0 200", trace), trace[-3000:]
    rc, trace = _sipp(2, "auth_register_wrong.xml", "alice", "wrong horse", tmp_path, "wrong")
    assert rc == 0, trace[-3000:]
    assert re.search(r"SIP/2.0 403", trace), trace[-3000:]

    # both algorithms, SHA-256 first (RFC 8760); a SHA-256 answer is accepted
    c.set(1, "sip.auth.algorithms", "both")
    time.sleep(0.5)
    first = _udp_register(1, "alice")
    assert first.startswith("SIP/2.0 401"), first
    offered = _challenges(first)
    assert len(offered) == 2 and "algorithm=SHA-256" in offered[0] and "algorithm=MD5" in offered[1], first
    assert 'qop="auth"' in offered[0] and _param(offered[0], "realm") == "example.com", offered
    answer = _udp_register(1, "alice", _sha256_answer(offered[0], "alice", "correct horse battery"), cseq=2)
    assert answer.startswith("SIP/2.0 200"), answer
    # removed: refused from then on, on the other peer too
    c.ok(1, "credentials", "remove", "alice")
    c[2].wait_for(lambda: "alice" not in c.ok(2, "credentials", "list"), 10, "alice still listed on peer 2")
    first = _udp_register(2, "alice", call_id="sha-test-2")
    answer = _udp_register(2, "alice", _sha256_answer(_challenges(first)[0], "alice", "correct horse battery"),
                           cseq=2, call_id="sha-test-2")
    assert answer.startswith("SIP/2.0 403"), answer
