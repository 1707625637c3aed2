"""The orchestrated helpers and the reference tools on a real cluster, through the CLI: suggest-mappings,
use-fqdns, enforce-tls (and its refusal), check, diff, backup
create/restore, dns records, firewall rules.

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_tools.py
"""
import re

from cwcluster import CLUSTER_NAME, address, fqdn, make_cluster, tamper_cluster_db  # noqa: F401

PASSPHRASE = "correct horse battery staple"


def test_suggest_mappings(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    out = c.ok(1, "cluster", "suggest-mappings")
    assert [line.strip() for line in out.splitlines() if line.strip()] == c.mapping(), out
    assert c.get(1, "cluster.address_mapping") == []        # only printed
    c.ok(1, "cluster", "suggest-mappings", "--apply")
    c.wait_replicated("cluster.address_mapping", c.mapping())
    assert c.get(1, "cluster.address_mapping.enabled") in ("on", True)
    c.wait_replicated("cluster.address_mapping.enabled", "on")


def test_use_fqdns_then_enforce_tls(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.ok(1, "cluster", "suggest-mappings", "--apply")
    c.wait_replicated("cluster.address_mapping", c.mapping())
    c.ok(1, "cluster", "use-fqdns", timeout=300)
    c.fqdns = True
    c.wait_replicated("cluster.peers", [fqdn(k) for k in (1, 2, 3)])
    c.wait_formed(timeout=180)
    c.ok(1, "cluster", "enforce-tls", timeout=300)
    c.tls_verify = "enforce"
    c.wait_replicated("cluster.tls_verify", "enforce")
    c.wait_formed(timeout=180, tls_verify="enforce")
    for k in (1, 2, 3):
        for p in c.status(k)["peers"]:
            if p["index"] != k:
                assert p["certificate"] in ("ok", "verified", "valid"), p
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)


def test_enforce_tls_refused_while_a_certificate_would_fail(make_cluster):
    c = make_cluster(3, fqdns=True, cert_names={2: "wrong-san"})
    c.form_guide_way()
    r = c.cli(1, "cluster", "enforce-tls", timeout=120)
    assert r.returncode == 1, r
    assert fqdn(2) in r.stderr or address(2) in r.stderr, r.stderr
    for k in (1, 2, 3):
        assert c.get(k, "cluster.tls_verify") == "permissive"
        assert c.status(k)["tls_verify"] == "permissive"
    c.wait_formed()


def test_check(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "dns.servers", "192.0.2.53")      # (or the mapping) a requirement
    c.set(2, "dns.servers", "192.0.2.53")
    c.set(3, "dns.servers", "192.0.2.53")
    c.ok(1, "cluster", "suggest-mappings", "--apply")
    # a DNS domain that differs on peer 3 is named, with its fix
    c.set(3, "dns.domain", "elsewhere.example")
    found = []

    def named():
        r = c.cli(1, "cluster", "check")
        found[:] = [r]
        return r.returncode == 1 and re.search(r"(?i)domain", r.stdout) and \
            ("127.0.1.3" in r.stdout or "peer3" in r.stdout or "peer 3" in r.stdout)
    c[1].wait_for(named, 30, lambda: "cluster check did not name peer 3's domain: %s" % found)
    assert "fix:" in found[0].stdout
    body = c.cli(1, "--json", "cluster", "check")
    assert body.returncode == 1
    c.set(3, "dns.domain", "example.com")
    # the domain is no longer among the problems
    c[1].wait_for(lambda: not re.search(r"(?i)NOT MET:.*domain", c.cli(1, "cluster", "check").stdout), 30,
                  lambda: c.cli(1, "cluster", "check").stdout)


def test_diff(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    c[3].stop()
    tamper_cluster_db(c[3], "h323.ttl_s", 3600, 120)
    c.start(3)
    c.wait_formed()
    if c.get(3, "h323.ttl_s") == 3600:
        raise AssertionError("precondition: node 3 healed its copy by itself; diff has nothing to show")
    out = c.ok(3, "cluster", "diff")              # this peer and the primary
    line = [l for l in out.splitlines() if l.startswith("h323.ttl_s")]
    assert line and "120" in line[0] and "3600" in line[0], out
    body = c.json(3, "cluster", "diff")
    keys = [d["key"] for d in body["differences"]]
    assert "h323.ttl_s" in keys, body
    # between the primary and peer 2 nothing cluster-wide differs
    body = c.json(1, "cluster", "diff", "1", "2")
    assert "h323.ttl_s" not in [d["key"] for d in body["differences"]], body
    c.ok(3, "cluster", "force-config-update")
    c.wait_replicated("h323.ttl_s", 3600)         # the primary's snapshot arrives
    body = c.json(3, "cluster", "diff")
    assert "h323.ttl_s" not in [d["key"] for d in body["differences"]], body
    r = c.cli(3, "cluster", "diff", "1")
    assert r.returncode == 2                      # both or neither


def test_backup_create_and_restore(make_cluster, tmp_path):
    c = make_cluster(2)
    c.form_guide_way()
    env = {"CAUSEWAY_BACKUP_PASSPHRASE": PASSPHRASE}
    c.set(1, "h323.ttl_s", 3600)
    c.set(1, "system.name", "backup-marker-7f3a")
    c.wait_replicated("h323.ttl_s", 3600)
    path = str(tmp_path / "peer1.backup")
    c.ok(1, "backup", "create", path, env=env)
    with open(path, "rb") as f:
        data = f.read()
    assert data
    for plain in (b"backup-marker-7f3a", CLUSTER_NAME.encode(), b"h323.ttl_s"):
        assert plain not in data, "backup not encrypted: %s in clear" % plain
    # changes after the backup
    c.set(1, "h323.ttl_s", 60)
    c.set(1, "system.name", "peer1")
    c.wait_replicated("h323.ttl_s", 60)
    # a wrong passphrase restores nothing
    r = c.cli(1, "backup", "restore", path, env={"CAUSEWAY_BACKUP_PASSPHRASE": "wrong"})
    assert r.returncode == 1, r
    assert c.get(1, "h323.ttl_s") == 60 and c.get(1, "system.name") == "peer1"
    # a truncated file neither
    bad = str(tmp_path / "truncated.backup")
    with open(bad, "wb") as f:
        f.write(data[:len(data) // 2])
    r = c.cli(1, "backup", "restore", bad, env=env)
    assert r.returncode == 1, r
    # the right one, then the primary restarted (the guide's rebuild)
    c.ok(1, "backup", "restore", path, env=env)
    c[1].wait_running(60)
    c.restart(1)
    assert c.get(1, "h323.ttl_s") == 3600 and c.get(1, "system.name") == "backup-marker-7f3a"
    c.wait_formed()
    c.wait_replicated("h323.ttl_s", 3600)
    assert c.get(2, "system.name") == "peer2"


def test_dns_records_and_firewall_rules(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    out = c.ok(1, "dns", "records")
    for service in ("_sips._tcp", "_sip._tcp", "_sip._udp", "_h323ls._udp", "_h323cs._tcp",
                    "_h323rs._udp"):
        rows = [l for l in out.splitlines() if l.startswith(service) and " SRV " in l]
        assert sorted(fqdn(k) in " ".join(rows) for k in (1, 2, 3)) == [True] * 3, (service, out)
        assert len({tuple(l.split()[-4:-2]) for l in rows}) == 1, rows       # same priority, weight
    assert "_collab-edge._tls" not in out
    assert "NAPTR" in out
    rules = c.ok(1, "firewall", "rules")
    assert str(c.port) in rules and address(2) in rules and address(3) in rules, rules
    assert re.search(r"\bdrop\b", rules), rules
