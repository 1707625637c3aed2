"""Removing peers the guide's way and the factory reset (SPEC section 4
procedures 3, 4 and 13; issue #3 section 3), and ForceConfigUpdate.

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_reset.py
"""
import os
import sqlite3

import pytest

from cwcluster import (A_COMM_FAILURE, A_FACTORY_RESET, A_INCONSISTENT, A_RESTART_REQUIRED,  # noqa: F401
                       A_TCP_FAILING, address, make_cluster, norm)

CLUSTER_DB = "cluster.db"


def pending(c, k):
    """factory_reset_pending as `status` and `cluster status` report it
    (they must agree)."""
    a = c.json(k, "status").get("factory_reset_pending")
    b = c.json(k, "cluster", "status").get("factory_reset_pending")
    assert a == b, (a, b)
    return a


def test_remove_a_live_peer_with_the_factory_reset(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    lan = {"system.name": "vcs-three", "ntp.servers": "192.0.2.123", "dns.servers": "192.0.2.53"}
    for key, value in lan.items():
        c.set(3, key, value)
    c.set(1, "h323.ttl_s", 3600)
    c.set(1, "sip.mode", "off")
    c.wait_replicated("h323.ttl_s", 3600)
    c.wait_replicated("sip.mode", "off")
    before = c.get(3, "cluster.peers")
    assert before == [address(k) for k in (1, 2, 3)]
    assert pending(c, 3) is False

    # clear every peer address: a factory reset is pending
    c.set(3, "cluster.peers", "")
    assert pending(c, 3) is True
    assert "factory reset" in c.ok(3, "status").lower()
    assert "factory reset" in c.ok(3, "cluster", "status").lower()
    c.wait_alarm(3, A_FACTORY_RESET)
    assert pending(c, 1) is False                   # only on that peer
    # restoring the exact previous list, same order, cancels it
    c.set(3, "cluster.peers", before)
    assert pending(c, 3) is False
    assert "factory reset" not in c.ok(3, "status").lower()
    c.wait_alarm(3, A_FACTORY_RESET, present=False)
    c.wait_alarm(3, A_RESTART_REQUIRED, present=False)
    assert c.peer(1, address(3))["state"] == "active"

    # clear again and restart: the reset happens
    c.set(3, "cluster.peers", "")
    assert pending(c, 3) is True
    c.restart(3)
    assert c.get(3, "cluster.peers") == []
    assert c.get(3, "cluster.name") == ""
    assert c.get(3, "h323.ttl_s") == 1800 and norm(c.get(3, "sip.mode")) == "on"
    for path in (c[3].certificate, c[3].private_key, c[3].ca_file):
        assert not os.path.exists(path), path
    # kept: the LAN basics
    for key, value in lan.items():
        assert norm(c.get(3, key)) == value, key
    assert c.get(3, "dns.domain") == "example.com" and c.get(3, "dns.hostname") == "peer3"
    st = c.json(3, "cluster", "status")
    assert st["factory_reset_pending"] is False and not st["peers"], st
    assert pending(c, 3) is False
    c.wait_alarm(3, A_FACTORY_RESET, present=False)

    # on the primary, then the remaining subordinate: remove it and restart
    for k in (1, 2):
        c.set(k, "cluster.peers", [address(1), address(2)])
    for k in (1, 2):
        c.restart(k)
    c.wait_formed([1, 2])
    for k in (1, 2):
        c.wait_alarm(k, A_COMM_FAILURE, present=False, match=c.about(3))
        c.wait_alarm(k, A_INCONSISTENT, present=False)
    c.set(1, "h323.ttl_s", 77)
    c.wait_replicated("h323.ttl_s", 77, nodes=[1, 2])
    assert c.get(3, "h323.ttl_s") == 1800


def test_remove_a_dead_peer(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.kill9(3)
    c.wait_alarm(1, A_COMM_FAILURE, match=c.about(3))
    for k in (1, 2):
        c.set(k, "cluster.peers", [address(1), address(2)])
    for k in (1, 2):
        c.restart(k)
    c.wait_formed([1, 2])
    for k in (1, 2):
        c.wait_alarm(k, A_COMM_FAILURE, present=False, match=c.about(3))
    c.set(2, "h323.ttl_s", 600)
    c.wait_replicated("h323.ttl_s", 600, nodes=[1, 2])
    # it comes back unreset: the others no longer take it as a peer, and
    # it says it cannot talk to its cluster
    c.start(3)

    def cut_off():
        ids = c.alarm_ids(3)
        return bool(ids & {A_COMM_FAILURE, A_TCP_FAILING, A_INCONSISTENT})
    c[3].wait_for(cut_off, 30, lambda: c.report([3]))
    assert c.get(3, "h323.ttl_s") == 1800
    for k in (1, 2):
        assert [p["address"] for p in c.status(k)["peers"]] == [address(1), address(2)]
        assert not [a for a in c.alarms(k, A_COMM_FAILURE) if c.about(3)(a)]
    c.set(1, "h323.ttl_s", 700)
    c.wait_replicated("h323.ttl_s", 700, nodes=[1, 2])
    assert c.get(3, "h323.ttl_s") == 1800


def tamper_cluster_db(node, key, old, new):
    """Change KEY's stored value in NODE's cluster.db (the node stopped):
    a subordinate whose copy of the cluster-wide configuration went wrong."""
    path = os.path.join(node.state_dir, CLUSTER_DB)
    assert os.path.exists(path), "no %s in %s" % (CLUSTER_DB, node.state_dir)
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT value FROM cluster_config WHERE key = ?", (key,)).fetchone()
        assert row and str(old) in row[0], "cluster_config row for %s: %r" % (key, row)
        db.execute("UPDATE cluster_config SET value = ? WHERE key = ?",
                   (row[0].replace(str(old), str(new)), key))
        db.commit()
    finally:
        db.close()


@pytest.mark.parametrize("command", [("xcommand", "ForceConfigUpdate"),
                                     ("cluster", "force-config-update")])
def test_force_config_update(make_cluster, command):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    c[3].stop()
    tamper_cluster_db(c[3], "h323.ttl_s", 3600, 120)
    c.start(3)
    c.wait_formed()
    # (a core that notices the divergence on its own may already have
    # healed it; either way the command must leave the primary's copy)
    out = c.ok(3, *command)
    assert out.strip(), "no confirmation printed"
    assert c.get(3, "h323.ttl_s") == 3600
    c.wait_formed()
    c.set(1, "h323.ttl_s", 240)
    c.wait_replicated("h323.ttl_s", 240)
    st = c.status(1)
    seqs = {p["applied_seq"] for p in st["peers"]}
    c[1].wait_for(lambda: len({p["applied_seq"] for p in c.status(1)["peers"]}) == 1, 30,
                  lambda: "applied_seq differ: %s" % seqs)
