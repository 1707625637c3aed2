"""test_supervisor - causewayd as a user sees it: restarts, hangs, restart
intensity and alarm 10001, orderly and disorderly ends, bad bootstrap files,
garbage on the control socket, socket permissions.

Run: CAUSEWAY_BIN=build/bin PYTHONPATH=tests/integration \
     /usr/bin/python3 -m pytest -q tests/integration/test_supervisor.py
"""
import json
import os
import re
import signal
import stat
import subprocess
import time

import pytest
import zmq

from cwtest import ACTORS, BIN, Node, pid_alive, recv_alarm, wait_gone

# A request each actor answers itself, to show it serves again after a restart
SERVES = {
    "alarms": ("alarms.list", {}),
    "replication": ("config.get", {"key": "system.name"}),
    "licensing": ("license.status", {}),
    "tms": ("tms.status", {}),
    "routing": ("routing.status", {}),
    "webadmin": ("webadmin.status", {}),
}


def children_of(pid):
    """Pids whose parent is PID (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def running_with_new_pid(node, name, old_pid):
    actor = node.actors().get(name, {})
    return actor.get("state") == "running" and actor.get("pid") not in (0, old_pid) and actor


# ---------------------------------------------------------------------------
#  Restarts

def test_kill9_of_each_actor_restarts_only_it(node):
    for name in ACTORS:
        before = node.actors()
        victim = before[name]
        os.kill(victim["pid"], signal.SIGKILL)
        after = node.wait_for(lambda: running_with_new_pid(node, name, victim["pid"]), 10,
                              lambda: "%s did not come back; log:\n%s" % (name, node.read_log()))
        assert after["restarts"] == victim["restarts"] + 1
        now = node.actors()
        for other in ACTORS:
            if other != name:
                assert now[other]["pid"] == before[other]["pid"], other
                assert now[other]["state"] == "running", other
        command, args = SERVES[name]
        status, body = node.call(command, args)
        assert status == "ok", (name, body)


def test_hung_actor_is_replaced(tmp_path):
    node = Node(tmp_path, supervisor={"heartbeat_ms": 100, "heartbeat_misses": 3}).start()
    try:
        old = node.actors()["tms"]["pid"]
        os.kill(old, signal.SIGSTOP)
        node.wait_for(lambda: running_with_new_pid(node, "tms", old), 10,
                      lambda: "hung tms not replaced; log:\n%s" % node.read_log())
        wait_gone(old)
        assert "heartbeat missed" in node.read_log()
        status, body = node.call("tms.status")
        assert status == "ok", body
    finally:
        node.cleanup()


def test_stop_keeps_an_actor_stopped_until_started(node):
    r = node.cli("actors", "stop", "routing")
    assert r.returncode == 0, r.stderr
    node.wait_for(lambda: node.actors()["routing"]["state"] == "stopped", 10)
    assert node.actors()["routing"]["pid"] == 0
    time.sleep(0.5)
    assert node.actors()["routing"]["state"] == "stopped"
    status, body = node.call("routing.status")
    assert status == "error"
    assert body["error"] == "actor 'routing' is not running (state stopped)"
    r = node.cli("actors", "start", "routing")
    assert r.returncode == 0, r.stderr
    node.wait_for(lambda: node.actors()["routing"]["state"] == "running", 10)
    assert node.call("routing.status")[0] == "ok"


def test_actor_command_errors_name_the_problem(node):
    status, body = node.call("actors.restart", {"name": "nosuch"})
    assert status == "error"
    assert body["error"].startswith("no actor named 'nosuch'; actors are: alarms, replication")
    status, body = node.call("actors.stop", {})
    assert status == "error" and "'name'" in body["error"]
    status, body = node.call("actors.start", {"name": 42})
    assert status == "error" and "'name'" in body["error"]
    status, body = node.call("frobnicate")
    assert (status, body["error"]) == ("error", "unknown command 'frobnicate'")


# ---------------------------------------------------------------------------
#  Restart intensity, alarm 10001

def crashing_wrapper(tmp_path, name):
    """A wrapper for causeway-NAME that exits 1 at once while FLAG exists."""
    flag = tmp_path / ("crash-" + name)
    script = tmp_path / ("wrap-" + name)
    script.write_text("#!/bin/sh\n[ -e '%s' ] && exit 1\nexec '%s' \"$@\"\n"
                      % (flag, os.path.join(BIN, "causeway-" + name)))
    script.chmod(0o755)
    return flag, str(script)


def test_crash_loop_fails_raises_10001_and_start_clears_it(tmp_path):
    flag, wrapper = crashing_wrapper(tmp_path, "tms")
    specs = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
    specs[ACTORS.index("tms")]["path"] = wrapper
    node = Node(tmp_path, actors=specs, supervisor={"intensity": 3, "period_s": 30}).start()
    try:
        sub = node.subscriber(b"alarm.")
        time.sleep(0.3)
        flag.write_text("")
        os.kill(node.actors()["tms"]["pid"], signal.SIGKILL)
        node.wait_for(lambda: node.actors()["tms"]["state"] == "failed", 20,
                      lambda: "tms not failed; log:\n%s" % node.read_log())
        assert node.actors()["tms"]["pid"] == 0
        topic, alarm = recv_alarm(sub, "alarm.raised.10001", 10000)
        assert alarm["id"] == 10001
        assert "tms" in alarm["detail"] and "marked failed" in alarm["detail"]
        # the rest keeps serving
        assert node.call("alarms.list")[0] == "ok"
        assert node.actors()["routing"]["state"] == "running"
        status, body = node.call("alarms.list")
        assert any(a["id"] == 10001 and a["state"] == "raised" for a in body["alarms"])

        flag.unlink()
        r = node.cli("actors", "start", "tms")
        assert r.returncode == 0, r.stderr
        node.wait_for(lambda: node.actors()["tms"]["state"] == "running", 10)
        topic, alarm = recv_alarm(sub, "alarm.cleared.10001", 10000)
        assert alarm["id"] == 10001
        status, body = node.call("alarms.list")
        assert not any(a["id"] == 10001 for a in body["alarms"]), body
        assert node.call("tms.status")[0] == "ok"
    finally:
        node.cleanup()


def test_request_for_a_restarting_actor_times_out_clearly(tmp_path):
    flag, wrapper = crashing_wrapper(tmp_path, "tms")
    specs = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
    specs[ACTORS.index("tms")]["path"] = wrapper
    node = Node(tmp_path, actors=specs,
                supervisor={"intensity": 1000, "period_s": 1, "request_timeout_ms": 1000}).start()
    try:
        flag.write_text("")
        os.kill(node.actors()["tms"]["pid"], signal.SIGKILL)
        node.wait_for(lambda: node.actors()["tms"]["state"] in ("backoff", "starting")
                      and node.actors()["tms"]["restarts"] >= 2, 10)
        status, body = node.call("tms.status", {}, timeout_ms=5000)
        assert status == "error"
        assert re.match(r"actor 'tms' is not running \(state (backoff|starting)\); "
                        r"request timed out after 1000 ms$", body["error"]), body
        # it is answered once the actor is back
        flag.unlink()
        node.wait_for(lambda: node.actors()["tms"]["state"] == "running", 15)
        assert node.call("tms.status")[0] == "ok"
    finally:
        node.cleanup()


# ---------------------------------------------------------------------------
#  Ends

def test_sigterm_stops_everything_and_exits_0(tmp_path):
    node = Node(tmp_path).start()
    try:
        daemon = node.proc.pid
        pids = children_of(daemon)
        assert sorted(pids) == sorted(a["pid"] for a in node.actors().values())
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(30) == 0
        for pid in pids:
            assert not pid_alive(pid), pid
        log = node.read_log()
        # reverse order: webadmin stops first, alarms last
        assert log.index("actor stopped name=webadmin") < log.index("actor stopped name=alarms")
        assert not os.path.exists(node.endpoint[len("ipc://"):])
    finally:
        node.cleanup()


def test_sigkill_of_causewayd_leaves_no_actor(tmp_path):
    node = Node(tmp_path).start()
    try:
        pids = [a["pid"] for a in node.actors().values()]
        os.kill(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.02)
        assert not [p for p in pids if pid_alive(p)]
    finally:
        node.proc = None
        node.log.close()
        node.cleanup()


def test_second_daemon_refuses_to_start(node):
    r = subprocess.run([os.path.join(BIN, "causewayd"), "--config", node.conf],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "another causewayd" in r.stderr and node.endpoint in r.stderr
    assert node.call("status")[0] == "ok"


def test_sighup_adds_and_removes_actors(node):
    text = open(node.conf).read()
    without = re.sub(r",\s*\{ name = \"webadmin\";[^}]*\}", "", text)
    assert without != text
    open(node.conf, "w").write(without)
    old = node.actors()["webadmin"]["pid"]
    node.proc.send_signal(signal.SIGHUP)
    node.wait_for(lambda: "webadmin" not in node.actors(), 10)
    wait_gone(old)
    # a broken file is refused and the running set is kept
    open(node.conf, "w").write(without + "\nbroken {")
    node.proc.send_signal(signal.SIGHUP)
    node.wait_for(lambda: "reload failed" in node.read_log(), 5)
    assert len(node.actors()) == len(ACTORS) - 1
    open(node.conf, "w").write(text)
    node.proc.send_signal(signal.SIGHUP)
    node.wait_for(lambda: node.actors().get("webadmin", {}).get("state") == "running", 10)


# ---------------------------------------------------------------------------
#  Bootstrap file checks

def check_config(path):
    return subprocess.run([os.path.join(BIN, "causewayd"), "--check-config", str(path)],
                          capture_output=True, text=True, timeout=10)


def test_check_config(tmp_path):
    good = Node(tmp_path)
    r = check_config(good.conf)
    assert r.returncode == 0, r.stderr

    text = open(good.conf).read()
    syntax = tmp_path / "syntax.conf"
    syntax.write_text(text.replace("supervisor: {", "supervisor: {{", 1))
    r = check_config(syntax)
    assert r.returncode == 1
    assert re.search(re.escape(str(syntax)) + r":\d+: ", r.stderr), r.stderr

    bad = tmp_path / "badvalue.conf"
    bad.write_text(text.replace("intensity = 5;", "intensity = -3;"))
    r = check_config(bad)
    assert r.returncode == 1
    assert "supervisor.intensity" in r.stderr, r.stderr

    restart = tmp_path / "restart.conf"
    restart.write_text(text.replace('restart = "permanent"', 'restart = "sometimes"', 1))
    r = check_config(restart)
    assert r.returncode == 1
    assert "restart" in r.stderr and "permanent" in r.stderr, r.stderr

    r = check_config(tmp_path / "missing.conf")
    assert r.returncode == 1 and "missing.conf" in r.stderr


# ---------------------------------------------------------------------------
#  Control socket

def test_control_socket_is_owner_only(node):
    path = node.endpoint[len("ipc://"):]
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & 0o077 == 0, oct(mode)
    assert stat.S_IMODE(os.stat(node.run_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(node.state_dir).st_mode) == 0o700


def test_garbage_on_the_control_socket_gets_errors(node):
    ctx = zmq.Context.instance()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 3000)
    dealer.connect(node.endpoint)
    junk = [
        ([b"hello"], "expected 3 frames"),
        ([b"CW1", b"status"], "expected 3 frames"),
        ([b"CW1", b"status", b"{}", b"more"], "expected 3 frames"),
        ([b"CW2", b"status", b"{}"], "'CW1'"),
        ([b"CW1", b"status", b"{not json"], "not valid JSON"),
        ([b"CW1", b"status", b"[1, 2]"], "JSON object"),
        ([b"CW1", b"\xff\x00bin", b"{}"], "command name"),
        ([b"CW1", b"status", b"x" * (2 * 1024 * 1024)], "larger than"),
    ]
    for frames, expected in junk:
        dealer.send_multipart(frames)
        reply = dealer.recv_multipart()
        assert reply[:2] == [b"CW1", b"error"], (frames[:2], reply)
        assert expected in json.loads(reply[2])["error"], (expected, reply)
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.setsockopt(zmq.RCVTIMEO, 3000)
    req.connect(node.endpoint)
    req.send(b"just one frame")
    reply = req.recv_multipart()
    assert reply[:2] == [b"CW1", b"error"], reply
    dealer.close()
    req.close()
    status, body = node.call("status")
    assert status == "ok"
    assert body["malformed"]["control"] >= len(junk) + 1
    assert node.proc.poll() is None


def test_garbage_on_the_broker_socket_is_counted(node):
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IDENTITY, b"intruder")
    sock.connect("ipc://%s/broker" % node.run_dir)
    sock.send_multipart([b"garbage"])
    sock.send_multipart([b"CWE1", b"NOPE", b"1", b"", b"", b"", b""])
    sock.send_multipart([b"CWE1", b"REQUEST", b"x", b"", b"tms", b"tms.status", b"{}"])
    node.wait_for(lambda: node.call("status")[1]["malformed"]["broker"] >= 3, 5)
    sock.close()
    assert all(a["state"] == "running" for a in node.actors().values())


def test_status_body(node):
    status, body = node.call("status")
    assert status == "ok"
    for key in ("node", "system_name", "type", "version", "pid", "uptime_s", "actors", "malformed"):
        assert key in body, key
    assert body["pid"] == node.proc.pid
    assert [a["name"] for a in body["actors"]] == ACTORS
    for actor in body["actors"]:
        assert set(actor) >= {"name", "pid", "state", "restarts", "since"}
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", actor["since"])
