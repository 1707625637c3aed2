"""The clustering port as a trust and memory boundary, on a real cluster of
two in permissive mode:

- pinning: each peer pins the certificate the other first linked with
  (`cluster status --json` -> peers[].pinned_fingerprint); when peer 2
  comes back with a certificate from another CA, peer 1 refuses its links
  and raises alarm 20040 with both SHA-256 fingerprints, until
  `causeway cluster trust-peer 2` on peer 1 accepts it: the link comes up
  and the alarm clears; the new pin survives a kill -9 of peer 1;
- the limit before HELLO: 8 TLS connections from peer 2's address, each
  announcing a 255 MB frame before HELLO and then sending, are closed at
  once; the replication actor's peak RSS stays small, it is not
  restarted, and the real link to peer 2 stays up.

Fingerprints are computed here with the openssl command, independently of
the product.

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_pinning.py
"""
import os
import shutil
import socket
import ssl
import struct
import subprocess
import time

from cwcluster import address, certs_dir, describe, make_cluster  # noqa: F401
from cwtest import Node

A_CERT_CHANGED = 20040
FLOOD_CONNECTIONS = 8
ANNOUNCED = 255 * 1000 * 1000
FLOOD_BYTES = 32 * 1024 * 1024        # what each connection tries to send after the prefix


def fingerprint(path):
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", path],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def wait_peer(c, k, index, check, timeout=30, what="condition"):
    """Wait until CHECK(peers[] entry of INDEX in node K's status) holds;
    returns that entry."""
    seen = []

    def ok():
        p = c.peer(k, index)
        seen[:] = [p]
        return p is not None and check(p)
    Node.wait_for(ok, timeout, lambda: "node %d, peer %d: %s not met after %ss: %s" % (
        k, index, what, timeout, seen))
    return seen[0]


def test_changed_certificate_is_refused_until_trusted(make_cluster):
    c = make_cluster(2)
    c.form_guide_way()
    old = fingerprint(c[2].certificate)
    other_crt = os.path.join(certs_dir(), "peer2-untrusted.crt")     # signed by another CA
    new = fingerprint(other_crt)
    assert old != new

    # Pinned on first use, each side the other's certificate
    wait_peer(c, 1, 2, lambda p: p.get("pinned_fingerprint") == old, what="peer 2 pinned")
    wait_peer(c, 2, 1, lambda p: p.get("pinned_fingerprint") == fingerprint(c[1].certificate),
              what="peer 1 pinned")
    assert "refused_fingerprint" not in c.peer(1, 2)
    text = c.ok(1, "cluster", "status")
    assert "pinned certificates (SHA-256):" in text and old in text, text

    # Peer 2 comes back with a certificate from another CA
    c[2].stop()
    shutil.copyfile(other_crt, c[2].certificate)
    shutil.copyfile(os.path.join(certs_dir(), "peer2-untrusted.key"), c[2].private_key)
    os.chmod(c[2].private_key, 0o600)
    c[2].start()

    alarm = c.wait_alarm(1, A_CERT_CHANGED, match=lambda a: old in a["detail"] and new in a["detail"])
    assert alarm["subject"] == address(2), alarm
    assert "peer 2" in alarm["detail"] and "trust-peer 2" in alarm["detail"], alarm
    p = wait_peer(c, 1, 2, lambda p: p.get("refused_fingerprint") == new, what="new certificate refused")
    assert p["pinned_fingerprint"] == old, p
    # refused, and it stays so: peer 2 retries every 2 s at most
    time.sleep(4)
    p = c.peer(1, 2)
    assert p["state"] != "active" and p["pinned_fingerprint"] == old, p
    assert "certificate" in p.get("error", ""), p
    text = c.ok(1, "cluster", "status")
    assert "REFUSED " + new in text and "trust-peer 2" in text, text
    links = c.status(1)["links"]
    assert links["handshake_failures"] >= 1, links

    # An administrator accepts it on peer 1: the link comes up, the alarm clears
    r = c.cli(1, "cluster", "trust-peer", "2")
    assert r.returncode == 0, describe(r)
    assert new in r.stdout and old in r.stdout, r.stdout
    c.wait_state(1, address(2), "active")
    c.wait_state(2, address(1), "active")
    c.wait_alarm(1, A_CERT_CHANGED, present=False)
    p = c.peer(1, 2)
    assert p["pinned_fingerprint"] == new and "refused_fingerprint" not in p, p
    # nothing left to accept; and no such peer
    r = c.cli(1, "cluster", "trust-peer", "2")
    assert r.returncode == 1 and "nothing to accept" in r.stderr, describe(r)
    r = c.cli(1, "cluster", "trust-peer", "1")
    assert r.returncode == 1 and "this system" in r.stderr, describe(r)
    r = c.cli(1, "--json", "cluster", "trust-peer", "5")
    assert r.returncode == 1, describe(r)

    # The new pin survives a kill -9 of the whole node 1
    c.kill9(1)
    c.start(1)
    c.wait_state(1, address(2), "active", timeout=60)
    assert c.peer(1, 2)["pinned_fingerprint"] == new
    assert A_CERT_CHANGED not in c.alarm_ids(1)


# -- the limit before HELLO ------------------------------------------------------

def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (field, pid))


def tls_from_peer(c, k):
    """A TLS connection to node 1 from node K's address, presenting node
    K's certificate (any would do before HELLO)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(c[k].certificate, c[k].private_key)
    raw = socket.create_connection((address(1), c.port), timeout=10, source_address=(address(k), 0))
    return ctx.wrap_socket(raw)


def announce(s):
    """Announce a 255 MB frame (version 1, type 5) before HELLO."""
    s.settimeout(10)
    try:
        s.sendall(struct.pack(">I", ANNOUNCED) + struct.pack(">BBQI", 1, 5, 1, 0))
    except OSError:
        pass    # already closed: flood() sees it


def flood(s):
    """Send up to FLOOD_BYTES more of the announced frame. Returns (closed
    by the server, bytes the socket took)."""
    sent = 0
    chunk = b"\0" * 65536
    try:
        while sent < FLOOD_BYTES:
            s.sendall(chunk)
            sent += len(chunk)
    except socket.timeout:      # not reading, not closed either
        return False, sent
    except OSError:             # reset, broken pipe, TLS EOF: the server closed
        return True, sent
    # everything went out: the server is reading it; closed only if it says so now
    try:
        return s.recv(1) == b"", sent
    except socket.timeout:
        return False, sent
    except OSError:
        return True, sent


def test_oversize_frames_before_hello_leave_the_node_small(make_cluster):
    c = make_cluster(2)
    c.form_guide_way()
    pid = c[1].actors()["replication"]["pid"]
    peak_before = vm_kib(pid, "VmHWM")
    malformed_before = c.status(1)["links"]["malformed_frames"]

    socks = [tls_from_peer(c, 2) for _ in range(FLOOD_CONNECTIONS)]
    results = []
    try:
        for s in socks:
            announce(s)
        for s in socks:
            results.append(flood(s))
    finally:
        for s in socks:
            s.close()
    for closed, sent in results:
        assert closed, "a connection announcing %d bytes before HELLO stayed open (%s)" % (ANNOUNCED, results)
        assert sent < 16 * 1024 * 1024, results

    # the replication actor never held the frames: its peak RSS barely moved
    peak_after = vm_kib(pid, "VmHWM")
    assert peak_after - peak_before < 48 * 1024, (peak_before, peak_after)
    # counted, the same process, the real peer still linked
    status = c.status(1)
    assert status["links"]["malformed_frames"] >= malformed_before + FLOOD_CONNECTIONS, status["links"]
    assert c[1].actors()["replication"]["pid"] == pid
    c.wait_state(1, address(2), "active")
    c.wait_state(2, address(1), "active")
    assert "before HELLO" in c[1].read_log()
