"""test_supervisor - causewayd as a user sees it: restarts, hangs, restart
intensity and alarm 10001, orderly and disorderly ends, bad bootstrap files,
garbage on the control socket, socket permissions, warm standby processes
(promoted on a restart) and the second delivery of idempotent requests
whose actor died with them in hand.

Run: CAUSEWAY_BIN=build/bin PYTHONPATH=tests/integration \
     /usr/bin/python3 -m pytest -q tests/integration/test_supervisor.py
"""
import json
import os
import re
import signal
import stat
import subprocess
import threading
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


def environ_of(pid):
    """The environment PID was started with ({} if it is gone)."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    return dict(item.decode(errors="replace").split("=", 1)
                for item in data.split(b"\0") if b"=" in item)


def exe_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


def standbys_of(daemon):
    """{pid: actor name} of the children of DAEMON started as standbys and
    still waiting (their command line names the actor)."""
    found = {}
    for pid in children_of(daemon):
        if "CAUSEWAY_STANDBY_FD" not in environ_of(pid):
            continue
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        found[pid] = argv[argv.index("--name") + 1] if "--name" in argv else "?"
    return found


def ready_standby(node, name):
    """NAME's standby pid once causewayd reports it waiting, else None."""
    actor = node.actors().get(name, {})
    if actor.get("state") == "running" and actor.get("standby_pid") and actor.get("standby_ready"):
        return actor["standby_pid"]
    return None


def drop_standby(node, name):
    """Kill NAME's standby so the next restart has to exec (a wrapper that
    crashes at start would otherwise be bypassed by the warm standby)."""
    pid = node.actors()[name].get("standby_pid")
    if pid:
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)


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
        drop_standby(node, "tms")
        os.kill(node.actors()["tms"]["pid"], signal.SIGKILL)
        node.wait_for(lambda: node.actors()["tms"]["state"] == "failed", 20,
                      lambda: "tms not failed; log:\n%s" % node.read_log())
        assert node.actors()["tms"]["pid"] == 0
        assert node.actors()["tms"]["standby_pid"] == 0
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
        drop_standby(node, "tms")
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
        node.wait_for(lambda: all(ready_standby(node, a) for a in ACTORS), 20,
                      lambda: "standbys not ready: %s" % node.actors())
        pids = children_of(daemon)
        actors = node.actors().values()
        # one active and one standby process per actor, nothing else
        assert sorted(pids) == sorted([a["pid"] for a in actors] + [a["standby_pid"] for a in actors])
        assert len(pids) == 2 * len(ACTORS)
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
        node.wait_for(lambda: all(ready_standby(node, a) for a in ACTORS), 20,
                      lambda: "standbys not ready: %s" % node.actors())
        pids = children_of(node.proc.pid)
        assert len(pids) == 2 * len(ACTORS)     # actives and standbys
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


# ---------------------------------------------------------------------------
#  Warm standby

def test_a_standby_waits_for_each_actor_after_startup(node):
    node.wait_for(lambda: all(ready_standby(node, a) for a in ACTORS), 20,
                  lambda: "standbys not ready: %s" % node.actors())
    actors = node.actors()
    standbys = standbys_of(node.proc.pid)
    for name in ACTORS:
        actor = actors[name]
        standby = actor["standby_pid"]
        # a second process of the same executable, marked by CAUSEWAY_STANDBY_FD,
        # not listed as the actor
        assert standbys.get(standby) == name, (name, standbys)
        assert standby != actor["pid"]
        assert exe_of(standby) == exe_of(actor["pid"]) == os.path.join(BIN, "causeway-" + name)
        with open("/proc/%d/cmdline" % standby, "rb") as f:
            standby_argv = f.read()
        with open("/proc/%d/cmdline" % actor["pid"], "rb") as f:
            assert f.read() == standby_argv
        assert "CAUSEWAY_STANDBY_FD" not in environ_of(actor["pid"])
    assert not set(standbys) & {a["pid"] for a in actors.values()}
    # standbys do not serve: every actor still answers as itself
    for name in ACTORS:
        command, args = SERVES[name]
        status, body = node.call(command, args)
        assert status == "ok", (name, body)
    status, body = node.call("tms.status")
    assert body["pid"] == actors["tms"]["pid"]


def test_kill9_promotes_the_standby_and_a_new_standby_appears(node):
    for name in ("tms", "alarms"):
        standby = node.wait_for(lambda: ready_standby(node, name), 20,
                                lambda: "no standby for %s: %s" % (name, node.actors()))
        before = node.actors()
        victim = before[name]
        os.kill(victim["pid"], signal.SIGKILL)
        after = node.wait_for(lambda: running_with_new_pid(node, name, victim["pid"]), 10,
                              lambda: "%s did not come back; log:\n%s" % (name, node.read_log()))
        # the standby became the actor: same pid, one restart counted
        assert after["pid"] == standby
        assert after["restarts"] == victim["restarts"] + 1
        wait_gone(victim["pid"])
        command, args = SERVES[name]
        status, body = node.call(command, args)
        assert status == "ok", (name, body)
        if name == "tms":
            assert body["pid"] == standby
        # a new standby comes up for it
        fresh = node.wait_for(lambda: ready_standby(node, name), 20,
                              lambda: "no new standby for %s: %s" % (name, node.actors()))
        assert fresh not in (standby, victim["pid"])
        assert standbys_of(node.proc.pid).get(fresh) == name
        now = node.actors()
        for other in ACTORS:
            if other != name:
                assert now[other]["pid"] == before[other]["pid"], other


def test_a_standby_that_dies_is_replaced_and_not_counted(node):
    standby = node.wait_for(lambda: ready_standby(node, "routing"), 20)
    before = node.actors()["routing"]
    os.kill(standby, signal.SIGKILL)
    wait_gone(standby)
    node.wait_for(lambda: ready_standby(node, "routing") not in (None, standby)
                          and ready_standby(node, "routing"), 20,
                          lambda: "standby not replaced; log:\n%s" % node.read_log())
    after = node.actors()["routing"]
    assert (after["pid"], after["restarts"], after["state"]) == \
           (before["pid"], before["restarts"], "running")
    assert node.call("routing.status")[0] == "ok"


def test_stopped_actor_has_no_standby_and_gets_one_when_started(node):
    standby = node.wait_for(lambda: ready_standby(node, "webadmin"), 20)
    r = node.cli("actors", "stop", "webadmin")
    assert r.returncode == 0, r.stderr
    node.wait_for(lambda: node.actors()["webadmin"]["state"] == "stopped", 10)
    wait_gone(standby)
    time.sleep(0.3)
    assert node.actors()["webadmin"]["standby_pid"] == 0
    assert "webadmin" not in standbys_of(node.proc.pid).values()
    r = node.cli("actors", "start", "webadmin")
    assert r.returncode == 0, r.stderr
    node.wait_for(lambda: ready_standby(node, "webadmin"), 20)


def test_temporary_actor_has_no_standby(tmp_path):
    specs = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
    specs[ACTORS.index("licensing")]["restart"] = "temporary"
    node = Node(tmp_path, actors=specs).start()
    try:
        node.wait_for(lambda: ready_standby(node, "tms"), 20)
        time.sleep(0.5)
        assert node.actors()["licensing"]["standby_pid"] == 0
        assert "licensing" not in standbys_of(node.proc.pid).values()
    finally:
        node.cleanup()


def test_sigterm_and_sigkill_leave_no_standby(tmp_path):
    for how in (signal.SIGTERM, signal.SIGKILL):
        path = tmp_path / how.name
        path.mkdir()
        node = Node(path).start()
        try:
            node.wait_for(lambda: all(ready_standby(node, a) for a in ACTORS), 20)
            standbys = standbys_of(node.proc.pid)
            assert sorted(standbys.values()) == sorted(ACTORS)
            everything = children_of(node.proc.pid)
            os.kill(node.proc.pid, how)
            node.proc.wait(30)
            # SIGTERM: causewayd reaps everything before it exits;
            # SIGKILL: every process ends by itself within 2 s
            deadline = time.monotonic() + (2.0 if how == signal.SIGKILL else 0)
            while time.monotonic() < deadline and any(pid_alive(p) for p in everything):
                time.sleep(0.02)
            assert not [p for p in everything if pid_alive(p)], how
            if how == signal.SIGTERM:
                assert node.proc.returncode == 0
        finally:
            if how == signal.SIGKILL:
                node.proc = None
                node.log.close()
            node.cleanup()


# ---------------------------------------------------------------------------
#  At-least-once relay

def test_raises_sent_while_alarms_is_killed_are_all_kept(tmp_path):
    """Raises keep flowing while the alarms actor freezes and is killed:
    every one is answered ok (the requests the dead instance had in hand
    are delivered again to the restarted one) and every alarm is listed
    afterwards. (A relaxed heartbeat: a slow sanitizer build on a busy
    machine must not have the restarted instance killed as hung, which
    would be a second death of the same requests.)"""
    node = Node(tmp_path, supervisor={"heartbeat_ms": 1000, "heartbeat_misses": 3}).start()
    try:
        raises_while_killed(node)
    finally:
        node.cleanup()


def raises_while_killed(node):
    node.wait_for(lambda: ready_standby(node, "alarms"), 20)
    victim = node.actors()["alarms"]["pid"]
    dealer = node.ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(node.endpoint)
    ids = list(range(90100, 90400))
    replies = {}
    poller = zmq.Poller()
    poller.register(dealer, zmq.POLLIN)

    def drain(wait_ms):
        while poller.poll(wait_ms):
            frames = dealer.recv_multipart()
            body = json.loads(frames[-1])
            replies[len(replies)] = (frames[-2].decode(), body)
            wait_ms = 0

    for i, alarm_id in enumerate(ids):
        dealer.send_multipart([b"", b"CW1", b"alarms.raise",
                               json.dumps({"id": alarm_id, "detail": "check %d" % i}).encode()])
        if i == 100:
            os.kill(victim, signal.SIGSTOP)     # raises 100..149 stay in its hands
        if i == 150:
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.001)
        drain(0)
    deadline = time.monotonic() + 20
    while len(replies) < len(ids) and time.monotonic() < deadline:
        drain(200)
    dealer.close()
    assert len(replies) == len(ids), (len(replies), node.read_log())
    failed = [body for status, body in replies.values() if status != "ok"]
    assert not failed, failed[:5]
    node.wait_for(lambda: running_with_new_pid(node, "alarms", victim), 10)
    status, body = node.call("alarms.list")
    assert status == "ok", body
    listed = {a["id"] for a in body["alarms"]}
    assert set(ids) <= listed, sorted(set(ids) - listed)[:10]


def test_request_in_hand_of_a_dying_actor(node):
    """replication is frozen (SIGSTOP) with two relayed requests in hand,
    then killed: replication.status, which the actor declares idempotent,
    is answered by the restarted instance; cluster.check, which it does
    not, fails with a clear error."""
    node.wait_for(lambda: ready_standby(node, "replication"), 20)
    victim = node.actors()["replication"]["pid"]
    dealer = node.ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 10000)
    dealer.connect(node.endpoint)
    try:
        os.kill(victim, signal.SIGSTOP)
        dealer.send_multipart([b"", b"CW1", b"replication.status", b"{}"])
        dealer.send_multipart([b"", b"CW1", b"cluster.check", b"{}"])
        time.sleep(0.1)             # relayed to replication, which cannot answer
        os.kill(victim, signal.SIGKILL)
        replies = {}
        for _ in range(2):
            frames = dealer.recv_multipart()
            body = json.loads(frames[-1])
            replies["status" if "mode" in body else "other"] = (frames[-2].decode(), body)
    finally:
        dealer.close()
    node.wait_for(lambda: running_with_new_pid(node, "replication", victim), 10)
    assert replies["other"] == ("error", {"error": "actor 'replication' exited before it "
                                                   "answered 'cluster.check'"}), replies
    status, body = replies["status"]
    assert status == "ok", body
    assert body["mode"] == "single-node"


def test_commands_are_routed_as_the_actors_declare(node):
    """Routes come from the actors' READY: a declared name is routed
    whatever its case; a name no actor declares is unknown even when it
    starts with an actor's name."""
    status, body = node.call("TMS.Status")
    assert status == "ok" and body["actor"] == "tms", body
    status, body = node.call("Config.Get", {"key": "system.name"})
    assert status == "ok" and "value" in body, body
    for command in ("tms.reprovision", "config.frobnicate", "actors.dance"):
        assert node.call(command) == ("error", {"error": "unknown command '%s'" % command})


def test_requests_during_startup_wait_for_the_routes(tmp_path):
    """While the replication actor is still starting (a wrapper delays its
    exec by a second), config.get is held until the actor declares it,
    then answered; an undeclared name is answered "unknown command" once
    every actor has declared."""
    script = tmp_path / "slow-replication"
    script.write_text("#!/bin/sh\nsleep 1\nexec '%s' \"$@\"\n"
                      % os.path.join(BIN, "causeway-replication"))
    script.chmod(0o755)
    specs = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000} for a in ACTORS]
    specs[ACTORS.index("replication")]["path"] = str(script)
    node = Node(tmp_path, actors=specs).start(wait=False)
    try:
        def replication_starting():
            try:
                return node.actors(timeout_ms=500)["replication"]["state"] == "starting"
            except Exception:       # causewayd not listening yet
                return False

        node.wait_for(replication_starting, 5)
        results = {}

        def ask(command, args):
            results[command] = node.call(command, args, timeout_ms=15000)

        threads = [threading.Thread(target=ask, args=("config.get", {"key": "system.name"})),
                   threading.Thread(target=ask, args=("frobnicate", {}))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        status, body = results["config.get"]
        assert status == "ok" and "value" in body, body
        assert results["frobnicate"] == ("error", {"error": "unknown command 'frobnicate'"})
        assert node.actors()["replication"]["state"] == "running"
    finally:
        node.cleanup()


def test_sighup_renews_the_standby_of_a_changed_spec(node):
    node.wait_for(lambda: all(ready_standby(node, a) for a in ACTORS), 20)
    before = node.actors()
    text = open(node.conf).read()
    tms_spec = '{ name = "tms"; restart = "permanent";'
    assert tms_spec in text
    # a changed spec: the old standby goes, a new one comes
    open(node.conf, "w").write(text.replace(tms_spec, '{ name = "tms"; restart = "transient";'))
    node.proc.send_signal(signal.SIGHUP)
    wait_gone(before["tms"]["standby_pid"])
    fresh = node.wait_for(lambda: ready_standby(node, "tms"), 20)
    assert fresh != before["tms"]["standby_pid"]
    after = node.actors()
    for name in ACTORS:
        assert after[name]["pid"] == before[name]["pid"], name
        if name != "tms":       # unchanged specs keep their standby
            assert after[name]["standby_pid"] == before[name]["standby_pid"], name
    # temporary: no standby at all
    open(node.conf, "w").write(text.replace(tms_spec, '{ name = "tms"; restart = "temporary";'))
    node.proc.send_signal(signal.SIGHUP)
    wait_gone(fresh)
    time.sleep(0.3)
    assert node.actors()["tms"]["standby_pid"] == 0
    assert "tms" not in standbys_of(node.proc.pid).values()
    open(node.conf, "w").write(text)
    node.proc.send_signal(signal.SIGHUP)
    node.wait_for(lambda: ready_standby(node, "tms"), 20)
