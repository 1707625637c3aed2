"""test_webadmin - the web admin actor against a real node: /metrics over
HTTPS (TLS 1.2+) in the Prometheus text format, open to the addresses of
webadmin.metrics_allow and needing API credentials from others (401
without, 200 with a token), its families (actors, alarms by severity, the
cluster, SIP registrations and calls, licenses; a family left out while
its actor is stopped), 404 for paths that do not exist and 401 for the API
without credentials, the plain-HTTP redirect listener (308 to HTTPS), and
the webadmin section's checks (file:line: key '...').

Run: CAUSEWAY_BIN=build/bin PYTHONPATH=tests/integration \
     /usr/bin/python3 -m pytest -q tests/integration/test_webadmin.py
"""
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from cwtest import BIN, Node
from webtest import free_port, make_cert


@pytest.fixture
def web(tmp_path):
    cert, key = make_cert(str(tmp_path))
    https, plain = free_port(), free_port()
    n = Node(tmp_path, webadmin={"listen": ["127.0.0.1:%d" % https], "certificate": cert,
                                 "private_key": key, "redirect": ["127.0.0.1:%d" % plain],
                                 "metrics_allow": ["127.0.0.1"]})
    n.https_port, n.plain_port, n.cert = https, plain, cert
    n.start()
    yield n
    n.cleanup()


def get(node, path, source="127.0.0.1", method="GET", headers=None):
    ctx = ssl.create_default_context(cafile=node.cert)
    con = http.client.HTTPSConnection("127.0.0.1", node.https_port, context=ctx, timeout=10,
                                      source_address=(source, 0))
    con.request(method, path, headers=headers or {})
    r = con.getresponse()
    body = r.read().decode()
    version = con.sock.version()
    con.close()
    return r, body, version


def test_metrics_for_allowed_address(web):
    r, body, version = get(web, "/metrics")
    assert r.status == 200, body
    assert version in ("TLSv1.2", "TLSv1.3")
    assert r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    for actor in ("alarms", "replication", "licensing", "tms", "routing", "webadmin"):
        assert 'causeway_actor_state{actor="%s",state="running"} 1' % actor in body, body
        assert 'causeway_actor_restarts_total{actor="%s"} 0' % actor in body, body
    assert "# TYPE causeway_actor_restarts_total counter" in body
    assert re.search(r"^causeway_uptime_seconds \d+$", body, re.M), body
    assert 'causeway_malformed_total{socket="broker"}' in body


def test_metrics_counts_a_restart(web):
    tms = web.actors()["tms"]
    os.kill(tms["pid"], signal.SIGKILL)
    web.wait_for(lambda: web.actors()["tms"]["restarts"] == 1
                 and web.actors()["tms"]["state"] == "running", 10, "tms not restarted")
    r, body, _ = get(web, "/metrics")
    assert r.status == 200
    assert 'causeway_actor_restarts_total{actor="tms"} 1' in body, body


def api_token(node):
    """An administrator account and an API token for it (control commands)"""
    deadline = time.monotonic() + 10
    for command, args in (("webadmin.admin.add", {"name": "ops", "password": "metrics scraper"}),
                          ("webadmin.admin.token", {"name": "ops"})):
        while True:
            status, body = node.call(command, args)
            if status == "ok" or "still being loaded" not in body.get("error", "") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == "ok", body
    return body["token"]


def test_metrics_for_other_address_needs_credentials(web):
    r, body, _ = get(web, "/metrics", source="127.0.0.2")
    assert r.status == 401, body
    assert r.getheader("WWW-Authenticate").startswith('Basic realm="Causeway"')
    assert "causeway_" not in body
    token = api_token(web)
    r, body, _ = get(web, "/metrics", source="127.0.0.2", headers={"Authorization": "Bearer " + token})
    assert r.status == 200, body
    assert 'causeway_actor_state{actor="webadmin",state="running"} 1' in body
    r, body, _ = get(web, "/metrics", source="127.0.0.2", headers={"Authorization": "Bearer cwt_0_0"})
    assert r.status == 401, body


def sample(body, series):
    """The value of SERIES (name{labels}) in the Prometheus text BODY, or None"""
    for line in body.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def test_metrics_families(web):
    r, body, _ = get(web, "/metrics")
    assert r.status == 200, body
    for actor in ("alarms", "replication", "routing", "licensing"):
        assert sample(body, 'causeway_actor_answering{actor="%s"}' % actor) == 1, body
    for family, kind in (("causeway_alarms", "gauge"), ("causeway_cluster_peers_alive", "gauge"),
                         ("causeway_replication_lag", "gauge"), ("causeway_cluster_peer_rtt_seconds", "gauge"),
                         ("causeway_sip_registrations", "gauge"), ("causeway_sip_calls", "gauge"),
                         ("causeway_sip_requests_total", "counter"), ("causeway_licenses_pool", "gauge"),
                         ("causeway_licenses_used", "gauge"), ("causeway_licenses_free", "gauge")):
        assert "# TYPE %s %s\n" % (family, kind) in body, family
    assert sample(body, "causeway_sip_registrations") == 0
    assert sample(body, "causeway_sip_calls") == 0
    assert sample(body, 'causeway_licenses_pool{kind="rich_media_sessions"}') == 0
    # A single node is not in a cluster: no peer
    assert sample(body, "causeway_cluster_peers") == 0
    for severity in ("critical", "error", "warning", "info"):
        assert sample(body, 'causeway_alarms{severity="%s"}' % severity) is not None, body
    # Every series line is NAME{LABELS} VALUE or NAME VALUE
    for line in body.splitlines():
        if line and not line.startswith("#"):
            assert re.match(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$', line), line


def test_metrics_alarms_by_severity_follow_a_raise(web):
    _, body, _ = get(web, "/metrics")
    before = sample(body, 'causeway_alarms{severity="warning"}')
    raised = sample(body, 'causeway_alarms_by_state{state="raised"}')
    assert web.cli("alarms", "raise", "90042", "disk /var is 95% full").returncode == 0
    _, body, _ = get(web, "/metrics")
    assert sample(body, 'causeway_alarms{severity="warning"}') == before + 1, body
    assert sample(body, 'causeway_alarms_by_state{state="raised"}') == raised + 1, body
    assert web.cli("alarms", "clear", "90042").returncode == 0
    _, body, _ = get(web, "/metrics")
    assert sample(body, 'causeway_alarms{severity="warning"}') == before, body


def test_metrics_leave_out_an_actor_that_is_stopped(web):
    assert web.cli("actors", "stop", "routing").returncode == 0
    try:
        web.wait_for(lambda: web.actors()["routing"]["state"] == "stopped", 15, "routing not stopped")
        r, body, _ = get(web, "/metrics")
        assert r.status == 200, body
        assert sample(body, 'causeway_actor_answering{actor="routing"}') == 0, body
        assert sample(body, 'causeway_actor_answering{actor="licensing"}') == 1, body
        assert "causeway_sip_" not in body
        assert 'causeway_actor_state{actor="routing",state="stopped"} 1' in body
    finally:
        assert web.cli("actors", "start", "routing").returncode == 0
        web.wait_for(lambda: web.actors()["routing"]["state"] == "running", 15, "routing not running again")


@pytest.mark.parametrize("path", ["/metrics/", "/index.html", "/api/v2/status"])
def test_no_other_path(web, path):
    r, body, _ = get(web, path)
    assert r.status == 404, body
    assert "causeway_" not in body and '"actors"' not in body


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/alarms"])
def test_no_api_without_credentials(web, path):
    r, body, _ = get(web, path)
    assert r.status == 401, body
    assert "causeway_" not in body and '"actors"' not in body


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_below_1_2_refused(web):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with socket.create_connection(("127.0.0.1", web.https_port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(raw).close()


def test_plain_http_redirects_to_https(web):
    con = http.client.HTTPConnection("127.0.0.1", web.plain_port, timeout=10)
    con.request("GET", "/metrics?x=1")
    r = con.getresponse()
    r.read()
    assert r.status == 308    # permanent, and the method is kept
    # The path, not the query (libmicrohttpd hands the path alone)
    assert r.getheader("Location") == "https://127.0.0.1:%d/metrics" % web.https_port
    # Under the name the client used, never a header the client injected
    con.request("GET", "/", headers={"Host": "localhost:%d" % web.plain_port})
    r = con.getresponse()
    r.read()
    assert r.getheader("Location") == "https://localhost:%d/" % web.https_port
    con.close()
    # curl follows it to the metrics
    out = subprocess.run(["curl", "-sS", "-L", "--cacert", web.cert,
                          "http://127.0.0.1:%d/metrics" % web.plain_port],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert 'causeway_actor_state{actor="webadmin",state="running"} 1' in out.stdout


def check(tmp_path, webadmin):
    conf = tmp_path / "t.conf"
    conf.write_text('node: { name = "n"; runtime_dir = "%s"; state_dir = "%s"; };\n%s\n'
                    % (tmp_path / "run", tmp_path / "state", webadmin))
    r = subprocess.run([os.path.join(BIN, "causewayd"), "--check-config", str(conf)],
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def test_webadmin_section_checked(tmp_path):
    cert, key = make_cert(str(tmp_path))
    rc, out = check(tmp_path, 'webadmin: { listen = [ "127.0.0.1:8443" ]; certificate = "%s"; '
                    'private_key = "%s"; redirect = [ "127.0.0.1:8080" ]; metrics_allow = [ "127.0.0.1" ]; };'
                    % (cert, key))
    assert rc == 0, out
    rc, out = check(tmp_path, 'webadmin: {\n listen = [ "127.0.0.1:70000" ];\n};')
    assert rc == 1 and ":3: key 'webadmin.listen'" in out and "127.0.0.1:70000" in out, out
    rc, out = check(tmp_path, 'webadmin: { listen = [ "127.0.0.1:8443" ];\n'
                    ' certificate = "/nonexistent/web.crt"; private_key = "%s"; };' % key)
    assert rc == 1 and ":3: key 'webadmin.certificate'" in out, out
    rc, out = check(tmp_path, 'webadmin: { listen = [ "127.0.0.1:8443" ]; private_key = "%s"; };' % key)
    assert rc == 1 and "key 'webadmin.certificate'" in out, out
    rc, out = check(tmp_path, 'webadmin: { redirect = [ "127.0.0.1:8080" ]; };')
    assert rc == 1 and "key 'webadmin.redirect'" in out, out
    rc, out = check(tmp_path, 'webadmin: { metrics_allow = [ "localhost" ]; };')
    assert rc == 1 and "key 'webadmin.metrics_allow'" in out, out


def test_address_in_use_is_a_problem_not_a_crash_loop(tmp_path):
    cert, key = make_cert(str(tmp_path))
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    n = Node(tmp_path, webadmin={"listen": ["127.0.0.1:%d" % port], "certificate": cert, "private_key": key})
    try:
        n.start()
        n.wait_for(lambda: "problem" in n.actors()["webadmin"], 10, "no problem reported")
        web = n.actors()["webadmin"]
        assert web["state"] == "running" and web["restarts"] == 0
        assert "127.0.0.1:%d" % port in str(web["problem"]) and "webadmin.listen" in str(web["problem"])
        status, body = n.call("webadmin.status")
        assert status == "ok" and body["serving"] is False, body
    finally:
        holder.close()
        n.cleanup()
