"""The dial plan through the real CLI: transforms and search rules.

One node: `causeway transforms add|list|test|remove` and `causeway
search-rules add|list|remove` change and show the cluster-wide rules; a
name that exists is refused; every bad rule is refused with the field at
fault and leaves the rules as they were; a search rule may name a zone
that does not exist (yet).

Two peers: a transform and a search rule added on the primary are listed
on the subordinate, and `transforms test` on the subordinate applies the
primary's transform; a removal reaches it too.
"""
import json

from cwcluster import make_cluster  # noqa: F401 - the fixture


def _list(node, what):
    r = node.cli("--json", what, "list")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _wait_loaded(node):
    node.wait_for(lambda: not _list(node, "transforms")["loading"] and not _list(node, "search-rules")["loading"],
                  20, lambda: "the dial plan never loaded: %s" % _list(node, "transforms"))


def test_one_node(make_cluster):
    c = make_cluster(1)
    n = c[1]
    _wait_loaded(n)
    r = n.cli("transforms", "list")
    assert r.returncode == 0 and "no transforms" in r.stdout, r.stdout + r.stderr

    # add: a prefix transform and a regex one with groups
    r = n.cli("transforms", "add", "intl", "--priority", "10", "--type", "prefix", "--pattern", "00",
              "--replace", "+")
    assert r.returncode == 0 and "transform intl added" in r.stdout, r.stdout + r.stderr
    r = n.cli("transforms", "add", "lab", "--priority", "20", "--type", "regex", "--pattern",
              r"([0-9]{4})@([a-z]+)\.local", "--replace", r"\1@\2.example.com")
    assert r.returncode == 0, r.stderr
    r = n.cli("transforms", "add", "off", "--priority", "5", "--type", "exact", "--pattern", "0044",
              "--replace", "never", "--state", "off")
    assert r.returncode == 0, r.stderr
    rules = _list(n, "transforms")["transforms"]
    assert [t["name"] for t in rules] == ["off", "intl", "lab"], rules
    assert rules[1] == {"name": "intl", "priority": 10, "pattern_type": "prefix", "pattern": "00",
                        "replace": "+", "state": "on"}, rules
    out = n.cli("transforms", "list").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["PRIORITY", "NAME", "TYPE", "PATTERN", "REPLACE", "STATE"], out
    assert lines[2].split() == ["10", "intl", "prefix", "00", "+", "on"], out

    # test: before, after, and which transform
    r = n.cli("transforms", "test", "0044123")
    assert r.returncode == 0, r.stderr
    assert "0044123" in r.stdout and "+44123" in r.stdout and "intl" in r.stdout, r.stdout
    body = json.loads(n.cli("--json", "transforms", "test", "1234@lab.local").stdout)
    assert body["alias"] == "1234@lab.local" and body["result"] == "1234@lab.example.com", body
    assert body["transform"] == "lab", body
    body = json.loads(n.cli("--json", "transforms", "test", "alice@example.com").stdout)
    assert body["result"] == "alice@example.com" and body["transform"] is None, body
    assert "none matched" in n.cli("transforms", "test", "alice@example.com").stdout

    # a name that exists is refused
    r = n.cli("transforms", "add", "intl", "--priority", "11", "--type", "prefix", "--pattern", "9")
    assert r.returncode == 1 and "exists" in r.stderr, r.stdout + r.stderr

    # every bad transform says its field, and changes nothing
    base = ["transforms", "add", "bad"]
    bad = [
        (["--priority", "0", "--type", "prefix", "--pattern", "1"], "priority"),
        (["--priority", "65535", "--type", "prefix", "--pattern", "1"], "priority"),
        (["--priority", "x", "--type", "prefix", "--pattern", "1"], "priority"),
        (["--type", "prefix", "--pattern", "1"], "priority"),
        (["--priority", "1", "--type", "glob", "--pattern", "1"], "pattern_type"),
        (["--priority", "1", "--pattern", "1"], "pattern_type"),
        (["--priority", "1", "--type", "prefix"], "pattern"),
        (["--priority", "1", "--type", "regex", "--pattern", "([0-9]"], "pattern"),
        (["--priority", "1", "--type", "regex", "--pattern", "(a)(b)", "--replace", r"\3"], "replace"),
        (["--priority", "1", "--type", "prefix", "--pattern", "1", "--state", "maybe"], "state"),
    ]
    for args, field in bad:
        r = n.cli(*(base + args))
        assert r.returncode == 1 and field + ":" in r.stderr, (args, r.stdout, r.stderr)
    r = n.cli("transforms", "add", "no/slash", "--priority", "1", "--type", "prefix", "--pattern", "1")
    assert r.returncode == 1 and "name:" in r.stderr, r.stderr
    assert [t["name"] for t in _list(n, "transforms")["transforms"]] == ["off", "intl", "lab"]

    # search rules: the target need not be a zone that exists
    r = n.cli("search-rules", "add", "to-east", "--priority", "50", "--target", "east", "--source", "zone:west",
              "--authenticated", "yes", "--type", "regex", "--pattern", r"\+([0-9]+)", "--behaviour", "replace",
              "--replace", r"\1@east.example.com", "--on-match", "continue")
    assert r.returncode == 0 and "search rule to-east added" in r.stdout, r.stdout + r.stderr
    r = n.cli("search-rules", "add", "local", "--priority", "40", "--target", "local")
    assert r.returncode == 0, r.stderr
    rules = _list(n, "search-rules")["search_rules"]
    assert [s["name"] for s in rules] == ["local", "to-east"], rules
    assert rules[1] == {"name": "to-east", "priority": 50, "source": "zone:west", "authenticated": True,
                        "mode": "pattern_match", "pattern_type": "regex", "pattern": r"\+([0-9]+)",
                        "behaviour": "replace", "replace": r"\1@east.example.com", "on_match": "continue",
                        "target": "east", "state": "on"}, rules
    assert rules[0]["mode"] == "any_alias" and rules[0]["on_match"] == "stop", rules
    out = n.cli("search-rules", "list").stdout
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["PRIORITY", "NAME", "SOURCE", "AUTH"] and "TARGET" in lines[0], out
    assert lines[1].split()[:3] == ["40", "local", "any"] and "any alias" in lines[1], out
    assert "zone:west" in lines[2] and "east" in lines[2].split() and "continue" in lines[2], out

    sbase = ["search-rules", "add", "bad", "--priority", "1"]
    sbad = [
        (["--source", "everyone", "--target", "local"], "source"),
        (["--source", "zone:", "--target", "local"], "source"),
        (["--target", "a zone"], "target"),
        ([], "target"),
        (["--target", "local", "--mode", "pattern"], "pattern_type"),
        (["--target", "local", "--type", "prefix", "--pattern", "9", "--behaviour", "cut"], "behaviour"),
        (["--target", "local", "--type", "regex", "--pattern", "9", "--behaviour", "strip"], "behaviour"),
        (["--target", "local", "--on-match", "halt"], "on_match"),
        (["--target", "local", "--state", "1"], "state"),
        (["--target", "local", "--type", "regex", "--pattern", "*"], "pattern"),
    ]
    for args, field in sbad:
        r = n.cli(*(sbase + args))
        assert r.returncode == 1 and field + ":" in r.stderr, (args, r.stdout, r.stderr)
    r = n.cli(*(sbase + ["--target", "local", "--authenticated", "maybe"]))
    assert r.returncode == 2 and "--authenticated" in r.stderr, r.stderr
    assert [s["name"] for s in _list(n, "search-rules")["search_rules"]] == ["local", "to-east"]

    # replace: an existing rule changed on purpose through the command
    status, body = n.call("search_rules.add", {"rule": {"name": "local", "priority": 45, "target": "local"},
                                               "replace": True})
    assert status == "ok" and body["search_rule"]["priority"] == 45, body
    status, body = n.call("search_rules.add", {"name": "local", "priority": 46, "target": "local"})
    assert status == "error" and "exists" in body["error"], body

    # remove
    r = n.cli("transforms", "remove", "intl")
    assert r.returncode == 0 and "transform intl removed" in r.stdout, r.stdout + r.stderr
    r = n.cli("transforms", "remove", "intl")
    assert r.returncode == 1 and "name:" in r.stderr, r.stderr
    assert json.loads(n.cli("--json", "transforms", "test", "0044").stdout)["result"] == "0044"
    r = n.cli("search-rules", "remove", "to-east")
    assert r.returncode == 0 and "search rule to-east removed" in r.stdout, r.stdout + r.stderr
    assert [s["name"] for s in _list(n, "search-rules")["search_rules"]] == ["local"]

    # the rules outlive a restart of the node
    c.restart(1)
    _wait_loaded(n)
    assert [t["name"] for t in _list(n, "transforms")["transforms"]] == ["off", "lab"]
    assert [s["name"] for s in _list(n, "search-rules")["search_rules"]] == ["local"]


def test_two_peers(make_cluster):
    c = make_cluster(2)
    c.form_guide_way()
    for k in (1, 2):
        _wait_loaded(c[k])
    c.ok(1, "transforms", "add", "intl", "--priority", "10", "--type", "prefix", "--pattern", "00",
         "--replace", "+")
    c.ok(1, "search-rules", "add", "to-b", "--priority", "20", "--target", "cluster-b", "--type", "prefix",
         "--pattern", "+44", "--behaviour", "strip")

    def listed():
        t = [x["name"] for x in _list(c[2], "transforms")["transforms"]]
        s = _list(c[2], "search-rules")["search_rules"]
        return t == ["intl"] and [x["name"] for x in s] == ["to-b"] and s[0]["target"] == "cluster-b"
    c[2].wait_for(listed, 20, lambda: "the subordinate lists %s / %s" % (
        _list(c[2], "transforms"), _list(c[2], "search-rules")))
    assert "cluster-b" in c.ok(2, "search-rules", "list")
    body = json.loads(c.ok(2, "--json", "transforms", "test", "0044123"))
    assert body["result"] == "+44123" and body["transform"] == "intl", body

    c.ok(1, "transforms", "remove", "intl")
    c[2].wait_for(lambda: _list(c[2], "transforms")["transforms"] == [], 20,
                  lambda: "the removal never reached the subordinate: %s" % _list(c[2], "transforms"))
