"""Hostile and broken traffic on the clustering port : a connection from an address that is not a peer is closed before
any TLS; garbage, truncated TLS and malformed or truncated frames sent from
a peer's address (while that peer is down) do not bring the node down.

One cluster of 3 serves every test of this file (module fixture): node 3
is killed so that its address, 127.0.1.3, is free for the test's own
client, which presents peer 3's certificate (permissive mode). After each
test, node 1 must still answer `cluster status`, with the same replication
actor process, and still see peer 2 active.

Frames (peerlink.h): [u32 len][u8 version=1][u8 type][u64 corr][u32 json_len]
[json][blob], type 0 = HELLO {"index", "address"} answered {"ok", "index"}.

Run:
    CAUSEWAY_BIN=build/bin /usr/bin/python3 -m pytest -q tests/integration/test_cluster_hostile.py
"""
import json
import os
import socket
import ssl
import struct
import time

import pytest

from cwcluster import Cluster, address, certs_dir

NON_PEER = "127.0.1.9"
FAKE = 3                   # the killed peer whose address the client uses


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("hostile"), 3)
    try:
        c.start()
        c.form_guide_way()
        c.kill9(FAKE)
        c.wait_state(1, address(FAKE), ("failed", "unknown"))
        yield c
    finally:
        c.cleanup()


@pytest.fixture
def hostile(cluster):
    """The cluster, checked to have survived whatever the test sent."""
    pid = cluster[1].actors()["replication"]["pid"]
    yield cluster
    r = cluster.cli(1, "--json", "cluster", "status")
    assert r.returncode == 0, r
    assert cluster[1].actors()["replication"]["pid"] == pid, \
        "the replication actor was restarted; log:\n%s" % cluster[1].read_log()
    cluster.wait_state(1, address(2), "active")
    cluster.wait_state(2, address(1), "active")


# -- clients -------------------------------------------------------------------

def tcp(c, src, timeout=10):
    return socket.create_connection((address(1), c.port), timeout=timeout, source_address=(src, 0))


def context(k=FAKE):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    d = certs_dir()
    ctx.load_cert_chain(os.path.join(d, "peer%d.crt" % k), os.path.join(d, "peer%d.key" % k))
    return ctx


def tls(c, src=None, timeout=20):
    """A TLS connection to node 1 from SRC (peer FAKE's address). The node
    keeps at most a few connections in setup (S_MAX_PENDING_INBOUND) and
    closes the others at once: an attempt closed that way while an
    earlier test's connections are still timing out is retried."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return context().wrap_socket(tcp(c, src or address(FAKE)))
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def drain(sock, timeout=15):
    """Read until the other side closes: (closed, bytes read)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True, data
            data += chunk
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True, data
    except socket.timeout:
        return False, data
    finally:
        sock.close()


def frame(ftype, js=b"", corr=1, blob=b"", version=1, length=None, json_len=None):
    body = struct.pack(">BBQI", version, ftype, corr, len(js) if json_len is None else json_len) + js + blob
    return struct.pack(">I", len(body) if length is None else length) + body


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_frame(sock, timeout=10):
    sock.settimeout(timeout)
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    body = recv_exact(sock, length)
    version, ftype, corr, json_len = struct.unpack(">BBQI", body[:14])
    text = body[14:14 + json_len]
    return ftype, corr, (json.loads(text) if text else None)


def hello(c, index=FAKE, addr=None):
    """A TLS link from peer FAKE's address, past the HELLO exchange."""
    s = tls(c)
    s.sendall(frame(0, json.dumps({"index": index, "address": addr or address(index)}).encode()))
    ftype, corr, body = read_frame(s)
    assert ftype == 0 and body and body.get("ok") is True and body.get("index") == 1, body
    return s


def client_hello():
    """The bytes of a real TLS ClientHello."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context().wrap_bio(incoming, outgoing, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


# -- a configured peer's address: TLS, then HELLO --------------------------------

def test_a_peer_address_gets_tls_and_hello(hostile):
    s = tls(hostile)
    with open(hostile[1].certificate) as f:
        assert s.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(f.read())
    s.close()
    s = hello(hostile)
    s.close()


# -- an address that is not a peer: closed at accept -----------------------------

def test_a_non_peer_address_is_closed_before_tls(hostile):
    closed, data = drain(tcp(hostile, NON_PEER))
    assert closed and data == b""
    # a ClientHello gets no ServerHello: the handshake ends in EOF / reset
    raw = tcp(hostile, NON_PEER)
    s = context().wrap_socket(raw, do_handshake_on_connect=False)
    s.settimeout(15)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, EOFError)):
        s.do_handshake()
    s.close()
    # and again, many times: nothing accumulates
    for _ in range(50):
        closed, data = drain(tcp(hostile, NON_PEER))
        assert closed and data == b""


def test_hello_with_another_peers_index_is_refused(hostile):
    s = tls(hostile)
    s.sendall(frame(0, json.dumps({"index": 2, "address": address(2)}).encode()))
    closed, data = drain(s)
    assert closed
    if data:
        _, _, body = read_frame_from(data)
        assert body.get("ok") is False and body.get("error"), body


def read_frame_from(data):
    (length,) = struct.unpack(">I", data[:4])
    body = data[4:4 + length]
    version, ftype, corr, json_len = struct.unpack(">BBQI", body[:14])
    return ftype, corr, json.loads(body[14:14 + json_len])


# -- garbage and malformed frames ------------------------------------------------

def send_raw_garbage(c):
    s = tcp(c, address(FAKE))
    s.sendall(os.urandom(8192))
    return s


def send_truncated_client_hello(c):
    s = tcp(c, address(FAKE))
    h = client_hello()
    s.sendall(h[:len(h) // 2])
    s.close()


def send_tls_garbage(c):
    s = tls(c)
    s.sendall(os.urandom(4096))
    return s


def send_frame_before_hello(c):
    s = tls(c)
    s.sendall(frame(5, b"{}"))
    return s


def send_hello_self_index(c):
    s = tls(c)
    s.sendall(frame(0, json.dumps({"index": 1, "address": address(1)}).encode()))
    return s


def send_hello_not_an_object(c):
    s = tls(c)
    s.sendall(frame(0, b"[1, 2, 3]"))
    return s


def send_hello_empty(c):
    s = tls(c)
    s.sendall(frame(0))
    return s


def after_hello(data):
    def send(c):
        s = hello(c)
        s.sendall(data)
        return s
    return send


def send_truncated_at_close(c):
    s = hello(c)
    s.sendall(frame(5, b'{"x": 1}' * 100)[:40])
    s.close()


def send_idle_connections(c):
    """A flood of connections that never speak: the node must not keep
    them all, and once they are gone the peer's address works again."""
    socks = []
    try:
        for _ in range(40):
            socks.append(tcp(c, address(FAKE)))
        closed = 0
        for s in socks:
            s.settimeout(15)
            try:
                closed += s.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass
    finally:
        for s in socks:
            s.close()
    assert closed == 40, "connections left open that never started TLS: %d" % (40 - closed)
    hello(c).close()


ATTACKS = {
    "raw-garbage": send_raw_garbage,
    "truncated-client-hello": send_truncated_client_hello,
    "tls-garbage": send_tls_garbage,
    "frame-before-hello": send_frame_before_hello,
    "hello-self-index": send_hello_self_index,
    "hello-not-an-object": send_hello_not_an_object,
    "hello-empty": send_hello_empty,
    "bad-version": after_hello(frame(5, b"{}", version=99)),
    "json-len-beyond-frame": after_hello(frame(5, b"{}", json_len=1000)),
    "length-too-short": after_hello(struct.pack(">I", 3) + b"abc"),
    "zero-length": after_hello(struct.pack(">I", 0)),
    "oversize": after_hello(struct.pack(">I", 0xFFFFFFFF) + b"\x01\x05" + b"\0" * 64),
    "invalid-json": after_hello(frame(5, b"{not json")),
    "invalid-utf8-json": after_hello(frame(5, b'"\xff\xfe"')),
    "second-hello": after_hello(frame(0, b'{"index": 3, "address": "127.0.1.3"}')),
    "truncated-at-close": send_truncated_at_close,
    "idle-connections": send_idle_connections,
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_malformed_input_does_not_crash(hostile, name):
    s = ATTACKS[name](hostile)
    if s is not None and name not in ("second-hello",):
        closed, _ = drain(s)
        assert closed, "the node kept a connection open after %s" % name
    elif s is not None:
        s.close()
