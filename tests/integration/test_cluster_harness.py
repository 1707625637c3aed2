"""Tests of the cluster test harness itself (cwcluster.py, netns.py), on
standalone nodes: these pass without the clustering core, so a failure of
a cluster test later is a failure of the core, not of the harness.

Checked: the test certificates (chains, SANs, the deliberately bad ones);
a node with a peering section starts, restarts with new actor pids, crashes
(kill9) without leaving a process, comes back; a cluster's nodes each have
their own address, state, sockets and copy of the TLS files; the port picker
avoids a busy port; config helpers and alarm waits work and fail with
useful messages; cleanup leaves no process even when a test failed midway.
"""
import os
import socket
import subprocess

import pytest

import cwcluster
import netns
from cwcluster import (Cluster, certs_dir, children_of, make_cluster, norm, pick_port,  # noqa: F401
                       address)
from cwtest import pid_alive

OPENSSL = "openssl"


def x509_text(path):
    return subprocess.run([OPENSSL, "x509", "-in", path, "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout


def verify(ca, cert):
    return subprocess.run([OPENSSL, "verify", "-CAfile", ca, cert], capture_output=True, text=True)


def test_certificates():
    d = certs_dir()
    ca = os.path.join(d, "ca.crt")
    for k in range(1, 7):
        crt = os.path.join(d, "peer%d.crt" % k)
        assert verify(ca, crt).returncode == 0
        text = x509_text(crt)
        assert "DNS:peer%d.example.com" % k in text and "IP Address:127.0.1.%d" % k in text
        assert "TLS Web Server Authentication" in text and "TLS Web Client Authentication" in text
        untrusted = os.path.join(d, "peer%d-untrusted.crt" % k)
        assert verify(ca, untrusted).returncode != 0
        assert verify(os.path.join(d, "untrusted-ca.crt"), untrusted).returncode == 0
    wrong = os.path.join(d, "wrong-san.crt")
    assert verify(ca, wrong).returncode == 0
    san = x509_text(wrong).split("X509v3 Subject Alternative Name:")[1].split("\n")[1].strip()
    assert san == "DNS:wrong.example.com"
    assert certs_dir() == d          # made once per process


def test_norm():
    assert norm(["127.0.1.1", "127.0.1.2"]) == "127.0.1.1,127.0.1.2"
    assert norm(True) == "on" and norm(False) == "off"
    assert norm(3600) == "3600" and norm("x") == "x" and norm([]) == ""


def test_pick_port_avoids_a_busy_port(monkeypatch):
    monkeypatch.delenv("CW_CLUSTER_PORT", raising=False)
    hosts = [address(k) for k in (1, 2, 3)]
    free = pick_port(hosts)
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind((hosts[1], free))
    holder.listen(1)
    try:
        other = pick_port(hosts)
        assert other != free and other + 1 != free
    finally:
        holder.close()
    monkeypatch.setenv("CW_CLUSTER_PORT", "5555")
    assert pick_port(hosts) == 5555


def test_nodes_are_separate_and_restart_and_crash(make_cluster):
    c = make_cluster(3)
    assert len({n.state_dir for n in c}) == 3 and len({n.run_dir for n in c}) == 3
    for k, n in c.nodes.items():
        with open(n.conf) as f:
            conf = f.read()
        assert 'address = "127.0.1.%d"' % k in conf and "port = %d;" % c.port in conf
        assert n.certificate.startswith(c.dir) and os.path.exists(n.private_key)
        assert os.path.exists(n.ca_file)
        assert oct(os.stat(n.private_key).st_mode & 0o777) == "0o600"
    # each node its own configuration
    c.set(2, "system.name", "second")
    assert c.get(2, "system.name") == "second" and c.get(1, "system.name") == "peer1"
    assert c.ok(3, "config", "get", "system.name").strip() == "peer3"
    # restart: every actor with a new pid, same causewayd
    daemon = c[1].proc.pid
    before = set(c[1].actor_pids().values())
    c.restart(1)
    after = set(c[1].actor_pids().values())
    assert c[1].proc.pid == daemon and len(after) == 6 and not before & after
    # crash and return
    victims = set(children_of(c[2].proc.pid)) | {c[2].proc.pid}
    assert set(c[2].actor_pids().values()) < victims     # (and any standby process)
    c.kill9(2)
    assert not any(pid_alive(p) for p in victims)
    c.start(2)
    assert c.get(2, "system.name") == "second"        # state kept across the crash


def test_waits_fail_with_context(make_cluster):
    c = make_cluster(2)
    with pytest.raises(AssertionError) as e:
        c.wait_replicated("system.name", "nobody", timeout=1)
    assert "system.name=nobody" in str(e.value) and "log tail" in str(e.value)
    with pytest.raises(AssertionError) as e:
        c.wait_alarm(1, 90001, timeout=1)
    assert "not raised" in str(e.value)
    c.ok(1, "alarms", "raise", "90001", "harness check")
    alarm = c.wait_alarm(1, 90001, match=lambda a: a["detail"] == "harness check")
    assert alarm["id"] == 90001 and 90001 in c.alarm_ids(1) and 90001 not in c.alarm_ids(2)
    c.ok(1, "alarms", "clear", "90001")
    c.wait_alarm(1, 90001, present=False)
    c.set(1, "h323.ttl_s", 600)
    c.set(2, "h323.ttl_s", 600)
    c.wait_replicated("h323.ttl_s", 600)      # both standalone: set on each


def test_cleanup_after_a_failure(tmp_path):
    c = Cluster(tmp_path, 2)
    pids = set()
    try:
        c.start()
        for n in c:
            pids |= set(children_of(n.proc.pid)) | {n.proc.pid}
        c.kill9(2)          # a dead node is fine at cleanup
        raise RuntimeError("the test failed here")
    except RuntimeError:
        pass
    finally:
        c.cleanup()
    assert pids and not any(pid_alive(p) for p in pids)
    assert all(not os.path.exists(n.run_dir) for n in c)


@pytest.mark.parametrize("delay_ms", [0, 5])
def test_netns_helper_reports_or_works(delay_ms):
    """A namespace reaches the host side of its veth (0: plumbing only,
    where netem is missing; 5: with the delay qdisc), and is gone after."""
    reason = netns.unavailable(delay=delay_ms > 0)
    if reason:
        assert isinstance(reason, str) and reason
        pytest.skip(reason)
    link = netns.DelayedLink(delay_ms=delay_ms, tag="h%d" % os.getpid()).setup()
    try:
        with socket.socket() as server:
            server.bind((link.host_addresses[0], 0))
            server.listen(1)
            port = server.getsockname()[1]
            r = subprocess.run(link.wrapper + ["/usr/bin/python3", "-c",
                               "import socket; socket.create_connection(('%s', %d), 5, ('%s', 0)).close()"
                               % (link.host_addresses[0], port, link.ns_address)],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
            conn, peer = server.accept()
            conn.close()
            assert peer[0] == link.ns_address
    finally:
        link.teardown()
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert link.name not in names


def test_two_clusters_never_share_a_port(tmp_path, monkeypatch):
    monkeypatch.delenv("CW_CLUSTER_PORT", raising=False)
    a = Cluster(tmp_path / "a", 2)
    b = Cluster(tmp_path / "b", 2)
    try:
        assert a.port != b.port and a.port_lock and b.port_lock
    finally:
        a.cleanup()
        b.cleanup()
    lock = cwcluster._lock(a.port)       # released at cleanup
    assert lock is not None
    lock.close()
