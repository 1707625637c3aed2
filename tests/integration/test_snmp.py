"""Integration tests of SNMP: the tms actor's AgentX sub-agent behind a real
snmpd, read with the real snmpwalk.

Each test runs its own `snmpd -f -Lo -C -c FILE` (master agentx, an
agentXSocket path the test owns, a loopback port; never the system
daemon) and a node whose snmp.agentx_socket points at that socket. What is
checked, as a monitoring system would see it: the system name and uptime
in CAUSEWAY-MIB (names from etc/CAUSEWAY-MIB.txt); an alarm raised with the
CLI appears in the alarm table and leaves it when cleared; snmp.mode off
serves nothing and v2c serves again; with v2c the community of
snmp.community is written to <runtime_dir>/snmpd.conf, which an snmpd that
includes it serves (and another community is refused), and the tms actor
logs it nowhere; the peer table of a 2-peer cluster.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from cwcluster import make_cluster  # noqa: F401 - the fixture
from cwtest import BIN, HERE, Node

MIB_DIR = os.path.normpath(os.path.join(HERE, "../../etc"))
ROOT = ".1.3.6.1.4.1.32473.1.1"
ADDRESS = "127.0.12.1"
PORT = 16112
COMMUNITY = "cw-snmp-test"
ACTORS = [{"name": a, "restart": "permanent", "shutdown_timeout_ms": 2000}
          for a in ("alarms", "replication", "tms")]

pytestmark = [
    pytest.mark.skipif(not shutil.which("snmpd") or not shutil.which("snmpwalk"),
                       reason="needs snmpd and snmpwalk (tools/setup-deps.sh)"),
]

class Snmpd:
    """Our own snmpd: AgentX master on a socket in a folder of ours."""

    def __init__(self, port=PORT, lines=(), folder=None):
        self.dir = folder or tempfile.mkdtemp(prefix="cwsnmp", dir="/tmp")
        self.socket = os.path.join(self.dir, "agentx")
        self.port = port
        self.conf = os.path.join(self.dir, "snmpd.conf")
        with open(self.conf, "w") as f:
            f.write("agentaddress udp:%s:%d\n" % (ADDRESS, port))
            f.write("master agentx\n")
            f.write("agentXSocket %s\n" % self.socket)
            f.write("agentXPerms 0600 0700\n")
            for line in lines:
                f.write(line + "\n")
        self._spawn()

    def _spawn(self):
        self.log = open(os.path.join(self.dir, "snmpd.log"), "ab")
        # its persistent snmpd.conf apart from ours, which it would overwrite at exit
        env = dict(os.environ, SNMP_PERSISTENT_DIR=os.path.join(self.dir, "persist"), MIBS="")
        self.proc = subprocess.Popen(["snmpd", "-f", "-Lo", "-C", "-c", self.conf, "-M", "/nonexistent",
                                      "-p", os.path.join(self.dir, "pid")],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        Node.wait_for(lambda: os.path.exists(self.socket) or self.proc.poll() is not None, 10,
                      "snmpd made no AgentX socket")
        assert self.proc.poll() is None, self.read_log()

    def restart(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        self.log.close()
        self._spawn()

    def read_log(self):
        with open(os.path.join(self.dir, "snmpd.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

def walk(port=PORT, community=COMMUNITY, oid=ROOT, timeout=2):
    """snmpwalk with CAUSEWAY-MIB's names: {name.index: value}, None when the
    agent did not answer."""
    r = subprocess.run(["snmpwalk", "-v2c", "-c", community, "-t", str(timeout), "-r", "0",
                        "-m", "+CAUSEWAY-MIB", "-M", "+" + MIB_DIR, "-OQst",
                        "%s:%d" % (ADDRESS, port), oid],
                       capture_output=True, text=True, timeout=30)
    if "Timeout" in r.stderr:
        return None
    rows = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(causeway\w+\.\d+) = (.*)$", line)
        if m:
            rows[m.group(1)] = m.group(2).strip().strip('"')
    return rows

def alarm_rows(rows):
    """{alarm id: {column: value}} from a walk."""
    by_index = {}
    for key, value in rows.items():
        m = re.match(r"^causewayAlarm(\w+)\.(\d+)$", key)
        if m:
            by_index.setdefault(m.group(2), {})[m.group(1)] = value
    return {int(r["Id"]): r for r in by_index.values() if "Id" in r}

@pytest.fixture
def snmpd():
    d = Snmpd(lines=["rocommunity %s default" % COMMUNITY])
    yield d
    d.stop()

def serving_node(tmp_path, snmpd, name="peer1"):
    node = Node(tmp_path, name=name, actors=ACTORS).start()
    node.cli("config", "set", "snmp.agentx_socket", snmpd.socket)
    node.cli("config", "set", "snmp.mode", "v2c")
    return node

def test_walk_shows_system_name_uptime_and_alarms(tmp_path, snmpd):
    node = serving_node(tmp_path, snmpd)
    try:
        node.cli("config", "set", "system.name", "snmp-peer-a")
        rows = node.wait_for(lambda: (lambda r: r if r and r.get("causewaySystemName.0") == "snmp-peer-a"
                                      else None)(walk()), 15,
                             lambda: "no causewaySystemName in the walk: %r\n%s" % (walk(), node.read_log()))
        ticks = int(rows["causewayUptime.0"])
        time.sleep(1.1)
        later = int(walk()["causewayUptime.0"])
        assert later >= ticks + 100, (ticks, later)
        # causewayd's own uptime, in hundredths
        assert abs(later - node.call("status")[1]["uptime_s"] * 100) <= 250, later

        assert alarm_rows(rows) == {}
        r = node.cli("alarms", "raise", "90042", "disk /var is 95% full")
        assert r.returncode == 0, r.stderr
        raised = node.wait_for(lambda: alarm_rows(walk() or {}).get(90042), 10,
                               lambda: "alarm 90042 not in the walk: %r" % walk())
        assert raised["Detail"] == "disk /var is 95% full"
        assert raised["Severity"] in ("warning", "2", "error", "3", "info", "1", "critical", "4")
        assert raised["State"] in ("raised", "1")
        assert raised["Peer"] == "snmp-peer-a"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", raised["RaisedAt"]), raised
        assert re.match(r"^[0-9a-f-]{36}$", raised["Uuid"]), raised
        listed = node.call("alarms.list")[1]["alarms"]
        assert [a["uuid"] for a in listed if a["id"] == 90042] == [raised["Uuid"]]

        r = node.cli("alarms", "clear", "90042")
        assert r.returncode == 0, r.stderr
        node.wait_for(lambda: 90042 not in alarm_rows(walk() or {}), 10,
                      lambda: "alarm 90042 still in the walk: %r" % walk())
    finally:
        node.cleanup()

def test_served_again_after_snmpd_restarts(tmp_path, snmpd):
    node = serving_node(tmp_path, snmpd)
    try:
        node.wait_for(lambda: "causewaySystemName.0" in (walk() or {}), 15, "nothing served")
        snmpd.restart()
        node.wait_for(lambda: (walk() or {}).get("causewaySystemName.0") == "peer1", 15,
                      lambda: "not served after snmpd restarted: %r\n%s" % (walk(), snmpd.read_log()))
    finally:
        node.cleanup()

def test_mode_off_serves_nothing(tmp_path, snmpd):
    node = Node(tmp_path, actors=ACTORS).start()
    try:
        node.cli("config", "set", "snmp.agentx_socket", snmpd.socket)
        time.sleep(1.5)
        rows = walk()
        assert rows is not None, "snmpd did not answer: %s" % snmpd.read_log()
        assert rows == {}, rows
        node.cli("config", "set", "snmp.mode", "v2c")
        node.wait_for(lambda: "causewaySystemName.0" in (walk() or {}), 15, "v2c serves nothing")
        node.cli("config", "set", "snmp.mode", "off")
        node.wait_for(lambda: walk() == {}, 10, lambda: "off still serves: %r" % walk())
        node.cli("config", "set", "snmp.mode", "v2c")
        node.wait_for(lambda: "causewaySystemName.0" in (walk() or {}), 10, "v2c again serves nothing")
    finally:
        node.cleanup()

def test_community_file_for_snmpd(tmp_path):
    """snmp.community becomes <runtime_dir>/snmpd.conf; an snmpd that
    includes it serves that community and refuses another; the tms actor
    logs it nowhere."""
    secret = "cw-Community-7f3a"
    node = Node(tmp_path, actors=ACTORS).start()
    master = None
    try:
        path = os.path.join(node.run_dir, "snmpd.conf")
        folder = tempfile.mkdtemp(prefix="cwsnmp", dir="/tmp")
        # the master's socket is known before it runs: the sub-agent connects when it appears
        node.cli("config", "set", "snmp.agentx_socket", os.path.join(folder, "agentx"))
        node.cli("config", "set", "snmp.community", secret)
        # a secret key: shown masked by the CLI and the control protocol
        shown = node.cli("config", "get", "snmp.community").stdout
        assert secret not in shown and "********" in shown, shown
        status, entry = node.call("config.get", {"key": "snmp.community"})
        assert status == "ok" and entry["value"] == "********" and entry["secret"] is True, entry
        listed = node.cli("config", "list", "snmp.").stdout
        assert secret not in listed
        node.cli("config", "set", "snmp.mode", "v2c")
        node.wait_for(lambda: os.path.exists(path) and secret in open(path).read(), 10,
                      "no community in %s" % path)
        assert os.stat(path).st_mode & 0o777 == 0o600
        master = Snmpd(port=PORT + 1, lines=["includeFile %s" % path], folder=folder)
        node.wait_for(lambda: "causewaySystemName.0" in (walk(port=PORT + 1, community=secret) or {}), 15,
                      lambda: "the community of the file is not served: %s" % master.read_log())
        assert walk(port=PORT + 1, community="public", timeout=1) is None
        node.cli("config", "set", "snmp.mode", "v3")
        node.wait_for(lambda: secret not in open(path).read(), 10, "v3 keeps the community")
        node.cli("config", "set", "snmp.mode", "off")
        node.wait_for(lambda: not os.path.exists(path), 10, "off keeps the file")
    finally:
        node.cleanup()
        if master:
            master.stop()
    # no process logs it (the "config set" line of the replication actor masks it)
    with open(node.log_path, "rb") as f:
        lines = f.read().decode(errors="replace").splitlines()
    assert [l for l in lines if "config set key=snmp.community" in l]
    assert not [l for l in lines if secret in l]

def test_peer_table_of_a_two_peer_cluster(make_cluster, snmpd):
    c = make_cluster(2, node_sections={k: {"actors": ACTORS} for k in (1, 2)})
    c.form_guide_way()
    c.ok(1, "config", "set", "snmp.agentx_socket", snmpd.socket)
    c.ok(2, "config", "set", "snmp.agentx_socket", os.path.join(snmpd.dir, "none"))    # no master for peer 2
    c.set(1, "snmp.mode", "v2c")    # cluster scope: set on the primary

    def peers():
        rows = walk() or {}
        table = {}
        for key, value in rows.items():
            m = re.match(r"^causewayPeer(\w+)\.(\d+)$", key)
            if m:
                table.setdefault(int(m.group(2)), {})[m.group(1)] = value
        return table

    def both_seen():
        t = peers()
        return t if (t.get(1, {}).get("State") == "this-system" and t.get(2, {}).get("State") == "active"
                     and t[2].get("SystemName") == "peer2") else None
    table = Node.wait_for(both_seen, 20, lambda: "peer table: %r" % peers())
    assert table[1]["Address"] == c[1].address and table[2]["Address"] == c[2].address
    assert table[1]["SystemName"] == "peer1"
    assert int(table[1]["RttMs"]) == -1 and int(table[2]["RttMs"]) >= 0
    assert int(table[2]["Lag"]) >= 0
    assert c.get(2, "snmp.mode") == "v2c"
