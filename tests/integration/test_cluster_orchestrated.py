"""The orchestrated procedures ("beyond the guide"): one command on the
primary performs each of the guide's clustering procedures;
each test runs it through the CLI and checks the end state on every node
the way an administrator would (cluster status, config get).

    cluster form [--name]            procedure 1 (restarts the node)
    cluster token ADDRESS / join     procedure 2 with a one-time token
    cluster add ADDRESS              procedure 2: primary and subordinates;
                                     the new node is set up the guide's way
    cluster remove ADDRESS [--dead]  procedures 3 and 4
    cluster set-primary N            procedure 7
    cluster replace OLD NEW          procedure 9 (dead OLD)
    cluster disband                  procedure 6

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_orchestrated.py
"""
import os

from cwcluster import A_COMM_FAILURE, CLUSTER_NAME, address, make_cluster  # noqa: F401


def wait_standalone(c, k, timeout=60):
    """Node K reset out of its cluster: no peer list, status without peers."""
    def standalone():
        st = c.status(k)
        try:
            return st is not None and not st.get("peers") and c.get(k, "cluster.peers") == []
        except Exception:
            return False
    c[k].wait_for(standalone, timeout, lambda: "node %d still clustered:\n%s" % (k, c.report([k])))


def form_one(c, k=1):
    out = c.ok(k, "cluster", "form", "--name", CLUSTER_NAME)
    assert "formed" in out, out
    c[k].wait_running(60)
    c.wait_formed([k])


def test_form(make_cluster):
    c = make_cluster(1)
    form_one(c)
    st = c.json(1, "cluster", "status")
    assert (st["name"], st["primary"], st["this_peer"], st["database"]) == (CLUSTER_NAME, 1, 1, "active")
    assert c.get(1, "cluster.peers") == [address(1)]
    assert c.get(1, "cluster.name") == CLUSTER_NAME


def test_token_and_join(make_cluster):
    c = make_cluster(3)
    form_one(c)
    c.set(1, "h323.ttl_s", 3600)
    token = c.ok(1, "cluster", "token", address(2)).strip()
    assert token and "\n" not in token
    c.ok(2, "cluster", "join", address(1), token)
    c.wait_formed([1, 2])
    c.wait_replicated("h323.ttl_s", 3600, nodes=[1, 2])
    assert c.get(2, "cluster.name") == CLUSTER_NAME
    # the token was for 127.0.1.2, once: node 3 cannot use it
    r = c.cli(3, "cluster", "join", address(1), token)
    assert r.returncode == 1, r
    assert c.get(3, "cluster.peers") == [] and c.get(3, "h323.ttl_s") == 1800
    # a garbage token is refused too
    r = c.cli(3, "cluster", "join", address(1), "not-a-token")
    assert r.returncode == 1, r
    token = c.ok(1, "cluster", "token", address(3)).strip()
    c.ok(3, "cluster", "join", address(1), token)
    c.wait_formed([1, 2, 3])
    c.wait_replicated("h323.ttl_s", 3600)


def test_add(make_cluster):
    c = make_cluster(3)
    c.form_guide_way(members=[1, 2])
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600, nodes=[1, 2])
    c.ok(1, "cluster", "add", address(3))
    for k in (1, 2):
        c[k].wait_for(lambda k=k: c.get(k, "cluster.peers") == [address(j) for j in (1, 2, 3)], 60,
                      lambda k=k: "peer list of node %d: %s" % (k, c.get(k, "cluster.peers")))
    # while it joins, a communication failure about it is expected
    c.wait_alarm(1, A_COMM_FAILURE, match=c.about(3), timeout=60)
    # the new peer, set up the guide's way, restarted
    c.configure(3)
    c.restart(3)
    c.wait_formed()
    assert c.get(3, "h323.ttl_s") == 3600          # holds the primary's configuration
    for k in (1, 2):
        c.wait_alarm(k, A_COMM_FAILURE, present=False)
    # adding it again is refused
    r = c.cli(1, "cluster", "add", address(3))
    assert r.returncode == 1, r


def test_remove_a_live_peer(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    c.ok(1, "cluster", "remove", address(2))
    # the gap closes: node 3 is now peer 2
    c.wait_formed([1, 3], timeout=120)
    assert c.get(3, "cluster.peers") == [address(1), address(3)]
    # the removed peer was factory-reset
    wait_standalone(c, 2)
    c[2].wait_running(60)
    assert c.get(2, "h323.ttl_s") == 1800
    assert not os.path.exists(c[2].certificate) and not os.path.exists(c[2].private_key)
    assert c.get(2, "system.name") == "peer2"
    for k in (1, 3):
        c.wait_alarm(k, A_COMM_FAILURE, present=False)


def test_remove_a_dead_peer(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.kill9(3)
    c.wait_alarm(1, A_COMM_FAILURE, match=c.about(3))
    c.ok(1, "cluster", "remove", address(3), "--dead")
    c.wait_formed([1, 2], timeout=120)
    for k in (1, 2):
        c.wait_alarm(k, A_COMM_FAILURE, present=False)
    c.set(1, "h323.ttl_s", 600)
    c.wait_replicated("h323.ttl_s", 600, nodes=[1, 2])
    # without --dead a peer that does not answer is not removed
    c2 = make_cluster(2)
    c2.form_guide_way()
    c2.kill9(2)
    r = c2.cli(1, "cluster", "remove", address(2), timeout=120)
    assert r.returncode == 1, r
    assert c2.get(1, "cluster.peers") == [address(1), address(2)]


def test_set_primary(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    c.ok(1, "cluster", "set-primary", "2")
    c.wait_formed(primary=2, timeout=120)
    for k in (1, 2, 3):
        assert c.get(k, "cluster.primary") == 2
    assert c.get(3, "h323.ttl_s") == 3600
    c.set(2, "h323.ttl_s", 60)
    c.wait_replicated("h323.ttl_s", 60)
    c.set(3, "sip.mode", "off")                     # forwarded to the new primary
    c.wait_replicated("sip.mode", "off")
    r = c.cli(2, "cluster", "set-primary", "7")
    assert r.returncode == 2, r                     # usage: N is 1..6


def test_replace_a_dead_peer(make_cluster):
    c = make_cluster(4, start=False)
    c.start(1, 2, 3, 4)
    c.form_guide_way(members=[1, 2, 3])
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600, nodes=[1, 2, 3])
    c.kill9(3)
    c.ok(1, "cluster", "replace", address(3), address(4))
    new_list = [address(1), address(2), address(4)]
    for k in (1, 2):
        c[k].wait_for(lambda k=k: c.get(k, "cluster.peers") == new_list, 60,
                      lambda k=k: "peer list of node %d: %s" % (k, c.get(k, "cluster.peers")))
    # the new unit, set up the guide's way in the same slot
    c.configure(4, members=[1, 2, 4])
    c.restart(4)
    c.wait_formed([1, 2, 4])
    assert c.get(4, "h323.ttl_s") == 3600
    assert c.status(1)["peers"][2]["address"] == address(4)


def test_disband(make_cluster):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    c.ok(1, "cluster", "disband")
    for k in (2, 3):
        wait_standalone(c, k)
    c.wait_formed([1])                # the primary alone, a cluster of one
    assert c.get(1, "h323.ttl_s") == 3600
    c.set(1, "h323.ttl_s", 60)
    for k in (2, 3):
        c[k].wait_running(60)
        assert c.get(k, "h323.ttl_s") == 1800
        c.wait_alarm(k, A_COMM_FAILURE, present=False)
    c.wait_alarm(1, A_COMM_FAILURE, present=False)
