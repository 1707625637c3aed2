"""The provisioning data served on every peer (the tms actor's directory).

The rows are put the way the primary's tms actor writes them
(replication.data.put of tests/tms_manager/dataset.py's rows, as compact
JSON text, into tms.users, tms.findme, tms.phonebooks, tms.templates);
what a user sees is checked through the real CLI (and the REST API once):

  - one node: `findme list|show` and `phonebook search` give what the
    rows say, the search's order and matches those of a reference written
    here (prefix of the name, of a word of it, of the number, of the URI,
    any case, by name); a changed row and a deleted row follow; bad
    arguments get clear errors; the read model is made again after its
    file was deleted, or damaged, while the actor was stopped;
  - a cluster of two: rows put on the primary are served on the
    subordinate, by the CLI and by GET /api/v1/tms/...; with the primary
    down, the subordinate still serves them.
"""
import json
import os
import re
import sys
import time

import pytest

from cwcluster import make_cluster  # noqa: F401 (the fixture)
from test_webadmin import free_port, make_cert
from test_webadmin_api import PASSWORD, Api, retry_loading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tms_manager"))
import dataset  # noqa: E402

N = 400


def text(row):
    return json.dumps(row, separators=(",", ":"))


def put(node, service, rows):
    """rows: [(key, row dict | None)]"""
    status, body = node.call("replication.data.put",
                             {"ns": "tms." + service,
                              "rows": [[key, text(row) if row is not None else None] for key, row in rows]})
    assert status == "ok", body


def load(node, n=N):
    for service in dataset.SERVICES:
        count = 5 if service == "templates" else n
        put(node, service, [(dataset.row(service, i)["id"], dataset.row(service, i)) for i in range(count)])


def served(node, n=N):
    def check():
        status, body = node.call("tms.directory.status")
        if status != "ok":
            return False
        s = body["services"]
        return (s["phonebooks"]["rows"] == n and s["findme"]["rows"] == n and s["users"]["rows"] == n
                and s["templates"]["rows"] == 5 and all(v["ready"] for v in s.values()))
    node.wait_for(check, 30, lambda: "not served: %s" % (node.call("tms.directory.status"),))


def keys(entry):
    """The reference: what a query must be a prefix of to match ENTRY"""
    name = " ".join(entry["name"].lower().split())
    out = [name] + [name[m.start():] for m in re.finditer(r"(?<=[ -])[^ -]", name)]
    out.append("".join(c for c in entry["number"] if c.isdigit()))
    uri = entry["uri"].lower()
    for scheme in ("sip:", "sips:", "tel:"):
        if uri.startswith(scheme):
            uri = uri[len(scheme):]
    out.append(uri.lstrip("+"))
    return out


def reference(entries, query, limit):
    q = " ".join(query.lower().split())
    for scheme in ("sip:", "sips:", "tel:"):
        if q.startswith(scheme):
            q = q[len(scheme):]
    if q and all(c in "0123456789+-()./ " for c in q) and any(c.isdigit() for c in q):
        q = "".join(c for c in q if c.isdigit())
    hits = sorted((" ".join(e["name"].lower().split()), e["id"]) for e in entries
                  if any(k.startswith(q) for k in keys(e)))
    return [i for _, i in hits[:limit]], len(hits) > limit


def search_ids(node, query, limit=20):
    r = node.cli("--json", "phonebook", "search", query, "--limit", str(limit))
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    return [e["id"] for e in body["entries"]], body["more"]


def entries(n=N):
    return [dataset.row("phonebooks", i) for i in range(n)]


@pytest.fixture
def loaded(node):
    load(node)
    served(node)
    return node


def test_findme_list_and_show_through_the_cli(loaded):
    node = loaded
    r = node.cli("findme", "list", "--limit", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "ALIAS", "USER"], r.stdout
    assert [line.split()[0] for line in lines[1:4]] == ["f000000", "f000001", "f000002"], r.stdout
    assert "user000001.desk@example.com, user000001.room@example.com" in lines[2], r.stdout
    assert "Ben Andersen" in lines[2], r.stdout
    assert lines[4] == "more: causeway findme list --after f000002", r.stdout

    body = json.loads(node.cli("--json", "findme", "list", "--after", "f000002", "--limit", "2").stdout)
    assert [a["id"] for a in body["accounts"]] == ["f000003", "f000004"] and body["more"] is True, body
    body = json.loads(node.cli("--json", "findme", "list", "--query", "USER00012", "--limit", "100").stdout)
    assert [a["id"] for a in body["accounts"]] == ["f%06d" % i for i in range(120, 130)], body
    assert body["more"] is False

    r = node.cli("findme", "show", "f000007")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^alias +user000007\.findme@example\.com$", r.stdout, re.M), r.stdout
    assert re.search(r"^active location +Office$", r.stdout, re.M), r.stdout
    assert re.search(r"^Office +yes +user000007\.desk@example\.com, user000007\.room@example\.com$", r.stdout,
                     re.M), r.stdout
    assert re.search(r"^Mobile +user000007\.mobile@example\.com$", r.stdout, re.M), r.stdout
    # By alias, any case, with or without sip:
    body = json.loads(node.cli("--json", "findme", "show", "sip:USER000007.FindMe@example.com").stdout)
    assert body["account"] == dict(dataset.row("findme", 7), username="user000007", display_name="Hiro Andersen")


def test_phonebook_search_matches_the_reference(loaded):
    node = loaded
    every = entries()
    for query in ("gr", "Grace", "schm", "SCHMIDT1", "hansen15", "+44 000 000 01", "440000001", "sip:pb000013",
                  "pb0000131@", "ZOE", "z", "grace larsen", "nobody"):
        ids, more = search_ids(node, query, 7)
        assert (ids, more) == reference(every, query, 7), query
    ids, _ = search_ids(node, "e", 100)
    assert ids == reference(every, "e", 100)[0]
    r = node.cli("phonebook", "search", "schmidt1")
    assert r.returncode == 0, r.stderr
    first = dataset.row("phonebooks", int(reference(every, "schmidt1", 1)[0][0][1:]))
    assert r.stdout.splitlines()[0].split() == ["NAME", "NUMBER", "URI", "BOOK", "ID"], r.stdout
    assert r.stdout.splitlines()[1].split() == first["name"].split() + [first["number"], first["uri"], first["book"],
                                                                         first["id"]], r.stdout
    r = node.cli("phonebook", "search", "qqqq")
    assert r.returncode == 0 and r.stdout == "no phone book entry matches 'qqqq'\n", r.stdout


def test_a_changed_and_a_deleted_row_follow(loaded):
    node = loaded
    row = dict(dataset.row("phonebooks", 11), name="Åsa Ünderberg-Quist", rev=9001)
    put(node, "phonebooks", [(row["id"], row)])
    node.wait_for(lambda: search_ids(node, "quist")[0] == ["e0000011"], 10, "the changed entry is not found")
    assert search_ids(node, "asa und")[0] == ["e0000011"]
    assert search_ids(node, "underberg")[0] == ["e0000011"]
    old = dataset.row("phonebooks", 11)["name"]
    assert "e0000011" not in search_ids(node, old, 100)[0]

    put(node, "findme", [("f000002", None)])
    put(node, "phonebooks", [("e0000011", None)])

    def gone():
        return node.cli("findme", "show", "f000002").returncode == 1 and search_ids(node, "quist")[0] == []
    node.wait_for(gone, 10, "the deleted rows are still served")
    r = node.cli("findme", "show", "f000002")
    assert r.stderr.strip() == "causeway: no such FindMe account: f000002", r.stderr
    status, body = node.call("tms.directory.status")
    assert body["services"]["findme"]["rows"] == N - 1 and body["services"]["phonebooks"]["rows"] == N - 1, body


def test_bad_arguments_get_clear_errors(loaded):
    node = loaded
    r = node.cli("phonebook", "search", "gr", "--limit", "101")
    assert r.returncode == 1 and "'limit' must be a number from 1 to 100" in r.stderr, r.stderr
    r = node.cli("phonebook", "search", "")
    assert r.returncode == 1 and "'query' (text, 1..128 characters) is required" in r.stderr, r.stderr
    r = node.cli("phonebook", "search", "sip:")
    assert r.returncode == 1 and "has nothing to search for" in r.stderr, r.stderr
    r = node.cli("phonebook", "search", "x" * 129)
    assert r.returncode == 1 and "'query' (text, 1..128 characters)" in r.stderr, r.stderr
    r = node.cli("findme", "list", "--limit", "0")
    assert r.returncode == 2 and "--limit must be a positive number" in r.stderr, r.stderr
    r = node.cli("findme", "list", "--limit", "1001")
    assert r.returncode == 1 and "'limit' must be a number from 1 to 1000" in r.stderr, r.stderr
    r = node.cli("findme", "show")
    assert r.returncode == 2, r.stderr
    status, body = node.call("tms.phonebook.search", {"query": 7})
    assert status == "error" and "'query' (text, 1..128 characters) is required" in body["error"], body
    status, body = node.call("tms.phonebook.search", {"query": "gr", "limit": "5"})
    assert status == "error" and "'limit' must be a number from 1 to 100" in body["error"], body
    status, body = node.call("tms.findme.show", {})
    assert status == "error" and "'id' or 'alias'" in body["error"], body


def test_the_read_model_is_made_again_when_deleted_or_damaged(loaded):
    node = loaded
    path = os.path.join(node.state_dir, "tms_directory.db")
    before = search_ids(node, "gr")
    for damage in ("delete", "garbage"):
        r = node.cli("actors", "stop", "tms")
        assert r.returncode == 0, r.stderr
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
        if damage == "garbage":
            with open(path, "wb") as f:
                f.write(b"this is not a database " * 500)
        r = node.cli("actors", "start", "tms")
        assert r.returncode == 0, r.stderr
        served(node)
        assert search_ids(node, "gr") == before, damage
        assert node.cli("findme", "show", "f000009").returncode == 0
        with open(path, "rb") as f:
            assert f.read(16) == b"SQLite format 3\x00"


def test_served_on_every_peer_and_without_the_primary(make_cluster, tmp_path):
    cert, key = make_cert(str(tmp_path))
    port = free_port()
    sections = {2: {"webadmin": {"listen": ["127.0.0.1:%d" % port], "certificate": cert, "private_key": key}}}
    c = make_cluster(2, node_sections=sections)
    c.form_guide_way()
    load(c[1])
    served(c[2])
    every = entries()
    assert search_ids(c[2], "hansen1", 10) == reference(every, "hansen1", 10)
    served(c[1])
    assert search_ids(c[1], "hansen1", 10) == reference(every, "hansen1", 10)
    r = c.cli(2, "findme", "show", "user000042.findme@example.com")
    assert r.returncode == 0 and re.search(r"^id +f000042$", r.stdout, re.M), r.stdout + r.stderr

    # A change on the primary reaches the subordinate
    row = dict(dataset.row("findme", 42), active_location="Mobile", rev=5000)
    put(c[1], "findme", [(row["id"], row)])
    c[2].wait_for(lambda: re.search(r"^active location +Mobile$", c.ok(2, "findme", "show", "f000042"), re.M), 10,
                  "the change is not served on the subordinate")

    # The REST API of the subordinate
    status, body = retry_loading(c[1], "webadmin.admin.add", {"name": "alice", "password": PASSWORD})
    assert status == "ok", body
    status, body = retry_loading(c[1], "webadmin.admin.token", {"name": "alice"})
    assert status == "ok", body
    api = Api(c[2], port, cert, body["token"])
    c[2].wait_for(lambda: api.request("GET", "/api/v1/tms/findme/f000042")[0] == 200, 20,
                  "the subordinate's REST API does not serve the account")
    status, _, answer = api.request("GET", "/api/v1/tms/findme/f000042")
    assert answer["account"]["active_location"] == "Mobile", answer
    status, _, answer = api.request("GET", "/api/v1/tms/phonebook?query=hansen1&limit=10")
    assert status == 200 and [e["id"] for e in answer["entries"]] == reference(every, "hansen1", 10)[0], answer
    status, _, answer = api.request("GET", "/api/v1/tms/findme?query=user00004&limit=3")
    assert status == 200 and [a["id"] for a in answer["accounts"]] == ["f000040", "f000041", "f000042"], answer
    status, _, answer = api.request("GET", "/api/v1/tms/findme/f999999")
    assert status == 404 and answer["error"] == "no such FindMe account: f999999", answer
    status, _, answer = api.request("GET", "/api/v1/tms/phonebook?query=gr&limit=0")
    assert status == 400 and "'limit' must be a number from 1 to 100" in answer["error"], answer

    # The primary away: the subordinate still serves its copy
    c.kill9(1)
    time.sleep(0.5)
    assert search_ids(c[2], "hansen1", 10) == reference(every, "hansen1", 10)
    r = c.cli(2, "findme", "list", "--query", "user000042")
    assert r.returncode == 0 and "f000042" in r.stdout, r.stdout + r.stderr
