"""test_cli_cluster - the clustering commands of the `causeway` CLI.

Three kinds of tests:

- Without any daemon: every new command's bad arguments are usage errors
  (exit 2, "causeway: WORDS: what is expected", the usage line, nothing on
  stdout, no connection tried: the endpoint does not exist), and
  `COMMAND --help` prints each usage line and its control command.
- Against a fake causewayd (a ZeroMQ ROUTER in this process speaking the
  CW1 control protocol, recording every request and answering canned
  bodies of the documented contract): the exact control command and JSON
  arguments of every command, and how each reply is printed (cluster
  status table and factory-reset banner, status's cluster line, token
  alone, FQDN=IP lines, diff table, check problems with their fixes and
  exit 1, alarms of every peer with the unreachable note, backup paths and
  passphrases, dns records / firewall rules from cluster.status and
  config.list with the ports of the bootstrap file). Also the passphrase
  typed on a terminal (a pty): asked twice without echo.
- Against real nodes: a
  cluster of one formed the guide's way, then `dns records`,
  `firewall rules`, `cluster status` and `status`; backup create/restore
  where the passphrase never shows in the CLI's output, the node's log
  (at debug level) or the backup file.
"""
import json
import os
import pty
import re
import select
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
import zmq

from cwtest import BIN, Node
from cwcluster import make_cluster  # noqa: F401 - pytest fixture

CLI = os.path.join(BIN, "causeway")
NOWHERE = "ipc:///nonexistent-causeway-dir/control"
PASSPHRASE = "correct horse battery staple 7Qx!"


def run(*args, env=None, cwd=None, timeout=30, stdin=subprocess.DEVNULL):
    e = dict(os.environ)
    for var in ("CAUSEWAY_ENDPOINT", "CAUSEWAY_SERVER_KEY", "CAUSEWAY_CERT",
                "CAUSEWAY_ALARM_ENDPOINT", "CAUSEWAY_BACKUP_PASSPHRASE"):
        e.pop(var, None)
    if env:
        e.update(env)
    return subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=cwd, stdin=stdin)


# -- a fake causewayd --------------------------------------------------------

class FakeDaemon:
    """A control endpoint that records (command, args) and answers from
    REPLIES: command -> (status, body); anything else gets the error a
    daemon without the command would give."""

    def __init__(self, replies=None):
        self.dir = tempfile.mkdtemp(prefix="cwfake", dir="/tmp")
        self.endpoint = "ipc://%s/control" % self.dir
        self.replies = dict(replies or {})
        self.requests = []
        self._stop = False
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(5), "fake daemon did not bind"

    def _serve(self, ready):
        sock = zmq.Context.instance().socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(self.endpoint)
        ready.set()
        try:
            while not self._stop:
                if not sock.poll(50):
                    continue
                frames = sock.recv_multipart()
                envelope, (signature, command, args) = frames[:-3], frames[-3:]
                command = command.decode()
                self.requests.append((command, json.loads(args)))
                status, body = self.replies.get(
                    command, ("error", {"error": "unknown command '%s'" % command}))
                sock.send_multipart(envelope + [signature, status.encode(), json.dumps(body).encode()])
        finally:
            sock.close()

    def cli(self, *args, **kw):
        return run("--endpoint", self.endpoint, *args, **kw)

    def close(self):
        self._stop = True
        self._thread.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def fake():
    daemons = []

    def make(replies=None):
        d = FakeDaemon(replies)
        daemons.append(d)
        return d
    yield make
    for d in daemons:
        d.close()


def peer(index, address, name, state, certificate="ok", rtt=0.42, applied=17, lag=0,
         maintenance=False, type_="core"):
    return {"index": index, "address": address, "system_name": name, "state": state,
            "certificate": certificate, "rtt_ms": rtt, "applied_seq": applied, "lag": lag,
            "version": "0.3.0", "type": type_, "maintenance": maintenance}


CLUSTER_STATUS = {
    "name": "cluster1.example.com", "primary": 1, "this_peer": 2, "ip_version": 4,
    "tls_verify": "permissive",
    "address_mapping": {"enabled": True, "mappings": ["peer3.example.com=127.0.1.3"]},
    "database": "active", "factory_reset_pending": False,
    "peers": [peer(1, "127.0.1.1", "tokyo", "active", "not verified (permissive)", 0.42),
              peer(2, "127.0.1.2", "osaka", "this-system", "ok", None),
              peer(3, "peer3.example.com", "kyoto", "failed", "unknown", None, 12, 5, True)],
}
CONFIG_LIST = {"config": [{"key": "dns.hostname", "value": "osaka", "scope": "peer"},
                          {"key": "dns.domain", "value": "example.com", "scope": "peer"},
                          {"key": "system.name", "value": "osaka", "scope": "peer"}]}


# -- usage errors, before any connection ---------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["cluster"], "expected one of: status, form, token, join, add, remove, set-primary"),
    (["cluster", "frob"], "unknown command 'cluster frob'"),
    (["cluster", "status", "extra"], "cluster status: unexpected argument 'extra'"),
    (["cluster", "status", "--all"], "cluster status: unknown option '--all'"),
    (["cluster", "form", "--ip-version", "5"], "cluster form: --ip-version must be 4 or 6, not '5'"),
    (["cluster", "form", "--ip-version"], "cluster form: --ip-version needs a value"),
    (["cluster", "form", "--tls-verify", "strict"],
     "cluster form: --tls-verify must be permissive or enforce, not 'strict'"),
    (["cluster", "form", "cluster1.example.com"], "cluster form: unexpected argument"),
    (["cluster", "token"], "cluster token: missing ADDRESS"),
    (["cluster", "token", "127.0.1.2", "--ttl", "soon"],
     "cluster token: --ttl must be a positive number, not 'soon'"),
    (["cluster", "token", "127.0.1.2", "--ttl", "0"], "cluster token: --ttl must be a positive number"),
    (["cluster", "token", "127.0.1.2", "--ttl", "-5"], "cluster token: --ttl must be a positive number"),
    (["cluster", "join", "127.0.1.1"], "cluster join: missing TOKEN"),
    (["cluster", "join"], "cluster join: missing PRIMARY"),
    (["cluster", "add"], "cluster add: missing ADDRESS"),
    (["cluster", "add", "a", "b"], "cluster add: unexpected argument 'b'"),
    (["cluster", "remove"], "cluster remove: missing ADDRESS"),
    (["cluster", "remove", "127.0.1.3", "--dead=yes"], "cluster remove: --dead takes no value"),
    (["cluster", "set-primary"], "cluster set-primary: missing N"),
    (["cluster", "set-primary", "0"], "cluster set-primary: N must be a peer index 1-6, not '0'"),
    (["cluster", "set-primary", "7"], "cluster set-primary: N must be a peer index 1-6, not '7'"),
    (["cluster", "set-primary", "two"], "cluster set-primary: N must be a peer index 1-6, not 'two'"),
    (["cluster", "set-primary", "1.5"], "cluster set-primary: N must be a peer index 1-6"),
    (["cluster", "replace", "127.0.1.2"], "cluster replace: missing NEW"),
    (["cluster", "disband", "now"], "cluster disband: unexpected argument 'now'"),
    (["cluster", "disband", "--reset"], "cluster disband: unknown option '--reset'"),
    (["cluster", "suggest-mappings", "--apply=1"], "cluster suggest-mappings: --apply takes no value"),
    (["cluster", "use-fqdns", "x"], "cluster use-fqdns: unexpected argument 'x'"),
    (["cluster", "enforce-tls", "--force"], "cluster enforce-tls: unknown option '--force'"),
    (["cluster", "force-config-update", "x"], "cluster force-config-update: unexpected argument 'x'"),
    (["cluster", "diff", "127.0.1.1"], "cluster diff: give both A and B, or neither"),
    (["cluster", "diff", "a", "b", "c"], "cluster diff: unexpected argument 'c'"),
    (["cluster", "check", "x"], "cluster check: unexpected argument 'x'"),
    (["xcommand"], "expected one of: ForceConfigUpdate"),
    (["xcommand", "Reboot"], "unknown command 'xcommand Reboot'"),
    (["alarms", "list", "--cluster=yes"], "alarms list: --cluster takes no value"),
    (["alarms", "raise", "9000l", "x"], "alarms raise: ID must be a number"),
    (["config", "set", "h323.ttl_s", "5", "--wait=1"], "config set: --wait takes no value"),
    (["config", "set", "h323.ttl_s", "--force"], "config set: missing VALUE"),
    (["backup"], "expected one of: create, restore"),
    (["backup", "create"], "backup create: missing FILE"),
    (["backup", "restore"], "backup restore: missing FILE"),
    (["backup", "create", "f", "--passphrase-file"], "backup create: --passphrase-file needs a value"),
    (["dns"], "expected one of: records, check"),
    (["dns", "records", "--ttl", "0"], "dns records: --ttl must be a positive number, not '0'"),
    (["dns", "records", "--ttl", "1h"], "dns records: --ttl must be a positive number, not '1h'"),
    (["dns", "records", "example.com"], "dns records: unexpected argument 'example.com'"),
    (["dns", "check"], "dns check: missing DOMAIN"),
    (["dns", "check", "exa mple.com"], "dns check: DOMAIN must be a DNS domain"),
    (["dns", "check", "192.0.2.1"], "dns check: DOMAIN must be a DNS domain"),
    (["dns", "check", "example.com", "--server", "dns.example.com"],
     "dns check: --server must be IP, IP:PORT or [IPv6]:PORT"),
    (["dns", "check", "example.com", "--server", "127.0.0.1:70000"], "dns check: --server must be"),
    (["dns", "check", "example.com", "--server", "[::1]"], "dns check: --server must be"),
    (["firewall"], "expected one of: rules"),
    (["firewall", "rules", "--ipv6"], "firewall rules: unknown option '--ipv6'"),
])
def test_usage_errors_exit_2_and_say_what_is_expected(args, expected):
    r = run("--endpoint", NOWHERE, *args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("causeway: "), r.stderr
    assert expected in r.stderr, r.stderr
    assert "usage: causeway" in r.stderr
    assert r.stdout == ""


def test_a_usage_error_shows_the_usage_line_of_the_command():
    r = run("--endpoint", NOWHERE, "cluster", "form", "--ip-version", "5")
    assert ("usage: causeway cluster form [--name FQDN] [--ip-version 4|6] "
            "[--tls-verify permissive|enforce]") in r.stderr
    r = run("--endpoint", NOWHERE, "cluster", "diff", "x")
    assert "usage: causeway cluster diff [A B]" in r.stderr


def test_valid_arguments_get_as_far_as_the_connection():
    # the counterpart of the usage errors: these reach for the endpoint (exit 3)
    for args in (["cluster", "set-primary", "6"], ["cluster", "form", "--ip-version=6"],
                 ["cluster", "token", "peer2.example.com", "--ttl", "60"], ["cluster", "diff"],
                 ["xcommand", "FORCECONFIGUPDATE"], ["dns", "check", "example.com", "--server",
                                                    "[::1]:5353"],
                 ["alarms", "raise", "10001", "x"], ["alarms", "list", "--cluster", "--all"]):
        r = run("--endpoint", NOWHERE, *args)
        assert r.returncode == 3, (args, r.returncode, r.stderr)
        assert NOWHERE in r.stderr


HELP = [
    (["cluster", "status"], "causeway cluster status", "cluster.status"),
    (["cluster", "form"], "causeway cluster form [--name FQDN] [--ip-version 4|6] "
                          "[--tls-verify permissive|enforce]", "cluster.form"),
    (["cluster", "token"], "causeway cluster token ADDRESS [--ttl S]", "cluster.token"),
    (["cluster", "join"], "causeway cluster join PRIMARY TOKEN", "cluster.join"),
    (["cluster", "add"], "causeway cluster add ADDRESS", "cluster.add"),
    (["cluster", "remove"], "causeway cluster remove ADDRESS [--dead]", "cluster.remove"),
    (["cluster", "set-primary"], "causeway cluster set-primary N", "cluster.set_primary"),
    (["cluster", "replace"], "causeway cluster replace OLD NEW", "cluster.replace"),
    (["cluster", "disband"], "causeway cluster disband [--reset-primary]", "cluster.disband"),
    (["cluster", "suggest-mappings"], "causeway cluster suggest-mappings [--apply]",
     "cluster.suggest_mappings"),
    (["cluster", "use-fqdns"], "causeway cluster use-fqdns", "cluster.use_fqdns"),
    (["cluster", "enforce-tls"], "causeway cluster enforce-tls", "cluster.enforce_tls"),
    (["cluster", "force-config-update"], "causeway cluster force-config-update",
     "cluster.force_config_update"),
    (["xcommand", "ForceConfigUpdate"], "causeway xcommand ForceConfigUpdate",
     "cluster.force_config_update"),
    (["cluster", "diff"], "causeway cluster diff [A B]", "cluster.diff"),
    (["cluster", "check"], "causeway cluster check", "cluster.check"),
    (["alarms", "list"], "causeway alarms list [--all] [--cluster]", "alarms.list"),
    (["config", "set"], "causeway config set KEY VALUE [--wait] [--force]", "config.set"),
    (["backup", "create"], "causeway backup create FILE [--passphrase-file F]", "backup.create"),
    (["backup", "restore"], "causeway backup restore FILE [--passphrase-file F]", "backup.restore"),
    (["dns", "records"], "causeway dns records [--ttl N]", None),
    (["dns", "check"], "causeway dns check DOMAIN [--server IP:PORT]", None),
    (["firewall", "rules"], "causeway firewall rules", None),
]


@pytest.mark.parametrize("words, usage, wire", HELP)
def test_help_of_each_command(words, usage, wire):
    r = run(*words, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: %s\n" % usage), r.stdout
    if wire:
        assert "Control command: %s\n" % wire in r.stdout
    r = run("help", *words)
    assert r.returncode == 0 and r.stdout.startswith("usage: %s\n" % usage)
    r = run("help")
    assert usage[len("causeway "):] in r.stdout


def test_help_of_the_groups_lists_their_commands():
    r = run("help", "cluster")
    assert r.returncode == 0
    for words in ("status", "form", "token ADDRESS", "join PRIMARY TOKEN", "add ADDRESS",
                  "remove ADDRESS [--dead]", "set-primary N", "replace OLD NEW", "disband",
                  "suggest-mappings", "use-fqdns", "enforce-tls", "force-config-update",
                  "diff [A B]", "check"):
        assert "cluster " + words in r.stdout, words
    for flag in ("--cluster", "--wait", "--force", "--passphrase-file", "--ttl", "--server"):
        assert flag in run("help").stdout


# -- the wire mapping, against a fake daemon ------------------------------------

OK_REPLIES = {
    "cluster.status": ("ok", CLUSTER_STATUS),
    "cluster.check": ("ok", {"ok": True, "problems": [], "checked": ["node type"]}),
    "cluster.token": ("ok", {"token": "cwt1.abc"}),
    "cluster.suggest_mappings": ("ok", {"mappings": []}),
    "cluster.diff": ("ok", {"differences": []}),
    "cluster.alarms": ("ok", {"alarms": [], "unreachable": []}),
    "alarms.list": ("ok", {"alarms": []}),
    "alarms.raise": ("error", {"error": "alarm id 10001 is outside the operator range 90000-99999"}),
    "config.set": ("ok", {"key": "h323.ttl_s", "value": 60, "scope": "cluster"}),
}
for _wire in ("cluster.form", "cluster.join", "cluster.add", "cluster.remove", "cluster.set_primary",
              "cluster.replace", "cluster.disband", "cluster.use_fqdns", "cluster.enforce_tls",
              "cluster.force_config_update"):
    OK_REPLIES[_wire] = ("ok", {})


@pytest.mark.parametrize("args, wire, sent", [
    (["cluster", "status"], "cluster.status", {}),
    (["cluster", "form"], "cluster.form", {}),
    (["cluster", "form", "--name", "cluster1.example.com", "--ip-version", "6", "--tls-verify", "enforce"],
     "cluster.form", {"name": "cluster1.example.com", "ip_version": 6, "tls_verify": "enforce"}),
    (["cluster", "form", "--ip-version=4"], "cluster.form", {"ip_version": 4}),
    (["cluster", "token", "127.0.1.2"], "cluster.token", {"address": "127.0.1.2"}),
    (["cluster", "token", "127.0.1.2", "--ttl", "600"], "cluster.token",
     {"address": "127.0.1.2", "ttl_s": 600}),
    (["cluster", "join", "127.0.1.1", "cwt1.abc"], "cluster.join",
     {"primary": "127.0.1.1", "token": "cwt1.abc"}),
    (["cluster", "add", "127.0.1.4"], "cluster.add", {"address": "127.0.1.4"}),
    (["cluster", "remove", "127.0.1.4"], "cluster.remove", {"address": "127.0.1.4", "dead": False}),
    (["cluster", "remove", "--dead", "127.0.1.4"], "cluster.remove", {"address": "127.0.1.4", "dead": True}),
    (["cluster", "set-primary", "2"], "cluster.set_primary", {"index": 2}),
    (["cluster", "replace", "127.0.1.2", "127.0.1.5"], "cluster.replace",
     {"old": "127.0.1.2", "new": "127.0.1.5"}),
    (["cluster", "disband"], "cluster.disband", {"reset_primary": False}),
    (["cluster", "disband", "--reset-primary"], "cluster.disband", {"reset_primary": True}),
    (["cluster", "suggest-mappings"], "cluster.suggest_mappings", {"apply": False}),
    (["cluster", "suggest-mappings", "--apply"], "cluster.suggest_mappings", {"apply": True}),
    (["cluster", "use-fqdns"], "cluster.use_fqdns", {}),
    (["cluster", "enforce-tls"], "cluster.enforce_tls", {}),
    (["cluster", "force-config-update"], "cluster.force_config_update", {}),
    (["xcommand", "ForceConfigUpdate"], "cluster.force_config_update", {}),
    (["xcommand", "forceconfigupdate"], "cluster.force_config_update", {}),
    (["cluster", "diff"], "cluster.diff", {}),
    (["cluster", "diff", "127.0.1.1", "127.0.1.2"], "cluster.diff", {"a": "127.0.1.1", "b": "127.0.1.2"}),
    (["cluster", "check"], "cluster.check", {}),
    (["alarms", "list", "--cluster"], "cluster.alarms", {"all": False}),
    (["alarms", "list", "--cluster", "--all"], "cluster.alarms", {"all": True}),
    (["alarms", "list"], "alarms.list", {"all": False}),
    (["config", "set", "h323.ttl_s", "60"], "config.set", {"key": "h323.ttl_s", "value": "60"}),
    (["config", "set", "h323.ttl_s", "60", "--wait"], "config.set",
     {"key": "h323.ttl_s", "value": "60", "wait": True}),
    (["config", "set", "--force", "h323.ttl_s", "60"], "config.set",
     {"key": "h323.ttl_s", "value": "60", "force": True}),
    (["config", "set", "h323.ttl_s", "60", "--wait", "--force"], "config.set",
     {"key": "h323.ttl_s", "value": "60", "wait": True, "force": True}),
])
def test_each_command_sends_its_control_command_and_arguments(fake, args, wire, sent):
    d = fake(OK_REPLIES)
    r = d.cli(*args)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert d.requests == [(wire, sent)]


def test_numeric_alarm_ids_outside_the_range_are_sent_and_the_refusal_shown(fake):
    d = fake(OK_REPLIES)
    r = d.cli("alarms", "raise", "10001", "disk full")
    assert r.returncode == 1
    assert r.stderr == "causeway: alarm id 10001 is outside the operator range 90000-99999\n"
    assert d.requests == [("alarms.raise", {"id": 10001, "detail": "disk full"})]


def test_a_refused_cluster_command_exits_1_with_the_daemons_message(fake):
    d = fake({"cluster.set_primary": ("error", {"error": "peer 5 is not in the peer list (3 peers)"}),
              "cluster.enforce_tls": ("error", {"error": "peer 2 (127.0.1.2): certificate SAN "
                                                         "does not contain peer2.example.com"})})
    r = d.cli("cluster", "set-primary", "5")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "causeway: peer 5 is not in the peer list (3 peers)\n"
    r = d.cli("cluster", "enforce-tls")
    assert r.returncode == 1 and "peer2.example.com" in r.stderr
    # a daemon without the command at all
    r = d.cli("cluster", "use-fqdns")
    assert r.returncode == 1 and "cluster.use_fqdns" in r.stderr


# -- output ------------------------------------------------------------------

def table(stdout, header_first):
    """The rows (lists of cells split on 2+ spaces) of the table whose
    header starts with HEADER_FIRST, header included."""
    lines = stdout.splitlines()
    start = [i for i, l in enumerate(lines) if l.startswith(header_first + " ")]
    assert start, "no table with %s in:\n%s" % (header_first, stdout)
    rows = []
    for line in lines[start[0]:]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def test_cluster_status_table(fake):
    d = fake(OK_REPLIES)
    r = d.cli("cluster", "status")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for label, value in (("cluster name", "cluster1.example.com"), ("primary", "1"), ("this peer", "2"),
                         ("IP version", "4"), ("TLS mode", "permissive"),
                         ("address mapping", "on: peer3.example.com=127.0.1.3"), ("database", "active")):
        assert re.search(r"^%s:\s+%s$" % (re.escape(label), re.escape(value)), out, re.M), (label, out)
    assert "FACTORY RESET" not in out
    rows = table(out, "INDEX")
    assert rows[0] == ["INDEX", "ADDRESS", "SYSTEM-NAME", "STATE", "CERTIFICATE", "RTT(ms)", "APPLIED",
                       "LAG", "VERSION", "TYPE", "MAINT"]
    assert rows[1] == ["1", "127.0.1.1", "tokyo", "active", "not verified (permissive)", "0.42", "17",
                       "0", "0.3.0", "core", "off"]
    assert rows[2] == ["2", "127.0.1.2", "osaka", "this-system", "ok", "-", "17", "0", "0.3.0", "core", "off"]
    assert rows[3] == ["3", "peer3.example.com", "kyoto", "failed", "unknown", "-", "12", "5", "0.3.0",
                       "core", "on"]
    assert len(rows) == 4
    assert d.requests == [("cluster.status", {})]


def test_cluster_status_json_is_the_body(fake):
    d = fake(OK_REPLIES)
    r = d.cli("cluster", "status", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout) == CLUSTER_STATUS


def test_cluster_status_factory_reset_banner_and_no_peers(fake):
    body = dict(CLUSTER_STATUS, factory_reset_pending=True, peers=[], this_peer=0,
                address_mapping={"enabled": False, "mappings": ["a.example.com=192.0.2.1"]})
    d = fake({"cluster.status": ("ok", body)})
    r = d.cli("cluster", "status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("FACTORY RESET PENDING"), r.stdout
    assert re.search(r"^this peer:\s+-$", r.stdout, re.M)
    assert re.search(r"^address mapping:\s+off$", r.stdout, re.M)
    assert "no peers" in r.stdout and "INDEX" not in r.stdout


STATUS = {"node": "peer1", "version": "0.3.0", "uptime_s": 65,
          "actors": [{"name": "replication", "pid": 4242, "state": "running", "restarts": 0,
                      "since": "2024-05-01T10:00:00Z"}]}


def test_status_shows_the_banner_and_the_cluster_line(fake):
    d = fake({"status": ("ok", dict(STATUS, factory_reset_pending=True,
                                    cluster={"primary": 1, "this_peer": 2, "database": "active"}))})
    r = d.cli("status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("FACTORY RESET PENDING"), r.stdout
    assert re.search(r"^cluster:\s+primary 1, this peer 2, database active$", r.stdout, re.M), r.stdout
    assert "factory_reset_pending" not in r.stdout
    assert re.search(r"^replication\s+4242\s+running", r.stdout, re.M)

    d2 = fake({"status": ("ok", dict(STATUS, factory_reset_pending=False))})
    r = d2.cli("status")
    assert r.returncode == 0
    assert "FACTORY RESET" not in r.stdout and "factory_reset_pending" not in r.stdout
    assert not re.search(r"^cluster:", r.stdout, re.M)


def test_token_is_printed_alone(fake):
    d = fake({"cluster.token": ("ok", {"token": "cwt1.eyJwIjoiMTI3LjAuMS4xIn0.c2ln",
                                       "expires_at": "2024-05-01T10:10:00Z",
                                       "message": "valid for 600 s"})})
    r = d.cli("cluster", "token", "127.0.1.4", "--ttl", "600")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "cwt1.eyJwIjoiMTI3LjAuMS4xIn0.c2ln\n"


def test_suggest_mappings_prints_fqdn_ip_lines(fake):
    d = fake({"cluster.suggest_mappings": ("ok", {"mappings": ["peer1.example.com=127.0.1.1",
                                                               {"fqdn": "peer2.example.com", "ip": "127.0.1.2"}],
                                                  "applied": False})})
    r = d.cli("cluster", "suggest-mappings")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "peer1.example.com=127.0.1.1\npeer2.example.com=127.0.1.2\n"


def test_diff_prints_key_and_both_values(fake):
    d = fake({"cluster.diff": ("ok", {"a": "127.0.1.1", "b": "127.0.1.2", "differences": [
        {"key": "h323.ttl_s", "a": 600, "b": 1800},
        {"key": "dns.servers", "a": ["192.0.2.1", "192.0.2.2"], "b": None}]})})
    r = d.cli("cluster", "diff", "127.0.1.1", "127.0.1.2")
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout, "KEY")
    assert rows == [["KEY", "ON 127.0.1.1", "ON 127.0.1.2"], ["h323.ttl_s", "600", "1800"],
                    ["dns.servers", "192.0.2.1,192.0.2.2", "(unset)"]]
    d2 = fake({"cluster.diff": ("ok", {"a": "127.0.1.2", "b": "127.0.1.1", "differences": []})})
    r = d2.cli("cluster", "diff")
    assert (r.returncode, r.stdout) == (0, "no differences between 127.0.1.2 and 127.0.1.1\n")


CHECK_FAILED = {"ok": False, "checked": ["node type", "software version", "DNS domain", "clock"],
                "problems": [
                    {"requirement": "same DNS domain", "peer": 2,
                     "detail": "peer 2 has dns.domain example.org, peer 1 example.com",
                     "fix": "causeway config set dns.domain example.com (on peer 2)"},
                    {"requirement": "clock synchronised", "peer": None,
                     "detail": "this node's clock is not synchronised",
                     "fix": "configure ntp.servers and check the time source"}]}


def test_check_prints_each_problem_with_its_fix_and_exits_1(fake):
    d = fake({"cluster.check": ("ok", CHECK_FAILED)})
    r = d.cli("cluster", "check")
    assert r.returncode == 1, (r.stdout, r.stderr)
    out = r.stdout
    assert "same DNS domain (peer 2): peer 2 has dns.domain example.org, peer 1 example.com" in out
    assert "fix: causeway config set dns.domain example.com (on peer 2)" in out
    assert "clock synchronised: this node's clock is not synchronised" in out
    assert "fix: configure ntp.servers and check the time source" in out
    assert out.index("same DNS domain") < out.index("dns.domain example.com (on peer 2)") \
        < out.index("clock synchronised")
    assert "2 requirements not met" in out
    # --json: the body, and still exit 1
    r = d.cli("--json", "cluster", "check")
    assert r.returncode == 1
    assert json.loads(r.stdout) == CHECK_FAILED


def test_check_ok_exits_0(fake):
    d = fake({"cluster.check": ("ok", {"ok": True, "problems": [], "checked": ["a", "b", "c"]})})
    r = d.cli("cluster", "check")
    assert (r.returncode, r.stdout) == (0, "ok: all 3 requirements met\n"), r.stderr


def test_alarms_of_every_peer_with_the_unreachable_note(fake):
    alarms = [{"id": 20004, "severity": "error", "state": "raised", "peer": "osaka", "uuid": "u-1",
               "raised_at": "2024-05-01T10:00:00Z", "title": "Cluster communication failure",
               "detail": "peer 3 unreachable"},
              {"id": 20004, "severity": "error", "state": "raised", "peer": "tokyo", "uuid": "u-2",
               "raised_at": "2024-05-01T10:00:01Z", "title": "Cluster communication failure",
               "detail": "peer 3 unreachable"}]
    d = fake({"cluster.alarms": ("ok", {"alarms": alarms, "unreachable": ["127.0.1.3"]})})
    r = d.cli("alarms", "list", "--cluster")
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout, "ID")
    assert rows[0] == ["ID", "SEVERITY", "STATE", "PEER", "RAISED", "UUID", "TITLE/DETAIL"]
    assert [row[3] for row in rows[1:]] == ["osaka", "tokyo"]
    assert re.search(r"^note: .*not reachable.*127\.0\.1\.3", r.stdout, re.M), r.stdout
    d2 = fake({"cluster.alarms": ("ok", {"alarms": [], "unreachable": []})})
    r = d2.cli("alarms", "list", "--cluster")
    assert (r.returncode, r.stdout) == (0, "no alarms\n")


# -- backup: paths and passphrases ------------------------------------------------

BACKUP_REPLIES = {"backup.create": ("ok", {}), "backup.restore": ("ok", {})}


def no_secret(r, secret=PASSPHRASE):
    assert secret not in r.stdout and secret not in r.stderr, (r.stdout, r.stderr)


def test_backup_sends_an_absolute_path_and_the_passphrase_from_the_environment(fake, tmp_path):
    d = fake(BACKUP_REPLIES)
    env = {"CAUSEWAY_BACKUP_PASSPHRASE": PASSPHRASE}
    r = d.cli("backup", "create", "nightly.cwb", env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    no_secret(r)
    path = os.path.join(str(tmp_path), "nightly.cwb")
    assert path in r.stdout
    r = d.cli("backup", "restore", "./sub/../nightly.cwb", env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    no_secret(r)
    r = d.cli("--json", "backup", "create", "/var/tmp/x.cwb", env=env)
    assert r.returncode == 0
    no_secret(r)
    assert d.requests[0] == ("backup.create", {"file": path, "passphrase": PASSPHRASE})
    assert d.requests[1][0] == "backup.restore"
    assert os.path.normpath(d.requests[1][1]["file"]) == path
    assert os.path.isabs(d.requests[1][1]["file"])
    assert d.requests[1][1]["passphrase"] == PASSPHRASE
    assert d.requests[2] == ("backup.create", {"file": "/var/tmp/x.cwb", "passphrase": PASSPHRASE})


def test_backup_passphrase_file_is_its_first_line_and_beats_the_environment(fake, tmp_path):
    d = fake(BACKUP_REPLIES)
    pf = tmp_path / "pass"
    pf.write_text(PASSPHRASE + "\r\nsecond line\n")
    r = d.cli("backup", "create", "/tmp/b.cwb", "--passphrase-file", pf,
              env={"CAUSEWAY_BACKUP_PASSPHRASE": "from the environment"})
    assert r.returncode == 0, r.stderr
    no_secret(r)
    assert d.requests == [("backup.create", {"file": "/tmp/b.cwb", "passphrase": PASSPHRASE})]


@pytest.mark.parametrize("how, expected", [
    ("empty env", "is empty"),
    ("empty file", "is empty"),
    ("newline only", "is empty"),
    ("missing file", "cannot read the passphrase file"),
    ("nothing", "no passphrase"),
])
def test_backup_refuses_an_empty_or_absent_passphrase(fake, tmp_path, how, expected):
    d = fake(BACKUP_REPLIES)
    env, extra = {}, []
    pf = tmp_path / "pass"
    if how == "empty env":
        env["CAUSEWAY_BACKUP_PASSPHRASE"] = ""
    elif how == "empty file":
        pf.write_text("")
        extra = ["--passphrase-file", pf]
    elif how == "newline only":
        pf.write_text("\n")
        extra = ["--passphrase-file", pf]
    elif how == "missing file":
        extra = ["--passphrase-file", tmp_path / "missing"]
    for command in ("create", "restore"):
        r = d.cli("backup", command, "b.cwb", *extra, env=env, cwd=str(tmp_path))
        assert r.returncode == 2, (how, r.returncode, r.stderr)
        assert r.stderr.startswith("causeway: backup %s: " % command), r.stderr
        assert expected in r.stderr, r.stderr
        assert "usage: causeway backup %s FILE" % command in r.stderr
        assert r.stdout == ""
    assert d.requests == []             # nothing was sent


class Tty:
    """The CLI with a pty as stdin: what it echoes on the terminal is read
    back from the master side."""

    def __init__(self, endpoint, *args):
        self.master, slave = pty.openpty()
        e = {k: v for k, v in os.environ.items() if k != "CAUSEWAY_BACKUP_PASSPHRASE"}
        self.proc = subprocess.Popen([CLI, "--endpoint", endpoint] + [str(a) for a in args],
                                     stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=e)
        os.close(slave)
        self.stderr = b""
        self.echoed = b""

    def wait_prompt(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        while self.stderr.count(b": ") < count:
            left = deadline - time.monotonic()
            assert left > 0, "no prompt: %r" % self.stderr
            ready, _, _ = select.select([self.proc.stderr], [], [], left)
            if ready:
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                assert chunk, "CLI exited: %r" % self.stderr
                self.stderr += chunk

    def type(self, text):
        os.write(self.master, text.encode())

    def finish(self):
        out, err = self.proc.communicate(timeout=20)
        self.stderr += err
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.echoed += chunk
        os.close(self.master)
        return self.proc.returncode, out.decode(), self.stderr.decode()


def test_backup_passphrase_asked_twice_on_a_terminal_without_echo(fake):
    d = fake(BACKUP_REPLIES)
    t = Tty(d.endpoint, "backup", "create", "/tmp/t.cwb")
    t.wait_prompt(1)
    t.type(PASSPHRASE + "\n")
    t.wait_prompt(2)
    t.type(PASSPHRASE + "\n")
    rc, out, err = t.finish()
    assert rc == 0, err
    assert PASSPHRASE.encode() not in t.echoed, t.echoed
    assert PASSPHRASE not in out and PASSPHRASE not in err
    assert d.requests == [("backup.create", {"file": "/tmp/t.cwb", "passphrase": PASSPHRASE})]


def test_backup_terminal_passphrases_that_differ_or_are_empty_are_refused(fake):
    d = fake(BACKUP_REPLIES)
    t = Tty(d.endpoint, "backup", "create", "/tmp/t.cwb")
    t.wait_prompt(1)
    t.type(PASSPHRASE + "\n")
    t.wait_prompt(2)
    t.type(PASSPHRASE + "x\n")
    rc, out, err = t.finish()
    assert rc == 2 and "differ" in err, err
    assert PASSPHRASE.encode() not in t.echoed and PASSPHRASE not in err + out

    t = Tty(d.endpoint, "backup", "restore", "/tmp/t.cwb")
    t.wait_prompt(1)
    t.type("\n")
    rc, out, err = t.finish()
    assert rc == 2 and "empty" in err, err
    assert d.requests == []


# -- dns records / firewall rules from cluster.status + config.list --------------

def test_dns_records_and_firewall_rules_from_the_daemons_view(fake, tmp_path):
    d = fake({"cluster.status": ("ok", CLUSTER_STATUS), "config.list": ("ok", CONFIG_LIST)})
    conf = Node(tmp_path, name="osaka", peering={"address": "127.0.1.2", "port": 5371, "port2": 5372})
    try:
        r = d.cli("--config", conf.conf, "dns", "records", "--ttl", "300")
        assert r.returncode == 0, r.stderr
        assert d.requests == [("cluster.status", {}), ("config.list", {})]
        # domain from the cluster name; this peer's FQDN from dns.hostname/domain;
        # peer 3 through the address mapping; the same priority and weight
        for target in ("peer1.example.com.", "osaka.example.com.", "peer3.example.com."):
            assert re.search(r"^_sips\._tcp\.example\.com\.\s+300\s+IN\s+SRV\s+10\s+10\s+5061\s+%s$"
                             % re.escape(target), r.stdout, re.M), r.stdout
        assert "_collab-edge" not in r.stdout
        assert re.search(r"^example\.com\.\s+300\s+IN\s+NAPTR\s", r.stdout, re.M)

        r = d.cli("--config", conf.conf, "firewall", "rules")
        assert r.returncode == 0, r.stderr
        # the ports of the bootstrap file; the other peers only
        assert "tcp dport { 5371, 5372 }" in r.stdout, r.stdout
        assert "4371" not in r.stdout
        elements = [l for l in r.stdout.splitlines() if "elements" in l]
        assert elements and "127.0.1.1" in elements[0] and "127.0.1.3" in elements[0]
        assert "127.0.1.2" not in elements[0]
        assert re.search(r"tcp dport \{ 5371, 5372 \} .*drop", r.stdout)
    finally:
        conf.cleanup()


def test_dns_tools_need_the_cluster_status(fake):
    d = fake({"config.list": ("ok", CONFIG_LIST)})          # a daemon without cluster.status
    for args in (["dns", "records"], ["firewall", "rules"], ["dns", "check", "example.com"]):
        r = d.cli(*args)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert "cluster.status" in r.stderr
        assert r.stdout == ""


def test_dns_tools_on_an_unclustered_node_say_so(fake):
    body = dict(CLUSTER_STATUS, name="", peers=[], this_peer=0, primary=0)
    d = fake({"cluster.status": ("ok", body), "config.list": ("ok", {"config": []})})
    r = d.cli("dns", "records")
    assert r.returncode == 1 and r.stderr, r.stderr
    assert "IN SRV" not in r.stdout


# -- real nodes ---------------------------------------

def test_dns_records_and_firewall_rules_of_a_cluster_of_one(make_cluster):
    c = make_cluster(1)
    c.form_guide_way()
    node = c[1]
    st = json.loads(c.ok(1, "--json", "cluster", "status"))
    assert st["this_peer"] == 1 and st["primary"] == 1 and st["database"] == "active"

    out = c.ok(1, "cluster", "status")
    assert re.search(r"^cluster name:\s+cluster1\.example\.com$", out, re.M), out
    rows = table(out, "INDEX")
    assert rows[1][:4] == ["1", "127.0.1.1", "peer1", "this-system"], out
    assert "FACTORY RESET" not in out
    out = c.ok(1, "status")
    assert re.search(r"^cluster:\s+primary 1, this peer 1, database active$", out, re.M), out

    out = c.ok(1, "dns", "records")
    for service, port in (("_sips._tcp", 5061), ("_sip._tcp", 5060), ("_sip._udp", 5060),
                          ("_h323ls._udp", 1719), ("_h323cs._tcp", 1720), ("_h323rs._udp", 1719)):
        assert re.search(r"^%s\.example\.com\.\s+3600\s+IN\s+SRV\s+10\s+10\s+%d\s+peer1\.example\.com\.$"
                         % (re.escape(service), port), out, re.M), (service, out)
    assert re.search(r"^peer1\.example\.com\.\s+3600\s+IN\s+A\s+127\.0\.1\.1$", out, re.M), out

    out = c.ok(1, "firewall", "rules")
    assert "tcp dport { %d, %d }" % (c.port, c.port + 1) in out, out
    assert re.search(r"drop", out)
    # alone in its cluster: no peer address is let in, its own neither
    assert not [l for l in out.splitlines() if "elements" in l and "127.0.1.1" in l], out
    assert node.running()


def test_backup_passphrase_never_in_output_log_or_file(tmp_path):
    node = Node(tmp_path, node={"log_level": "debug"}).start()
    try:
        env = {"CAUSEWAY_BACKUP_PASSPHRASE": PASSPHRASE}
        cli = ["--config", node.conf]
        # relative FILE: the CLI makes it absolute (causewayd runs elsewhere)
        r = run(*cli, "backup", "create", "node.cwb", env=env, cwd=str(tmp_path))
        assert r.returncode == 0, (r.stdout, r.stderr, node.read_log())
        no_secret(r)
        backup = tmp_path / "node.cwb"
        assert backup.exists(), "the backup is not where the CLI was run"
        assert PASSPHRASE.encode() not in backup.read_bytes()

        r = run(*cli, "backup", "restore", backup, env={"CAUSEWAY_BACKUP_PASSPHRASE": "wrong " + PASSPHRASE})
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert r.stderr.startswith("causeway: ")
        no_secret(r, "wrong " + PASSPHRASE)

        r = run(*cli, "backup", "restore", "node.cwb", env=env, cwd=str(tmp_path))
        assert r.returncode == 0, (r.stdout, r.stderr, node.read_log())
        no_secret(r)

        # an empty passphrase never reaches the node
        r = run(*cli, "backup", "create", "empty.cwb", env={"CAUSEWAY_BACKUP_PASSPHRASE": ""},
                cwd=str(tmp_path))
        assert r.returncode == 2
        assert not (tmp_path / "empty.cwb").exists()
    finally:
        node.cleanup()
    log = open(node.log_path, "rb").read()
    assert log, "the node wrote no log"
    assert PASSPHRASE.encode() not in log
    assert b"correct horse" not in log
