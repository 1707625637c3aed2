"""Forming clusters the guide's way (a first peer, then the others added
one by one) and replication of cluster-wide configuration, checked
through the CLI and the control socket of each node.

Nodes peer1..peerN cluster on 127.0.1.1..N (see cwcluster.py). Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_form.py
"""
import json
import re

from cwcluster import (A_NO_CLUSTER_NAME, A_NOT_IN_LIST, A_RESTART_REQUIRED,  # noqa: F401
                       CLUSTER_NAME, address, make_cluster, norm)

PEER_FIELDS = {"index", "address", "system_name", "state", "certificate", "rtt_ms", "applied_seq",
               "lag", "version", "type", "maintenance"}
STATUS_FIELDS = {"name", "primary", "this_peer", "ip_version", "tls_verify", "address_mapping",
                 "database", "factory_reset_pending", "peers"}


def daemon_version(c, k):
    return c.json(k, "version")["daemon"]


# -- procedure 1: a cluster of one -------------------------------------------

def test_cluster_of_one_guide_way(make_cluster):
    c = make_cluster(1)
    c.configure(1)
    # the settings are stored, not in effect: restart required
    c.wait_alarm(1, A_RESTART_REQUIRED)
    c.restart(1)
    c.wait_formed([1])
    c.wait_alarm(1, A_RESTART_REQUIRED, present=False)
    st = c.json(1, "cluster", "status")
    assert STATUS_FIELDS <= set(st), st
    assert st["name"] == CLUSTER_NAME and st["primary"] == 1 and st["this_peer"] == 1
    assert norm(st["ip_version"]) == "4" and st["tls_verify"] == "permissive"
    assert st["database"] == "active" and st["factory_reset_pending"] is False
    assert len(st["peers"]) == 1
    me = st["peers"][0]
    assert PEER_FIELDS <= set(me), me
    assert (me["index"], me["address"], me["state"], me["system_name"], me["type"]) == \
        (1, "127.0.1.1", "this-system", "peer1", "core")
    assert me["version"] == daemon_version(c, 1)
    assert me["maintenance"] in (False, "off")
    human = c.ok(1, "cluster", "status")
    row = [line for line in human.splitlines() if "127.0.1.1" in line]
    assert row and "this-system" in row[0], human
    assert A_NO_CLUSTER_NAME not in c.alarm_ids(1)
    # `causeway status` says it is clustered and no reset is pending
    status = c.json(1, "status")
    assert status.get("factory_reset_pending") is False, status


def test_cluster_name_not_configured_alarm(make_cluster):
    c = make_cluster(1)
    for key, value in (("cluster.primary", "1"), ("cluster.ip_version", "4"),
                       ("cluster.peers", "127.0.1.1")):
        c.set(1, key, value)
    c.restart(1)
    c.wait_alarm(1, A_NO_CLUSTER_NAME)
    c.set(1, "cluster.name", CLUSTER_NAME)
    c.restart(1)
    c.wait_alarm(1, A_NO_CLUSTER_NAME, present=False)
    c.wait_formed([1])


def test_local_peer_not_in_the_peer_list(make_cluster):
    c = make_cluster(1)
    c.configure(1)
    c.set(1, "cluster.peers", "127.0.1.2,127.0.1.3")
    c.restart(1)
    c.wait_alarm(1, A_NOT_IN_LIST)
    st = c.status(1)
    assert st["this_peer"] in (0, None), st
    assert all(p["state"] != "this-system" for p in st["peers"]), st
    c.set(1, "cluster.peers", "127.0.1.1")
    c.restart(1)
    c.wait_alarm(1, A_NOT_IN_LIST, present=False)
    c.wait_formed([1])


# -- three peers -------------------------------------------------------------

def test_three_peers_guide_way_then_replication(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    version = daemon_version(c, 1)
    for k in (1, 2, 3):
        st = c.json(k, "cluster", "status")
        assert (st["name"], st["primary"], st["this_peer"]) == (CLUSTER_NAME, 1, k), st
        assert [p["address"] for p in st["peers"]] == [address(j) for j in (1, 2, 3)]
        for p in st["peers"]:
            assert PEER_FIELDS <= set(p), p
            assert p["system_name"] == "peer%d" % p["index"], p
            assert (p["type"], p["version"]) == ("core", version), p
            assert isinstance(p["applied_seq"], int), p
        # a round-trip time for every other peer once heartbeats went both ways
        # (unknown, < 0 or null, just after the link came up)
        c[k].wait_for(lambda k=k: all(isinstance(p["rtt_ms"], (int, float)) and p["rtt_ms"] >= 0
                                      for p in c.status(k)["peers"] if p["index"] != k), 30,
                      lambda k=k: "no RTT on node %d: %s" % (k, c.status(k)))
    # a cluster-scope key set on the primary reaches every subordinate
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600, nodes=[2, 3])
    c.set(1, "sip.mode", "off")
    c.set(1, "call_routing.signaling_optimization", "on")
    c.wait_replicated("sip.mode", "off")
    c.wait_replicated("call_routing.signaling_optimization", "on")
    # the address mapping is cluster-scope too
    c.set(1, "cluster.address_mapping", c.mapping())
    c.set(1, "cluster.address_mapping.enabled", "on")
    c.wait_replicated("cluster.address_mapping", c.mapping())
    c.wait_replicated("cluster.address_mapping.enabled", "on")
    # the primary sees every subordinate at its own sequence number, no lag
    def caught_up():
        st = c.status(1)
        if not st:
            return False
        mine = [p for p in st["peers"] if p["index"] == 1][0]["applied_seq"]
        return isinstance(mine, int) and mine > 0 and \
            all(p["applied_seq"] == mine and p["lag"] == 0 for p in st["peers"])
    c[1].wait_for(caught_up, 30, lambda: "subordinates not caught up: %s" % json.dumps(c.status(1)))


def test_peer_scope_keys_are_not_replicated(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    mine = {"system.name": "primary-renamed", "dns.hostname": "renamed", "maintenance.mode": "on",
            "ntp.servers": "192.0.2.123", "dns.servers": "192.0.2.53"}
    for key, value in mine.items():
        c.set(1, key, value)
    # a cluster key set afterwards: once it is everywhere, so would be the
    # peer keys if they were (wrongly) replicated
    c.set(1, "h323.ttl_s", 999)
    c.wait_replicated("h323.ttl_s", 999)
    for k in (2, 3):
        assert c.get(k, "system.name") == "peer%d" % k
        assert c.get(k, "dns.hostname") == "peer%d" % k
        assert norm(c.get(k, "maintenance.mode")) == "off"
        assert c.get(k, "ntp.servers") == [] and c.get(k, "dns.servers") == []
    for key, value in mine.items():
        assert norm(c.get(1, key)) == value
    # and the other way round: a peer key set on a subordinate stays there
    c.set(2, "system.name", "second-renamed")
    c.set(2, "h323.ttl_s", 998)              # forwarded to the primary, replicated
    c.wait_replicated("h323.ttl_s", 998)
    assert c.get(1, "system.name") == "primary-renamed" and c.get(3, "system.name") == "peer3"
    c.wait_state(1, address(2), "active")
    c[1].wait_for(lambda: c.peer(1, address(2))["system_name"] == "second-renamed", 30,
                  lambda: "the new system name is not in node 1's status: %s" % c.status(1))


def test_set_on_a_subordinate_is_forwarded_to_the_primary(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    out = c.set(2, "h323.ttl_s", 120)
    assert "h323.ttl_s" in out
    # it returned once committed on the primary
    assert c.get(1, "h323.ttl_s") == 120
    c.wait_replicated("h323.ttl_s", 120)
    # --wait: returned once every live peer applied it
    c.set(3, "sip.mode", "off", "--wait")
    assert [norm(c.get(k, "sip.mode")) for k in (1, 2, 3)] == ["off"] * 3
    c.set(1, "h323.ttl_s", 240, "--wait")
    assert [c.get(k, "h323.ttl_s") for k in (1, 2, 3)] == [240] * 3
    # over the control protocol too, typed values
    status, body = c[3].call("config.set", {"key": "h323.ttl_s", "value": 360})
    assert status == "ok", body
    assert c.get(1, "h323.ttl_s") == 360
    c.wait_replicated("h323.ttl_s", 360)


def test_invalid_cluster_value_on_a_subordinate_is_refused(make_cluster):
    c = make_cluster(2)
    c.form_guide_way()
    r = c.cli(2, "config", "set", "h323.ttl_s", "not-a-number")
    assert r.returncode == 1, r
    assert c.get(1, "h323.ttl_s") == 1800 and c.get(2, "h323.ttl_s") == 1800


def test_alarms_list_cluster_shows_every_reachable_peer(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.ok(2, "alarms", "raise", "90002", "on the second")
    c.ok(3, "alarms", "raise", "90003", "on the third")

    def listed():
        body = c.json(1, "alarms", "list", "--cluster")
        return {(a["id"], a["peer"]) for a in body["alarms"]}
    c[1].wait_for(lambda: {(90002, "peer2"), (90003, "peer3")} <= listed(), 30,
                  lambda: "cluster alarms: %s" % listed())
    human = c.ok(1, "alarms", "list", "--cluster")
    assert re.search(r"90002 .*peer2", human) and re.search(r"90003 .*peer3", human), human
    c.kill9(3)
    c.wait_state(1, address(3), ("failed", "unknown"))
    body = c.json(1, "alarms", "list", "--cluster")
    ids = {(a["id"], a["peer"]) for a in body["alarms"]}
    assert (90002, "peer2") in ids and (90003, "peer3") not in ids, body
    assert any(w in json.dumps(body.get("unreachable")) for w in ("127.0.1.3", "peer3")), body


def test_replicated_data_of_other_actors(make_cluster):
    """replication.data.put (the call other actors use for cluster-wide
    data, composite primary key ns+key) from a subordinate is forwarded to the
    primary and, with wait, is on every peer when it returns."""
    c = make_cluster(3)
    c.form_guide_way()
    rows = [["user%d" % i, "sip:user%d@example.com" % i] for i in range(2000)]
    status, body = c[2].call("replication.data.put", {"ns": "users", "rows": rows, "wait": True},
                             timeout_ms=20000)
    assert status == "ok", body
    for k in (1, 2, 3):
        status, body = c[k].call("replication.data.count", {"ns": "users"})
        assert (status, body["rows"]) == ("ok", 2000), (k, body)
        status, body = c[k].call("replication.data.get", {"ns": "users", "key": "user1999"})
        assert body["value"] == "sip:user1999@example.com", (k, body)
    # a deletion replicates too
    status, body = c[1].call("replication.data.put", {"ns": "users", "rows": [["user0", None]], "wait": True})
    assert status == "ok", body
    for k in (2, 3):
        assert c[k].call("replication.data.get", {"ns": "users", "key": "user0"})[1]["value"] is None
