"""test_webadmin_api - the REST API (/api/v1) against a real node.

docs/openapi.yaml is read (python3-yaml) and compared with the routes the
server registered (webadmin.routes): the same method+path set under /api/v1.
Then every operation of the file is called over HTTPS with an API token,
and its status must be the one this test expects and one the file
documents, its body of the shape the file's schema says (required fields,
types). Plus: 401 without or with wrong credentials, HTTP Basic, a bad
config value is 400 with the CLI's error text, an unknown key 404, an
actor that is stopped 503, an alarm acknowledged through the API is seen
by `causeway alarms list`, the audit log has every change without a
secret, the pages' session works (a change needs its CSRF header), and
POST /api/v1/restart brings the node (and the API) back. A cluster of
two: the peers in /metrics (alive, lag, RTT), 409 on the subordinate.

Run: CAUSEWAY_BIN=build/bin PYTHONPATH=tests/integration \
     /usr/bin/python3 -m pytest -q tests/integration/test_webadmin_api.py
"""
import base64
import http.client
import json
import os
import ssl
import time

import pytest
import yaml

from cwcluster import make_cluster  # noqa: F401 (the fixture)
from cwtest import Node
from test_webadmin import free_port, make_cert, sample
from webtest import Client

SPEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../docs/openapi.yaml")
PASSWORD = "correct horse battery"


def load_spec():
    with open(SPEC_PATH) as f:
        return yaml.safe_load(f)


SPEC = load_spec()


def operations():
    """{(METHOD, path): operation} of the file under /api/v1"""
    ops = {}
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            ops[(method.upper(), path)] = op
    return ops


def retry_loading(node, command, args):
    """A control call to the accounts, retried while they are being loaded"""
    deadline = time.monotonic() + 10
    while True:
        status, body = node.call(command, args)
        if status == "ok" or "still being loaded" not in body.get("error", "") or time.monotonic() > deadline:
            return status, body
        time.sleep(0.1)


class Api:
    def __init__(self, node, port, cert, token):
        self.node, self.port, self.cert, self.token = node, port, cert, token
        self.ctx = ssl.create_default_context(cafile=cert)

    def request(self, method, path, body=None, auth="token", headers=None, raw=None):
        con = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=20)
        h = dict(headers or {})
        if auth == "token":
            h["Authorization"] = "Bearer " + self.token
        elif isinstance(auth, tuple):
            h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
        elif isinstance(auth, str) and auth != "none":
            h["Authorization"] = auth
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            h["Content-Type"] = "application/json"
        con.request(method, path, body=data, headers=h)
        r = con.getresponse()
        text = r.read().decode()
        con.close()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return r.status, r, parsed


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    cert, key = make_cert(str(tmp))
    port = free_port()
    n = Node(tmp, webadmin={"listen": ["127.0.0.1:%d" % port], "certificate": cert, "private_key": key,
                            "metrics_allow": ["127.0.0.1"]})
    n.tmp = str(tmp)
    n.start()
    try:
        status, body = retry_loading(n, "webadmin.admin.add", {"name": "alice", "password": PASSWORD})
        assert status == "ok", body
        status, body = retry_loading(n, "webadmin.admin.token", {"name": "alice"})
        assert status == "ok", body
        a = Api(n, port, cert, body["token"])
        # The first call of one of the web admin's own commands after its start
        # (the server learnt the command routes before its own were declared)
        status, _, answer = a.request("GET", "/api/v1/webadmin")
        assert status == 200 and answer["serving"] is True, answer
        yield a
    finally:
        n.cleanup()


# ---------------------------------------------------------------------------
#  The file and the server's routes


def test_file_is_openapi_3():
    assert SPEC["openapi"].startswith("3.0")
    schemes = SPEC["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["basic"]["scheme"] == "basic"
    assert schemes["session"]["in"] == "cookie" and schemes["session"]["name"] == "cw_session"
    for (method, path), op in operations().items():
        assert "200" in op["responses"] and "401" in op["responses"], (method, path)
        assert op.get("summary"), (method, path)
        for name in [p.strip("{}") for p in path.split("/") if p.startswith("{")]:
            assert any(p["name"] == name and p["in"] == "path" for p in op.get("parameters", [])), (method, path)


def test_file_matches_the_server_routes(api):
    status, body = api.node.call("webadmin.routes")
    assert status == "ok", body
    served = {(r["method"], r["path"]) for r in body["routes"] if r["path"].startswith("/api/v1")}
    assert all(r["access"] == "api" for r in body["routes"] if r["path"].startswith("/api/v1"))
    documented = set()
    for method, path in operations():
        pattern = "/".join("{}" if p.startswith("{") else p for p in path.split("/"))
        documented.add((method, pattern))
    assert served - documented == set(), "served but not in docs/openapi.yaml"
    assert documented - served == set(), "in docs/openapi.yaml but not served"


# ---------------------------------------------------------------------------
#  Every operation


def resolve(schema):
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = SPEC["components"]["schemas"][name]
    return schema


TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def check_shape(schema, value, where="body"):
    schema = resolve(schema)
    kind = schema.get("type")
    if kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), "%s: %r is not an integer" % (where, value)
    elif kind == "number":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), "%s: %r" % (where, value)
    elif kind:
        assert isinstance(value, TYPES[kind]), "%s: %r is not %s" % (where, value, kind)
    if "enum" in schema:
        assert value in schema["enum"], "%s: %r not in %s" % (where, value, schema["enum"])
    if kind == "object":
        for field in schema.get("required", []):
            assert field in value, "%s: no field %r in %r" % (where, field, value)
        for field, sub in schema.get("properties", {}).items():
            if field in value and value[field] is not None and sub:
                check_shape(sub, value[field], where + "." + field)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for field, item in value.items():
                check_shape(extra, item, where + "." + field)
    if kind == "array" and schema.get("items"):
        for i, item in enumerate(value):
            check_shape(schema["items"], item, "%s[%d]" % (where, i))


def wait_tms(api):
    api.node.wait_for(lambda: api.node.actors()["tms"]["state"] == "running", 15, "tms not running again")


# (method, path of the file, path parameters, query, body, expected status,
#  save: (name, fn(body)) kept for later cases, after: fn(api))
CASES = [
    ("GET", "/api/v1/status", {}, "", None, 200, None, None),
    ("GET", "/api/v1/actors", {}, "", None, 200, None, None),
    ("GET", "/api/v1/actors/{name}", {"name": "tms"}, "", None, 200, None, None),
    ("POST", "/api/v1/actors/{name}/stop", {"name": "tms"}, "", None, 200, None, None),
    ("POST", "/api/v1/actors/{name}/start", {"name": "tms"}, "", None, 200, None, wait_tms),
    ("POST", "/api/v1/actors/{name}/restart", {"name": "tms"}, "", None, 200, None, wait_tms),
    ("GET", "/api/v1/alarms", {}, "?all=true", None, 200, None, None),
    ("POST", "/api/v1/alarms", {}, "", {"id": 90042, "detail": "raised by the API test"}, 200,
     ("uuid", lambda b: b["alarm"]["uuid"]), None),
    ("GET", "/api/v1/alarms/{uuid}", {"uuid": "$uuid"}, "", None, 200, None, None),
    ("POST", "/api/v1/alarms/{uuid}/ack", {"uuid": "$uuid"}, "", None, 200, None, None),
    ("POST", "/api/v1/alarms/clear", {}, "", {"id": 90042}, 200, None, None),
    ("GET", "/api/v1/config", {}, "?prefix=h323.", None, 200, None, None),
    ("GET", "/api/v1/config/{key}", {"key": "h323.ttl_s"}, "", None, 200, None, None),
    ("PUT", "/api/v1/config/{key}", {"key": "h323.ttl_s"}, "", {"value": 600}, 200, None, None),
    ("DELETE", "/api/v1/config/{key}", {"key": "h323.ttl_s"}, "", None, 200, None, None),
    ("GET", "/api/v1/cluster", {}, "", None, 200, None, None),
    ("GET", "/api/v1/cluster/alarms", {}, "", None, 200, None, None),
    ("GET", "/api/v1/cluster/check", {}, "", None, 200, None, None),
    # A single node is not in a cluster: the procedures say so (409)
    ("GET", "/api/v1/cluster/diff", {}, "", None, 409, None, None),
    ("GET", "/api/v1/cluster/replication", {}, "", None, 200, None, None),
    ("GET", "/api/v1/cluster/mappings", {}, "", None, 409, None, None),
    ("POST", "/api/v1/cluster/mappings", {}, "", None, 409, None, None),
    ("POST", "/api/v1/cluster/peers", {}, "", {"address": "127.0.9.2"}, 409, None, None),
    ("DELETE", "/api/v1/cluster/peers/{address}", {"address": "127.0.9.2"}, "?dead=true", None, 409, None, None),
    ("POST", "/api/v1/cluster/peers/{address}/replace", {"address": "127.0.9.2"}, "", {"new": "127.0.9.3"}, 409,
     None, None),
    ("POST", "/api/v1/cluster/peers/{index}/trust", {"index": "2"}, "", None, 409, None, None),
    ("POST", "/api/v1/cluster/tokens", {}, "", {"address": "127.0.9.2"}, 409, None, None),
    ("PUT", "/api/v1/cluster/primary", {}, "", {"index": 2}, 409, None, None),
    ("POST", "/api/v1/cluster/disband", {}, "", None, 409, None, None),
    ("GET", "/api/v1/cluster/use-fqdns", {}, "", None, 200, None, None),
    ("POST", "/api/v1/cluster/use-fqdns", {}, "", None, 409, None, None),
    ("GET", "/api/v1/cluster/enforce-tls", {}, "", None, 200, None, None),
    ("POST", "/api/v1/cluster/enforce-tls", {}, "", None, 409, None, None),
    ("POST", "/api/v1/cluster/force-config-update", {}, "", None, 409, None, None),
    ("POST", "/api/v1/backup", {}, "", {"file": "$tmp/api.cwb", "passphrase": "backup pass phrase"}, 200, None,
     None),
    ("POST", "/api/v1/backup/restore", {}, "", {"file": "$tmp/api.cwb", "passphrase": "backup pass phrase"}, 200,
     None, None),
    ("GET", "/api/v1/licenses", {}, "", None, 200, None, None),
    ("GET", "/api/v1/licenses/keys", {}, "", None, 200, None, None),
    # No issuer in the bootstrap file: no key can be verified
    ("POST", "/api/v1/licenses/keys", {}, "", {"key": "CWL1.e30.AAAA"}, 400, None, None),
    ("DELETE", "/api/v1/licenses/keys/{serial}", {"serial": "424242"}, "", None, 404, None, None),
    ("GET", "/api/v1/routing", {}, "", None, 200, None, None),
    ("GET", "/api/v1/registrations", {}, "?peer=1", None, 200, None, None),
    ("GET", "/api/v1/calls", {}, "", None, 200, None, None),
    ("GET", "/api/v1/credentials", {}, "", None, 200, None, None),
    ("PUT", "/api/v1/credentials/{name}", {"name": "bob"}, "", {"password": "sip secret 1"}, 200, None, None),
    ("DELETE", "/api/v1/credentials/{name}", {"name": "bob"}, "", None, 200, None, None),
    ("GET", "/api/v1/tms", {}, "", None, 200, None, None),
    ("GET", "/api/v1/tms/findme", {}, "?limit=5", None, 200, None, None),
    ("GET", "/api/v1/tms/findme/{id}", {"id": "no-such-account"}, "", None, 404, None, None),
    ("GET", "/api/v1/tms/phonebook", {}, "?query=gra&limit=5", None, 200, None, None),
    ("GET", "/api/v1/webadmin", {}, "", None, 200, None, None),
    ("GET", "/api/v1/routes", {}, "", None, 200, None, None),
    ("GET", "/api/v1/audit", {}, "?limit=5", None, 200, None, None),
    ("GET", "/api/v1/admins", {}, "", None, 200, None, None),
    ("POST", "/api/v1/admins", {}, "", {"name": "carol", "password": "carol's password"}, 200, None, None),
    ("PUT", "/api/v1/admins/{name}/password", {"name": "carol"}, "", {"password": "carol's new password"}, 200,
     None, None),
    ("POST", "/api/v1/admins/{name}/tokens", {"name": "carol"}, "", None, 200, ("token_id", lambda b: b["id"]), None),
    ("DELETE", "/api/v1/tokens/{id}", {"id": "$token_id"}, "", None, 200, None, None),
    ("DELETE", "/api/v1/admins/{name}", {"name": "carol"}, "", None, 200, None, None),
]
# Called by test_restart_through_the_api, last
LAST = [("POST", "/api/v1/restart")]


def test_cases_cover_every_operation():
    covered = {(c[0], c[1]) for c in CASES} | set(LAST)
    assert covered == set(operations()), "operations without a case: %s; cases without an operation: %s" % (
        set(operations()) - covered, covered - set(operations()))


def test_every_operation_as_documented(api):
    ops = operations()
    saved = {"tmp": api.node.tmp}
    for method, path, params, query, body, expected, save, after in CASES:
        concrete = path
        for name, value in params.items():
            concrete = concrete.replace("{%s}" % name, saved[value[1:]] if value.startswith("$") else value)
        if body:
            body = {k: (v.replace("$tmp", saved["tmp"]) if isinstance(v, str) else v) for k, v in body.items()}
        status, r, answer = api.request(method, concrete + query, body)
        where = "%s %s" % (method, concrete + query)
        assert status == expected, "%s: %d %s" % (where, status, answer)
        op = ops[(method, path)]
        assert str(status) in op["responses"], "%s: %d is not documented" % (where, status)
        assert r.getheader("Content-Type").startswith("application/json"), where
        if status == 200:
            check_shape(op["responses"]["200"]["content"]["application/json"]["schema"], answer, where)
        else:
            assert isinstance(answer, dict) and isinstance(answer.get("error"), str) and answer["error"], where
        if save:
            saved[save[0]] = save[1](answer)
        if after:
            after(api)


# ---------------------------------------------------------------------------
#  Authentication, errors


@pytest.mark.parametrize("method,path", [("GET", "/api/v1/status"), ("GET", "/api/v1/config/h323.ttl_s"),
                                         ("PUT", "/api/v1/config/h323.ttl_s"), ("GET", "/api/v1/audit")])
def test_401_without_credentials(api, method, path):
    status, r, answer = api.request(method, path, {"value": 600} if method == "PUT" else None, auth="none")
    assert status == 401, answer
    assert r.getheader("WWW-Authenticate").startswith('Basic realm="Causeway"')
    assert isinstance(answer["error"], str) and "ttl" not in json.dumps(answer)
    status, r, answer = api.request(method, path, None, auth="Bearer cwt_0000000000000000_" + "0" * 64)
    assert status == 401, answer


def test_session_of_the_pages(api):
    """The pages' session works for the API; a change needs its CSRF header"""
    api.node.https_port, api.node.cert = api.port, api.cert
    client = Client(api.node)
    client.login("alice", PASSWORD)
    assert "cw_session" in client.cookies
    r = client.get("/api/v1/config/h323.ttl_s")
    assert r.status == 200 and r.json()["key"] == "h323.ttl_s", r.text
    r = client.request("PUT", "/api/v1/config/h323.ttl_s", body=json.dumps({"value": 700}),
                       headers={"Content-Type": "application/json"})
    assert r.status == 403 and "error" in r.json(), r.text
    r = client.request("PUT", "/api/v1/config/h323.ttl_s", body=json.dumps({"value": 700}),
                       headers={"Content-Type": "application/json", "X-CSRF-Token": "not-the-token"})
    assert r.status == 403, r.text
    assert api.node.cli("config", "get", "h323.ttl_s").stdout.strip() != "700"


def test_http_basic(api):
    status, _, answer = api.request("GET", "/api/v1/status", auth=("alice", PASSWORD))
    assert status == 200 and answer["node"] == "peer1", answer
    status, _, answer = api.request("PUT", "/api/v1/config/h323.ttl_s", {"value": "900"}, auth=("alice", PASSWORD))
    assert status == 200 and answer["value"] == 900, answer
    status, _, answer = api.request("GET", "/api/v1/status", auth=("alice", "not the password"))
    assert status == 401, answer
    assert api.node.cli("config", "get", "h323.ttl_s").stdout.strip() == "900"
    api.node.cli("config", "unset", "h323.ttl_s")


def test_bad_value_is_400_with_the_error_text(api):
    cli = api.node.cli("config", "set", "h323.ttl_s", "5")
    assert cli.returncode == 1
    status, _, answer = api.request("PUT", "/api/v1/config/h323.ttl_s", {"value": 5})
    assert status == 400, answer
    assert answer["error"] == cli.stderr.strip()[len("causeway: "):], (answer, cli.stderr)
    assert "allowed" in answer["error"]
    for raw in ("not json", "[1, 2]"):
        status, _, answer = api.request("PUT", "/api/v1/config/h323.ttl_s", raw=raw)
        assert status == 400 and "JSON object" in answer["error"], answer
    status, _, answer = api.request("PUT", "/api/v1/config/h323.ttl_s")
    assert status == 400 and "JSON object" in answer["error"], answer
    status, _, answer = api.request("GET", "/api/v1/audit?limit=many")
    assert status == 400 and "'limit' must be an integer" in answer["error"], answer


def test_unknown_key_alarm_actor_path_404_and_method_405(api):
    status, _, answer = api.request("GET", "/api/v1/config/no.such_key")
    assert status == 404 and answer["error"] == "unknown key 'no.such_key'", answer
    status, _, answer = api.request("PUT", "/api/v1/config/no.such_key", {"value": 1})
    assert status == 404, answer
    status, _, answer = api.request("POST", "/api/v1/alarms/00000000-0000-0000-0000-000000000000/ack")
    assert status == 404 and "no alarm with uuid" in answer["error"], answer
    status, _, answer = api.request("GET", "/api/v1/actors/nobody")
    assert status == 404, answer
    status, _, answer = api.request("GET", "/api/v1/nothing/here")
    assert status == 404 and "error" in answer, answer
    status, _, answer = api.request("DELETE", "/api/v1/status")
    assert status == 405 and "error" in answer, answer


def test_503_while_the_actor_is_stopped(api):
    assert api.node.cli("actors", "stop", "tms").returncode == 0
    try:
        status, _, answer = api.request("GET", "/api/v1/tms")
        assert status == 503, answer
        assert "not running" in answer["error"], answer
    finally:
        assert api.node.cli("actors", "start", "tms").returncode == 0
        wait_tms(api)
    assert api.request("GET", "/api/v1/tms")[0] == 200


def test_alarm_acknowledged_through_the_api_is_seen_by_the_cli(api):
    assert api.node.cli("alarms", "raise", "90077", "disk full, from the CLI").returncode == 0
    status, _, answer = api.request("GET", "/api/v1/alarms")
    assert status == 200
    alarm = [a for a in answer["alarms"] if a["id"] == 90077][0]
    assert alarm["state"] == "raised"
    status, _, answer = api.request("POST", "/api/v1/alarms/%s/ack" % alarm["uuid"])
    assert status == 200 and answer["alarm"]["state"] == "acknowledged", answer
    out = api.node.cli("alarms", "list")
    line = [ln for ln in out.stdout.splitlines() if alarm["uuid"] in ln]
    assert line and "acknowledged" in line[0], out.stdout
    status, _, answer = api.request("GET", "/api/v1/alarms/" + alarm["uuid"])
    assert status == 200 and answer["state"] == "acknowledged"
    api.node.cli("alarms", "clear", "90077")


def test_audit_has_every_change_without_secrets(api):
    secrets = ["dave's very secret password", "sip-secret-for-eve", "passphrase of the backup"]
    assert api.request("POST", "/api/v1/admins", {"name": "dave", "password": secrets[0]})[0] == 200
    status, _, token = api.request("POST", "/api/v1/admins/dave/tokens")
    assert status == 200
    secrets.append(token["token"])
    assert api.request("PUT", "/api/v1/credentials/eve", {"password": secrets[1]})[0] == 200
    assert api.request("POST", "/api/v1/backup", {"file": api.node.tmp + "/audit.cwb",
                                                  "passphrase": secrets[2]})[0] == 200
    assert api.request("PUT", "/api/v1/config/h323.ttl_s", {"value": 5})[0] == 400
    assert api.request("PUT", "/api/v1/config/system.name", {"value": "n" * 5000})[0] == 400
    assert api.request("DELETE", "/api/v1/admins/dave")[0] == 200
    status, _, answer = api.request("GET", "/api/v1/audit?limit=50")
    assert status == 200
    text = json.dumps(answer)
    for secret in secrets:
        assert secret not in text
    mine = [e for e in answer["entries"] if e["user"] == "alice" and e["source"] == "127.0.0.1"]
    actions = [e["action"] for e in mine]
    for action in ("webadmin.admin.add", "webadmin.admin.token", "credentials.add", "backup.create",
                   "webadmin.admin.remove", "config.set"):
        assert action in actions, actions
    bad = [e for e in mine if e["action"] == "config.set" and "5 is out of range" in e["result"]]
    assert bad and "h323.ttl_s" in bad[0]["detail"], mine
    long = [e for e in mine if e["action"] == "config.set" and "system.name" in e["detail"]][0]
    assert len(long["detail"]) <= 1024 and long["detail"].endswith("..."), long
    added = [e for e in mine if e["action"] == "webadmin.admin.add"][0]
    assert "dave" in added["detail"] and added["result"] == "ok"


def test_gets_are_not_audited(api):
    before = api.request("GET", "/api/v1/audit?limit=1")[2]["entries"][0]["seq"]
    api.request("GET", "/api/v1/config")
    api.request("GET", "/api/v1/status")
    after = api.request("GET", "/api/v1/audit?limit=1")[2]["entries"][0]["seq"]
    assert after == before


def test_restart_through_the_api(api):
    before = api.node.actors()["webadmin"]["pid"]
    started = time.monotonic()
    status, _, answer = api.request("POST", "/api/v1/restart")
    assert status == 200 and answer["result"] == "restarting", answer
    op = operations()[("POST", "/api/v1/restart")]
    check_shape(op["responses"]["200"]["content"]["application/json"]["schema"], answer)

    # Watched over the control socket (no HTTP request into a node that is
    # stopping), then the API of the new instance
    def back():
        try:
            actors = api.node.actors(timeout_ms=500)
        except Exception:
            return False
        return actors["webadmin"]["pid"] != before and all(a["state"] == "running" for a in actors.values())
    api.node.wait_for(back, 30, "the node did not come back after POST /api/v1/restart")
    status, _, answer = api.request("GET", "/api/v1/status")
    assert status == 200 and answer["uptime_s"] <= time.monotonic() - started + 1, answer


# ---------------------------------------------------------------------------
#  A cluster of two: the peers in /metrics, 409 on the subordinate


def test_cluster_of_two_metrics_and_409_on_the_subordinate(make_cluster, tmp_path):
    cert, key = make_cert(str(tmp_path))
    ports = {1: free_port(), 2: free_port()}
    sections = {k: {"webadmin": {"listen": ["127.0.0.1:%d" % ports[k]], "certificate": cert,
                                 "private_key": key, "metrics_allow": ["127.0.0.1"]}} for k in (1, 2)}
    c = make_cluster(2, node_sections=sections)
    c.form_guide_way()
    status, body = retry_loading(c[1], "webadmin.admin.add", {"name": "alice", "password": PASSWORD})
    assert status == "ok", body
    status, body = retry_loading(c[1], "webadmin.admin.token", {"name": "alice"})
    assert status == "ok", body
    primary, subordinate = Api(c[1], ports[1], cert, body["token"]), Api(c[2], ports[2], cert, body["token"])
    # The token was made on the primary; the subordinate knows it once replicated
    c[2].wait_for(lambda: subordinate.request("GET", "/api/v1/cluster")[0] == 200, 20,
                  "the subordinate never took the primary's token")

    status, _, cluster = subordinate.request("GET", "/api/v1/cluster")
    assert cluster["this_peer"] == 2 and cluster["primary"] == 1 and len(cluster["peers"]) == 2, cluster
    check_shape(operations()[("GET", "/api/v1/cluster")]["responses"]["200"]["content"]["application/json"]["schema"],
                cluster)

    def metrics():
        status, _, text = primary.request("GET", "/metrics")
        assert status == 200, text
        return text

    def peers_measured():
        text = metrics()
        return (sample(text, "causeway_cluster_peers_alive") == 2
                and sample(text, 'causeway_cluster_peer_rtt_seconds{peer="2",address="127.0.1.2"}') is not None)
    c[1].wait_for(peers_measured, 20, lambda: "no peer figures in /metrics:\n" + metrics())
    text = metrics()
    assert sample(text, "causeway_cluster_peers") == 2
    assert sample(text, 'causeway_cluster_peer_up{peer="1",address="127.0.1.1"}') == 1, text
    assert sample(text, 'causeway_cluster_peer_up{peer="2",address="127.0.1.2"}') == 1, text
    assert sample(text, 'causeway_replication_lag{peer="2",address="127.0.1.2"}') is not None, text
    assert sample(text, 'causeway_cluster_peer_rtt_seconds{peer="2",address="127.0.1.2"}') < 5, text

    # A membership change made on the subordinate: 409, naming the primary
    status, _, answer = subordinate.request("POST", "/api/v1/cluster/peers", {"address": "127.0.1.3"})
    assert status == 409, answer
    assert "primary" in answer["error"], answer
    # A cluster-wide value set on the subordinate is forwarded to the primary
    status, _, answer = subordinate.request("PUT", "/api/v1/config/h323.ttl_s", {"value": 3600})
    assert status == 200 and answer["value"] == 3600, answer
    status, _, answer = primary.request("GET", "/api/v1/config/h323.ttl_s")
    assert status == 200 and answer["value"] == 3600 and answer["scope"] == "cluster", answer
