"""test_cli - the `causeway` admin CLI, run as a user runs it.

Usage errors exit 2 and say what is expected; an unreachable daemon exits 3
and names the endpoint (a missing ipc socket, a tcp port nobody listens on);
a failed request exits 1 with "causeway: <message>"; --json prints the reply
body with the contract fields; the endpoint comes from --endpoint, else
$CAUSEWAY_ENDPOINT, else the --config file; tables show every actor;
config/alarms commands round-trip through the real daemon; `alarms watch`
prints the alarm socket's messages until SIGINT.
"""
import json
import os
import re
import select
import signal
import socket
import stat
import subprocess
import time

import pytest

from cwtest import ACTORS, BIN, Node

CLI = os.path.join(BIN, "causeway")


def run(*args, env=None, timeout=30):
    e = dict(os.environ)
    for var in ("CAUSEWAY_ENDPOINT", "CAUSEWAY_SERVER_KEY", "CAUSEWAY_CERT", "CAUSEWAY_ALARM_ENDPOINT"):
        e.pop(var, None)
    if env:
        e.update(env)
    return subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=e)


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- without a daemon -----------------------------------------------------

# A usage error must be found before any connection is tried: the endpoint
# below does not exist, so a command that got as far as sending would exit 3.
NOWHERE = "ipc:///nonexistent-causeway-dir/control"


@pytest.mark.parametrize("args, expected", [
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["actors", "dance"], "unknown command 'actors dance'"),
    (["actors"], "expected one of: list, start, stop, restart"),
    (["actors", "start"], "actors start: missing NAME"),
    (["alarms", "raise", "90001"], "alarms raise: missing DETAIL"),
    (["alarms", "raise", "abc", "disk full"], "alarms raise: ID must be a number 90000-99999"),
    (["alarms", "clear", "9x"], "alarms clear: ID must be a number 90000-99999"),
    (["alarms", "ack"], "alarms ack: missing UUID"),
    (["config", "set", "system.name"], "config set: missing VALUE"),
    (["config", "get", "a", "b"], "config get: unexpected argument 'b'"),
    (["status", "--frob"], "status: unknown option '--frob'"),
    (["--timeout", "soon", "status"], "--timeout must be a positive number"),
    (["--server-key", "x" * 40, "status"], "CURVE needs both"),
])
def test_usage_errors_exit_2_and_say_what_is_expected(args, expected):
    r = run("--endpoint", NOWHERE, *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith("causeway: "), r.stderr
    assert expected in r.stderr
    assert "usage: causeway" in r.stderr
    assert r.stdout == ""


def test_alarm_ids_outside_the_operator_range_are_sent_and_refused_by_the_daemon(node):
    # a numeric id is the daemon's to judge: it refuses it (exit 1, its
    # message), and nothing is raised
    for ident, args in (("10001", ["alarms", "raise", "10001", "x"]),
                        ("89999", ["alarms", "raise", "89999", "x"]),
                        ("100000", ["alarms", "raise", "100000", "x"]),
                        ("20004", ["alarms", "clear", "20004"]),
                        ("-1", ["alarms", "clear", "--", "-1"])):
        r = node.cli(*args)
        assert r.returncode == 1, (args, r.returncode, r.stdout, r.stderr)
        assert r.stderr.startswith("causeway: "), r.stderr
        assert "usage:" not in r.stderr, r.stderr
        assert ident in r.stderr, r.stderr            # the daemon's message names the id
        if ident != "-1":
            assert "outside the operator range 90000-99999" in r.stderr, r.stderr
        assert r.stdout == ""
    alarms = json.loads(node.cli("--json", "alarms", "list").stdout)["alarms"]
    assert not [a for a in alarms if a["id"] in (10001, 89999, 100000)], alarms


def test_usage_error_shows_the_command_usage_line():
    r = run("--endpoint", NOWHERE, "alarms", "raise", "abc", "x")
    assert "usage: causeway alarms raise ID DETAIL" in r.stderr


def test_no_command_is_a_usage_error_listing_commands():
    r = run()
    assert r.returncode == 2
    assert "alarms raise ID DETAIL" in r.stderr


def test_help_lists_every_command_and_command_help_works():
    r = run("help")
    assert r.returncode == 0, r.stderr
    for words in ["status", "actors list", "actors start NAME", "actors stop NAME",
                  "actors restart NAME", "alarms list [--all]", "alarms ack UUID",
                  "alarms raise ID DETAIL", "alarms clear ID", "alarms watch",
                  "config get KEY", "config set KEY VALUE", "config unset KEY",
                  "config list [PREFIX]", "restart", "shutdown", "version", "keygen FILE"]:
        assert words in r.stdout, words
    r = run("alarms", "raise", "--help")
    assert r.returncode == 0
    assert "usage: causeway alarms raise ID DETAIL" in r.stdout
    assert "alarms.raise" in r.stdout
    r = run("help", "config", "set")
    assert r.returncode == 0
    assert "usage: causeway config set KEY VALUE" in r.stdout


def test_missing_ipc_socket_exits_3_quickly_naming_the_endpoint(tmp_path):
    endpoint = "ipc://%s/control" % tmp_path
    start = time.monotonic()
    r = run("--endpoint", endpoint, "status")      # default timeout: 10 s
    assert r.returncode == 3, r.stderr
    assert time.monotonic() - start < 5, "waited for the timeout instead of checking the socket file"
    assert "cannot reach causewayd at %s" % endpoint in r.stderr
    assert "is it running?" in r.stderr


def test_config_file_endpoint_of_a_stopped_node_exits_3(tmp_path):
    node = Node(tmp_path, name="stopped")              # written, never started
    try:
        r = node.cli("status")
        assert r.returncode == 3, r.stderr
        assert node.endpoint in r.stderr
    finally:
        node.cleanup()


def test_tcp_endpoint_nobody_listens_on_exits_3_after_the_timeout():
    endpoint = "tcp://127.0.0.1:%d" % free_tcp_port()
    r = run("--endpoint", endpoint, "--timeout", "300", "actors", "list")
    assert r.returncode == 3, r.stderr
    assert ("causeway: cannot reach causewayd at %s (timed out after 300 ms); is it running?\n"
            % endpoint) == r.stderr


def test_bad_config_file_is_a_usage_error_with_its_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("node: {\n  name = \"x\"\n  type = ;\n};\n")
    r = run("--config", conf, "status")
    assert r.returncode == 2, r.stderr
    assert re.search(re.escape(str(conf)) + r":\d+:", r.stderr), r.stderr
    r = run("--config", tmp_path / "missing.conf", "status")
    assert r.returncode == 2
    assert "missing.conf" in r.stderr


def test_version_without_a_daemon(tmp_path):
    r = run("--endpoint", "ipc://%s/control" % tmp_path, "version")
    assert r.returncode == 0
    assert re.match(r"causeway \d+\.\d+\.\d+\n$", r.stdout), r.stdout


def test_keygen_writes_a_certificate_pair(tmp_path):
    base = tmp_path / "admin.cert"
    r = run("keygen", base)
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert len(key) == 40
    public = base.read_text()
    secret = (tmp_path / "admin.cert_secret").read_text()
    assert 'public-key = "%s"' % key in public
    assert "secret-key" not in public
    assert 'public-key = "%s"' % key in secret and "secret-key" in secret
    assert stat.S_IMODE(os.stat(str(base) + "_secret").st_mode) == 0o600
    # never overwrites a key
    r = run("keygen", base)
    assert r.returncode == 1
    assert "already exists" in r.stderr
    assert (tmp_path / "admin.cert_secret").read_text() == secret


# -- with a running node --------------------------------------------------

ACTOR_FIELDS = {"name", "pid", "state", "restarts", "since"}


def check_actor_list(actors, node):
    by_name = {a["name"]: a for a in actors}
    assert set(ACTORS) <= set(by_name), by_name.keys()
    live = node.actors()
    for name in ACTORS:
        a = by_name[name]
        assert ACTOR_FIELDS <= set(a), a
        assert a["state"] == "running"
        assert isinstance(a["pid"], int) and a["pid"] > 0
        assert a["pid"] == live[name]["pid"]
        assert isinstance(a["restarts"], int)


def test_json_status_and_actors_list_have_the_contract_fields(node):
    r = node.cli("--json", "status")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    check_actor_list(body["actors"], node)

    r = node.cli("actors", "list", "--json")           # global options anywhere
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert list(body) == ["actors"] or "actors" in body
    check_actor_list(body["actors"], node)

    r = node.cli("--json", "--compact", "actors", "list")
    assert r.stdout.count("\n") == 1
    check_actor_list(json.loads(r.stdout)["actors"], node)


def test_status_table_shows_every_actor(node):
    r = node.cli("status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.search(r"^node:\s+peer1$", r.stdout, re.M), r.stdout
    assert re.search(r"^version:\s+\S+", r.stdout, re.M)
    assert re.search(r"^uptime:\s+\S+", r.stdout, re.M)
    header = [l for l in lines if l.startswith("NAME")]
    assert header and header[0].split() == ["NAME", "PID", "STATE", "RESTARTS", "SINCE"]
    live = node.actors()
    for name in ACTORS:
        rows = [l.split() for l in lines if l.split()[:1] == [name]]
        assert rows, "%s missing from:\n%s" % (name, r.stdout)
        assert rows[0][1] == str(live[name]["pid"])
        assert rows[0][2] == "running"

    r = node.cli("actors", "list")
    assert r.returncode == 0
    for name in ACTORS:
        assert re.search(r"^%s\s+%d\s+running\s" % (name, live[name]["pid"]), r.stdout, re.M)


def test_endpoint_precedence(node, tmp_path):
    os.makedirs(str(tmp_path / "ghost"))
    ghost = Node(tmp_path / "ghost", name="ghost")     # a config whose daemon is not running
    try:
        # $CAUSEWAY_ENDPOINT beats the --config file
        r = ghost.cli("status", env={"CAUSEWAY_ENDPOINT": node.endpoint})
        assert r.returncode == 0, r.stderr
        # --endpoint beats $CAUSEWAY_ENDPOINT
        r = ghost.cli("--endpoint", node.endpoint, "status",
                      env={"CAUSEWAY_ENDPOINT": ghost.endpoint})
        assert r.returncode == 0, r.stderr
        r = node.cli("--endpoint", ghost.endpoint, "status",
                     env={"CAUSEWAY_ENDPOINT": node.endpoint})
        assert r.returncode == 3
        assert ghost.endpoint in r.stderr
        # without either, the --config file decides
        r = ghost.cli("status")
        assert r.returncode == 3
        assert ghost.endpoint in r.stderr
        r = node.cli("status")
        assert r.returncode == 0, r.stderr
    finally:
        ghost.cleanup()


def test_failed_requests_exit_1_with_the_message(node):
    r = node.cli("actors", "restart", "no-such-actor")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith("causeway: ")
    assert "no-such-actor" in r.stderr
    r = node.cli("config", "set", "h323.ttl_s", "5")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith("causeway: ") and "h323.ttl_s" in r.stderr
    r = node.cli("config", "get", "no.such.key")
    assert r.returncode == 1
    assert "no.such.key" in r.stderr


def test_config_set_get_list_unset(node):
    r = node.cli("config", "get", "system.name")
    assert (r.returncode, r.stdout) == (0, "peer1\n"), r.stderr
    r = node.cli("config", "set", "system.name", "edge-tokyo")
    assert r.returncode == 0, r.stderr
    assert node.cli("config", "get", "system.name").stdout == "edge-tokyo\n"

    # lists are written and shown comma-separated, and are arrays in JSON
    r = node.cli("config", "set", "dns.servers", "192.0.2.1,192.0.2.2")
    assert r.returncode == 0, r.stderr
    assert node.cli("config", "get", "dns.servers").stdout == "192.0.2.1,192.0.2.2\n"
    body = json.loads(node.cli("--json", "config", "get", "dns.servers").stdout)
    assert {k: body[k] for k in ("key", "value", "scope")} == \
        {"key": "dns.servers", "value": ["192.0.2.1", "192.0.2.2"], "scope": "peer"}

    # numbers given as strings
    assert node.cli("config", "set", "h323.ttl_s", "600").returncode == 0
    body = json.loads(node.cli("--json", "config", "get", "h323.ttl_s").stdout)
    assert body["value"] == 600 and body["scope"] == "cluster"

    r = node.cli("config", "list")
    assert r.returncode == 0, r.stderr
    rows = {l.split()[0]: l.split()[1:] for l in r.stdout.splitlines() if l.strip()}
    assert rows["KEY"] == ["VALUE", "SCOPE"]
    assert rows["system.name"] == ["edge-tokyo", "peer"]
    assert rows["dns.servers"] == ["192.0.2.1,192.0.2.2", "peer"]
    assert rows["h323.ttl_s"] == ["600", "cluster"]
    r = node.cli("config", "list", "dns.")
    keys = [l.split()[0] for l in r.stdout.splitlines()[1:] if l.strip()]
    assert "dns.servers" in keys and all(k.startswith("dns.") for k in keys), keys

    assert node.cli("config", "unset", "system.name").returncode == 0
    assert node.cli("config", "get", "system.name").stdout == "peer1\n"


def test_alarms_raise_list_ack_clear(node):
    r = node.cli("alarms", "raise", "90042", "disk /var is 95% full")
    assert r.returncode == 0, r.stderr

    r = node.cli("alarms", "list")
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split()
    assert header == ["ID", "SEVERITY", "STATE", "PEER", "RAISED", "UUID", "TITLE/DETAIL"]
    row = [l for l in r.stdout.splitlines() if l.startswith("90042 ")]
    assert row and "raised" in row[0] and "disk /var is 95% full" in row[0], r.stdout

    alarms = json.loads(node.cli("--json", "alarms", "list").stdout)["alarms"]
    mine = [a for a in alarms if a["id"] == 90042]
    assert len(mine) == 1 and mine[0]["state"] == "raised"
    uuid = mine[0]["uuid"]
    assert uuid in row[0]

    assert node.cli("alarms", "ack", uuid).returncode == 0
    alarms = json.loads(node.cli("--json", "alarms", "list").stdout)["alarms"]
    assert [a["state"] for a in alarms if a["id"] == 90042] == ["acknowledged"]

    assert node.cli("alarms", "clear", "90042").returncode == 0
    alarms = json.loads(node.cli("--json", "alarms", "list").stdout)["alarms"]
    assert not [a for a in alarms if a["id"] == 90042]
    alarms = json.loads(node.cli("--json", "alarms", "list", "--all").stdout)["alarms"]
    assert [a["state"] for a in alarms if a["uuid"] == uuid] == ["cleared"]


class Lines:
    """Reads lines from a process's stdout with a timeout."""

    def __init__(self, proc):
        self.proc = proc
        self.buf = b""

    def until(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                line = line.decode()
                if predicate(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching line from alarms watch")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError("alarms watch exited: %s" % self.proc.stderr.read())
                self.buf += chunk


@pytest.mark.parametrize("as_json", [False, True])
def test_alarms_watch_prints_messages_until_sigint(node, as_json):
    assert node.cli("alarms", "raise", "90007", "backup overdue").returncode == 0
    args = [CLI, "--config", node.conf] + (["--json"] if as_json else []) + ["alarms", "watch"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = Lines(proc)
        # a late subscriber is sent the present: the raised alarm
        line = lines.until(lambda l: l.startswith("alarm.raised.90007"))
        if as_json:
            topic, body = line.split(" ", 1)
            alarm = json.loads(body)
            assert alarm["id"] == 90007 and alarm["state"] == "raised"
            assert alarm["detail"] == "backup overdue"
        else:
            assert "backup overdue" in line and "raised" in line
        assert node.cli("alarms", "clear", "90007").returncode == 0
        line = lines.until(lambda l: l.startswith("alarm.cleared.90007"))
        if as_json:
            assert json.loads(line.split(" ", 1)[1])["state"] == "cleared"
        lines.until(lambda l: l.startswith("heartbeat"))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_alarms_watch_missing_socket_exits_3(tmp_path):
    endpoint = "ipc://%s/alarms" % tmp_path
    r = run("alarms", "watch", "--alarm-endpoint", endpoint)
    assert r.returncode == 3
    assert endpoint in r.stderr


def test_actors_restart_gives_a_new_pid(node):
    before = node.actors()["webadmin"]["pid"]
    r = node.cli("actors", "restart", "webadmin")
    assert r.returncode == 0, r.stderr
    node.wait_for(lambda: node.actors()["webadmin"]["state"] == "running"
                  and node.actors()["webadmin"]["pid"] != before, 10, "webadmin did not come back")
    assert node.actors()["alarms"]["state"] == "running"


def test_version_reports_both(node):
    r = node.cli("version")
    assert r.returncode == 0, r.stderr
    assert re.match(r"causeway \d+\.\d+\.\d+\ncausewayd \d+\.\d+\.\d+\n$", r.stdout), r.stdout
    body = json.loads(node.cli("--json", "version").stdout)
    assert body["cli"] and body["daemon"] == body["cli"]


def test_shutdown_stops_the_daemon(node):
    r = node.cli("shutdown")
    assert r.returncode == 0, r.stderr
    assert node.proc.wait(20) == 0
    r = node.cli("--timeout", "500", "status")
    assert r.returncode == 3


def test_curve_control_with_keygen_certificates(tmp_path):
    """keygen writes a client certificate; its public part in
    authorized_keys_dir lets the CLI in over CURVE; an unknown key does not."""
    keys = tmp_path / "authorized"
    keys.mkdir()
    r = run("keygen", tmp_path / "admin.cert")
    assert r.returncode == 0, r.stderr
    (keys / "admin.cert").write_text((tmp_path / "admin.cert").read_text())
    assert run("keygen", tmp_path / "stranger.cert").returncode == 0

    endpoint = "tcp://127.0.0.1:%d" % free_tcp_port()
    node = Node(tmp_path, control={"curve_endpoint": endpoint, "authorized_keys_dir": str(keys)})
    try:
        node.start()
        server_cert = os.path.join(node.state_dir, "control-curve.cert")
        server_key = re.search(r'public-key = "(.{40})"', open(server_cert).read()).group(1)

        r = run("--endpoint", endpoint, "--server-key", server_key,
                "--cert", str(tmp_path / "admin.cert_secret"), "--json", "actors", "list")
        assert r.returncode == 0, r.stderr
        assert {a["name"] for a in json.loads(r.stdout)["actors"]} >= set(ACTORS)
        # the same through the environment
        r = run("status", env={"CAUSEWAY_ENDPOINT": endpoint, "CAUSEWAY_SERVER_KEY": server_key,
                               "CAUSEWAY_CERT": str(tmp_path / "admin.cert")})
        assert r.returncode == 0, r.stderr

        r = run("--endpoint", endpoint, "--server-key", server_key, "--timeout", "500",
                "--cert", str(tmp_path / "stranger.cert_secret"), "status")
        assert r.returncode == 3
        assert endpoint in r.stderr
        r = run("--endpoint", endpoint, "--timeout", "500", "status")     # no CURVE at all
        assert r.returncode == 3
    finally:
        node.cleanup()
