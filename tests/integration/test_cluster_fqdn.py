"""The FQDN and TLS procedures of the guide (moving the peer list from IP
addresses to FQDNs, then enforcing TLS verification) as one command on the
primary, and `cluster diff`:

    cluster suggest-mappings [--apply]   FQDN=IP per peer from its host name
    cluster use-fqdns                    peer list IP -> FQDN, one peer at a time
    cluster enforce-tls                  certificate check, then enforce
    cluster diff [A B]                   what differs between two peers

Each test forms a permissive cluster on 127.0.1.K (dns.hostname peerK,
dns.domain example.com, certificates from make_certs.sh with SAN
DNS:peerK.example.com) and checks the result the way an administrator
would: CLI output, `config get`, `cluster status`.

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_fqdn.py
"""
import json

from cwcluster import address, describe, fqdn, make_cluster  # noqa: F401

CERT_OK = ("ok", "verified", "valid")


def set_cluster_key(c, key, value, timeout=30):
    """Set a cluster-wide KEY on the primary (node 1), retrying while the
    primary refuses it (a peer still joining after a restart: the guide's
    warning) or does not answer yet (it just restarted)."""
    last = []

    def attempt():
        r = c.cli(1, "config", "set", key, str(value))
        last[:] = [r]
        return r.returncode == 0
    c[1].wait_for(attempt, timeout, lambda: "%s\n%s" % (describe(last[0]), c.report()))


def mapping_lines(c, k):
    """`cluster suggest-mappings` on node K: its FQDN=IP lines."""
    out = c.ok(k, "cluster", "suggest-mappings")
    return [line for line in out.splitlines() if "=" in line]


def wait_fqdn_cluster(c, tls_verify=None, timeout=300):
    """Every node sees the peer list as FQDNs and every peer active (and
    TLS_VERIFY in effect, certificates verified, when given)."""
    c.fqdns = True

    def done(k):
        if not c.formed(k, list(c.nodes)):
            return False
        if tls_verify is None:
            return True
        st = c.status(k)
        if st.get("tls_verify") != tls_verify:
            return False
        return all(p["certificate"].lower() in CERT_OK for p in st["peers"] if p["index"] != k)
    c[1].wait_for(lambda: all(done(k) for k in c.nodes), timeout,
                  lambda: "cluster not on FQDNs%s after %ss:\n%s" % (
                      " with tls_verify %s" % tls_verify if tls_verify else "", timeout, c.report()))


def test_suggest_mappings(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    want = ["%s=%s" % (fqdn(k), address(k)) for k in (1, 2, 3)]
    # every peer suggests the same, from what each peer reports
    for k in (1, 2):
        assert mapping_lines(c, k) == want
    # a peer without a host name is listed with the fix, and --apply refuses
    c.set(3, "dns.hostname", "")
    c[1].wait_for(lambda: len(mapping_lines(c, 1)) == 2, 30, lambda: c.report([1, 3]))
    r = c.cli(1, "cluster", "suggest-mappings")
    assert r.returncode == 0, describe(r)
    assert "dns.hostname" in r.stderr and "peer 3" in r.stderr, describe(r)
    body = c.json(1, "cluster", "suggest-mappings")
    assert [m["index"] for m in body["missing"]] == [3], body
    r = c.cli(1, "cluster", "suggest-mappings", "--apply")
    assert r.returncode != 0 and "dns.hostname" in r.stderr, describe(r)
    assert c.get(1, "cluster.address_mapping") == []
    c.set(3, "dns.hostname", "peer3")
    c[1].wait_for(lambda: mapping_lines(c, 1) == want, 30, lambda: c.report([1, 3]))
    # --apply only on the primary
    r = c.cli(2, "cluster", "suggest-mappings", "--apply")
    assert r.returncode != 0 and "primary" in r.stderr, describe(r)
    # --apply on the primary: the mapping is cluster-wide, so it replicates
    r = c.cli(1, "cluster", "suggest-mappings", "--apply")
    assert r.returncode == 0, describe(r)
    assert [line for line in r.stdout.splitlines() if line] == want
    c.wait_replicated("cluster.address_mapping", want)
    c.wait_replicated("cluster.address_mapping.enabled", "on")
    out = c.ok(3, "config", "get", "cluster.address_mapping")
    assert all(m in out for m in want), out
    # the cluster still works on IPs, now with the mapping in effect
    st = c.json(2, "cluster", "status")
    assert sorted(st["address_mapping"]) == sorted(want), st
    c.wait_formed()


def test_use_fqdns_then_enforce_tls(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    # enforce-tls is refused while the peer list holds IP addresses
    r = c.cli(1, "cluster", "enforce-tls")
    assert r.returncode != 0 and "use-fqdns" in r.stderr, describe(r)
    # use-fqdns needs the FQDNs to resolve: no mapping (and no DNS) yet
    r = c.cli(1, "cluster", "use-fqdns")
    assert r.returncode != 0 and fqdn(1) in r.stderr and "suggest-mappings" in r.stderr, describe(r)
    # ... and runs on the primary only
    r = c.cli(2, "cluster", "use-fqdns")
    assert r.returncode != 0 and "primary" in r.stderr, describe(r)
    c.ok(1, "cluster", "suggest-mappings", "--apply")
    c.wait_replicated("cluster.address_mapping.enabled", "on")
    c.wait_replicated("cluster.address_mapping", c.mapping())

    primary_pids = set(c[1].actor_pids().values())
    body = c.json(1, "cluster", "use-fqdns")
    assert body["started"] is True, body
    assert [(s["peer"], s["to"]) for s in body["plan"]] == [(2, fqdn(2)), (3, fqdn(3)), (1, fqdn(1))], body
    # the primary restarts itself last
    c[1].wait_running(300, not_pids=primary_pids)
    wait_fqdn_cluster(c)
    # the outcome outlives the primary's restart
    status, run = c[1].call("cluster.use_fqdns_status", {})
    assert status == "ok" and run["state"] == "done", run
    assert [(s["peer"], s["state"]) for s in run["steps"]] == [(2, "done"), (3, "done"), (1, "done")], run
    for k in (1, 2, 3):
        assert c.get(k, "cluster.peers") == [fqdn(1), fqdn(2), fqdn(3)]
        assert c.status(k)["tls_verify"] == "permissive"
    set_cluster_key(c, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    # already done: nothing to do
    r = c.cli(1, "cluster", "use-fqdns")
    assert r.returncode == 0 and "already" in r.stdout, describe(r)

    primary_pids = set(c[1].actor_pids().values())
    body = c.json(1, "cluster", "enforce-tls")
    assert body["started"] is True, body
    assert all(check["ok"] for check in body["checks"]), body
    assert [s["peer"] for s in body["plan"]] == [2, 3, 1], body
    c[1].wait_running(300, not_pids=primary_pids)
    wait_fqdn_cluster(c, tls_verify="enforce")
    status, run = c[1].call("cluster.enforce_tls_status", {})
    assert status == "ok" and run["state"] == "done", run
    for k in (1, 2, 3):
        assert c.get(k, "cluster.tls_verify") == "enforce"
        human = c.ok(k, "cluster", "status")
        assert "enforce" in human, human
    set_cluster_key(c, "h323.ttl_s", 7200)
    c.wait_replicated("h323.ttl_s", 7200)


def test_enforce_tls_refused_for_bad_certificates(make_cluster):
    # an FQDN cluster in permissive mode: peer 2's certificate is signed by
    # a CA nobody trusts, peer 3's SAN names another host
    c = make_cluster(3, fqdns=True, cert_names={2: "peer2-untrusted", 3: "wrong-san"})
    c.form_guide_way()
    r = c.cli(1, "cluster", "enforce-tls")
    assert r.returncode != 0, describe(r)
    err = r.stderr
    assert "peer 3 (%s)" % fqdn(3) in err and "SAN" in err and "wrong.example.com" in err, err
    assert "peer 2 (%s)" % fqdn(2) in err and "trusted" in err, err
    assert "peer 1 (" not in err, err
    r = c.cli(1, "--json", "cluster", "enforce-tls")
    assert r.returncode != 0
    # nothing changed: still permissive everywhere, still formed
    for k in (1, 2, 3):
        assert c.get(k, "cluster.tls_verify") == "permissive"
        assert c.status(k)["tls_verify"] == "permissive"
    status, body = c[1].call("cluster.enforce_tls_status", {})
    assert status == "ok" and body["state"] == "idle", body
    c.wait_formed()


def test_diff(make_cluster):
    c = make_cluster(2)
    c.form_guide_way()
    set_cluster_key(c, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    c.set(2, "maintenance.mode", "on")
    # default on a subordinate: this peer (a) against the primary (b)
    body = c.json(2, "cluster", "diff")
    assert body["a"]["index"] == 2 and body["b"]["index"] == 1, body
    diffs = {d["key"]: d for d in body["differences"]}
    assert diffs["system.name"]["a"] == "peer2" and diffs["system.name"]["b"] == "peer1", body
    assert diffs["system.name"]["expected"] is True and diffs["system.name"]["scope"] == "peer"
    assert diffs["dns.hostname"]["expected"] is True, body
    assert diffs["maintenance.mode"]["a"] == "on" and diffs["maintenance.mode"]["b"] == "off", body
    # replicated and shared keys are the same
    for key in ("h323.ttl_s", "cluster.peers", "cluster.name", "dns.domain"):
        assert key not in diffs, body
    assert body["same"] >= 4, body
    # explicit peers, either order, by address; the human form
    body = c.json(1, "cluster", "diff", address(1), address(2))
    assert body["a"]["index"] == 1 and body["b"]["index"] == 2, body
    assert {d["key"]: d for d in body["differences"]}["system.name"]["a"] == "peer1"
    out = c.ok(1, "cluster", "diff", address(1), address(2))
    line = [l for l in out.splitlines() if l.startswith("maintenance.mode")]
    assert line and "off" in line[0] and "on" in line[0], out
    assert "h323.ttl_s" not in out, out
    r = c.cli(1, "cluster", "diff", address(1), "127.0.1.9")
    assert r.returncode != 0 and "127.0.1.9" in r.stderr, describe(r)
    # back in line: only the differences expected between peers remain
    c.set(2, "maintenance.mode", "off")
    body = c.json(1, "cluster", "diff")
    assert body["a"]["index"] == 1 and body["b"]["index"] == 2, body
    assert all(d["expected"] for d in body["differences"]), json.dumps(body)
