"""TLS verification between peers :
enforce mode with good certificates, with a certificate whose SAN does not
name the peer, and with one signed by a CA nobody trusts. The peer list
holds FQDNs (peerK.example.com) resolved through the cluster address
mapping, as the guide does before it enforces TLS.

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_tls.py
"""
import re

from cwcluster import A_DB_COMM_FAILURE, A_TLS_MISMATCH, fqdn, make_cluster  # noqa: F401

CERT_OK = ("ok", "verified", "valid")
SAN_REASON = re.compile(r"(?i)\bSAN\b|subject|alt.*name|name|wrong\.example\.com|host|match")
CA_REASON = re.compile(r"(?i)\bCA\b|issuer|verif|trust|chain|self.signed|unknown")


def test_enforce_with_good_certificates(make_cluster):
    c = make_cluster(3, tls_verify="enforce", fqdns=True)
    c.form_guide_way()
    for k in (1, 2, 3):
        st = c.json(k, "cluster", "status")
        assert st["tls_verify"] == "enforce", st
        for p in st["peers"]:
            assert p["address"] == fqdn(p["index"])
            if p["index"] != k:
                assert p["certificate"].lower() in CERT_OK, p
        assert A_DB_COMM_FAILURE not in c.alarm_ids(k)
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)


def bad_certificate(make_cluster, bad, cert_name, reason):
    """Peers 1..3 in enforce mode, peer BAD presenting CERT_NAME: the
    others refuse it (alarm naming it and why; cluster status says why)
    and go on with each other. BAD is a subordinate (2 or 3)."""
    assert bad != 1
    c = make_cluster(3, tls_verify="enforce", fqdns=True, cert_names={bad: cert_name})
    c.form_guide_way(wait=False)
    good = [k for k in (1, 2, 3) if k != bad]
    a, b = good
    c.wait_state(a, fqdn(b), "active", timeout=90)
    c.wait_state(b, fqdn(a), "active", timeout=90)
    for k in good:
        alarm = c.wait_alarm(k, A_DB_COMM_FAILURE, match=c.about(bad), timeout=60)
        assert reason.search(alarm.get("detail") or ""), alarm
        p = c.wait_state(k, fqdn(bad), ("failed", "unknown"))
        assert p["certificate"] and p["certificate"].lower() not in CERT_OK, p
        assert reason.search(p["certificate"]), p
        human = c.ok(k, "cluster", "status")
        row = [line for line in human.splitlines() if line.split()[:2] == [str(bad), fqdn(bad)]]
        assert row and p["certificate"] in row[0], human
    # replication between the primary and the good peer is not held up,
    # and nothing reaches the refused one
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600, nodes=good)
    assert c.get(bad, "h323.ttl_s") == 1800
    return c


def test_enforce_with_a_wrong_san(make_cluster):
    bad_certificate(make_cluster, 2, "wrong-san", SAN_REASON)


def test_enforce_with_an_untrusted_ca(make_cluster):
    bad_certificate(make_cluster, 3, "peer3-untrusted", CA_REASON)


def test_permissive_accepts_what_enforce_refuses(make_cluster):
    c = make_cluster(3, tls_verify="permissive", fqdns=True, cert_names={2: "wrong-san",
                                                                       3: "peer3-untrusted"})
    c.form_guide_way()
    for k in (1, 2, 3):
        assert A_DB_COMM_FAILURE not in c.alarm_ids(k)
        for p in c.status(k)["peers"]:
            if p["index"] != k:
                assert p["certificate"].lower() not in CERT_OK, p      # not verified


def test_tls_mode_mismatch_needs_a_restart(make_cluster):
    c = make_cluster(2)
    c.form_guide_way()
    c.set(2, "cluster.tls_verify", "enforce")
    c.wait_alarm(2, A_TLS_MISMATCH)
    assert c.status(2)["tls_verify"] == "permissive"     # in effect until restart
    c.set(2, "cluster.tls_verify", "permissive")
    c.wait_alarm(2, A_TLS_MISMATCH, present=False)
