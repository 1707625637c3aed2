"""test_webadmin_browser - the web admin in a real browser: headless Debian
Chromium driven by Playwright (playwright-core from npm, tests/browser/)
against real nodes over HTTPS. Each scenario is a script in tests/browser/
run by node with its parameters as JSON in $CW_BROWSER_ARGS (passwords
stay off command lines); it prints "RESULT {...}" and exits 0,
or prints "FAIL: why" and exits 1. What the browser did is then checked
with the CLI, as a user would.

- log in (the login form, the session cookie's flags, the Status page,
  logout);
- an alarm raised with `causeway alarms raise` appears on the Alarms page
  without a reload and is acknowledged there (`causeway alarms list` says
  acknowledged);
- a form POST without the CSRF token (or with a wrong one) is refused with
  403 and changes nothing;
- five wrong passwords lock the account (the sixth attempt, right password,
  says "Locked: ...");
- on a cluster of two (127.0.1.1-2, web admin on 127.0.1.K:8443) a
  cluster-wide value changed on the primary's Configuration page shows on
  the subordinate's page;
- clearing the peer list on a peer's Clustering page shows the
  factory-reset banner (and `causeway cluster status` says a reset is
  pending).

Needs /usr/bin/chromium and tests/browser/node_modules (tools/setup-deps.sh
installs both). Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_webadmin_browser.py
"""
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import uuid

import pytest

from cwcluster import Cluster, address
from cwtest import BIN, HERE, Node

BROWSER = os.path.normpath(os.path.join(HERE, "..", "browser"))
CHROMIUM = os.environ.get("CW_CHROMIUM", "/usr/bin/chromium")
ADMIN = "admin"
WEB_PORT_CLUSTER = 8443


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def browser_ready():
    """Why the browser tests cannot run here, or None."""
    if not shutil.which("node"):
        return "node is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is missing (tools/setup-deps.sh installs Debian's chromium)" % CHROMIUM
    if not os.path.isdir(os.path.join(BROWSER, "node_modules", "playwright-core")):
        return "tests/browser/node_modules is missing (tools/setup-deps.sh runs npm ci there)"
    return None


def scenario(name, params, failure_dir, timeout=120):
    """Run tests/browser/NAME.mjs with PARAMS; its result (a dict). Fails
    with the scenario's message."""
    missing = browser_ready()
    assert missing is None, "the browser tests cannot run: " + missing
    params = dict(params, failure_dir=str(failure_dir))
    env = dict(os.environ, CW_BROWSER_ARGS=json.dumps(params))
    r = subprocess.run(["node", os.path.join(BROWSER, name + ".mjs")],
                       capture_output=True, text=True, timeout=timeout, cwd=BROWSER, env=env)
    assert r.returncode == 0, "browser scenario %s failed (exit %d):\n%s%s" % (
        name, r.returncode, r.stderr, r.stdout)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise AssertionError("scenario %s printed no RESULT line:\n%s" % (name, r.stdout))


def make_cert(folder, ip):
    os.makedirs(folder, exist_ok=True)
    cert, key = os.path.join(folder, "web.crt"), os.path.join(folder, "web.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=%s" % ip,
                    "-addext", "subjectAltName=IP:%s" % ip],
                   check=True, capture_output=True)
    return cert, key


def add_admin(node, folder, name=ADMIN):
    """`causeway admin add NAME --password-file F` on NODE; the password."""
    password = "pw-" + secrets.token_urlsafe(12)
    path = os.path.join(str(folder), "password-%s" % name)
    with open(path, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    # (right after start the actor may still be loading the accounts)
    deadline = time.monotonic() + 15
    while True:
        r = node.cli("admin", "add", name, "--password-file", path)
        if r.returncode != 1 or "being loaded" not in r.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.returncode == 0, "causeway admin add %s: %s%s" % (name, r.stdout, r.stderr)
    return password


class WebNode:
    """A standalone node with a web admin on 127.0.0.1:<free port> and an
    administrator account."""

    def __init__(self, folder):
        cert, key = make_cert(os.path.join(str(folder), "web-tls"), "127.0.0.1")
        self.port = free_port()
        # The supervisor's heartbeat as shipped (1 s, 3 misses), as in
        # cwcluster: a login checks its password (Argon2id, ~170 ms of CPU)
        # on the web admin's loop, and with Chromium busy on both cores the
        # test default (200 ms x 3) got the actor killed mid-login
        self.node = Node(folder, name="web1", supervisor={"heartbeat_ms": 1000, "heartbeat_misses": 3}, webadmin={
            "listen": ["127.0.0.1:%d" % self.port], "certificate": cert, "private_key": key})
        self.base = "https://127.0.0.1:%d" % self.port
        self.folder = folder
        self.node.start()
        try:
            self.password = add_admin(self.node, folder)
        except BaseException:
            self.node.cleanup()
            raise

    def params(self, **kw):
        return dict({"base": self.base, "name": ADMIN, "password": self.password}, **kw)


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web")
    w = WebNode(folder)
    yield w
    w.node.cleanup()


def test_login(web, tmp_path):
    r = scenario("login", web.params(node="web1", actors=["alarms", "replication", "webadmin"]), tmp_path)
    assert r["node"]


def test_alarm_appears_live_and_is_acknowledged(web, tmp_path):
    detail = "browser check %s" % uuid.uuid4().hex[:12]
    raise_cmd = [os.path.abspath(os.path.join(BIN, "causeway")), "--config", web.node.conf, "alarms", "raise", "90077", detail]
    r = scenario("alarms", web.params(detail=detail, **{"raise": raise_cmd}), tmp_path)
    out = web.node.cli("--json", "alarms", "list")
    assert out.returncode == 0, out.stderr
    alarms = {a["uuid"]: a for a in json.loads(out.stdout)["alarms"]}
    assert r["uuid"] in alarms, "the page's uuid %s is not in `causeway alarms list`: %s" % (r["uuid"], alarms)
    alarm = alarms[r["uuid"]]
    assert alarm["detail"] == detail and alarm["id"] == 90077, alarm
    assert alarm["state"] == "acknowledged", "acknowledged on the page, but the CLI says %s" % alarm["state"]
    web.node.cli("alarms", "clear", "90077")


def test_form_post_without_csrf_token_refused(web, tmp_path):
    before = web.node.cli("config", "get", "h323.ttl_s").stdout.strip()
    assert before != "3600"
    r = scenario("csrf", web.params(key="h323.ttl_s", value="3600"), tmp_path)
    assert r["config_without"] == 403 and r["logout_wrong"] == 403 and r["bare"] == 403, r
    after = web.node.cli("config", "get", "h323.ttl_s").stdout.strip()
    assert after == before, "a refused form changed h323.ttl_s from %s to %s" % (before, after)


def test_five_wrong_passwords_lock_the_account(tmp_path):
    w = WebNode(tmp_path)
    try:
        r = scenario("lockout", w.params(wrong="not-" + w.password), tmp_path)
        assert [a["status"] for a in r["attempts"]] == [401] * 5 + [429], r
    finally:
        w.node.cleanup()


# -- a cluster of two ---------------------------------------------------------

@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two formed peers (primary 127.0.1.1), each with a web admin on
    127.0.1.K:8443 and its own certificate; the account made on the
    primary and replicated to the subordinate."""
    folder = tmp_path_factory.mktemp("pair")
    sections = {}
    for k in (1, 2):
        cert, key = make_cert(os.path.join(str(folder), "web-tls-%d" % k), address(k))
        sections[k] = {"webadmin": {"listen": ["%s:%d" % (address(k), WEB_PORT_CLUSTER)],
                                    "certificate": cert, "private_key": key}}
    c = Cluster(folder, 2, node_sections=sections)
    try:
        c.start()
        c.form_guide_way()
        c.password = add_admin(c[1], folder)
        c[2].wait_for(lambda: ADMIN in c.cli(2, "admin", "list").stdout, 30,
                      "the account made on the primary is not listed on the subordinate")
        c.base = {k: "https://%s:%d" % (address(k), WEB_PORT_CLUSTER) for k in (1, 2)}
        yield c
    finally:
        c.cleanup()


def test_cluster_value_changed_on_primary_shows_on_subordinate(pair, tmp_path):
    assert pair.get(2, "h323.ttl_s") != 3600
    r = scenario("config", {"primary": pair.base[1], "subordinate": pair.base[2], "name": ADMIN,
                            "password": pair.password, "key": "h323.ttl_s", "value": "3600"}, tmp_path)
    assert r["after"] == "3600", r
    pair.wait_replicated("h323.ttl_s", 3600)


def test_cleared_peer_list_shows_factory_reset_banner(pair, tmp_path):
    assert pair.json(2, "cluster", "status")["factory_reset_pending"] is False
    scenario("reset_banner", {"base": pair.base[2], "other": pair.base[1], "name": ADMIN,
                              "password": pair.password}, tmp_path)
    assert pair.get(2, "cluster.peers") == []
    assert pair.json(2, "cluster", "status")["factory_reset_pending"] is True
    assert pair.json(1, "cluster", "status")["factory_reset_pending"] is False
