"""The orchestrated membership procedures (actors/replication/procedures/), driven the way an
administrator would: the real CLI on real nodes (127.0.1.K), checked with
`cluster status`, `config get` and the files on disk.

    cluster form --name N           procedure 1, restarts the node
    cluster token ADDR / join       procedure 2 with a one-time token that
                                    pins the primary's certificate
    cluster add ADDR                procedure 2, new peer set up the guide's way
    cluster remove ADDR [--dead]    procedures 3 and 4
    cluster set-primary N           procedure 7
    cluster replace OLD NEW         procedure 9
    cluster disband                 procedure 6

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_procedures.py

Several clusters may run on this machine at once (other tests): waits are
generous polls, never assertions on speed. Every node a test starts is
stopped by the make_cluster fixture, whatever happens.
"""
import base64
import json
import os
import time

from cwcluster import CLUSTER_NAME, address, describe, make_cluster  # noqa: F401
from cwtest import Node

# A membership change (and a cluster-wide write) is refused for a moment
# while a peer is joining or restarting: that refusal is the product's
# guard, so the tests retry only on it.
SETTLING = ("is joining", "is restarting", "announced a restart")


def ok_settled(c, k, *args, timeout=60):
    """Run causeway on node K until it succeeds, retrying only while it is
    refused because a peer is joining or restarting. Returns stdout."""
    deadline = time.monotonic() + timeout
    while True:
        r = c.cli(k, *args)
        if r.returncode == 0:
            return r.stdout
        if not any(s in r.stderr for s in SETTLING) or time.monotonic() > deadline:
            raise AssertionError("on node %d: %s\n%s" % (k, describe(r), c.report()))
        time.sleep(0.5)


def set_settled(c, k, key, value):
    return ok_settled(c, k, "config", "set", key, str(value))


def wait_standalone(c, k, timeout=90):
    """Node K factory-reset out of its cluster: running again, no peer
    list, a status without peers."""
    def standalone():
        st = c.status(k)
        try:
            return st is not None and not st.get("peers") and c.get(k, "cluster.peers") == []
        except Exception:  # noqa: BLE001 - restarting: retry
            return False
    Node.wait_for(standalone, timeout, lambda: "node %d still clustered:\n%s" % (k, c.report([k])))
    c[k].wait_running(60)


def wait_peer_list(c, k, expected, timeout=60):
    def same():
        try:
            return c.get(k, "cluster.peers") == expected
        except Exception:  # noqa: BLE001 - restarting: retry
            return False
    Node.wait_for(same, timeout, lambda: "node %d: peer list is not %s:\n%s" % (k, expected, c.report([k])))


def form_one(c, k=1):
    """`cluster form` on node K, then wait for its cluster of one."""
    r = c.cli(k, "cluster", "form", "--name", CLUSTER_NAME)
    assert r.returncode == 0, describe(r)
    c.wait_formed([k], timeout=90)


def join(c, k, primary=1):
    token = ok_settled(c, primary, "cluster", "token", address(k)).strip()
    assert token and "\n" not in token, token
    r = c.cli(k, "cluster", "join", address(primary), token)
    assert r.returncode == 0, describe(r)
    return token


def decode_token(token):
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def encode_token(body):
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def test_form_a_cluster_of_one(make_cluster):
    c = make_cluster(1)
    # without a name (none stored) it is refused and nothing changes
    r = c.cli(1, "cluster", "form")
    assert r.returncode == 1 and "cluster name" in r.stderr, describe(r)
    assert c.get(1, "cluster.peers") == []
    form_one(c)
    st = c.json(1, "cluster", "status")
    assert (st["name"], st["primary"], st["this_peer"], st["database"]) == (CLUSTER_NAME, 1, 1, "active")
    assert [(p["index"], p["address"], p["state"]) for p in st["peers"]] == [(1, address(1), "this-system")]
    assert c.get(1, "cluster.ip_version") in ("4", 4)
    assert c.get(1, "cluster.tls_verify") == "permissive"
    # forming again is refused
    r = c.cli(1, "cluster", "form", "--name", CLUSTER_NAME)
    assert r.returncode == 1 and "already in a cluster" in r.stderr, describe(r)


def test_form_token_and_join(make_cluster):
    c = make_cluster(3)
    form_one(c)
    set_settled(c, 1, "h323.ttl_s", 3600)
    join(c, 2)
    c.wait_formed([1, 2], timeout=120)
    c.wait_replicated("h323.ttl_s", 3600, nodes=[1, 2])
    assert c.get(2, "cluster.name") == CLUSTER_NAME and c.get(2, "cluster.primary") == 1

    # a token for node 3 whose fingerprint is not the primary's is refused,
    # and node 3 stays alone
    token = ok_settled(c, 1, "cluster", "token", address(3)).strip()
    forged = decode_token(token)
    assert forged["peers"] == [address(1), address(2), address(3)]
    assert forged["address"] == address(3) and len(forged["fingerprint"]) == 64
    forged["fingerprint"] = "0" * 64
    r = c.cli(3, "cluster", "join", address(1), encode_token(forged))
    assert r.returncode == 1, describe(r)
    assert "does not match the token" in r.stderr and "0" * 64 in r.stderr, describe(r)
    assert c.get(3, "cluster.peers") == []
    # an expired token is refused
    expired = decode_token(token)
    expired["expires"] = 1
    r = c.cli(3, "cluster", "join", address(1), encode_token(expired))
    assert r.returncode == 1 and "expired" in r.stderr, describe(r)
    # a newer token replaces the first: the first is refused by the primary
    newer = ok_settled(c, 1, "cluster", "token", address(3)).strip()
    r = c.cli(3, "cluster", "join", address(1), token)
    assert r.returncode == 1 and "refused the token" in r.stderr, describe(r)
    assert c.get(3, "cluster.peers") == []
    r = c.cli(3, "cluster", "join", address(1), newer)
    assert r.returncode == 0, describe(r)
    c.wait_formed([1, 2, 3], timeout=120)
    c.wait_replicated("h323.ttl_s", 3600)
    # a clustered node does not join again
    r = c.cli(3, "cluster", "join", address(1), newer)
    assert r.returncode == 1 and "already in a cluster" in r.stderr, describe(r)


def test_add_then_the_guide_way_on_the_new_peer(make_cluster):
    c = make_cluster(3)
    c.form_guide_way(members=[1, 2])
    set_settled(c, 1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600, nodes=[1, 2])
    # only the primary changes membership; the error names it
    r = c.cli(2, "cluster", "add", address(3))
    assert r.returncode == 1 and "primary, peer 1 (%s)" % address(1) in r.stderr, describe(r)
    out = ok_settled(c, 1, "--json", "cluster", "add", address(3))
    body = json.loads(out)
    assert body["index"] == 3 and body["peers"] == [address(k) for k in (1, 2, 3)], body
    assert "restart" in body["next"], body
    for k in (1, 2):
        wait_peer_list(c, k, [address(k) for k in (1, 2, 3)])
    c.configure(3)
    c.restart(3)
    c.wait_formed(timeout=120)
    assert c.get(3, "h323.ttl_s") == 3600
    r = c.cli(1, "cluster", "add", address(3))
    assert r.returncode == 1 and "already peer 3" in r.stderr, describe(r)
    r = c.cli(1, "cluster", "add", "not an address")
    assert r.returncode == 1, describe(r)


def test_remove_a_live_peer_resets_it(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    set_settled(c, 1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    r = c.cli(1, "cluster", "remove", address(1))
    assert r.returncode == 1 and "change the primary first" in r.stderr, describe(r)
    r = c.cli(1, "cluster", "remove", "127.0.1.9")
    assert r.returncode == 1 and "not in the peer list" in r.stderr, describe(r)
    ok_settled(c, 1, "cluster", "remove", address(2))
    # the removed peer performed the factory reset
    wait_standalone(c, 2)
    assert not os.path.exists(c[2].certificate) and not os.path.exists(c[2].private_key)
    assert c.get(2, "h323.ttl_s") == 1800
    assert c.get(2, "system.name") == "peer2"            # peer-specific basics kept
    # the others: two peers, the gap closed (node 3 is now peer 2)
    c.wait_formed([1, 3], timeout=120)
    for k in (1, 3):
        assert len(c.status(k)["peers"]) == 2
        assert c.get(k, "cluster.peers") == [address(1), address(3)]
    set_settled(c, 1, "h323.ttl_s", 600)
    c.wait_replicated("h323.ttl_s", 600, nodes=[1, 3])


def test_remove_a_dead_peer(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.kill9(2)
    c.wait_state(1, address(2), ("failed", "unknown"), timeout=60)
    r = c.cli(1, "cluster", "remove", address(2), timeout=60)
    assert r.returncode == 1 and "unreachable" in r.stderr and "--dead" in r.stderr, describe(r)
    assert c.get(1, "cluster.peers") == [address(k) for k in (1, 2, 3)]
    ok_settled(c, 1, "cluster", "remove", address(2), "--dead")
    c.wait_formed([1, 3], timeout=120)
    set_settled(c, 1, "h323.ttl_s", 600)
    c.wait_replicated("h323.ttl_s", 600, nodes=[1, 3])


def test_set_primary(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    set_settled(c, 1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    r = c.cli(3, "cluster", "set-primary", "2")
    assert r.returncode == 1 and "not the configuration primary" in r.stderr, describe(r)
    ok_settled(c, 1, "cluster", "set-primary", "2")
    c.wait_formed(primary=2, timeout=120)
    for k in (1, 2, 3):
        assert c.get(k, "cluster.primary") == 2
    set_settled(c, 2, "h323.ttl_s", 60)                 # on the new primary
    c.wait_replicated("h323.ttl_s", 60)
    set_settled(c, 1, "sip.mode", "off")                # forwarded from the old one
    c.wait_replicated("sip.mode", "off")
    r = c.cli(1, "cluster", "add", address(3))
    assert r.returncode == 1 and "peer 2 (%s)" % address(2) in r.stderr, describe(r)


def test_replace_a_live_peer(make_cluster):
    c = make_cluster(4, start=False)
    c.start(1, 2, 3, 4)
    c.form_guide_way(members=[1, 2, 3])
    set_settled(c, 1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600, nodes=[1, 2, 3])
    out = ok_settled(c, 1, "--json", "cluster", "replace", address(2), address(4))
    body = json.loads(out)
    new_list = [address(1), address(3), address(4)]
    assert body["peers"] == new_list and body["index"] == 3, body
    wait_standalone(c, 2)                                # the old unit was reset
    for k in (1, 3):
        wait_peer_list(c, k, new_list)
    # the new unit comes in at the end of the list, set up the guide's way
    c.configure(4, members=[1, 3, 4])
    c.restart(4)
    c.wait_formed([1, 3, 4], timeout=120)
    assert c.get(4, "h323.ttl_s") == 3600


def test_disband(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    set_settled(c, 1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    body = json.loads(ok_settled(c, 1, "--json", "cluster", "disband"))
    assert sorted(body["removed"]) == [address(2), address(3)] and body["reset_primary"] is False, body
    for k in (2, 3):
        wait_standalone(c, k)
        assert c.get(k, "h323.ttl_s") == 1800
    c.wait_formed([1], timeout=60)                        # the primary, a cluster of one
    assert c.get(1, "h323.ttl_s") == 3600
    assert c.get(1, "cluster.peers") == [address(1)]
    # disbanding the cluster of one with --reset-primary resets the primary too
    body = json.loads(ok_settled(c, 1, "--json", "cluster", "disband", "--reset-primary"))
    assert body["removed"] == [] and body["reset_primary"] is True and body["restarting"] is True, body
    wait_standalone(c, 1)
    assert c.get(1, "h323.ttl_s") == 1800
    assert not os.path.exists(c[1].certificate)


def test_join_a_cluster_of_fqdns(make_cluster):
    """Peers named by FQDN through the cluster address mapping: the token
    carries the mapping, so the new node finds itself in the list and the
    primary by name."""
    c = make_cluster(3, fqdns=True)
    c.form_guide_way(members=[1, 2])
    set_settled(c, 1, "cluster.address_mapping", ",".join(c.mapping()))   # peer 3's name too
    c.wait_replicated("cluster.address_mapping", c.mapping(), nodes=[1, 2])
    token = ok_settled(c, 1, "cluster", "token", "peer3.example.com").strip()
    assert decode_token(token)["address_mapping"] == c.mapping()
    r = c.cli(3, "cluster", "join", "peer1.example.com", token)
    assert r.returncode == 0, describe(r)
    c.wait_formed(timeout=120)
    assert c.get(3, "cluster.peers") == c.peer_list()
