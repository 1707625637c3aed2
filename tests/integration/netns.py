"""netns - a delayed link for the cluster latency tests: one Causeway node
in its own network namespace, joined to the host by a veth pair that
`tc netem` delays in both directions.

    net = DelayedLink(delay_ms=50)      # RTT host <-> namespace = 100 ms
    net.setup()                         # or pytest.skip(reason) via require()
    net.host_addresses                  # ["10.231.0.1", "10.231.0.2"] (host side)
    net.ns_address                      # "10.231.0.3"  (inside the namespace)
    net.wrapper                         # ["ip", "netns", "exec", NAME]: prefix
                                        # the namespaced node's causewayd with it
    net.set_delay(0)                    # change / remove the delay
    net.teardown()

Loopback addresses cannot cross namespaces, so the nodes of a latency test
cluster on 10.231.0.0/24 (a private test subnet) instead of 127.0.1.0/24.
The ipc:// control and alarm sockets of the namespaced node are files under
/tmp: they work across network namespaces, so the CLI reaches that node as
any other.

Needs root (CAP_NET_ADMIN), ip(8), tc(8) and the sch_netem qdisc;
unavailable() says why not when one is missing.
"""
import os
import shutil
import subprocess

SUBNET = "10.231.0."


def _run(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s -> %d: %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def unavailable(delay=True):
    """None when namespaces with a veth (netem-delayed when DELAY) can be
    made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc"):
        if not shutil.which(tool):
            return "%s(8) is not installed" % tool
    probe = DelayedLink(delay_ms=1 if delay else 0, tag="p%d" % os.getpid())
    try:
        probe.setup()
    except RuntimeError as e:
        return "cannot create a netem-delayed veth in a network namespace: %s" % str(e).strip()
    finally:
        probe.teardown()
    return None


def require():
    """pytest.skip with the reason when unavailable()."""
    import pytest
    reason = unavailable()
    if reason:
        pytest.skip(reason)


class DelayedLink:
    def __init__(self, delay_ms=50, host_count=2, tag=None):
        tag = tag or str(os.getpid())
        self.name = "cwlat%s" % tag
        self.host_if = ("cwh%s" % tag)[:15]
        self.ns_if = ("cwn%s" % tag)[:15]
        self.delay_ms = delay_ms
        self.host_addresses = [SUBNET + str(i) for i in range(1, host_count + 1)]
        self.ns_address = SUBNET + str(host_count + 1)
        self.wrapper = ["ip", "netns", "exec", self.name]
        self.created = False

    def setup(self):
        try:
            _run("ip", "netns", "add", self.name)
            self.created = True
            _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _run("ip", "link", "set", self.ns_if, "netns", self.name)
            for a in self.host_addresses:
                _run("ip", "addr", "add", a + "/24", "dev", self.host_if)
            _run("ip", "link", "set", self.host_if, "up")
            self._ns("ip", "link", "set", "lo", "up")
            self._ns("ip", "addr", "add", self.ns_address + "/24", "dev", self.ns_if)
            self._ns("ip", "link", "set", self.ns_if, "up")
            self.set_delay(self.delay_ms, add=True)
        except RuntimeError:
            self.teardown()
            raise
        return self

    def _ns(self, *args, check=True):
        return _run("ip", "netns", "exec", self.name, *args, check=check)

    def set_delay(self, delay_ms, add=False):
        """Delay each direction by DELAY_MS (0 removes the delay)."""
        verb = "add" if add else "replace"
        if delay_ms <= 0:
            _run("tc", "qdisc", "del", "dev", self.host_if, "root", check=False)
            self._ns("tc", "qdisc", "del", "dev", self.ns_if, "root", check=False)
        else:
            _run("tc", "qdisc", verb, "dev", self.host_if, "root", "netem", "delay", "%dms" % delay_ms)
            self._ns("tc", "qdisc", verb, "dev", self.ns_if, "root", "netem", "delay", "%dms" % delay_ms)
        self.delay_ms = delay_ms

    def teardown(self):
        _run("ip", "link", "del", self.host_if, check=False)
        if self.created:
            _run("ip", "netns", "del", self.name, check=False)
            self.created = False
