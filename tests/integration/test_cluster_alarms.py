"""Cluster alarms raised when their cause appears and cleared when it goes: restart required, peer lists that differ, primary
index inconsistent, duplicate system name, node type mismatch, H.323 mode
off, a peer that never answers (TCP failing / communication failure while
it joins).

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_alarms.py
"""
from cwcluster import (A_COMM_FAILURE, A_DUPLICATE_NAME, A_H323_MODE, A_INCONSISTENT,  # noqa: F401
                       A_PRIMARY_INCONSISTENT, A_RESTART_REQUIRED, A_TCP_FAILING,
                       A_TYPE_MISMATCH, address, make_cluster)


def wait_somewhere(c, alarm_id, nodes=(1, 2, 3), timeout=30, match=None):
    """Wait until at least one of NODES has ALARM_ID; returns those that do."""
    holders = []

    def check():
        holders[:] = [k for k in nodes if [a for a in c.alarms(k, alarm_id) if not match or match(a)]]
        return holders
    c[nodes[0]].wait_for(check, timeout, lambda: "alarm %d on none of %s:\n%s" % (
        alarm_id, nodes, c.report(nodes)))
    return list(holders)


def wait_nowhere(c, alarm_id, nodes=(1, 2, 3), timeout=30):
    for k in nodes:
        c.wait_alarm(k, alarm_id, present=False, timeout=timeout)


def test_restart_required_until_restart_or_undo(make_cluster):
    c = make_cluster(2)
    c.form_guide_way()
    for k in (1, 2):                                      # cleared by the restart
        c.wait_alarm(k, A_RESTART_REQUIRED, present=False)
    c.set(2, "cluster.name", "other.example.com")
    c.wait_alarm(2, A_RESTART_REQUIRED)
    c.set(2, "cluster.name", "cluster1.example.com")     # back as it is in effect
    c.wait_alarm(2, A_RESTART_REQUIRED, present=False)
    c.set(2, "cluster.ip_version", "6")
    c.wait_alarm(2, A_RESTART_REQUIRED)
    c.set(2, "cluster.ip_version", "4")
    c.wait_alarm(2, A_RESTART_REQUIRED, present=False)
    assert A_RESTART_REQUIRED not in c.alarm_ids(1)


def test_peer_lists_that_differ(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(3, "cluster.peers", [address(1), address(2), address(3), address(4)])
    c.restart(3)
    wait_somewhere(c, A_INCONSISTENT)
    c.set(3, "cluster.peers", [address(1), address(2), address(3)])
    c.restart(3)
    wait_nowhere(c, A_INCONSISTENT)
    c.wait_formed()


def test_primary_index_inconsistent(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(3, "cluster.primary", 2)
    c.restart(3)
    wait_somewhere(c, A_PRIMARY_INCONSISTENT)
    c.set(3, "cluster.primary", 1)
    c.restart(3)
    wait_nowhere(c, A_PRIMARY_INCONSISTENT)
    c.wait_formed()


def test_duplicate_system_name(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(2, "system.name", "peer1")
    holders = wait_somewhere(c, A_DUPLICATE_NAME)
    assert set(holders) & {1, 2}, holders
    for k in holders:
        assert any("peer1" in (a.get("detail") or "") for a in c.alarms(k, A_DUPLICATE_NAME))
    c.set(2, "system.name", "peer2")
    wait_nowhere(c, A_DUPLICATE_NAME)


def test_node_type_mismatch(make_cluster):
    c = make_cluster(3, node_sections={3: {"node": {"type": "edge"}}})
    c.form_guide_way(wait=False)
    holders = wait_somewhere(c, A_TYPE_MISMATCH, timeout=60)
    assert holders
    assert c.json(1, "cluster", "status")["peers"][2].get("type") in ("edge", None, "")


def test_h323_mode_must_be_on(make_cluster):
    c = make_cluster(2)
    c.form_guide_way()
    c.set(1, "h323.mode", "off")
    c.wait_replicated("h323.mode", "off")
    wait_somewhere(c, A_H323_MODE, nodes=(1, 2))
    c.set(1, "h323.mode", "on")
    c.wait_replicated("h323.mode", "on")
    wait_nowhere(c, A_H323_MODE, nodes=(1, 2))


def test_a_joining_peer_raises_then_clears_communication_alarms(make_cluster):
    c = make_cluster(3, start=False)
    c.start(1, 2)
    for k in (1, 2):
        c.configure(k)                 # peer list of 3; node 3 not running
    for k in (1, 2):
        c.restart(k)
    for k in (1, 2):
        c.wait_alarm(k, A_COMM_FAILURE, match=c.about(3), timeout=60)
        c.wait_alarm(k, A_TCP_FAILING, match=c.about(3), timeout=60)
    c.wait_state(1, address(2), "active", timeout=60)
    # the new peer is configured and started: the alarms clear
    c.start(3)
    c.configure(3)
    c.restart(3)
    c.wait_formed()
    for k in (1, 2):
        c.wait_alarm(k, A_COMM_FAILURE, present=False)
        c.wait_alarm(k, A_TCP_FAILING, present=False)
