"""Removing peers the guide's way (a live peer, a dead one) and the factory
reset that follows a cleared peer list, and ForceConfigUpdate.

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_reset.py
"""
import os
import subprocess

import pytest

from cwcluster import (A_COMM_FAILURE, A_FACTORY_RESET, A_INCONSISTENT, A_RESTART_REQUIRED,  # noqa: F401
                       A_TCP_FAILING, address, make_cluster, norm, tamper_cluster_db)
from cwtest import BIN

def pending(c, k, problems):
    """factory_reset_pending as `cluster status` reports it; `status` must
    say the same (a difference is noted in PROBLEMS, asserted at the end of
    the test so that the rest of the procedure is still checked)."""
    a = c.json(k, "cluster", "status").get("factory_reset_pending")
    b = c.json(k, "status").get("factory_reset_pending")
    if a != b:
        problems.append("node %d: cluster status says factory_reset_pending=%r, status %r" % (k, a, b))
    return a


def test_remove_a_live_peer_with_the_factory_reset(make_cluster, tmp_path):
    tool = os.path.join(BIN, "causeway-license")
    subprocess.run([tool, "keygen", str(tmp_path / "issuer")], check=True, capture_output=True)
    key = subprocess.run([tool, "issue", "--key", str(tmp_path / "issuer" / "issuer.key"), "--kind",
                          "room_systems", "--count", "5"], check=True, capture_output=True, text=True).stdout.strip()
    c = make_cluster(3, node_sections={3: {"licensing": {"issuers": [str(tmp_path / "issuer" / "issuer.pub")]}}})
    c.form_guide_way()
    c.ok(3, "license", "add", key)          # option keys outlive a factory reset
    lan = {"system.name": "vcs-three", "ntp.servers": "192.0.2.123", "dns.servers": "192.0.2.53"}
    for key, value in lan.items():
        c.set(3, key, value)
    c.set(1, "h323.ttl_s", 3600)
    c.set(1, "sip.mode", "off")
    c.wait_replicated("h323.ttl_s", 3600)
    c.wait_replicated("sip.mode", "off")
    before = c.get(3, "cluster.peers")
    assert before == [address(k) for k in (1, 2, 3)]
    problems = []
    assert pending(c, 3, problems) is False

    # clear every peer address: a factory reset is pending
    c.set(3, "cluster.peers", "")
    assert pending(c, 3, problems) is True
    if "factory reset" not in c.ok(3, "status").lower():
        problems.append("no factory reset banner in `causeway status`")
    assert "factory reset" in c.ok(3, "cluster", "status").lower()
    c.wait_alarm(3, A_FACTORY_RESET)
    assert pending(c, 1, problems) is False                   # only on that peer
    # restoring the exact previous list, same order, cancels it
    c.set(3, "cluster.peers", before)
    assert pending(c, 3, problems) is False
    assert "factory reset" not in c.ok(3, "status").lower()
    c.wait_alarm(3, A_FACTORY_RESET, present=False)
    c.wait_alarm(3, A_RESTART_REQUIRED, present=False)
    assert c.peer(1, address(3))["state"] == "active"

    # clear again and restart: the reset happens
    c.set(3, "cluster.peers", "")
    assert pending(c, 3, problems) is True
    c.restart(3)
    assert c.get(3, "cluster.peers") == []
    assert c.get(3, "cluster.name") == ""
    assert c.get(3, "h323.ttl_s") == 1800 and norm(c.get(3, "sip.mode")) == "on"
    for path in (c[3].certificate, c[3].private_key, c[3].ca_file):
        assert not os.path.exists(path), path
    # kept: the LAN basics and the option keys
    assert [k["count"] for k in c.json(3, "license", "list")["keys"]] == [5]
    for key, value in lan.items():
        assert norm(c.get(3, key)) == value, key
    assert c.get(3, "dns.domain") == "example.com" and c.get(3, "dns.hostname") == "peer3"
    st = c.json(3, "cluster", "status")
    assert st["factory_reset_pending"] is False and not st["peers"], st
    assert pending(c, 3, problems) is False
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
    assert not problems, problems


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
    value = c.get(3, "h323.ttl_s")
    assert value == 3600, "%s returned before the primary's configuration was in place " \
        "(h323.ttl_s=%s): %s" % (" ".join(command), value, out)
    c.wait_formed()
    c.set(1, "h323.ttl_s", 240)
    c.wait_replicated("h323.ttl_s", 240)
    st = c.status(1)
    seqs = {p["applied_seq"] for p in st["peers"]}
    c[1].wait_for(lambda: len({p["applied_seq"] for p in c.status(1)["peers"]}) == 1, 30,
                  lambda: "applied_seq differ: %s" % seqs)
