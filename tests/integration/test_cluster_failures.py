"""Peers that die and come back, and a change of primary while the old one
is down: a node crash is kill -9 of
causewayd and every actor (cwcluster.Peer.kill9).

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_failures.py
"""
import json

import zmq

from cwcluster import (A_COMM_FAILURE, A_CONFLICT, A_PRIMARY_INCONSISTENT,  # noqa: F401
                       A_PRIMARY_UNREACHABLE, address, make_cluster, norm)
from cwtest import recv_alarm


def connected_subscriber(node, topic):
    """A SUB socket on NODE's alarm socket, returned once it is connected
    (it has received a heartbeat: once a second in cwtest's nodes)."""
    sub = node.subscriber(topic)
    sub.setsockopt(zmq.SUBSCRIBE, b"heartbeat")
    recv_alarm(sub, "heartbeat", 10000)
    return sub


def test_primary_killed_subordinates_keep_serving(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    sub = connected_subscriber(c[2], b"alarm.raised.%d" % A_PRIMARY_UNREACHABLE)
    try:
        c.kill9(1)
        for k in (2, 3):
            c.wait_alarm(k, A_PRIMARY_UNREACHABLE, match=c.about(1))
            c.wait_state(k, address(1), ("failed", "unknown"))
        topic, body = recv_alarm(sub, "alarm.raised.%d" % A_PRIMARY_UNREACHABLE, 30000)
        assert body["id"] == A_PRIMARY_UNREACHABLE and body["peer"] == "peer2", body
    finally:
        sub.close()
    # they keep serving their last configuration
    for k in (2, 3):
        assert c.get(k, "h323.ttl_s") == 3600
        assert c.status(k) is not None
        # the others are still each other's peers
        assert c.peer(k, address(5 - k))["state"] == "active"
    # a cluster-wide change on a subordinate fails, naming the primary
    r = c.cli(2, "--timeout", "30000", "config", "set", "h323.ttl_s", "60", timeout=60)
    assert r.returncode == 1, r
    message = r.stderr + r.stdout
    assert "primary" in message.lower() and ("127.0.1.1" in message or "peer1" in message), message
    assert c.get(2, "h323.ttl_s") == 3600 and c.get(3, "h323.ttl_s") == 3600
    # peer-scope keys are still set locally
    c.set(3, "maintenance.mode", "on")
    assert norm(c.get(3, "maintenance.mode")) == "on"
    # the primary returns: the alarm clears, replication goes on
    c.start(1)
    for k in (2, 3):
        c.wait_alarm(k, A_PRIMARY_UNREACHABLE, present=False)
    c.wait_formed()
    c.set(1, "h323.ttl_s", 60)
    c.wait_replicated("h323.ttl_s", 60)
    c.set(2, "h323.ttl_s", 90)                 # forwarding works again
    c.wait_replicated("h323.ttl_s", 90)


def test_subordinate_killed_catches_up(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    c.kill9(3)
    # a merely unreachable peer does not block changes
    c.set(1, "h323.ttl_s", 120)
    c.set(1, "sip.mode", "off")
    c.set(2, "call_routing.signaling_optimization", "on")       # forwarded
    c.set(1, "cluster.address_mapping", c.mapping())
    for key, value in (("h323.ttl_s", 120), ("sip.mode", "off"),
                       ("call_routing.signaling_optimization", "on"),
                       ("cluster.address_mapping", c.mapping())):
        c.wait_replicated(key, value, nodes=[1, 2])
    c.start(3)
    for key, value in (("h323.ttl_s", 120), ("sip.mode", "off"),
                       ("call_routing.signaling_optimization", "on"),
                       ("cluster.address_mapping", c.mapping())):
        c.wait_replicated(key, value, nodes=[3])
    c.wait_formed()
    # and it follows new changes
    c.set(1, "h323.ttl_s", 240)
    c.wait_replicated("h323.ttl_s", 240)


def test_dead_peer_detected_and_cleared_on_return(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.kill9(3)
    for k in (1, 2):
        alarm = c.wait_alarm(k, A_COMM_FAILURE, match=c.about(3))
        assert alarm["peer"] == "peer%d" % k, alarm
        assert c.wait_state(k, address(3), "failed")["state"] == "failed"
        # one alarm per unreachable peer: none about the live one
        live = 2 if k == 1 else 1
        assert not [a for a in c.alarms(k, A_COMM_FAILURE)
                    if c.about(live)(a) and not c.about(3)(a)], c.alarms(k)
    c.start(3)
    for k in (1, 2):
        c.wait_alarm(k, A_COMM_FAILURE, present=False, match=c.about(3))
    c.wait_formed()
    c.wait_alarm(3, A_COMM_FAILURE, present=False)      # from its start, before the links were up


def test_change_of_primary_guide_way(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    # the new index on the new primary first, then on the others
    for k in (2, 1, 3):
        c.set(k, "cluster.primary", 2)
    for k in (2, 1, 3):
        c.restart(k)
    c.wait_formed(primary=2)
    assert c.get(1, "h323.ttl_s") == 3600       # nothing lost in the change
    # peer 2 takes writes and replicates them
    c.set(2, "h323.ttl_s", 60)
    c.wait_replicated("h323.ttl_s", 60)
    # a write on the old primary is now forwarded to peer 2
    c.set(1, "sip.mode", "off")
    assert norm(c.get(2, "sip.mode")) == "off"
    c.wait_replicated("sip.mode", "off")
    for k in (1, 2, 3):
        c.wait_alarm(k, A_PRIMARY_INCONSISTENT, present=False)
        c.wait_alarm(k, A_CONFLICT, present=False)


def test_change_of_primary_when_the_old_one_is_dead(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    c.kill9(1)
    for k in (2, 3):
        c.set(k, "cluster.primary", 2)
    for k in (2, 3):
        c.restart(k)

    def new_primary_serving():
        return all((c.status(k) or {}).get("primary") == 2 for k in (2, 3)) and \
            (c.peer(3, address(2)) or {}).get("state") == "active"
    c[2].wait_for(new_primary_serving, 60, lambda: c.report([2, 3]))
    c.set(2, "h323.ttl_s", 60)
    c.wait_replicated("h323.ttl_s", 60, nodes=[2, 3])
    for k in (2, 3):
        c.wait_alarm(k, A_PRIMARY_UNREACHABLE, present=False)
    # the old primary comes back still believing it is the primary: the
    # inconsistency is raised until it is told, then it takes peer 2's data
    c.start(1)

    def inconsistent_somewhere():
        return any(A_PRIMARY_INCONSISTENT in c.alarm_ids(k) for k in (1, 2, 3))
    c[1].wait_for(inconsistent_somewhere, 30, lambda: "no %d on any node:\n%s" % (
        A_PRIMARY_INCONSISTENT, c.report()))
    c.set(1, "cluster.primary", 2)
    c.restart(1)
    c.wait_formed(primary=2)
    c.wait_replicated("h323.ttl_s", 60)
    for k in (1, 2, 3):
        c.wait_alarm(k, A_PRIMARY_INCONSISTENT, present=False)
    assert json.dumps(c.status(1)).count('"this-system"') == 1


def test_changes_wait_for_a_restarting_peer_unless_forced(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    # node 3 stops in good order: it announces it to the others
    r = c.cli(3, "shutdown")
    assert r.returncode == 0, r
    c[3].proc.wait(30)
    c[3].stop()
    refused = []

    def refuses():
        r = c.cli(1, "config", "set", "h323.ttl_s", "3600")
        refused[:] = [r]
        return r.returncode == 1
    c[1].wait_for(refuses, 20, lambda: "the primary took the change while peer 3 was restarting: %s"
                  % (refused and refused[0]))
    message = refused[0].stderr
    assert ("127.0.1.3" in message or "peer 3" in message) and "--force" in message, message
    assert c.get(1, "h323.ttl_s") == 1800
    # --force goes ahead; the restarting peer catches up when it is back
    c.ok(1, "config", "set", "h323.ttl_s", "3600", "--force")
    c.wait_replicated("h323.ttl_s", 3600, nodes=[1, 2])
    c.start(3)
    c.wait_replicated("h323.ttl_s", 3600, nodes=[3])
    c.wait_formed()
    c.set(1, "h323.ttl_s", 60)                 # no longer refused
    c.wait_replicated("h323.ttl_s", 60)
