"""test_webadmin_pages_cluster - the web pages on a real 2-peer cluster:
the subordinate's pages say that cluster-wide changes are made on the
primary (#primary-note, a link to the primary's web address) and disable
those forms while its peer-scope ones stay usable; a cluster-wide value
saved on the primary's Configuration page shows on the subordinate's; the
Clustering page marks "This system"; clearing a peer's list puts the
factory-reset banner on that peer's pages only.

Run: CAUSEWAY_BIN=build/bin PYTHONPATH=tests/integration \
     /usr/bin/python3 -m pytest -q tests/integration/test_webadmin_pages_cluster.py
"""
import os
import re
import socket
import subprocess

from cwcluster import address, make_cluster  # noqa: F401  (make_cluster is a fixture)
from webtest import Client, add_admin, free_port

PASSWORD = "cluster pages pw"


def make_cert(folder):
    cert, key = os.path.join(folder, "web.crt"), os.path.join(folder, "web.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,IP:127.0.1.1,IP:127.0.1.2"],
                   check=True, capture_output=True)
    return cert, key


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


def has_admin(node):
    status, body = node.call("webadmin.admin.list", {})
    return status == "ok" and any(a["name"] == "admin" for a in body["accounts"])


def config_form(text, key):
    m = re.search(r'<form class="config"[^>]*data-key="%s"[^>]*>(.*?)</form>' % re.escape(key), text, re.S)
    assert m, key
    return m.group(1)


def test_pages_on_a_cluster(tmp_path, make_cluster):  # noqa: F811
    cert, key = make_cert(str(tmp_path))
    shared = port_free_on([address(1), address(2)])
    local = {1: free_port(), 2: free_port()}
    sections = {k: {"webadmin": {"listen": ["%s:%d" % (address(k), shared), "127.0.0.1:%d" % local[k]],
                                 "certificate": cert, "private_key": key}} for k in (1, 2)}
    c = make_cluster(2, node_sections=sections)
    c.form_guide_way()
    for k in (1, 2):
        c[k].https_port, c[k].cert = local[k], cert
    add_admin(c[1], "admin", PASSWORD)           # cluster-wide: replicated to peer 2
    primary, sub = Client(c[1]), Client(c[2])
    primary.login("admin", PASSWORD)
    # (a failed login counts towards the lockout: wait for the account first)
    c[2].wait_for(lambda: has_admin(c[2]), 20, "the account did not reach peer 2")
    sub.login("admin", PASSWORD)

    # The subordinate: the note with the primary's address, cluster-wide forms disabled
    page = sub.get("/configuration")
    assert page.status == 200
    note = re.search(r'<p id="primary-note"[^>]*>(.*?)</p>', page.text, re.S)
    assert note and "Cluster-wide changes are made on the configuration primary" in note.group(1)
    assert 'href="https://%s:%d/"' % (address(1), shared) in note.group(1)
    assert "<fieldset disabled>" in config_form(page.text, "h323.ttl_s")
    assert "<fieldset>" in config_form(page.text, "system.name")        # peer scope: usable here
    # The primary: no note, everything usable
    page = primary.get("/configuration")
    assert 'id="primary-note"' not in page.text
    assert "<fieldset>" in config_form(page.text, "h323.ttl_s")

    # A cluster-wide value saved on the primary's page shows on the subordinate's
    r = primary.post_form("/configuration", {"csrf": Client.csrf_of(page.text), "key": "h323.ttl_s",
                                             "value": "4321", "action": "set"})
    assert r.status == 303, r.text
    c[2].wait_for(lambda: 'name="value" value="4321"' in config_form(sub.get("/configuration").text, "h323.ttl_s"),
                  20, "the value did not show on the subordinate's page")

    # Clustering: "This system" on each peer's own row; primary-only procedures disabled on the subordinate
    page = sub.get("/system/clustering")
    row = re.search(r'<tr class="this-system"><td>(\d+)</td><td>([^<]*)</td>', page.text)
    assert row and row.groups() == ("2", address(2)), page.text[-4000:]
    assert 'id="primary-note"' in page.text
    assert re.search(r'id="proc-add"[^>]*>.*?<fieldset disabled>', page.text, re.S)
    assert re.search(r'<textarea name="address_mapping"[^>]*disabled', page.text)
    assert [m for m in re.findall(r'name="peer(\d)" id="f-peer\d" value="([^"]*)"', page.text) if m[1]] == \
        [("1", address(1)), ("2", address(2))]
    page = primary.get("/system/clustering")
    row = re.search(r'<tr class="this-system"><td>(\d+)</td>', page.text)
    assert row and row.group(1) == "1"
    # Status: a row per peer, this one "This system"
    peers = re.search(r'<table id="peers">.*?<tbody>(.*?)</tbody>', sub.get("/").text, re.S).group(1)
    rows = re.findall(r'<tr><td>(\d)</td><td>([^<]*)</td><td>[^<]*</td><td>([^<]*)</td>', peers)
    assert rows == [("1", address(1), "active"), ("2", address(2), "This system")], peers
    # Suggest fills the mapping field (not saved)
    r = primary.post_form("/system/clustering/suggest", {"csrf": Client.csrf_of(page.text)})
    assert r.status == 200 and "Suggested" in r.text, r.text[-3000:]
    assert c.get(1, "cluster.address_mapping") == []

    # A factory reset pending on peer 2: the banner on its pages, not on the primary's
    before = c.get(2, "cluster.peers")
    c.set(2, "cluster.peers", "")
    for path in ("/", "/system/clustering", "/alarms"):
        banner = re.search(r'<div id="reset-banner" class="banner">([^<]*)</div>', sub.get(path).text)
        assert banner and "factory reset" in banner.group(1), path
    assert 'id="reset-banner"' not in primary.get("/").text
    c.set(2, "cluster.peers", ",".join(before))
    assert 'id="reset-banner"' not in sub.get("/").text
