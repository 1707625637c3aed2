"""A network partition between peers, and its healing: three peers on
127.0.1.1-3, and nftables rules that drop every packet of this cluster's
ports between peer 3 and the two others, in both directions (this kernel
has no netem; a drop rule is a cut cable as far as TCP can tell). While it
lasts, the primary keeps taking writes and replicating them to peer 2, and
peer 3 shows peers 1 and 2 failed (and they show peer 3 failed); once the
rules are gone, peer 3 links again and catches up: its values equal the
primary's.

The rules live in an nftables table of this test's own (inet family,
matching the cluster's two ports only), deleted at the end whatever
happened. Skipped, with the reason, when nft cannot make such a table here
(not root, no nftables).

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_partition.py
"""
import os
import shutil
import subprocess

import pytest

from cwcluster import address, make_cluster  # noqa: F401 - make_cluster is a fixture
from cwtest import Node


def nft(*args, check=True):
    r = subprocess.run(["nft"] + list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("nft %s -> %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


class Partition:
    """Drop the TCP traffic of PORTS between ISOLATED and OTHERS (addresses)."""

    def __init__(self, isolated, others, ports):
        self.table = "cw_partition_%d" % os.getpid()
        self.isolated = isolated
        self.others = others
        self.ports = ports
        self.cut = False

    @staticmethod
    def unavailable():
        """None when nft can add and delete a table here, else why not."""
        if os.geteuid() != 0:
            return "nftables rules need root"
        if not shutil.which("nft"):
            return "nft(8) is not installed (Debian: nftables)"
        probe = "cw_probe_%d" % os.getpid()
        r = nft("add", "table", "inet", probe, check=False)
        if r.returncode != 0:
            return "nft cannot add a table here: %s" % r.stderr.strip()
        nft("delete", "table", "inet", probe, check=False)
        return None

    def start(self):
        others = "{ %s }" % ", ".join(self.others)
        ports = "{ %s }" % ", ".join(str(p) for p in self.ports)
        rules = ["table inet %s {" % self.table,
                 "  chain input {",
                 "    type filter hook input priority filter; policy accept;"]
        for src, dst in ((self.isolated, others), (others, self.isolated)):
            for port in ("dport", "sport"):
                rules.append("    ip saddr %s ip daddr %s tcp %s %s drop" % (src, dst, port, ports))
        rules += ["  }", "}"]
        r = subprocess.run(["nft", "-f", "-"], input="\n".join(rules) + "\n",
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("nft -f: %s\n%s" % (r.stderr.strip(), "\n".join(rules)))
        self.cut = True

    def heal(self):
        if self.cut:
            nft("delete", "table", "inet", self.table, check=False)
            self.cut = False

    def dropped(self):
        """Are the rules in place (as nft lists them)?"""
        return self.table in nft("list", "tables").stdout


@pytest.fixture
def partition():
    reason = Partition.unavailable()
    if reason:
        pytest.skip(reason)
    made = []

    def make(isolated, others, ports):
        p = Partition(isolated, others, ports)
        made.append(p)
        return p
    yield make
    for p in made:
        p.heal()


def data(c, k, key):
    status, body = c[k].call("replication.data.get", {"ns": "partition", "key": key})
    assert status == "ok", body
    return body["value"]


def test_cut_off_peer_fails_over_and_catches_up(make_cluster, partition):
    c = make_cluster(3)
    c.form_guide_way()
    c.set(1, "h323.ttl_s", 3600)
    c.wait_replicated("h323.ttl_s", 3600)

    cut = partition(address(3), [address(1), address(2)], [c.port, c.port + 1])
    cut.start()
    assert cut.dropped()
    # peer 3 sees both others failed, and they see peer 3 failed
    for k in (1, 2):
        c.wait_state(3, address(k), "failed", timeout=60)
        c.wait_state(k, address(3), "failed", timeout=60)
    # the primary keeps taking writes, and peer 2 keeps getting them
    c.set(1, "h323.ttl_s", 7200)
    c.set(2, "sip.mode", "off")                 # forwarded by peer 2 to the primary
    status, body = c[1].call("replication.data.put", {"ns": "partition", "rows": [["during", "the partition"]]})
    assert status == "ok", body
    c.wait_replicated("h323.ttl_s", 7200, nodes=[1, 2])
    c.wait_replicated("sip.mode", "off", nodes=[1, 2])
    Node.wait_for(lambda: data(c, 2, "during") == "the partition", 30, "the row did not reach peer 2")
    # peer 3 still has what it had when it was cut off
    assert c.get(3, "h323.ttl_s") == 3600
    assert data(c, 3, "during") is None

    cut.heal()
    assert not cut.dropped()
    c.wait_formed(timeout=120)
    c.wait_replicated("h323.ttl_s", 7200, timeout=60)
    c.wait_replicated("sip.mode", "off", timeout=60)
    Node.wait_for(lambda: data(c, 3, "during") == "the partition", 60, "the row did not reach peer 3")
    # and the cluster goes on as one
    c.set(1, "h323.ttl_s", 900)
    c.wait_replicated("h323.ttl_s", 900)
    def same_seq():
        primary, third = c[1].call("replication.status", {})[1], c[3].call("replication.status", {})[1]
        return third.get("in_sync") and third.get("applied_seq") == primary.get("applied_seq")
    Node.wait_for(same_seq, 30, lambda: "peer 3 not in sync with the primary:\n%s" % c.report())
