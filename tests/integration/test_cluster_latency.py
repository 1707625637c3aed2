"""Round-trip time above 80 ms between peers raises the RTT alarm (the
guide allows at most 80 ms round trip, 40 ms one way), made real with
a network namespace and `tc netem` (netns.py): nodes 1 and 2 on the host
side of a veth pair (10.231.0.1, .2), node 3 inside the namespace
(10.231.0.3), 50 ms each way. Skipped, with the reason, where namespaces or
netem cannot be created (not root, no sch_netem).

Run (as root):
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_latency.py
"""
import pytest

import netns
from cwcluster import A_RTT, make_cluster, mentions  # noqa: F401


@pytest.fixture
def link():
    netns.require()
    net = netns.DelayedLink(delay_ms=50).setup()
    yield net
    net.teardown()


def test_rtt_above_80ms_raises_the_alarm(make_cluster, link):
    addresses = link.host_addresses + [link.ns_address]
    c = make_cluster(3, addresses=addresses, wrappers={3: link.wrapper})
    c.form_guide_way(timeout=180)
    for k in (1, 2):
        c.wait_alarm(k, A_RTT, match=mentions(link.ns_address, "peer3"), timeout=60)
        p = c.peer(k, link.ns_address)
        assert p["rtt_ms"] > 80, p
    # between the two host-side peers the RTT is fine
    assert not [a for a in c.alarms(1, A_RTT) if mentions(addresses[1], "peer2")(a)]
    assert c.peer(1, addresses[1])["rtt_ms"] < 80
    # replication still works over the slow link
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)
    # the delay goes: the alarm clears
    link.set_delay(0)
    for k in (1, 2):
        c.wait_alarm(k, A_RTT, present=False, timeout=60)
