"""test_webadmin_accounts - the web administrators' accounts, API tokens
and the audit log, through the real `causeway` CLI against real nodes.

One node: `causeway admin add` with --password-file, `admin list` (table
and --json) without any hash, the stored value an argon2id hash that
libsodium verifies against the password (checked here through ctypes),
`admin passwd` (the new password verifies, the old no longer), a bad
name, a short password, an existing name and an unknown account refused
with a clear error (exit 1), `admin token` printing cwt_<id>_<secret>
once whose stored hash is BLAKE2b of the secret, `admin token-revoke`,
`admin remove` taking the account's tokens with it; `causeway audit`
(table and --json, --limit) lists every change and refusal, newest first,
with the control client "@control:<id>" as user and source; no password
and no token secret in any output, log or file of the node.

A damaged webadmin.db is moved aside, alarm 10002 raised about it, and an
empty audit log started that works.

Two peers: an account added on the primary is listed on the subordinate,
and a password changed on the subordinate reaches the primary.

Run: CAUSEWAY_BIN=build/bin PYTHONPATH=tests/integration \
     /usr/bin/python3 -m pytest -q tests/integration/test_webadmin_accounts.py
"""
import ctypes
import ctypes.util
import hashlib
import json
import os
import re

from cwcluster import make_cluster  # noqa: F401 - the fixture
from cwtest import Node

PASSWORD = "Tr0ub4dor&3-first"
PASSWORD2 = "correct-horse-battery-second"
_SODIUM = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert _SODIUM.sodium_init() >= 0


def _argon2_ok(stored, password):
    return _SODIUM.crypto_pwhash_str_verify(stored.encode(), password.encode(),
                                            ctypes.c_ulonglong(len(password.encode()))) == 0


def _pwfile(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text + "\n")
    return str(p)


def _stored(node, ns, key):
    status, body = node.call("replication.data.get", {"ns": ns, "key": key})
    assert status == "ok", body
    return json.loads(body["value"]) if body["value"] is not None else None


def _json(node, *args):
    r = node.cli("--json", *args)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def _listed(node):
    return {a["name"]: a for a in _json(node, "admin", "list")["accounts"]}


def _no_secret_on_disk(folder, secrets, skip):
    """No file under FOLDER (but those in SKIP) holds any of SECRETS."""
    found = []
    for root, _dirs, files in os.walk(folder):
        for f in files:
            path = os.path.join(root, f)
            if path in skip:
                continue
            try:
                data = open(path, "rb").read()
            except OSError:
                continue
            found += ["%s in %s" % (s, path) for s in secrets if s.encode() in data]
    assert not found, found


def test_accounts_tokens_audit_on_one_node(tmp_path):
    node = Node(tmp_path)
    node.start()
    try:
        pw1 = _pwfile(tmp_path, "pw1", PASSWORD)
        pw2 = _pwfile(tmp_path, "pw2", PASSWORD2)
        short = _pwfile(tmp_path, "short", "short7!")
        node.wait_for(lambda: node.cli("admin", "list").returncode == 0
                      and "loaded" not in node.cli("admin", "list").stdout, 10)
        r = node.cli("admin", "list")
        assert r.returncode == 0 and "no web administrator accounts" in r.stdout, r

        r = node.cli("admin", "add", "alice", "--password-file", pw1)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert r.stdout.strip() == "web administrator alice added", r.stdout
        outputs = [r.stdout + r.stderr]

        r = node.cli("admin", "list")
        assert r.returncode == 0 and re.search(r"^NAME\s+CREATED\s+CHANGED\s+TOKENS", r.stdout, re.M), r.stdout
        assert re.search(r"^alice\s+\d{4}-\d\d-\d\dT", r.stdout, re.M), r.stdout
        assert "argon2" not in r.stdout
        listed = _json(node, "admin", "list")
        assert [a["name"] for a in listed["accounts"]] == ["alice"], listed
        assert "hash" not in json.dumps(listed) and "argon2" not in json.dumps(listed), listed
        stored = _stored(node, "webadmin.accounts", "alice")
        assert stored["hash"].startswith("$argon2id$"), stored
        assert _argon2_ok(stored["hash"], PASSWORD)
        assert not _argon2_ok(stored["hash"], PASSWORD2)

        # refusals, each with a clear error and exit 1
        for args, text in ((("admin", "add", "bad name!", "--password-file", pw1), "'name' must be 1..64"),
                           (("admin", "add", "bob", "--password-file", short), "'password' must be 8..1024"),
                           (("admin", "add", "alice", "--password-file", pw2), "'alice' already exists"),
                           (("admin", "passwd", "nobody", "--password-file", pw2), "no account 'nobody'"),
                           (("admin", "remove", "nobody"), "no account 'nobody'"),
                           (("admin", "token", "nobody"), "no account 'nobody'")):
            r = node.cli(*args)
            assert r.returncode == 1 and text in r.stderr, (args, r.returncode, r.stdout, r.stderr)
            outputs.append(r.stdout + r.stderr)
        assert set(_listed(node)) == {"alice"}
        assert _argon2_ok(_stored(node, "webadmin.accounts", "alice")["hash"], PASSWORD)

        # passwd: the new password verifies, the old no longer
        r = node.cli("admin", "passwd", "alice", "--password-file", pw2)
        assert r.returncode == 0 and r.stdout.strip() == "password of alice changed", (r.stdout, r.stderr)
        outputs.append(r.stdout + r.stderr)
        after = _stored(node, "webadmin.accounts", "alice")
        assert _argon2_ok(after["hash"], PASSWORD2) and not _argon2_ok(after["hash"], PASSWORD)
        assert after["created"] == stored["created"] and after["changed"] >= stored["changed"]

        # tokens: printed once, stored as BLAKE2b of the secret, listed by id, revoked
        r = node.cli("admin", "token", "alice")
        assert r.returncode == 0, (r.stdout, r.stderr)
        token = r.stdout.strip()
        m = re.fullmatch(r"cwt_([0-9a-f]{16})_([0-9a-f]{64})", token)
        assert m, r.stdout
        token_id, secret = m.group(1), m.group(2)
        value = _stored(node, "webadmin.tokens", token_id)
        assert value["name"] == "alice" and value["hash"] == hashlib.blake2b(secret.encode(),
                                                                             digest_size=32).hexdigest()
        assert [t["id"] for t in _listed(node)["alice"]["tokens"]] == [token_id]
        r = node.cli("admin", "list")
        assert token_id in r.stdout and secret not in r.stdout
        r = node.cli("admin", "token-revoke", token_id)
        assert r.returncode == 0 and token_id in r.stdout, (r.stdout, r.stderr)
        assert _listed(node)["alice"]["tokens"] == []
        assert _stored(node, "webadmin.tokens", token_id) is None
        r = node.cli("admin", "token-revoke", token_id)
        assert r.returncode == 1 and "no token with id" in r.stderr, (r.stdout, r.stderr)

        # remove: the account and its tokens
        second = _json(node, "admin", "token", "alice")
        r = node.cli("admin", "remove", "alice")
        assert r.returncode == 0 and "alice" in r.stdout, (r.stdout, r.stderr)
        assert _listed(node) == {}
        assert _stored(node, "webadmin.accounts", "alice") is None
        assert _stored(node, "webadmin.tokens", second["id"]) is None

        # the audit log: every change and refusal, newest first, by the control client
        entries = _json(node, "audit")["entries"]
        actions = [(e["action"], e["result"] == "ok") for e in entries]
        assert actions[:6] == [("admin.remove", True), ("admin.token", True), ("admin.token.revoke", False),
                               ("admin.token.revoke", True), ("admin.token", True), ("admin.passwd", True)], actions
        assert ("admin.add", True) == actions[-1], actions
        assert len([a for a in actions if not a[1]]) == 7, actions
        for e in entries:
            assert re.fullmatch(r"@control:\d+", e["user"]) and e["source"] == e["user"], e
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["at"]), e
        assert entries[-1]["detail"] == "name=alice"
        assert [e["detail"] for e in entries if e["action"] == "admin.token.revoke"] == ["id=" + token_id] * 2
        refused = [e for e in entries if e["result"] != "ok"]
        assert any("'password' must be 8..1024" in e["result"] for e in refused), refused
        seqs = [e["seq"] for e in entries]
        assert seqs == sorted(seqs, reverse=True)
        assert [e["seq"] for e in _json(node, "audit", "--limit", "2")["entries"]] == seqs[:2]
        assert [e["seq"] for e in _json(node, "audit", "--before", str(seqs[1]))["entries"]] == seqs[2:]
        r = node.cli("audit", "--limit", "0")
        assert r.returncode in (1, 2), (r.stdout, r.stderr)
        r = node.cli("audit")
        assert r.returncode == 0, r.stderr
        assert re.search(r"^AT\s+USER\s+SOURCE\s+ACTION\s+DETAIL\s+RESULT", r.stdout, re.M), r.stdout
        assert re.search(r"@control:\d+\s+@control:\d+\s+admin\.remove\s+name=alice\s+ok", r.stdout), r.stdout
        outputs.append(r.stdout + r.stderr)

        secrets = [PASSWORD, PASSWORD2, "short7!", secret, second["token"].split("_")[2]]
        for text in outputs:
            for s in secrets[:3]:
                assert s not in text, text
    finally:
        node.cleanup()
    _no_secret_on_disk(str(tmp_path), secrets, {pw1, pw2, short})


def test_account_is_cluster_wide(make_cluster, tmp_path):
    c = make_cluster(2)
    c.form_guide_way()
    pw1 = _pwfile(tmp_path, "pw1", PASSWORD)
    pw2 = _pwfile(tmp_path, "pw2", PASSWORD2)
    r = c.cli(1, "admin", "add", "carol", "--password-file", pw1)
    assert r.returncode == 0, (r.stdout, r.stderr)
    c[2].wait_for(lambda: "carol" in _listed(c[2]), 15, lambda: "carol not listed on peer 2: %s" % _listed(c[2]))
    assert _argon2_ok(_stored(c[2], "webadmin.accounts", "carol")["hash"], PASSWORD)

    # a change made on the subordinate is committed by the primary and seen there
    before = _listed(c[1])["carol"]
    r = c.cli(2, "admin", "passwd", "carol", "--password-file", pw2)
    assert r.returncode == 0, (r.stdout, r.stderr)
    c[1].wait_for(lambda: _argon2_ok(_stored(c[1], "webadmin.accounts", "carol")["hash"], PASSWORD2), 15,
                  "the new password never reached peer 1")
    assert _listed(c[1])["carol"]["created"] == before["created"]

    # each peer audits what was done on it
    audit1 = [(e["action"], e["detail"]) for e in _json(c[1], "audit")["entries"]]
    audit2 = [(e["action"], e["detail"]) for e in _json(c[2], "audit")["entries"]]
    assert audit1 == [("admin.add", "name=carol")], audit1
    assert audit2 == [("admin.passwd", "name=carol")], audit2
    for k in (1, 2):
        r = c.cli(k, "audit")
        assert PASSWORD not in r.stdout and PASSWORD2 not in r.stdout
    for node in c:
        with open(node.log_path, "rb") as f:
            log = f.read()
        assert PASSWORD.encode() not in log and PASSWORD2.encode() not in log


def test_damaged_audit_db_is_moved_aside(tmp_path):
    node = Node(tmp_path)
    node.start()
    try:
        node.wait_for(lambda: _json(node, "admin", "list")["loaded"], 10)
        r = node.cli("admin", "remove", "nobody")
        assert r.returncode == 1
        assert len(_json(node, "audit")["entries"]) == 1
        node.stop()
        db = os.path.join(node.state_dir, "webadmin.db")
        with open(db, "r+b") as f:
            f.write(b"not a database; overwritten by test_webadmin_accounts " * 2)
        node.start()

        def alarm():
            status, body = node.call("alarms.list", {})
            assert status == "ok", body
            return [a for a in body["alarms"] if a["id"] == 10002 and a["state"] != "cleared"]

        got = node.wait_for(alarm, 15, lambda: "no alarm 10002; log:\n" + node.read_log())[0]
        assert got["subject"] == "webadmin.db" and "moved aside" in got["detail"], got
        assert len([f for f in os.listdir(node.state_dir) if f.startswith("webadmin.db.damaged-")]) == 1
        # an empty audit log that works
        assert _json(node, "audit")["entries"] == []
        node.cli("admin", "remove", "nobody")
        assert [e["action"] for e in _json(node, "audit")["entries"]] == ["admin.remove"]
    finally:
        node.cleanup()


def test_web_credentials_follow_the_commands(tmp_path):
    """HTTP Basic and API tokens on the HTTPS server (/metrics from an
    address outside metrics_allow needs them) follow the CLI's changes at
    once: a changed password, a revoked token, a removed account."""
    import base64
    import time
    from webtest import Client, web_node
    node = web_node(tmp_path)
    try:
        pw1 = _pwfile(tmp_path, "pw1", PASSWORD)
        pw2 = _pwfile(tmp_path, "pw2", PASSWORD2)
        node.wait_for(lambda: _json(node, "admin", "list")["loaded"], 10)
        assert node.cli("admin", "add", "dave", "--password-file", pw1).returncode == 0
        web = Client(node, source="127.0.0.2")

        def basic(password):
            auth = base64.b64encode(("dave:" + password).encode()).decode()
            return web.get("/metrics", headers={"Authorization": "Basic " + auth}).status

        def bearer(token):
            return web.get("/metrics", headers={"Authorization": "Bearer " + token}).status

        assert web.get("/metrics").status == 401
        started = time.monotonic()
        assert basic(PASSWORD) == 200
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            assert basic(PASSWORD) == 200
        cached = (time.monotonic() - started) / 20
        print("HTTP Basic: first %.1f ms, then %.1f ms per request" % (first * 1000, cached * 1000))
        assert basic(PASSWORD2) == 401

        # a new password: the old one (remembered a moment ago) is refused at once
        assert node.cli("admin", "passwd", "dave", "--password-file", pw2).returncode == 0
        assert basic(PASSWORD) == 401
        assert basic(PASSWORD2) == 200

        token = node.cli("admin", "token", "dave").stdout.strip()
        other = node.cli("admin", "token", "dave").stdout.strip()
        assert bearer(token) == 200 and bearer(other) == 200
        assert bearer(token[:-1] + ("0" if token[-1] != "0" else "1")) == 401
        assert node.cli("admin", "token-revoke", token.split("_")[1]).returncode == 0
        assert bearer(token) == 401 and bearer(other) == 200

        # the account removed: its password and its other token with it
        assert node.cli("admin", "remove", "dave").returncode == 0
        assert basic(PASSWORD2) == 401 and bearer(other) == 401
    finally:
        node.cleanup()
    with open(node.log_path, "rb") as f:
        log = f.read()
    for secret in (PASSWORD, PASSWORD2, token.split("_")[2], other.split("_")[2]):
        assert secret.encode() not in log
