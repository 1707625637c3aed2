"""A cluster of six peers, the most the guide allows:
formed the guide's way, replication from the primary to five
subordinates, a change forwarded from the last peer, a dead peer seen by
the five others.

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_six.py
"""
from cwcluster import A_COMM_FAILURE, address, make_cluster, norm  # noqa: F401

ALL = [1, 2, 3, 4, 5, 6]


def test_six_peers_form_and_replicate(make_cluster):
    c = make_cluster(6)
    c.form_guide_way(timeout=180)
    for k in ALL:
        st = c.status(k)
        assert len(st["peers"]) == 6 and st["this_peer"] == k, st
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    c.set(6, "sip.mode", "off", "--wait")          # forwarded, applied everywhere
    assert [norm(c.get(k, "sip.mode")) for k in ALL] == ["off"] * 6
    # a seventh address is refused
    r = c.cli(1, "config", "set", "cluster.peers", ",".join(address(k) for k in range(1, 8)))
    assert r.returncode == 1, r
    # one peer dies: the five others say so; it comes back and catches up
    c.kill9(4)
    for k in (1, 2, 3, 5, 6):
        c.wait_alarm(k, A_COMM_FAILURE, match=c.about(4), timeout=60)
    c.set(1, "h323.ttl_s", 120)
    c.wait_replicated("h323.ttl_s", 120, nodes=[1, 2, 3, 5, 6])
    c.start(4)
    c.wait_replicated("h323.ttl_s", 120, nodes=[4])
    c.wait_formed(timeout=180)
    for k in (1, 2, 3, 5, 6):
        c.wait_alarm(k, A_COMM_FAILURE, present=False)
