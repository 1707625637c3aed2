"""Integration tests of the configuration store: the
replication actor behind `causeway config get|set|unset|list`, on a real
node (causewayd and every actor), checked the way an administrator would:
through the CLI, the control socket, the alarm list and the database file.
"""
import json
import os
import signal
import sqlite3
import stat

import pytest

from cwtest import Node

NODE_NAME = "vcs-a1"   # distinctive, so a default that follows node.name is visible

DEFAULTS = {
    "call_routing.signaling_optimization": ("off", "cluster"),
    "call_routing.ringing_timeout_s": (120, "cluster"),
    "call_routing.dialog_timeout_s": (14400, "cluster"),
    "call_routing.calls_per_peer": (500, "cluster"),
    "cluster.address_mapping": ([], "cluster"),
    "cluster.address_mapping.enabled": ("off", "cluster"),
    "cluster.ip_version": ("4", "peer"),
    "cluster.name": ("", "peer"),
    "cluster.peers": ([], "peer"),
    "cluster.primary": (1, "peer"),
    "cluster.tls_verify": ("permissive", "peer"),
    "dns.domain": ("", "peer"),
    "dns.hostname": ("", "peer"),
    "dns.servers": ([], "peer"),
    "h323.mode": ("on", "cluster"),
    "h323.ttl_s": (1800, "cluster"),
    "maintenance.mode": ("off", "peer"),
    "ntp.servers": ([], "peer"),
    "sip.domains": ([], "cluster"),
    "sip.mode": ("on", "cluster"),
    "sip.registration.default_expires": (3600, "cluster"),
    "sip.registration.max_expires": (3600, "cluster"),
    "sip.registration.min_expires": (60, "cluster"),
    "sip.registration.room_system_agents": ([], "cluster"),
    "system.name": (NODE_NAME, "peer"),
}
# The web admin's sessions and lockout
DEFAULTS.update({
    "webadmin.session_idle_s": (1800, "cluster"),
    "webadmin.lockout_failures": (5, "cluster"),
    "webadmin.lockout_s": (900, "cluster"),
})
# SIP authentication and the registration policy
DEFAULTS.update({
    "sip.auth.algorithms": ("both", "cluster"),
    "sip.auth.realm": ("", "cluster"),
    "sip.auth.required": ("off", "cluster"),
    "sip.registration.allow": ([], "cluster"),
    "sip.registration.deny": ([], "cluster"),
})
# The external manager (tms actor)
DEFAULTS.update({
    "tms.address": ("", "cluster"),
    "tms.ca_file": ("", "peer"),
    "tms.heartbeat_s": (30, "cluster"),
    "tms.path": ("tms/public/external/management/SystemManagementService.asmx", "cluster"),
    "tms.protocol": ("https", "cluster"),
    "tms.verify_certificate": ("on", "cluster"),
})
# SNMP (the tms actor's AgentX sub-agent)
DEFAULTS.update({
    "snmp.mode": ("off", "cluster"),
    "snmp.community": ("", "cluster"),
    "snmp.agentx_socket": ("/var/agentx/master", "peer"),
})


@pytest.fixture
def cfg(tmp_path):
    n = Node(tmp_path, name=NODE_NAME).start()
    yield n
    n.cleanup()


def ok(node, *args):
    r = node.cli(*args)
    assert r.returncode == 0, "causeway %s -> %d\nstdout: %s\nstderr: %s" % (
        " ".join(map(str, args)), r.returncode, r.stdout, r.stderr)
    return r.stdout


def get(node, key):
    """The value as `causeway config get` prints it (lists comma-separated)."""
    return ok(node, "config", "get", key).strip()


def get_json(node, key):
    return json.loads(ok(node, "--json", "config", "get", key))


def actor_pid(node, name):
    return node.actors()[name]["pid"]


def wait_running_again(node, name, old_pid):
    def back():
        a = node.actors().get(name, {})
        return a.get("state") == "running" and a.get("pid") not in (None, 0, old_pid)
    node.wait_for(back, 15, lambda: "%s did not come back; log:\n%s" % (name, node.read_log()))


# -- defaults ---------------------------------------------------------------

def test_defaults_listed_sorted_with_scope(cfg):
    body = json.loads(ok(cfg, "--json", "config", "list"))
    entries = body["config"]
    keys = [e["key"] for e in entries]
    assert keys == sorted(keys)
    got = {e["key"]: (e["value"], e["scope"]) for e in entries}
    assert got == DEFAULTS
    assert all(e["default"] is True for e in entries)


def test_system_name_defaults_to_node_name(cfg):
    assert get(cfg, "system.name") == NODE_NAME
    assert get_json(cfg, "system.name") == {"key": "system.name", "value": NODE_NAME,
                                            "scope": "peer", "default": True}


def test_list_prefix_human_table(cfg):
    out = ok(cfg, "config", "list", "dns.")
    rows = [line.split()[0] for line in out.splitlines()[1:] if line.strip()]
    assert rows == ["dns.domain", "dns.hostname", "dns.servers"]


# -- set / get of each type ----------------------------------------------------

@pytest.mark.parametrize("key, given, shown, stored", [
    ("h323.ttl_s", "3600", "3600", 3600),                                  # integer range
    ("h323.ttl_s", "60", "60", 60),
    ("maintenance.mode", "on", "on", "on"),                                # boolean
    ("sip.mode", "OFF", "off", "off"),
    ("system.name", "Tokyo VCS 1", "Tokyo VCS 1", "Tokyo VCS 1"),          # string
    ("dns.hostname", "peer-1", "peer-1", "peer-1"),                        # hostname
    ("dns.domain", "example.com", "example.com", "example.com"),           # FQDN
    ("dns.servers", "127.0.1.1,127.0.1.2", "127.0.1.1,127.0.1.2",          # list of IP
     ["127.0.1.1", "127.0.1.2"]),
    ("dns.servers", "2001:DB8::0001", "2001:db8::1", ["2001:db8::1"]),
    ("ntp.servers", "pool.ntp.org, 192.0.2.10", "pool.ntp.org,192.0.2.10",  # list of IP/FQDN
     ["pool.ntp.org", "192.0.2.10"]),
])
def test_set_then_get(cfg, key, given, shown, stored):
    out = ok(cfg, "config", "set", key, given)
    assert key in out
    assert get(cfg, key) == shown
    assert get_json(cfg, key) == {"key": key, "value": stored, "scope": DEFAULTS[key][1],
                                  "default": False}


def test_control_protocol_typed_values(cfg):
    status, body = cfg.call("config.set", {"key": "maintenance.mode", "value": True})
    assert (status, body["value"]) == ("ok", "on"), body
    status, body = cfg.call("config.set", {"key": "h323.ttl_s", "value": 120})
    assert (status, body["value"]) == ("ok", 120), body
    status, body = cfg.call("config.set", {"key": "dns.servers", "value": ["192.0.2.1", "::1"]})
    assert (status, body) == ("ok", {"key": "dns.servers", "value": ["192.0.2.1", "::1"],
                                     "scope": "peer", "default": False})
    status, body = cfg.call("config.get", {"key": "h323.ttl_s"})
    assert (status, body["value"], body["scope"]) == ("ok", 120, "cluster")
    # "" is the empty list
    status, body = cfg.call("config.set", {"key": "dns.servers", "value": ""})
    assert (status, body["value"]) == ("ok", []), body


def test_values_are_in_the_database_tables(cfg):
    ok(cfg, "config", "set", "h323.ttl_s", "3600")
    ok(cfg, "config", "set", "dns.servers", "127.0.1.1,127.0.1.2")
    path = os.path.join(cfg.state_dir, "config.db")
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, "config.db is readable by others"
    db = sqlite3.connect(path)
    db.execute("ATTACH DATABASE ? AS cluster", (os.path.join(cfg.state_dir, "cluster.db"),))
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA cluster.journal_mode").fetchone()[0] == "wal"
        # cluster-scope rows live in cluster.db, the replicated file
        assert db.execute("SELECT value FROM cluster.cluster_config WHERE key='h323.ttl_s'").fetchall() == [("3600",)]
        assert db.execute("SELECT count(*) FROM cluster.cluster_config WHERE key='dns.servers'").fetchone()[0] == 0
        assert db.execute("SELECT value FROM peer_config WHERE key='dns.servers'").fetchall() == \
            [('["127.0.1.1","127.0.1.2"]',)]
        assert db.execute("SELECT count(*) FROM peer_config WHERE key='h323.ttl_s'").fetchone()[0] == 0
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
    finally:
        db.close()


# -- bad values ----------------------------------------------------------------

@pytest.mark.parametrize("key, value, message", [
    ("h323.ttl_s", "5", "h323.ttl_s: 5 is out of range; allowed: integer 60..65534"),
    ("h323.ttl_s", "65535", "h323.ttl_s: 65535 is out of range; allowed: integer 60..65534"),
    ("h323.ttl_s", "soon", "h323.ttl_s: 'soon' is not allowed; allowed: integer 60..65534"),
    ("maintenance.mode", "maybe", "maintenance.mode: 'maybe' is not allowed; allowed: on, off"),
    ("h323.mode", "yes", "h323.mode: 'yes' is not allowed; allowed: on, off"),
    ("dns.servers", "1.2.3.999",
     "dns.servers: '1.2.3.999' is not allowed; allowed: list of at most 5 IP addresses (v4 or v6)"),
    ("dns.servers", "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6", "has 6 items, too many; allowed: list of at most 5"),
    ("dns.servers", "1.1.1.1,1.1.1.1", "'1.1.1.1' is listed twice"),
    ("ntp.servers", "not a host", "ntp.servers: 'not a host' is not allowed; allowed: list of at most 5 IP addresses or domain names"),
    ("dns.hostname", "bad_name", "dns.hostname: 'bad_name' is not allowed; allowed: a host name"),
    ("dns.domain", "localdomain", "dns.domain: 'localdomain' is not allowed; allowed: a fully qualified domain name"),
    ("system.name", "", "system.name: '' is too short; allowed: printable text of 1..63 characters"),
    ("system.name", "x" * 64, "is too long; allowed: printable text of 1..63 characters"),
    ("h323.ttl", "100", "unknown key 'h323.ttl'; did you mean 'h323.ttl_s'?"),
    ("no.such.key", "1", "unknown key 'no.such.key'"),
])
def test_bad_value_refused_and_nothing_changes(cfg, key, value, message):
    real = key if key in DEFAULTS else None
    before = get_json(cfg, real) if real else None
    r = cfg.cli("config", "set", key, value)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    if real:
        assert get_json(cfg, real) == before


def test_bad_value_after_good_keeps_good(cfg):
    ok(cfg, "config", "set", "h323.ttl_s", "900")
    r = cfg.cli("config", "set", "h323.ttl_s", "5")
    assert r.returncode == 1
    assert get(cfg, "h323.ttl_s") == "900"


def test_garbage_does_not_crash_the_actor(cfg):
    pid = actor_pid(cfg, "replication")
    for command, args in [
        ("config.set", {"key": "h323.ttl_s", "value": {"a": 1}}),
        ("config.set", {"key": "h323.ttl_s", "value": None}),
        ("config.set", {"key": ["x"], "value": 1}),
        ("config.set", {"key": "dns.servers", "value": [[1], {"a": None}]}),
        ("config.set", {"key": "system.name", "value": "a\u0000b"}),
        ("config.set", {"key": "dns.servers", "value": "," * 10000}),
        ("config.get", {}),
        ("config.list", {"prefix": 5}),
        ("config.unset", {"key": 3}),
        ("config.nonsense", {}),
    ]:
        status, body = cfg.call(command, args)
        assert status == "error" and body.get("error"), (command, args, body)
    a = cfg.actors()["replication"]
    assert (a["pid"], a["state"]) == (pid, "running")
    assert get(cfg, "h323.ttl_s") == "1800"


# -- unset -------------------------------------------------------------------

def test_unset_returns_to_default(cfg):
    ok(cfg, "config", "set", "dns.servers", "192.0.2.1")
    ok(cfg, "config", "set", "system.name", "renamed")
    out = ok(cfg, "config", "unset", "dns.servers")
    assert "dns.servers" in out
    assert get_json(cfg, "dns.servers") == {"key": "dns.servers", "value": [], "scope": "peer", "default": True}
    ok(cfg, "config", "unset", "system.name")
    assert get(cfg, "system.name") == NODE_NAME
    r = cfg.cli("config", "unset", "bogus.key")
    assert r.returncode == 1 and "unknown key 'bogus.key'" in r.stderr


# -- system.name is the peer of this node's alarms -----------------------------

def alarm(node, alarm_id):
    body = json.loads(ok(node, "--json", "alarms", "list"))
    found = [a for a in body["alarms"] if a["id"] == alarm_id]
    assert found, body
    return found[0]


def test_system_name_is_the_peer_of_new_alarms(cfg):
    ok(cfg, "alarms", "raise", "90002", "before rename")
    assert alarm(cfg, 90002)["peer"] == NODE_NAME
    ok(cfg, "config", "set", "system.name", "vcs-tokyo-1")
    ok(cfg, "alarms", "raise", "90001", "after rename")
    assert alarm(cfg, 90001)["peer"] == "vcs-tokyo-1"


# -- the other actors receive config changes -----------------------------------

# The control socket relays license.* to licensing, tms.* to tms, ...
STATUS = {"licensing": "license.status", "tms": "tms.status",
          "routing": "routing.status", "webadmin": "webadmin.status"}


@pytest.mark.parametrize("name", sorted(STATUS))
def test_actor_sees_config(cfg, name):
    status, body = cfg.call(STATUS[name], {})
    assert status == "ok", body
    assert body["actor"] == name and body["pid"] == actor_pid(cfg, name)
    assert body["config_seen"] >= len(DEFAULTS)      # the retained STATE of every key
    ok(cfg, "config", "set", "maintenance.mode", "on")
    cfg.wait_for(lambda: cfg.call(STATUS[name], {})[1]["config_seen"] > body["config_seen"], 5,
                 "%s did not see config.changed.maintenance.mode" % name)
    status, body = cfg.call(STATUS[name].split(".")[0] + ".nonsense", {})
    assert status == "error" and "unknown command" in body["error"], body


# -- durability --------------------------------------------------------------

def test_acknowledged_set_survives_kill9_of_replication(cfg):
    pid = actor_pid(cfg, "replication")
    ok(cfg, "config", "set", "h323.ttl_s", "4000")
    ok(cfg, "config", "set", "dns.servers", "192.0.2.53")
    os.kill(pid, signal.SIGKILL)           # right after the acknowledgement
    wait_running_again(cfg, "replication", pid)
    assert get(cfg, "h323.ttl_s") == "4000"
    assert get(cfg, "dns.servers") == "192.0.2.53"
    # and it still serves writes
    ok(cfg, "config", "set", "h323.ttl_s", "4001")
    assert get(cfg, "h323.ttl_s") == "4001"


def test_acknowledged_set_survives_kill9_of_the_whole_node(tmp_path):
    n = Node(tmp_path, name=NODE_NAME).start()
    try:
        ok(n, "config", "set", "system.name", "survivor")
        ok(n, "config", "set", "maintenance.mode", "on")
        ok(n, "config", "set", "sip.mode", "off")
        n.kill9()                          # causewayd and every actor, SIGKILL
    finally:
        n.cleanup()
    n2 = Node(tmp_path, name=NODE_NAME).start()
    try:
        assert get(n2, "system.name") == "survivor"
        assert get(n2, "maintenance.mode") == "on"
        assert get(n2, "sip.mode") == "off"
        # the alarms actor learnt the stored name from the startup announcement
        ok(n2, "alarms", "raise", "90003", "after restart")
        assert alarm(n2, 90003)["peer"] == "survivor"
    finally:
        n2.cleanup()
