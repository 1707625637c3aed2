"""test_alternates - /alternatesconfiguration.xml and `causeway tms diff`.

One node: the document served over HTTPS with HTTP Basic and with an API
token, 401 without; well-formed XML (xml.etree) holding a cluster-wide key
set with the CLI and none of the peer-scope keys; `tms diff` on a node
alone reads it and finds nothing, refuses to run without credentials and
says a peer could not be read with a wrong password (exit 1).

Three peers, each with its web admin on its cluster address: `causeway tms
diff` says "no differences"; a value planted in one subordinate's copy of
the cluster-wide configuration (stopped, its cluster.db changed) is found:
the changed line printed with that peer named, exit 1, and in --json.

Run: CAUSEWAY_BIN=build/bin PYTHONPATH=tests/integration \
     /usr/bin/python3 -m pytest -q tests/integration/test_alternates.py
"""
import base64
import json
import os
import socket
import xml.etree.ElementTree as ET

from cwcluster import address, make_cluster, tamper_cluster_db  # noqa: F401  (make_cluster is a fixture)
from webtest import Client, add_admin, free_port, make_ip_cert, web_node

PASSWORD = "alternates pw 1"
PATH = "/alternatesconfiguration.xml"


def port_free_on(hosts):
    for _ in range(50):
        port = free_port()
        try:
            for h in hosts:
                s = socket.socket()
                s.bind((h, port))
                s.close()
            return port
        except OSError:
            continue
    raise AssertionError("no free port")


def basic(name, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (name, password)).encode()).decode()}


def secret_file(tmp_path, name, text):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def keys_of(text):
    root = ET.fromstring(text)
    assert root.tag == "AlternatesConfiguration"
    return {k.get("name"): (k.text or "") for k in root.find("Configuration").findall("Key")}


def test_one_node(tmp_path):
    node = web_node(tmp_path)
    try:
        add_admin(node, "admin", PASSWORD)
        r = node.cli("config", "set", "h323.ttl_s", "3600")
        assert r.returncode == 0, r.stderr
        r = node.cli("config", "set", "system.name", "alt-marker-peer")
        assert r.returncode == 0, r.stderr
        web = Client(node)

        r = web.get(PATH)
        assert r.status == 401, (r.status, r.text)
        assert r.headers["www-authenticate"].startswith("Basic")
        assert web.get(PATH, headers=basic("admin", "wrong password")).status == 401

        r = web.get(PATH, headers=basic("admin", PASSWORD))
        assert r.status == 200, (r.status, r.text)
        assert r.headers["content-type"].startswith("application/xml")
        keys = keys_of(r.text)
        assert keys["h323.ttl_s"] == "3600", keys
        assert keys["h323.mode"] == "on", keys
        for peer_key in ("system.name", "dns.domain", "cluster.peers", "maintenance.mode"):
            assert peer_key not in keys, (peer_key, keys)
        assert "alt-marker-peer" not in r.text
        assert list(keys) == sorted(keys)
        # the same bytes twice: nothing that changes by itself
        assert web.get(PATH, headers=basic("admin", PASSWORD)).text == r.text

        token = node.cli("admin", "token", "admin")
        assert token.returncode == 0, token.stderr
        token = token.stdout.strip()
        r = web.get(PATH, headers={"Authorization": "Bearer " + token})
        assert r.status == 200 and keys_of(r.text)["h323.ttl_s"] == "3600"

        # tms diff on a node alone: its own document, nothing to differ
        pw = secret_file(tmp_path, "pw", PASSWORD)
        r = node.cli("tms", "diff", "--user", "admin", "--password-file", pw, "--cacert", node.cert)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert "OK" in r.stdout and "no differences" in r.stdout, r.stdout
        tf = secret_file(tmp_path, "token", token)
        r = node.cli("tms", "diff", "--token-file", tf, "--cacert", node.cert)
        assert r.returncode == 0, (r.stdout, r.stderr)
        r = node.cli("tms", "diff")
        assert r.returncode == 2 and "--password-file" in r.stderr, r.stderr
        bad = secret_file(tmp_path, "bad", "not the password")
        r = node.cli("--json", "tms", "diff", "--user", "admin", "--password-file", bad, "--cacert", node.cert)
        assert r.returncode == 1, (r.stdout, r.stderr)
        body = json.loads(r.stdout)
        assert body["peers"][0]["state"] == "failed" and "401" in body["peers"][0]["error"], body
        assert PASSWORD not in r.stdout + r.stderr
        # without --cacert the self-signed certificate is refused
        r = node.cli("tms", "diff", "--user", "admin", "--password-file", pw)
        assert r.returncode == 1 and "unreachable" in r.stdout, (r.stdout, r.stderr)
    finally:
        node.stop()


def test_three_peers_diff(tmp_path, make_cluster):  # noqa: F811
    cert, key = make_ip_cert(str(tmp_path), "web3", ["127.0.0.1"] + [address(k) for k in (1, 2, 3)])
    port = port_free_on([address(k) for k in (1, 2, 3)])
    sections = {k: {"webadmin": {"listen": ["%s:%d" % (address(k), port)], "certificate": cert,
                                 "private_key": key}} for k in (1, 2, 3)}
    c = make_cluster(3, node_sections=sections)
    c.form_guide_way()
    add_admin(c[1], "admin", PASSWORD)              # cluster-wide
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    pw = secret_file(tmp_path, "pw", PASSWORD)
    args = ("tms", "diff", "--user", "admin", "--password-file", pw, "--cacert", cert)

    def accounts_everywhere():
        for k in (1, 2, 3):
            status, body = c[k].call("webadmin.admin.list", {})
            if status != "ok" or not any(a["name"] == "admin" for a in body["accounts"]):
                return False
        return True
    c[1].wait_for(accounts_everywhere, 20, "the account did not reach every peer")

    r = c.cli(2, *args)
    assert r.returncode == 0, (r.stdout, r.stderr)
    for k in (1, 2, 3):
        assert "peer %d  %s  OK" % (k, address(k)) in r.stdout, r.stdout
    assert "no differences" in r.stdout, r.stdout

    # A subordinate whose copy went wrong
    c[3].stop()
    tamper_cluster_db(c[3], "h323.ttl_s", 3600, 120)
    c.start(3)
    c.wait_formed()
    if c.get(3, "h323.ttl_s") == 3600:
        raise AssertionError("precondition: node 3 healed its copy by itself; nothing to find")

    def read_all():
        nonlocal r
        r = c.cli(1, *args)
        return "unreachable" not in r.stdout and "failed" not in r.stdout
    c[3].wait_for(read_all, 30, lambda: r.stdout)
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    assert "+++ peer 3 %s" % address(3) in lines, r.stdout
    assert "--- peer 1 %s" % address(1) in lines, r.stdout
    assert '-    <Key name="h323.ttl_s">3600</Key>' in lines, r.stdout
    assert '+    <Key name="h323.ttl_s">120</Key>' in lines, r.stdout
    assert "+++ peer 2 %s" % address(2) not in lines, r.stdout
    assert "no differences" not in r.stdout
    body = json.loads(c.cli(2, "--json", *args).stdout)
    rows = {p["index"]: p for p in body["peers"]}
    assert body["equal"] is False and body["reference"] == 1, body
    assert rows[2]["differences"] == [] and rows[3]["differences"] == [
        '-    <Key name="h323.ttl_s">3600</Key>', '+    <Key name="h323.ttl_s">120</Key>'], body

    # A peer down is named, exit 1
    c[2].stop()
    r = c.cli(1, *args)
    assert r.returncode == 1 and "peer 2  %s  unreachable" % address(2) in r.stdout, r.stdout
