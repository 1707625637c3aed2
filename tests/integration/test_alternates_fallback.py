"""test_alternates_fallback - /alternatesconfiguration.xml served by the tms
actor when the web admin actor does not run on the peer.

Two peers: peer 1 with its web admin, peer 2 whose bootstrap has no web
admin actor (same webadmin.listen section). Peer 2's tms actor listens on
the web admin's address: HTTP Basic with an account made on peer 1 (the
accounts are cluster-wide) gets 200 and the same document as peer 1's web
admin except ThisSystem and Alternates; an API token made on peer 1 works
too; a wrong password and no credentials get 401 with WWW-Authenticate
Basic realm="Causeway"; another path 404, another method 405. `causeway tms
status` shows the fallback (JSON and text) on peer 2 and not on peer 1, and
`causeway tms diff` reads both peers and finds no difference.

One node with its web admin: the fallback never listens while the web
admin runs (nor at start); `causeway actors stop webadmin` makes the tms
actor listen on the same port (the document is served with the same
account); `causeway actors start webadmin` binds beside it (SO_REUSEPORT)
and, once the web admin is ready, the fallback stops listening. The same
when the web admin crashes until causewayd marks it failed.

A node without a web admin and no account: listening, 401; a node without
webadmin.listen: not listening.

Run: CAUSEWAY_BIN=build/bin PYTHONPATH=tests/integration \
     /usr/bin/python3 -m pytest -q tests/integration/test_alternates_fallback.py
"""
import http.client
import json
import os
import signal
import ssl

from cwcluster import address, make_cluster  # noqa: F401  (make_cluster is a fixture)
from cwtest import ACTORS, Node
from test_alternates import PATH, basic, keys_of, port_free_on, secret_file
from test_supervisor import crashing_wrapper, drop_standby
from webtest import Client, Response, add_admin, make_ip_cert, web_node

PASSWORD = "fallback pw 1"
NO_WEBADMIN = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS if a != "webadmin"]


class Peer:
    """HTTPS to HOST:PORT, the certificate checked against CAFILE."""

    def __init__(self, host, port, cafile):
        self.host, self.port = host, port
        self.ctx = ssl.create_default_context(cafile=cafile)

    def request(self, method, path, body=None, headers=None):
        con = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=15)
        con.request(method, path, body=body, headers=dict(headers or {}))
        r = con.getresponse()
        resp = Response(r, r.read())
        con.close()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)


def tms_alternates(node):
    status, body = node.call("tms.status", {})
    assert status == "ok", body
    return body["alternates"]


def wait_served(node, web, what):
    """Wait until WEB serves the document with the account (a change of the
    accounts reaches the tms actor by data.changed, a moment after the web
    admin saw it); the last response."""
    last = []

    def served():
        last[:] = [web.get(PATH, headers=basic("admin", PASSWORD))]
        return last[0].status == 200
    node.wait_for(served, 15, lambda: "%s: %s %s" % (what, last[0].status, last[0].text))
    return last[0]


def shared_lines(text):
    """The document's lines that every peer must share."""
    return [line for line in text.splitlines()
            if "<ThisSystem" not in line and "Alternate" not in line]


def test_peer_without_webadmin(tmp_path, make_cluster):  # noqa: F811
    cert, key = make_ip_cert(str(tmp_path), "web2", ["127.0.0.1", address(1), address(2)])
    port = port_free_on([address(k) for k in (1, 2)])
    sections = {k: {"webadmin": {"listen": ["%s:%d" % (address(k), port)], "certificate": cert,
                                 "private_key": key}} for k in (1, 2)}
    sections[2]["actors"] = NO_WEBADMIN
    c = make_cluster(2, node_sections=sections)
    c.form_guide_way()
    add_admin(c[1], "admin", PASSWORD)              # cluster-wide: it reaches peer 2's tms actor
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)

    alt = tms_alternates(c[2])
    assert alt["listening"] is True and alt["addresses"] == ["%s:%d" % (address(2), port)], alt
    assert tms_alternates(c[1])["listening"] is False

    web1, web2 = Peer(address(1), port, cert), Peer(address(2), port, cert)
    r = wait_served(c[2], web2, "peer 2 did not serve the document")
    assert r.headers["content-type"].startswith("application/xml"), r.headers
    doc2 = r.text
    r1 = web1.get(PATH, headers=basic("admin", PASSWORD))
    assert r1.status == 200, (r1.status, r1.text)
    assert keys_of(doc2)["h323.ttl_s"] == "3600"
    assert shared_lines(doc2) == shared_lines(r1.text), (doc2, r1.text)
    assert '<ThisSystem index="2">%s</ThisSystem>' % address(2) in doc2, doc2
    assert '<Alternate index="1">%s</Alternate>' % address(1) in doc2, doc2
    # the same bytes twice
    assert web2.get(PATH, headers=basic("admin", PASSWORD)).text == doc2

    # refused
    r = web2.get(PATH)
    assert r.status == 401 and r.headers["www-authenticate"].startswith('Basic realm="Causeway"'), (r.status, r.headers)
    r = web2.get(PATH, headers=basic("admin", "wrong password"))
    assert r.status == 401 and r.headers["www-authenticate"].startswith("Basic"), r.status
    r = web2.get(PATH, headers=basic("nobody", PASSWORD))
    assert r.status == 401, r.status
    assert web2.get("/", headers=basic("admin", PASSWORD)).status == 404
    assert web2.get("/api/v1/alarms", headers=basic("admin", PASSWORD)).status == 404
    r = web2.request("POST", PATH, body=b"x", headers=basic("admin", PASSWORD))
    assert r.status == 405 and "GET" in r.headers.get("allow", ""), (r.status, r.headers)

    # an API token made on peer 1
    token = c.cli(1, "admin", "token", "admin")
    assert token.returncode == 0, token.stderr
    token = token.stdout.strip()

    def token_works():
        return web2.get(PATH, headers={"Authorization": "Bearer " + token}).status == 200
    c[2].wait_for(token_works, 20, "the token made on peer 1 is refused by peer 2's fallback")
    assert web2.get(PATH, headers={"Authorization": "Bearer cwt_" + "0" * 16 + "_" + "0" * 64}).status == 401

    alt = tms_alternates(c[2])
    assert alt["served"] >= 3 and alt["refused"] >= 4, alt
    text = c.cli(2, "tms", "status")
    assert text.returncode == 0, text.stderr
    line = [x for x in text.stdout.splitlines() if x.startswith("alternates:")]
    assert line and "fallback listening on %s:%d" % (address(2), port) in line[0], text.stdout
    text = c.cli(1, "tms", "status")
    assert "alternates:    not served by the tms actor" in text.stdout, text.stdout

    # tms diff across both peers, from each
    pw = secret_file(tmp_path, "pw", PASSWORD)
    args = ("tms", "diff", "--user", "admin", "--password-file", pw, "--cacert", cert)
    for k in (1, 2):
        r = c.cli(k, *args)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert "peer 1  %s  OK" % address(1) in r.stdout and "peer 2  %s  OK" % address(2) in r.stdout, r.stdout
        assert "no differences" in r.stdout, r.stdout
    log = c[2].read_log()
    assert "fallback listening on https://%s:%d/alternatesconfiguration.xml" % (address(2), port) in log
    assert PASSWORD not in log and token not in log


def test_webadmin_stopped_and_started(tmp_path):
    node = web_node(tmp_path)
    try:
        add_admin(node, "admin", PASSWORD)
        web = Client(node)
        assert web.get(PATH, headers=basic("admin", PASSWORD)).status == 200
        assert tms_alternates(node)["listening"] is False
        # not even for a moment while the startup sequence had not reached the web admin
        assert "fallback listening" not in node.read_log()

        r = node.cli("actors", "stop", "webadmin")
        assert r.returncode == 0, r.stderr
        node.wait_for(lambda: tms_alternates(node)["listening"], 15,
                      lambda: "the fallback did not start: %r" % tms_alternates(node))
        alt = tms_alternates(node)
        assert alt["addresses"] == ["127.0.0.1:%d" % node.https_port], alt
        assert "stopped" in alt["reason"], alt
        r = wait_served(node, web, "the fallback did not serve the document")
        assert keys_of(r.text)["h323.mode"] == "on", r.text
        assert web.get(PATH).status == 401
        # the web admin's own pages are not served by the fallback
        assert web.get("/login").status == 404
        assert tms_alternates(node)["served"] >= 1

        r = node.cli("actors", "start", "webadmin")
        assert r.returncode == 0, r.stderr
        node.wait_for(lambda: not tms_alternates(node)["listening"], 20,
                      lambda: "the fallback did not stop: %r" % tms_alternates(node))
        assert node.actors()["webadmin"]["state"] == "running"
        r = web.get("/login")
        assert r.status == 200, r.status    # the web admin again
        assert web.get(PATH, headers=basic("admin", PASSWORD)).status == 200
        log = node.read_log()
        assert "fallback listening on https://127.0.0.1:%d" % node.https_port in log
        assert "fallback stops listening" in log
        assert PASSWORD not in log
    finally:
        node.stop()


def test_webadmin_failed(tmp_path):
    """A web admin that crashes until causewayd marks it failed: the tms actor
    takes over; started again (no longer crashing), it takes back."""
    flag, wrapper = crashing_wrapper(tmp_path, "webadmin")
    specs = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
    specs[ACTORS.index("webadmin")]["path"] = wrapper
    node = web_node(tmp_path, actors=specs, supervisor={"intensity": 3, "period_s": 30})
    try:
        add_admin(node, "admin", PASSWORD)
        web = Client(node)
        flag.write_text("")
        drop_standby(node, "webadmin")
        os.kill(node.actors()["webadmin"]["pid"], signal.SIGKILL)
        node.wait_for(lambda: node.actors()["webadmin"]["state"] == "failed", 20,
                      lambda: "webadmin not failed; log:\n%s" % node.read_log())
        node.wait_for(lambda: tms_alternates(node)["listening"], 15,
                      lambda: "the fallback did not start: %r" % tms_alternates(node))
        assert "failed" in tms_alternates(node)["reason"]
        r = wait_served(node, web, "the fallback did not serve the document")
        assert "<AlternatesConfiguration" in r.text, r.text

        flag.unlink()
        r = node.cli("actors", "start", "webadmin")
        assert r.returncode == 0, r.stderr
        node.wait_for(lambda: not tms_alternates(node)["listening"], 20,
                      lambda: "the fallback did not stop: %r" % tms_alternates(node))
        assert web.get("/login").status == 200
    finally:
        node.stop()


def test_alone_without_webadmin(tmp_path):
    """No web admin actor and nobody to make an account: the fallback listens
    and refuses, and a peer without webadmin.listen does not listen."""
    node = web_node(tmp_path, actors=NO_WEBADMIN)
    try:
        node.wait_for(lambda: tms_alternates(node)["listening"], 15, "the fallback did not start")
        web = Client(node)

        def answered():
            return web.get(PATH).status == 401
        node.wait_for(answered, 15, "no 401 without credentials")
        assert web.get(PATH, headers=basic("admin", PASSWORD)).status == 401
        r = node.cli("--json", "tms", "status")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["alternates"]["refused"] >= 2
    finally:
        node.stop()
    os.makedirs(str(tmp_path / "bare"))
    bare = Node(tmp_path / "bare", actors=NO_WEBADMIN)
    bare.start()
    try:
        alt = tms_alternates(bare)
        assert alt["listening"] is False and "webadmin.listen" in alt["reason"], alt
    finally:
        bare.stop()
