"""Calls in the cluster's heartbeats, through real processes: a 3-peer
cluster on 127.0.1.1..3 (SIP on 5060 of each), a sipp UAS registered on
peer 2 called by a sipp UAC through peer 3, and `causeway --json cluster
status` read on peer 1.

  - before any call every peer shows "calls" 0 next to its "load";
  - with call_routing.calls_per_peer 1, during the call peer 1 shows peer 3
    with calls 1 and load 1.0 (one call of one: full, whatever its CPU);
  - after the BYE peer 1 shows peer 3 with calls 0 again.
"""
import pytest

from test_proxy import (Sipp, ensure_rms, finished_ok, peer_addr, register, registered_everywhere, routing_status,
                        sip_cluster)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, request):
    yield from sip_cluster(tmp_path_factory, request, "call_load")


@pytest.fixture
def sipp(tmp_path):
    s = Sipp(tmp_path / "sipp")
    yield s
    s.close()


def peers_seen_from(c, k):
    """`causeway --json cluster status` on peer K: {index: peer}."""
    return {p["index"]: p for p in c.json(k, "cluster", "status")["peers"]}


def test_calls_and_load_in_cluster_status(cluster, sipp):
    c = cluster
    # No call yet: every peer says 0 calls, its load a share 0..1
    peers = c[1].wait_for(lambda: (lambda p: p if all(p[k].get("calls") == 0 for k in (1, 2, 3)) else None)(
        peers_seen_from(c, 1)), 10, lambda: "cluster status on peer 1: %s" % peers_seen_from(c, 1))
    assert all(0 <= peers[k]["load"] <= 1 for k in (1, 2, 3)), peers

    c.set(1, "call_routing.calls_per_peer", 1)
    c[3].wait_for(lambda: routing_status(c[3])["capacity"]["calls_per_peer"] == 1, 20,
                  lambda: "capacity on peer 3: %s" % routing_status(c[3]).get("capacity"))
    ensure_rms(c)
    register(sipp, 2, "carol", 5501)
    registered_everywhere(c, "sip:carol@example.com", 1)

    uas = sipp.start("call_uas", 5501)
    uac = sipp.start("call_uac", 5502, peer_addr(3), user="carol", pause_ms=6000)
    peers = c[1].wait_for(lambda: (lambda p: p if p[3]["calls"] == 1 else None)(peers_seen_from(c, 1)), 10,
                          lambda: "cluster status on peer 1: %s" % peers_seen_from(c, 1))
    assert peers[3]["load"] == 1.0, peers[3]
    assert peers[1]["calls"] == 0 and peers[2]["calls"] == 0, peers
    # Peer 3 counts its own call the same way
    own = peers_seen_from(c, 3)[3]
    assert own["state"] == "this-system" and own["calls"] == 1 and own["load"] == 1.0, own

    finished_ok(sipp, uac)
    finished_ok(sipp, uas)
    c[1].wait_for(lambda: peers_seen_from(c, 1)[3]["calls"] == 0, 10,
                  lambda: "cluster status on peer 1: %s" % peers_seen_from(c, 1)[3])
