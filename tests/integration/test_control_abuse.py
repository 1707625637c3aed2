"""Clients cannot stop causewayd: a thousand concurrent local clients,
idle TCP connections that never start a CURVE handshake, one client with
20,000 requests in flight, and a 50 MB request. After each, `causeway
status` still answers from the same causewayd, and the `control` counters
of `status` say what happened.

causewayd is started with the usual soft open-file limit (1024); it must
raise it itself. The idle-TCP test also starts it with a hard limit of
1024, where only its connection cap keeps it alive."""
import json
import os
import resource
import socket
import subprocess
import time

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from cwtest import Node

SOFT, HARD = resource.getrlimit(resource.RLIMIT_NOFILE)
# This process holds ~2 descriptors per client socket
if SOFT < min(HARD, 8192):
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(HARD, 8192), HARD))
pytestmark = pytest.mark.skipif(HARD != resource.RLIM_INFINITY and HARD < 4096,
                                reason="needs a hard open-file limit of 4096 or more")


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_with_limit(node, soft, hard=None):
    """Start NODE's causewayd with RLIMIT_NOFILE (SOFT, HARD or ours)."""
    limits = (soft, hard if hard is not None else resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    popen = subprocess.Popen

    def limited(*args, **kwargs):
        kwargs["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limits)
        return popen(*args, **kwargs)

    subprocess.Popen = limited
    try:
        node.start(wait=False)
    finally:
        subprocess.Popen = popen
    names = [a["name"] for a in node.actor_specs]
    node.wait_for(lambda: node._all_running(names), 20,
                  lambda: "node did not start; log:\n" + node.read_log())
    return node


def status(node):
    r = node.cli("--json", "status", timeout=20)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def check_alive(node, pid):
    assert node.proc.poll() is None, "causewayd exited; log:\n" + node.read_log()
    body = status(node)
    assert body["pid"] == pid
    return body


@pytest.fixture
def curve_node(tmp_path):
    keys = tmp_path / "authorized"
    keys.mkdir()
    port = free_tcp_port()
    n = Node(tmp_path, control={"curve_endpoint": "tcp://127.0.0.1:%d" % port,
                                "authorized_keys_dir": str(keys)})
    n.curve_port = port
    yield n
    n.cleanup()


def context():
    ctx = zmq.Context()
    ctx.setsockopt(zmq.MAX_SOCKETS, 4096)
    return ctx


def test_open_file_limit_raised_to_the_hard_limit(curve_node):
    node = start_with_limit(curve_node, 1024)
    with open("/proc/%d/limits" % node.proc.pid) as f:
        line = [l for l in f if l.startswith("Max open files")][0].split()
    soft, hard = line[3], line[4]
    assert soft == hard, line
    log = node.read_log()
    assert "open-file limit soft=%s (was 1024) hard=%s" % (soft, hard) in log, log


def test_a_thousand_concurrent_ipc_clients(curve_node):
    node = start_with_limit(curve_node, 1024)
    pid = node.proc.pid
    ctx = context()
    clients = []
    try:
        for _ in range(1000):
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(node.endpoint)
            clients.append(s)
        for s in clients:
            s.send_multipart([b"CW1", b"actors.list", b"{}"])
        poller = zmq.Poller()
        for s in clients:
            poller.register(s, zmq.POLLIN)
        answered = set()
        deadline = time.monotonic() + 30
        while len(answered) < len(clients) and time.monotonic() < deadline:
            for s, _ in poller.poll(1000):
                frames = s.recv_multipart()
                assert frames[:2] == [b"CW1", b"ok"], frames
                answered.add(s)
                poller.unregister(s)
        assert len(answered) == 1000
        body = check_alive(node, pid)
        assert body["control"]["clients"] >= 1000, body["control"]
        assert body["control"]["refused"] == 0
    finally:
        for s in clients:
            s.close()
        ctx.term()
    node.wait_for(lambda: status(node)["control"]["clients"] <= 2, 10, "connections not released")
    check_alive(node, pid)


@pytest.mark.parametrize("hard", [None, 1024], ids=["raised", "hard-1024"])
def test_idle_tcp_connections_to_the_curve_endpoint(curve_node, hard):
    node = start_with_limit(curve_node, 1024, hard)
    pid = node.proc.pid
    conns = []
    try:
        for _ in range(1100):
            c = socket.create_connection(("127.0.0.1", node.curve_port), timeout=5)
            conns.append(c)
        time.sleep(0.5)
        body = check_alive(node, pid)
        if hard == 1024:
            # 2 descriptors a client within 1024 - 256: the rest are refused
            assert body["control"]["clients_max"] <= 384
            # how many reach accept() depends on the kernel's accept queue
            node.wait_for(lambda: status(node)["control"]["refused"] >= 500, 10,
                          lambda: "not refused: %s" % status(node)["control"])
        # the handshake timeout (5 s) closes every connection that is left
        deadline = time.monotonic() + 15
        for c in conns:
            c.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                assert c.recv(4096, socket.MSG_PEEK) is not None
                while c.recv(65536):
                    pass
            except ConnectionResetError:
                pass
    finally:
        for c in conns:
            c.close()
    node.wait_for(lambda: status(node)["control"]["clients"] <= 2, 10, "connections not released")
    check_alive(node, pid)


def test_twenty_thousand_requests_in_flight_all_answered(curve_node):
    node = start_with_limit(curve_node, 1024)
    pid = node.proc.pid
    ctx = context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 15000)
    s.connect(node.endpoint)
    try:
        for i in range(20000):
            command = b"alarms.list" if i % 2 else b"status"
            s.send_multipart([b"CW1", command, b"{}"])
        counts = {"ok": 0, "busy": 0}
        for _ in range(20000):
            sig, verdict, body = s.recv_multipart()
            assert sig == b"CW1"
            if verdict == b"ok":
                counts["ok"] += 1
            else:
                error = json.loads(body)["error"]
                assert error.startswith("busy: "), error
                counts["busy"] += 1
        assert counts["ok"] + counts["busy"] == 20000
        assert counts["ok"] >= 10000, counts     # status is answered by causewayd itself
        s.setsockopt(zmq.RCVTIMEO, 300)
        with pytest.raises(zmq.Again):
            s.recv_multipart()                    # nothing more: one reply each
    finally:
        s.close()
        ctx.term()
    body = check_alive(node, pid)
    assert body["control"]["busy"] == counts["busy"]
    assert body["control"]["dropped"] == 0


def test_fifty_megabyte_request_closes_its_connection(curve_node):
    node = start_with_limit(curve_node, 1024)
    pid = node.proc.pid
    ctx = context()
    big = ctx.socket(zmq.DEALER)
    big.setsockopt(zmq.LINGER, 0)
    big.setsockopt(zmq.RECONNECT_IVL, 60000)
    monitor = big.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    monitor.setsockopt(zmq.RCVTIMEO, 10000)
    big.connect(node.endpoint)
    other = ctx.socket(zmq.REQ)
    other.setsockopt(zmq.LINGER, 0)
    other.setsockopt(zmq.RCVTIMEO, 5000)
    other.connect(node.endpoint)
    try:
        payload = b'{"v": "' + b"x" * (50 * 1024 * 1024) + b'"}'
        big.send_multipart([b"CW1", b"status", payload])
        event = recv_monitor_message(monitor)
        assert event["event"] == zmq.EVENT_DISCONNECTED
        big.setsockopt(zmq.RCVTIMEO, 200)
        with pytest.raises(zmq.Again):
            big.recv_multipart()
        # the other client is served as before
        other.send_multipart([b"CW1", b"status", b"{}"])
        sig, verdict, body = other.recv_multipart()
        assert verdict == b"ok"
        node.wait_for(lambda: status(node)["control"]["oversized"] >= 1, 5,
                      lambda: "oversized not counted: %s" % status(node)["control"])
    finally:
        monitor.close()
        big.close()
        other.close()
        ctx.term()
    check_alive(node, pid)
